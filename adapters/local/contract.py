"""The local desk under the contract and attack suites: tickets in the connector's own database,
acted on as a person at the desk (or an attacker with the database) would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, func, select, update

from connector.app.runtime import Connector
from connector.core.errors import AmbiguousCreate
from connector.core.models import TicketRef
from connector.testing.contract import ContractSystem
from connector.testing.driver import TicketDriver

from .adapter import SERVICE_ACCOUNT, tickets
from .testing import LocalDeskDriver


class LocalContract(ContractSystem):
    kind = "local"
    name = "desk"
    approver = "alice"
    other = "mallory"
    connector_account = SERVICE_ACCOUNT
    approver_spellings = ("Alice", " alice ", "ALICE")
    decoys_possible = False  # one ticket per request id, by the desk's schema

    def config_text(self, store_url: str, approvers: list[str]) -> str:
        return f'store: {{url: "{store_url}"}}\nsystems:\n  desk: {{type: local}}\n' + self.route_yaml(
            "desk", approvers
        )

    def connector(self, approvers: list[str] | None = None, worker: str | None = None) -> Connector:
        conn = super().connector(approvers, worker)
        self.driver = LocalDeskDriver.of(conn.adapters)
        self._engine = conn.store.engine
        return conn

    def driver_for(self, conn: Connector) -> TicketDriver:
        return LocalDeskDriver.of(conn.adapters)

    def _db(self) -> Any:
        return create_engine(f"sqlite:///{self.workdir / 'contract.db'}")

    def _update(self, ticket: TicketRef, **values: Any) -> None:
        engine = self._db()
        with engine.begin() as tx:
            tx.execute(update(tickets).where(tickets.c.seq == int(ticket.id)).values(**values))
        engine.dispose()

    def lose_next_create_answer(self, conn: Connector) -> None:
        desk = conn.adapters[self.name]
        real = desk.create_ticket

        def create_then_lose(request: Any) -> TicketRef:
            real(request)  # the ticket is made ...
            desk.create_ticket = real  # type: ignore[method-assign]
            raise AmbiguousCreate("simulated: the answer to this create was lost", system=self.name)

        desk.create_ticket = create_then_lose  # type: ignore[method-assign]

    def tickets_carrying(self, request_id: str) -> int:
        engine = self._db()
        with engine.connect() as conn:
            count = conn.execute(
                select(func.count()).select_from(tickets).where(tickets.c.request_id == request_id)
            ).scalar()
        engine.dispose()
        return int(count or 0)

    def set_unmapped_status(self, ticket: TicketRef, actor: str) -> None:
        self._update(ticket, status="on-hold", decided_by=actor)

    def reopen(self, ticket: TicketRef, actor: str) -> None:
        self._update(ticket, status="open", decided_by=None, decided_at=None, reason=None)

    def tamper_seal(self, ticket: TicketRef, actor: str) -> None:
        self._update(ticket, seal="acr1:" + "0" * 64 + ":forged")

    def edit_description(self, ticket: TicketRef, actor: str, text: str) -> None:
        self._update(ticket, description=text)

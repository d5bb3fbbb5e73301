"""What the contract and attack suites need from one ticketing system, beyond a TicketDriver:
how to stand it up for a connector, and what the world does to it — lost answers, unmapped
statuses, decoy tickets, edited tickets, webhooks. Each adapter package implements one
(``adapters/<kind>/contract.py``); ``tests/contract/`` and ``tests/attacks/`` run every rule
against each of them. A new adapter passes the contract by implementing this class and adding
itself to the list in ``tests/contract/systems.py``: no other change."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import ExitStack
from pathlib import Path
from typing import Any, ClassVar

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import TicketRef
from connector.testing.driver import TicketDriver


class ContractSystem(ABC):
    """One ticketing system (a simulator served on loopback, or the desk) for the suites.

    People are named as the system's own users: ``approver`` may approve on the contract route,
    ``other`` may act on tickets but is not an approver, ``connector_account`` is the account the
    connector itself uses; ``approver_spellings`` are other ways to write the approver's name
    (e-mail in another case, with spaces, user name) that a requester field could carry."""

    kind: ClassVar[str]
    name: ClassVar[str]  # the system's name in the config
    approver: ClassVar[str]
    other: ClassVar[str]
    connector_account: ClassVar[str]
    approver_spellings: ClassVar[tuple[str, ...]] = ()
    has_webhooks: ClassVar[bool] = False
    # whether some other ticket can be made to carry a request's id (the desk's schema forbids it)
    decoys_possible: ClassVar[bool] = True
    # whether the arguments live in an editable place on the ticket (approve with edits through
    # the system: a Jira field, a ServiceNow column), edited apart from approving
    edits_on_ticket: ClassVar[bool] = False

    driver: TicketDriver

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    # --- life cycle --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the system (serve the simulator); ``driver`` is usable afterwards."""

    def stop(self) -> None:
        """Stop what ``start`` started."""

    @abstractmethod
    def config_text(self, store_url: str, approvers: list[str]) -> str:
        """A configuration with one route ``contract`` gating ``send_email`` (the demo tool) on
        this system, approved by ``approvers``, deadline one hour."""

    def env(self) -> dict[str, str]:
        """The environment variables the configuration names (secrets of the simulator)."""
        return {}

    def connector(self, approvers: list[str] | None = None, worker: str | None = None) -> Connector:
        store = f"sqlite:///{self.workdir / 'contract.db'}"
        text = self.config_text(store, approvers if approvers is not None else [self.approver])
        config = parse_config(text, f"contract-{self.kind}.yaml")
        return Connector.from_config(config, env=self.env(), worker_id=worker)

    # --- what the world does ---------------------------------------------------------------------
    @abstractmethod
    def lose_next_create_answer(self, conn: Connector) -> None:
        """The next ticket creation lands in the system, but its answer never reaches the caller."""

    @abstractmethod
    def tickets_carrying(self, request_id: str) -> int:
        """How many tickets in the system carry this request id."""

    @abstractmethod
    def set_unmapped_status(self, ticket: TicketRef, actor: str) -> None:
        """Move the ticket, as ``actor``, to a status the contract route's mapping does not know."""

    def create_decoy(self, request_id: str, actor: str) -> TicketRef:
        """As ``actor``, make another ticket that carries ``request_id`` where the connector's own
        ticket carries it (label, correlation id)."""
        raise NotImplementedError(f"{self.kind}: no decoy tickets")

    @abstractmethod
    def reopen(self, ticket: TicketRef, actor: str) -> None:
        """Move the ticket back to waiting for a decision, as ``actor``."""

    @abstractmethod
    def tamper_seal(self, ticket: TicketRef, actor: str) -> None:
        """As a user with edit rights, change what the ticket shows in the place the connector
        keeps the ticket's seal."""

    @abstractmethod
    def edit_description(self, ticket: TicketRef, actor: str, text: str) -> None:
        """As ``actor``, rewrite the ticket's description (what the approver reads)."""

    # --- quorum routes (only where ``votes_possible``) -----------------------------------------
    votes_possible: ClassVar[bool] = False

    def quorum_connector(self, approvers: list[str], rules: str, worker: str | None = None) -> Connector:
        """A connector whose contract route is decided by votes: ``rules`` are route keys in YAML
        (``quorum: 2``, ``from_groups: [...]``), indented like the route's other keys."""
        store = f"sqlite:///{self.workdir / 'contract.db'}"
        text = self.config_text(store, approvers).replace("    deadline: 1h\n", "    deadline: 1h\n" + rules)
        config = parse_config(self.votes_config(text), f"contract-{self.kind}-quorum.yaml")
        return Connector.from_config(config, env=self.env(), worker_id=worker)

    def votes_config(self, text: str) -> str:
        """The configuration's route as a quorum route needs it on this system."""
        return text

    def add_person(self, name: str, group: str) -> str:
        """A new user of the system in ``group`` (made if needed); returns how a route names them."""
        raise NotImplementedError(f"{self.kind}: no people can be added")

    def vote(self, ticket: TicketRef, actor: str, approve: bool = True) -> None:
        """As ``actor``, cast an approving (or rejecting) vote the way this system records one."""
        raise NotImplementedError(f"{self.kind}: no votes")

    def edit_arguments(self, ticket: TicketRef, actor: str, arguments: Any) -> None:
        """As ``actor``, rewrite the arguments where the ticket keeps them (a dict as JSON, any
        other value as the text given); only where ``edits_on_ticket``."""
        self.driver_for_edits().edit_arguments(ticket, actor, arguments)  # type: ignore[attr-defined]

    def driver_for_edits(self) -> TicketDriver:
        return self.driver

    def last_webhook(self) -> tuple[dict[str, str], bytes] | None:
        """The headers and body of the newest signed webhook the system sent, if it sends any."""
        return None

    def point_webhooks_at(self, url: str) -> None:
        """Send the system's webhooks to ``url`` (the connector's /webhooks/<name>)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"

    # helpers for implementations
    @staticmethod
    def route_yaml(system: str, approvers: list[str], extra: str = "") -> str:
        quoted = ", ".join(f'"{a}"' for a in approvers)
        return (
            "tools:\n"
            '  send_email: {import: "connector.demo.tools:send_email"}\n'
            "routes:\n"
            "  - name: contract\n"
            "    tools: [send_email]\n"
            f"    system: {system}\n"
            f"    approvers: [{quoted}]\n"
            "    deadline: 1h\n" + extra
        )


class SimulatedContractSystem(ContractSystem):
    """A system played by a simulator served on loopback (real HTTP, signed webhooks)."""

    has_webhooks = True
    sim: Any

    @abstractmethod
    def make_simulator(self) -> Any:
        """The seeded simulator (not yet served)."""

    @abstractmethod
    def make_driver(self) -> TicketDriver:
        """The person acting through the simulator."""

    def start(self) -> None:
        self.sim = self.make_simulator()
        self._stack = ExitStack()
        self.url = self._stack.enter_context(self.sim.serve())
        self.driver = self.make_driver()

    def stop(self) -> None:
        self._stack.close()

    def driver_for(self, conn: Connector) -> TicketDriver:
        return self.driver

    def last_webhook(self) -> tuple[dict[str, str], bytes] | None:
        sent = self.sim.webhooks_sent
        return (dict(sent[-1]["headers"]), sent[-1]["body"]) if sent else None


def fill(template: str, **values: Any) -> str:
    for key, value in values.items():
        template = template.replace("${" + key + "}", str(value))
    return template

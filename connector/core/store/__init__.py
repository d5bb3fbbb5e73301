"""Durable state in one SQL database (SQLite by default, PostgreSQL for several replicas).

Every state change is a conditional UPDATE (``WHERE state IN (...)``) so concurrent pollers,
webhook handlers and replicas race safely: exactly one wins, the others see rowcount 0. The
audit row for a change is written in the same transaction as the change itself."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from connector.core.errors import ConfigError, StoreUnavailable

from .audit import AuditLog, audit_table, seal_entries_table, seals_table
from .conversation_links import ConversationLinkQueries
from .conversations import ConversationQueries
from .cursors import CursorQueries
from .engine import make_engine
from .heads import KnownHeads
from .leases import LeaseQueries
from .outbox import OutboxQueries
from .requests import RequestQueries
from .rows import _from_row, _to_row
from .schema import (
    aware,
    cursors_table,
    deliveries_table,
    insert_if_absent,
    leases_table,
    metadata,
    outbox_table,
    requests_table,
    votes_table,
)
from .votes import VoteQueries
from .waiting import StoreWaiting, WaitingQueries

__all__ = [
    "AuditLog",
    "Store",
    "StoreWaiting",
    "audit_table",
    "seal_entries_table",
    "seals_table",
    "aware",
    "cursors_table",
    "deliveries_table",
    "insert_if_absent",
    "leases_table",
    "make_engine",
    "metadata",
    "outbox_table",
    "requests_table",
    "votes_table",
    "_from_row",
    "_to_row",
]


class Store(
    RequestQueries,
    OutboxQueries,
    CursorQueries,
    LeaseQueries,
    ConversationQueries,
    ConversationLinkQueries,
    VoteQueries,
    WaitingQueries,
):
    """Owns the connector's tables. Only the service's transitions module changes a state."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.heads = KnownHeads()
        self.audit = AuditLog(self.heads)

    @classmethod
    def from_url(cls, url: str, where: str = "store.url") -> Store:
        """``where``: where the URL came from, named in its errors (``store.url (c.yaml:3)``)."""
        store = cls(make_engine(url, where))
        store.create_schema(where)
        return store

    def create_schema(self, where: str = "store.url") -> None:
        """Bring the schema up to date (migrations; an empty database is built at once)."""
        from . import migrations

        try:
            migrations.upgrade(self.engine, metadata)
        except OperationalError as exc:
            raise StoreUnavailable(f"{where}: database unreachable: {exc.orig}") from None
        except OSError as exc:  # e.g. the lock file beside an SQLite file in a folder that is missing
            reason = f"{exc.strerror or exc}: {exc.filename}"
            raise StoreUnavailable(f"{where}: database unreachable: {reason}") from None
        except migrations.NewerSchema as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except RuntimeError as exc:  # a migration refused (e.g. an audit trail that does not verify)
            raise ConfigError(f"store: the schema upgrade stopped: {exc}") from None

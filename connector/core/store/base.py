"""What every query module shares: the engine, transactions and buffered reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from .engine import writing
from .schema import _Buffered


class StoreBase:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A writing transaction (on SQLite it takes the write lock at once: see engine.py)."""
        with writing(self.engine) as conn:
            yield conn

    def _read(self, query: Any, params: dict[str, Any] | None = None) -> Any:
        with self.engine.connect() as conn:
            return _Buffered(conn.execute(query, params).all())

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - health check reports, never raises
            return False

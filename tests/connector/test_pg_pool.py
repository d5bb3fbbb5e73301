"""PostgreSQL connections that rested in the pool are checked before use: the server ending them
(a restart, a failover, an idle timeout) costs no store call an error. Connections used a moment
ago are not pinged (two round trips fewer per gated call)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from connector.core.models import ApprovalRequest
from connector.core.store import Store
from connector.core.store import engine as engine_module
from tests.connector.test_store import insert, make_request, pg_store_url  # noqa: F401 - fixture


def _end_pooled_sessions(store: Store) -> int:
    """What a server restart does to the pool: every session of this engine ended."""
    with store.engine.connect() as conn:
        mine = conn.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = Store.from_url(str(store.engine.url.render_as_string(hide_password=False)))
    try:
        with killer.engine.connect() as conn:
            own = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            ended = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE pid = :mine AND pid <> :own"
                ),
                {"own": own, "mine": mine},
            ).scalar()
            conn.commit()
    finally:
        killer.engine.dispose()
    return int(ended or 0)


@contextmanager
def _store_with_a_request(url: str, ping_after: float) -> Iterator[tuple[Store, ApprovalRequest]]:
    engine_module.PING_AFTER_IDLE = ping_after  # the caller's monkeypatch restores it
    store = Store.from_url(url)
    try:
        request = make_request()
        insert(store, request)
        yield store, request
    finally:
        store.engine.dispose()


def test_a_rested_connection_ended_by_the_server_is_replaced_before_use(pg_store_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", engine_module.PING_AFTER_IDLE)
    with _store_with_a_request(pg_store_url, 0.2) as (store, request):
        assert _end_pooled_sessions(store) == 1
        time.sleep(0.4)  # it rested longer than PING_AFTER_IDLE
        assert store.get(request.id).id == request.id  # no error: the dead one was replaced


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_store_url, monkeypatch):  # noqa: F811
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", engine_module.PING_AFTER_IDLE)
    with _store_with_a_request(pg_store_url, 60.0) as (store, request):
        pings: list[object] = []
        real = engine_module._ping
        monkeypatch.setattr(engine_module, "_ping", lambda c: (pings.append(c), real(c)))
        for _ in range(5):
            store.get(request.id)
        assert pings == []
        monkeypatch.setattr(engine_module, "PING_AFTER_IDLE", 0.0)
        time.sleep(0.01)
        store.get(request.id)
        assert len(pings) == 1  # a rested one is pinged

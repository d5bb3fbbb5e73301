"""The hot writes run as driver SQL compiled once (store/prepared.py): what they store must be
byte for byte what SQLAlchemy's own execution stores, on SQLite and on PostgreSQL, and their
errors and cursor events must be SQLAlchemy's, or a caller relying on either breaks quietly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from connector.core.models import RequestState, utcnow
from connector.core.store import Store
from connector.core.store.audit import GENESIS, chain_rows
from connector.core.store.moves import _INSERT_AUDIT
from connector.core.store.prepared import run
from connector.core.store.requests import _GET_REQUEST
from connector.core.store.rows import _INSERT_REQUEST, _to_row
from connector.core.store.schema import requests_table
from tests.connector.test_store import make_request, pg_store_url, store_url  # noqa: F401 - fixtures


def _raw(store: Store, table: str, where: str, value: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} WHERE {where} = '{value}'")]


def _pair(store: Store):
    """The same request (every kind of column filled: times, flags, JSON, NULLs) stored twice:
    once by Connection.execute, once by the prepared path."""
    request = make_request(RequestState.TICKETED)
    request.deadline = utcnow() + timedelta(hours=1)
    request.lease_until = None
    request.idempotent = True
    request.approved_arguments = {"to": "x@y.example", "subject": "é ✓", "body": "b", "cc": []}
    twin = request.model_copy(update={"id": request.id[::-1]})
    rows_a, _ = chain_rows(request.id, 1, GENESIS, [("submitted", "amy", {"n": 1, "t": "ü"})])
    rows_b = [{**r, "request_id": twin.id} for r in rows_a]
    with store.transaction() as conn:
        conn.execute(_INSERT_REQUEST, _to_row(request))
        conn.execute(_INSERT_AUDIT, rows_a)
        run(conn, _INSERT_REQUEST, _to_row(twin))
        run(conn, _INSERT_AUDIT, rows_b)
    return request, twin


def test_prepared_rows_are_stored_exactly_as_sqlalchemy_stores_them(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    request, twin = _pair(store)
    (a,) = _raw(store, "approval_requests", "id", request.id)
    (b,) = _raw(store, "approval_requests", "id", twin.id)
    assert a[1:] == b[1:] and a[0] != b[0]
    audit_a = [r[2:] for r in _raw(store, "audit_log", "request_id", request.id)]  # after seq, request_id
    audit_b = [r[2:] for r in _raw(store, "audit_log", "request_id", twin.id)]
    assert audit_a == audit_b and audit_a
    assert store.get(twin.id).model_dump() == {**store.get(request.id).model_dump(), "id": twin.id}


def test_prepared_update_returns_the_row_as_sqlalchemy_reads_it(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    request, _ = _pair(store)
    with store.transaction() as conn:
        moved = store.moved(conn, request.id, [RequestState.TICKETED], RequestState.APPROVED, approver="amy")
    assert moved is not None
    assert moved.model_dump() == store.get(request.id).model_dump()
    with store.transaction() as conn:  # not in the from-state any more: nothing moves
        assert store.moved(conn, request.id, [RequestState.TICKETED], RequestState.DENIED) is None
    assert store.get(request.id).state is RequestState.APPROVED


def test_prepared_errors_are_sqlalchemy_errors_and_roll_back(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    request, _ = _pair(store)
    # the same id again: callers catch SQLAlchemy's error
    with pytest.raises(IntegrityError), store.transaction() as conn:
        run(conn, _INSERT_REQUEST, _to_row(request.model_copy(update={"id": "other-id"})))
        run(conn, _INSERT_REQUEST, _to_row(request))
    with store.engine.connect() as conn:
        ids = {r[0] for r in conn.execute(select(requests_table.c.id))}
    assert "other-id" not in ids  # the whole transaction rolled back


def test_prepared_statements_fire_cursor_events(store_url):  # noqa: F811
    """Statement counters (tests, the benchmarks) listen to cursor events: they must see these."""
    store = Store.from_url(store_url)
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_rest):
        seen.append(statement.split()[0].upper())

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        _pair(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    assert seen.count("INSERT") == 4


def test_a_statement_with_an_expanding_in_is_refused_not_run_wrongly(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 's.db'}")
    statement = select(requests_table.c.id).where(requests_table.c.state.in_(["A", "B"]))
    with store.engine.connect() as conn, pytest.raises(ValueError, match="expanding IN"):
        run(conn, statement, {})
    with store.engine.connect() as conn:  # the store itself still works
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_a_connection_lost_under_a_prepared_statement_is_flagged_and_replaced(pg_store_url):  # noqa: F811
    """The server ends the session mid-transaction (a restart, a failover): the prepared path
    raises SQLAlchemy's error marked ``connection_invalidated`` (what the finish's one retry
    looks for), and the pool hands out a working connection afterwards."""
    store = Store.from_url(pg_store_url)
    request, _ = _pair(store)
    admin = create_engine(pg_store_url.split("?")[0])
    try:
        with pytest.raises(DBAPIError) as caught, store.transaction() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with admin.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            run(conn, _GET_REQUEST, {"b_id": request.id})
        assert caught.value.connection_invalidated
        assert store.get(request.id).id == request.id  # a fresh connection serves the next call
    finally:
        admin.dispose()

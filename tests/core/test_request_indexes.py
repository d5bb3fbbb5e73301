"""The indexes on approval requests (revision 0010): a migrated database has exactly the indexes a
new one is built with, predicates included (Alembic's comparison ignores those); each read is
answered by its index, partial ones included, on SQLite and on PostgreSQL (there with the plan it
caches for a statement whatever its parameters, so a parameter never hides a predicate); and a
request that never waits or has no key stays out of the partial indexes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from connector.core.models import ApprovalRequest, RequestState, TicketRef, digest_of, utcnow
from connector.core.store import Store, metadata, migrations
from tests.conftest import EMAIL
from tests.connector.test_store import store_url  # noqa: F401 - the fixture (SQLite, PostgreSQL)

NOW = utcnow().replace(microsecond=0)
PARTIAL = {
    "ix_requests_ticket_key": "ticket_key IS NOT NULL",
    "ix_requests_ticket_id": "ticket_id IS NOT NULL",
    "ux_requests_dedupe_key": "dedupe_key IS NOT NULL",
    "ix_requests_state_deadline": "deadline IS NOT NULL",
    "ix_requests_state_nudge": "nudge_at IS NOT NULL",
    "ix_requests_waiting_route": "TICKETED",
    "ix_requests_waiting_recorded": "TICKETED",
    "ix_approval_requests_audit_dirty": "audit_dirty IS",
}
FULL = {
    "ix_requests_created",
    "ix_requests_state_created",
    "ix_requests_route_created",
    "ix_requests_system_created",
    "ix_requests_route_state",
}


def index_ddl(engine: Engine) -> dict[str, str]:
    """Each secondary index of approval_requests as the database states it (schema names out)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
            rows = conn.execute(text(query), {"t": "approval_requests"}).all()
            return {name: sql for name, sql in rows if sql}  # the primary key's own has no SQL
        rows = conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'approval_requests' "
                "AND schemaname = current_schema() AND indexname <> 'approval_requests_pkey'"
            )
        ).all()
        return {name: re.sub(r" ON \w+\.", " ON ", ddl) for name, ddl in rows}


def test_every_revision_builds_the_same_indexes_as_a_new_database(store_url, tmp_path):  # noqa: F811
    migrated = create_engine(store_url)
    migrations.upgrade(migrated, metadata, build_empty=False)
    if store_url.startswith("sqlite"):
        built = create_engine(f"sqlite:///{tmp_path / 'built.db'}")
        migrations.upgrade(built, metadata)
        expected = index_ddl(built)
        built.dispose()
    else:
        from connector.testing.postgres import temporary_schema

        with temporary_schema(store_url.split("?")[0], "built") as url:
            built = create_engine(url)
            migrations.upgrade(built, metadata)
            expected = index_ddl(built)
            built.dispose()
    found = index_ddl(migrated)
    assert found == expected
    assert set(found) == FULL | set(PARTIAL)
    for name, predicate in PARTIAL.items():
        assert "WHERE" in found[name] and predicate in found[name], found[name]
    migrated.dispose()


def test_the_downgrade_from_0010_restores_0009s_indexes(store_url):  # noqa: F811
    engine = create_engine(store_url)
    migrations.upgrade(engine, metadata, "0009", build_empty=False)
    at_0009 = index_ddl(engine)
    migrations.upgrade(engine, metadata, build_empty=False)
    from alembic.config import Config
    from alembic.runtime.environment import EnvironmentContext

    scripts = migrations.script()
    with engine.begin() as conn:

        def steps(rev: Any, context: Any) -> list:
            return scripts._downgrade_revs("0009", rev)  # noqa: SLF001

        with EnvironmentContext(Config(), scripts, fn=steps, destination_rev="0009") as env:
            env.configure(connection=conn)
            env.run_migrations()
    assert index_ddl(engine) == at_0009
    engine.dispose()


def test_a_migrated_dedupe_index_still_refuses_a_second_request_with_the_key(store_url):  # noqa: F811
    """0010 rebuilds the unique dedupe index as a partial one over the rows that hold a key: a
    database upgraded with requests in it still stores one request per key, and any number
    without one."""
    from sqlalchemy.exc import IntegrityError

    from connector.core.store import _to_row

    engine = create_engine(store_url)
    migrations.upgrade(engine, metadata, "0009", build_empty=False)
    table = metadata.tables["approval_requests"]
    keyed = make(1, RequestState.TICKETED, dedupe_key="d" * 64)
    with engine.begin() as conn:
        for request in (keyed, make(2), make(3)):
            conn.execute(table.insert().values(**_to_row(request)))
    migrations.upgrade(engine, metadata, build_empty=False)
    store = Store(engine)
    with pytest.raises(IntegrityError), store.transaction() as conn:
        store.insert_request(conn, make(4, dedupe_key="d" * 64))
    with store.transaction() as conn:
        store.insert_request(conn, make(5))
        store.insert_request(conn, make(6, dedupe_key="e" * 64))
    assert store.by_dedupe_key("d" * 64).id == keyed.id
    assert len(store.list()) == 5
    engine.dispose()


def make(
    n: int, state: RequestState = RequestState.SUCCEEDED, *, ticketed: bool = False, **fields: Any
) -> ApprovalRequest:
    created = NOW - timedelta(hours=n)
    return ApprovalRequest(
        id=uuid.uuid4().hex,
        route="a" if n % 2 else "b",
        system="jira",
        tool_name="send_email",
        arguments=EMAIL,
        arguments_digest=digest_of(EMAIL),
        state=state,
        created_at=created,
        updated_at=created + timedelta(minutes=n),
        ticket=TicketRef(system="jira", key=f"K-{n}", id=f"{n}00") if ticketed else None,
        **fields,
    )


def add(
    store: Store,
    n: int,
    state: RequestState = RequestState.TICKETED,
    *,
    ticketed: bool = True,
    **fields: Any,
) -> ApprovalRequest:
    request = make(n, state, ticketed=ticketed, **fields)
    with store.transaction() as conn:
        store.insert_request(conn, request, [("created", "test", {})])
    return request


@pytest.fixture
def store(store_url):  # noqa: F811 - the imported fixture
    """Mostly finished requests that never waited (an auto route's), sealed; a few waiting ones
    with deadlines and reminders; one dirty head."""
    store = Store.from_url(store_url)
    for n in range(1, 200):
        add(store, n, RequestState.SUCCEEDED, ticketed=False)
    for n in range(200, 220):
        add(store, n, deadline=NOW + timedelta(hours=n - 210), nudge_at=NOW + timedelta(hours=n - 210))
    add(store, 220, RequestState.EXECUTING, ticketed=False, lease_until=NOW - timedelta(minutes=1))
    add(store, 221, RequestState.SUCCEEDED, ticketed=False, dedupe_key="d" * 64)
    store.audit.seal(store.engine, b"k" * 32, 1000)
    add(store, 222, RequestState.SUCCEEDED, ticketed=False)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE approval_requests"))
    yield store
    store.engine.dispose()


READS: dict[str, tuple[Callable[[Store], Any], str]] = {
    # (a read, the index its statement on approval_requests must be answered by)
    "webhook hint": (lambda s: s.find_by_ticket("jira", "K-205"), "ix_requests_ticket_key"),
    "webhook batch": (lambda s: s.waiting_on_tickets("jira", ["K-205", "K-206"]), "ix_requests_ticket_key"),
    "dedupe": (lambda s: s.by_dedupe_key("d" * 64), "ux_requests_dedupe_key"),
    "expiry": (lambda s: s.due_for_expiry(NOW), "ix_requests_state_deadline"),
    "nudges": (lambda s: s.due_for_nudge(NOW), "ix_requests_state_nudge"),
    "seal": (lambda s: s.audit.seal(s.engine, b"k" * 32, 10), "ix_approval_requests_audit_dirty"),
    "poll summary": (lambda s: s.waiting("jira").routes(), "ix_requests_waiting_route"),
    "poll hits": (lambda s: s.waiting("jira").on_tickets(ids=["20500"]), "ix_requests_ticket_id"),
    "poll recorded": (
        lambda s: s.waiting("jira").recorded(["a"], NOW - timedelta(days=30), [], 5),
        "ix_requests_waiting_recorded",
    ),
}
PG_EITHER = {  # by cost, either waiting index answers these
    "poll recorded": "ix_requests_waiting_",
    "poll summary": "ix_requests_waiting_",
}
SQLITE_ONLY = {  # full indexes (on PostgreSQL the choice among them is by cost)
    "stale claims": (lambda s: s.stale_claims(NOW), "ix_requests_state_created"),
    "count by state": (lambda s: s.count_by("state"), "ix_requests_state_created"),
}


def plans(store: Store, read: Callable[[Store], Any]) -> list[str]:
    seen: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "approval_requests" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        read(store)
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    found = []
    postgres = store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn, conn.begin() as transaction:
        if postgres:
            # whether it can use the partial index at all, not which index a tiny table's costs
            # favour: the full indexes are dropped (rolled back after), no table scans, and the
            # plan is the one cached for a prepared statement whatever its parameters
            for name in FULL:
                conn.exec_driver_sql(f"DROP INDEX {name}")
            conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        for statement, parameters in seen:
            prefix = "EXPLAIN" if postgres else "EXPLAIN QUERY PLAN"
            rows = conn.exec_driver_sql(f"{prefix} {statement}", parameters)
            found.append(" | ".join(str(row[-1]) for row in rows))
        transaction.rollback()
    return found


@pytest.mark.parametrize("name", list(READS) + list(SQLITE_ONLY))
def test_each_read_is_answered_by_its_index(store, name):
    read, index = {**READS, **SQLITE_ONLY}[name]
    if name in SQLITE_ONLY and store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL chooses among full indexes by cost")
    first = plans(store, read)[0]
    if store.engine.dialect.name == "postgresql":
        assert "Seq Scan" not in first, first
        index = PG_EITHER.get(name, index)
    assert index in first, first


def test_reads_through_partial_indexes_find_what_a_scan_finds(store):
    """The partial indexes leave rows out: what each read returns is what the same question asked
    of every row answers."""
    everything = store.list()
    waiting = [r for r in everything if r.state is RequestState.TICKETED]
    assert {r.id for r in store.due_for_expiry(NOW)} == {r.id for r in waiting if r.deadline < NOW}
    assert {r.id for r in store.due_for_nudge(NOW)} == {r.id for r in waiting if r.nudge_at <= NOW}
    assert store.find_by_ticket("jira", "K-205").ticket.key == "K-205"
    assert store.find_by_ticket("servicenow", "K-205") is None
    assert store.waiting_on_tickets("jira", ["K-1", "K-205"]).keys() == {"K-205"}  # K-1: finished
    assert set(store.waiting_on_tickets("jira", [r.ticket.key for r in waiting])) == {
        r.ticket.key for r in waiting
    }
    assert [r.state for r in store.stale_claims(NOW)] == [RequestState.EXECUTING]
    assert sum(store.waiting("jira").routes()[route].count for route in ("a", "b")) == len(waiting)
    assert store.by_dedupe_key("d" * 64) is not None and store.by_dedupe_key("e" * 64) is None
    assert store.audit.seal(store.engine, b"k" * 32, 100) == 1  # only the one head not yet sealed

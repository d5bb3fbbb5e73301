"""``Store.page`` (what ``requests list`` shows) reads the newest matching rows in index order for
every filter it takes, so its cost does not grow with the table: checked on SQLite's own query
plans for the statements it runs (a sort of every match is what took seconds at a million rows),
and on the order and slicing of what comes back."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import event, text

from connector.app.runtime import Connector
from connector.core.models import RequestState, utcnow
from connector.demo.tools import send_email
from tests.conftest import EMAIL

S = RequestState
SHAPES = [
    {},
    {"states": [S.TICKETED]},
    {"states": [S.TICKETED, S.SUCCEEDED, S.EXPIRED]},
    {"route": "customer-email"},
    {"system": "desk"},
    {"since": timedelta(days=2)},
    {"before": timedelta(days=2)},
    {"states": [S.TICKETED], "route": "customer-email", "before": timedelta(hours=1)},
    {"system": "desk", "since": timedelta(days=1), "states": [S.SUCCEEDED]},
]


def bounds(shape: dict) -> dict:
    now = utcnow()
    return {k: (now - v if k in ("since", "before") else v) for k, v in shape.items()}


def statements(connector: Connector, shape: dict) -> list[tuple[str, object]]:
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM approval_requests" in statement:
            seen.append((statement, parameters))

    engine = connector.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        connector.store.page(limit=50, **bounds(shape))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


@pytest.mark.parametrize("shape", SHAPES, ids=[",".join(s) or "none" for s in SHAPES])
def test_every_filter_reads_its_page_in_index_order(connector, shape):
    seen = statements(connector, shape)
    assert seen
    with connector.store.engine.connect() as conn:
        for statement, parameters in seen:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "TEMP B-TREE" not in plan, plan  # no sort of every matching row
            assert "USING" in plan and "INDEX" in plan, plan  # never a scan of the table


def test_pages_are_newest_first_and_several_states_merge_in_order(connector):
    connector.register_tool(send_email)
    made = [asyncio.run(connector.service.submit("send_email", EMAIL, {"agent": "a"})) for _ in range(7)]
    with connector.store.engine.begin() as conn:  # spread them over a week, alternating states
        for n, request in enumerate(made):
            state = "SUCCEEDED" if n % 2 else "TICKETED"
            conn.execute(
                text("UPDATE approval_requests SET created_at = :at, state = :state WHERE id = :id"),
                {"at": (utcnow() - timedelta(days=n)).replace(tzinfo=None), "state": state, "id": request.id},
            )
    ids = [r.id for r in made]
    page = connector.store.page
    assert [r.id for r in page(limit=3)] == ids[:3]
    assert [r.id for r in page(limit=3, offset=3)] == ids[3:6]
    both = page(states=[S.SUCCEEDED, S.TICKETED], limit=4, offset=1)
    assert [r.id for r in both] == ids[1:5]
    assert [r.id for r in page(states=[S.SUCCEEDED])] == ids[1::2]
    old = page(before=utcnow() - timedelta(days=4, hours=12))
    assert [r.id for r in old] == ids[5:]


@pytest.mark.parametrize("ident", ["OPS-42", "3f2a9c1d0b7e", "3f2a9c1d0b7e4a5b8c9d0e1f2a3b4c5d"])
def test_show_finds_a_request_through_an_index_for_a_key_a_prefix_or_an_id(connector, ident):
    """``requests show`` tries the id, then a ticket key (without its system), then a prefix: each
    statement must use an index, or one look-up scans a million rows."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "FROM approval_requests" in statement:
            seen.append((statement, parameters))

    engine = connector.store.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        with pytest.raises(Exception, match="no request or ticket matches"):
            connector.store.resolve(ident)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert seen
    with engine.connect() as conn:
        for statement, parameters in seen:
            plan = " | ".join(
                row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            )
            assert "USING" in plan and "INDEX" in plan, plan

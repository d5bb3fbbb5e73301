"""The local desk's statements are built once and bound per call: a ticket's number comes from its
INSERT, the connector's comment lands once per report (INSERT .. ON CONFLICT DO NOTHING), people's
comments are never taken for a repeat, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table

from connector.app.config import parse_config
from connector.app.runtime import Connector
from connector.core.models import OutcomeReport, ReportKind
from connector.core.store import insert_if_absent
from connector.core.store.engine import writing
from connector.demo import tools as demo_tools
from connector.testing.postgres import temporary_schema
from tests.conftest import EMAIL, pg_url

CONFIG = """
store: {{url: "{url}"}}
systems:
  desk: {{type: local}}
tools:
  send_email: {{import: "connector.demo.tools:send_email"}}
routes:
  - name: customer-email
    tools: [send_email]
    system: desk
    approvers: [alice]
"""


@pytest.fixture(params=["sqlite", "postgres"])
def desk_connector(request: pytest.FixtureRequest, workdir: Path) -> Iterator[Connector]:
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'desk.db'}"
        conn = Connector.from_config(parse_config(CONFIG.format(url=url), "connector.yaml"))
        yield conn
        conn.close()
        return
    server = pg_url()
    if not server:
        pytest.skip("set APPROVAL_CONNECTOR_TEST_PG_URL for the PostgreSQL run")
    with temporary_schema(server) as schema_url:
        conn = Connector.from_config(parse_config(CONFIG.format(url=schema_url), "connector.yaml"))
        try:
            yield conn
        finally:
            conn.close()


async def test_a_ticket_made_again_is_the_one_made_first(desk_connector: Connector) -> None:
    desk_connector.register_tool(demo_tools.send_email)
    request = await desk_connector.service.submit("send_email", EMAIL, {"agent": "a"})
    desk = desk_connector.adapters["desk"]
    other = await desk_connector.service.submit("send_email", {**EMAIL, "to": "x@example.com"}, {})
    assert request.ticket is not None and other.ticket is not None
    assert request.ticket.key != other.ticket.key
    stored = desk_connector.store.get(request.id)
    again = desk.create_ticket(stored)  # a retried create: the existing ticket, not a second one
    assert (again.key, again.id) == (request.ticket.key, request.ticket.id)
    assert desk.find_ticket(stored) == again
    assert desk.ticket(request.ticket.key)["request_id"] == request.id


async def test_a_report_lands_once_and_peoples_comments_every_time(desk_connector: Connector) -> None:
    desk_connector.register_tool(demo_tools.send_email)
    request = await desk_connector.service.submit("send_email", EMAIL, {"agent": "a"})
    desk, ticket = desk_connector.adapters["desk"], request.ticket
    assert ticket is not None

    def report(report_id: str, text: str) -> OutcomeReport:
        kind = ReportKind.UNAUTHORIZED  # not final: the ticket stays open for the next one
        return OutcomeReport(report_id=report_id, request_id=request.id, kind=kind, text=text, final=False)

    desk.report(ticket, report("r-1", "first"), 0)
    desk.report(ticket, report("r-1", "first, retried"), 1)  # a retry after a lost answer
    desk.report(ticket, report("r-2", "second"), 0)
    desk.comment(ticket.key, "bob", "why?")
    desk.comment(ticket.key, "bob", "why?")  # the same words twice are two comments
    bodies = [(c["author"], c["body"]) for c in desk.ticket(ticket.key)["comments"]]
    assert bodies == [
        ("approval-connector", "first"),
        ("approval-connector", "second"),
        ("bob", "why?"),
        ("bob", "why?"),
    ]
    final = OutcomeReport(report_id="r-3", request_id=request.id, kind=ReportKind.REJECTED, text="closed")
    desk.report(ticket, final, 0)
    assert desk.ticket(ticket.key)["status"] == "closed"


def test_insert_if_absent_keeps_each_tables_statement_apart(desk_connector: Connector) -> None:
    """One cached statement per table and dialect: a second table never gets the first's."""
    meta = MetaData()
    first = Table("once_a", meta, Column("k", String(20), primary_key=True), Column("v", Integer))
    second = Table("once_b", meta, Column("name", String(20), primary_key=True), Column("n", Integer))
    engine = desk_connector.store.engine
    meta.create_all(engine)
    try:
        with writing(engine) as conn:
            assert insert_if_absent(conn, first, k="x", v=1)
            assert not insert_if_absent(conn, first, k="x", v=2)
            assert insert_if_absent(conn, second, name="x", n=3)
            assert not insert_if_absent(conn, second, name="x", n=4)
            assert insert_if_absent(conn, first, k="y")  # fewer values: the rest as defaulted
            rows = conn.execute(first.select().order_by(first.c.k)).all()
            assert [tuple(r) for r in rows] == [("x", 1), ("y", None)]
            assert [tuple(r) for r in conn.execute(second.select()).all()] == [("x", 3)]
    finally:
        meta.drop_all(engine)

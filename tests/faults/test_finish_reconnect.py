"""A run whose finish meets a lost database connection (the server restarted or failed over) is
finished once more on the renewed pool: the call ran once, its outcome is recorded and reported
once, and a first attempt that had landed after all is not recorded a second time."""

from __future__ import annotations

import contextlib
import sqlite3

from sqlalchemy.exc import DBAPIError

from connector.core.models import RequestState

INTERNAL = {"to": "ops@ourco.example", "subject": "Nightly report", "body": "All green."}  # route: auto


def _disconnect() -> DBAPIError:
    return DBAPIError.instance(
        "COMMIT",
        {},
        sqlite3.OperationalError("server closed the connection"),
        sqlite3.Error,
        connection_invalidated=True,
    )


def _events(connector, request_id):
    return [row["event"] for row in connector.store.audit.rows(connector.store.engine, request_id)]


async def test_a_finish_that_lost_its_connection_is_made_once_more(connector, monkeypatch, workdir):
    transitions = connector.service.transitions
    real = transitions.finished
    failures = iter([_disconnect()])

    def flaky(*args, **kwargs):
        for exc in failures:
            raise exc  # before anything was written
        return real(*args, **kwargs)

    monkeypatch.setattr(transitions, "finished", flaky)
    request = await connector.service.submit("send_email", INTERNAL, {})
    assert request.state is RequestState.SUCCEEDED
    assert _events(connector, request.id).count("succeeded") == 1
    assert connector.store.audit.verify(connector.store.engine) == []


async def test_a_finish_that_landed_before_its_answer_was_lost_is_not_recorded_twice(connector, monkeypatch):
    transitions = connector.service.transitions
    real = transitions.finished
    answers_lost = iter([True])

    def lands_then_fails(*args, **kwargs):
        stored = real(*args, **kwargs)
        for _ in answers_lost:
            raise _disconnect()  # committed, but the caller never heard
        return stored

    monkeypatch.setattr(transitions, "finished", lands_then_fails)
    request = await connector.service.submit("send_email", INTERNAL, {})
    assert request.state is RequestState.SUCCEEDED
    events = _events(connector, request.id)
    assert events.count("succeeded") == 1 and "finished_after_claim_lost" not in events
    assert connector.store.audit.verify(connector.store.engine) == []


async def test_other_database_errors_of_a_finish_are_not_retried(connector, monkeypatch):
    transitions = connector.service.transitions
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise DBAPIError.instance("UPDATE", {}, sqlite3.OperationalError("disk I/O error"), sqlite3.Error)

    monkeypatch.setattr(transitions, "finished", broken)
    with contextlib.suppress(DBAPIError):
        await connector.service.submit("send_email", INTERNAL, {})
    assert len(calls) == 1

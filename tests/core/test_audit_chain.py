"""The audit trail as an attacker with write access to the database would try it: every altered,
removed, reordered or forged row shows in ``audit verify``; writers never wait on each other."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import delete, update

from connector.core.integrity import Sealer
from connector.core.store import Store, audit_table, requests_table, seals_table
from connector.core.store.audit import GENESIS, row_hash
from tests.connector.test_store import insert, make_request, pg_store_url, store_url  # noqa: F401

KEY = Sealer(b"k" * 40).audit_key()


def trail(store: Store, events: int = 4) -> str:
    request = make_request()
    insert(store, request)
    with store.transaction() as conn:
        for n in range(events):
            store.audit.append(conn, request.id, f"event-{n}", "tester", {"n": n})
    return request.id


def problems(store: Store) -> str:
    return "\n".join(store.audit.verify(store.engine, KEY))


def test_an_untouched_trail_verifies(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    for _ in range(3):
        trail(store)
    assert store.audit.seal(store.engine, KEY) == 3
    trail(store)
    assert problems(store) == ""


@pytest.mark.parametrize(
    ("attack", "expected"),
    [
        ("alter", "row 2 content was altered"),
        ("remove-middle", "rows 2..2 are missing"),
        ("remove-end", "rows removed from the end"),
        ("reorder", "does not follow the previous row"),
        ("rehash-from-start", "sealed in seal 1 is missing or was rewritten"),
        ("delete-request", "sealed in seal 1 is missing or was rewritten"),
        ("forge-seal", "not made with this connector's key"),
    ],
)
def test_every_edit_of_the_trail_shows(store_url, attack, expected):  # noqa: F811
    store = Store.from_url(store_url)
    victim = trail(store)
    other = trail(store)
    assert store.audit.seal(store.engine, KEY) == 2
    a, r = audit_table.c, requests_table.c
    with store.transaction() as conn:
        if attack == "alter":
            conn.execute(
                update(audit_table).where(a.request_id == victim, a.rseq == 2).values(actor="mallory")
            )
        elif attack == "remove-middle":
            conn.execute(delete(audit_table).where(a.request_id == victim, a.rseq == 2))
        elif attack == "remove-end":
            conn.execute(delete(audit_table).where(a.request_id == victim, a.rseq == 5))  # the last
        elif attack == "reorder":
            conn.execute(update(audit_table).where(a.request_id == victim, a.rseq == 2).values(rseq=-1))
            conn.execute(update(audit_table).where(a.request_id == victim, a.rseq == 3).values(rseq=2))
            conn.execute(update(audit_table).where(a.request_id == victim, a.rseq == -1).values(rseq=3))
        elif attack == "rehash-from-start":  # rewrite an event and re-hash the whole chain and its head
            rows = (
                conn.execute(audit_table.select().where(a.request_id == victim).order_by(a.rseq))
                .mappings()
                .all()
            )
            prev = GENESIS
            for row in rows:
                actor = "mallory" if row["rseq"] == 1 else row["actor"]
                new = row_hash(prev, row["rseq"], victim, row["at"], row["event"], actor, row["details"])
                conn.execute(
                    update(audit_table)
                    .where(a.request_id == victim, a.rseq == row["rseq"])
                    .values(actor=actor, prev_hash=prev, hash=new)
                )
                prev = new
            conn.execute(update(requests_table).where(r.id == victim).values(audit_hash=prev))
        elif attack == "delete-request":
            conn.execute(delete(audit_table).where(a.request_id == victim))
            conn.execute(delete(requests_table).where(r.id == victim))
        elif attack == "forge-seal":
            conn.execute(update(seals_table).where(seals_table.c.seq == 1).values(mac="f" * 64))
    found = problems(store)
    assert expected in found
    assert other not in found  # the untouched request is not blamed


def test_seals_made_without_the_key_do_not_verify(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    trail(store)
    store.audit.seal(store.engine, Sealer(b"x" * 40).audit_key())
    assert "not made with this connector's key" in problems(store)


def test_writers_of_different_requests_do_not_wait_on_each_other(store_url):  # noqa: F811
    """One writer holds its request's row lock for a while; another request's append goes on."""
    store = Store.from_url(store_url)
    if store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time by design; replicas use PostgreSQL")
    slow, fast = trail(store, 1), trail(store, 1)
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with store.transaction() as conn:
            store.audit.append(conn, slow, "held", "a", {})
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert holding.wait(10)
    import time

    started = time.monotonic()
    with store.transaction() as conn:
        store.audit.append(conn, fast, "quick", "b", {})
    waited = time.monotonic() - started
    release.set()
    thread.join()
    assert waited < 1.0
    assert problems(store) == ""


def test_verify_memory_does_not_grow_with_rows(tmp_path):
    import tracemalloc

    def peak(rows: int) -> int:
        store = Store.from_url(f"sqlite:///{tmp_path / uuid.uuid4().hex}.db")
        with store.transaction() as conn:
            for _ in range(rows // 10):
                request = make_request()
                store.insert_request(conn, request)
                store.audit.append_many(conn, request.id, [("e", "a", {"n": n}) for n in range(10)])
        tracemalloc.start()
        assert store.audit.verify(store.engine, KEY) == []
        _, high = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return high

    small, large = peak(2_000), peak(20_000)
    assert large < 2 * small + 2_000_000

"""A transition that knows the audit head it wrote last writes the new head in its own UPDATE (one
statement fewer); when the head moved meanwhile (someone else audited the request), it falls
back to reading the head, and the chain still verifies: no row lost, none out of order."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from connector.core.models import RequestState
from connector.core.store import Store
from tests.connector.test_store import make_request, store_url  # noqa: F401 - the fixture


def _executing(store: Store):
    request = make_request(RequestState.APPROVED)
    with store.transaction() as conn:
        store.insert_request(conn, request, [("submitted", "agent", {})])
    claimed = store.claim(request.id, "me", timedelta(seconds=30))
    assert claimed is not None and claimed._audit_head is not None
    return claimed


def _finish(store: Store, request, statements: list[str]) -> bool:
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        with store.transaction() as conn:
            return store.transition(
                conn,
                request.id,
                [RequestState.EXECUTING],
                RequestState.SUCCEEDED,
                held_by="me",
                result="ok",
                audit=[("succeeded", "me", {"result": "ok"})],
                head=request._audit_head,
            )
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)


def _events(store: Store, request_id: str) -> list[str]:
    return [row["event"] for row in store.audit.rows(store.engine, request_id)]


def test_the_known_head_saves_a_statement_and_the_chain_verifies(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path}/s.db")
    request = _executing(store)
    statements: list[str] = []
    assert _finish(store, request, statements)
    writes = [s for s in statements if s.split()[0] in ("UPDATE", "INSERT")]
    assert len(writes) == 2  # the UPDATE with its new head, the audit row: no separate head UPDATE
    assert store.get(request.id).state is RequestState.SUCCEEDED
    assert _events(store, request.id) == ["submitted", "claimed", "succeeded"]
    assert store.audit.verify(store.engine) == []


def test_a_head_that_moved_meanwhile_falls_back_and_the_chain_verifies(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path}/s.db")
    request = _executing(store)
    with store.transaction() as conn:  # another writer audits the request while it runs
        store.audit.append(conn, request.id, "refused", "bob", {"why": "late vote"})
    assert _finish(store, request, [])
    assert store.get(request.id).state is RequestState.SUCCEEDED
    assert _events(store, request.id) == ["submitted", "claimed", "refused", "succeeded"]
    assert store.audit.verify(store.engine) == []


def test_a_known_head_never_moves_a_request_that_moved(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path}/s.db")
    request = _executing(store)
    with store.transaction() as conn:  # declared in doubt elsewhere: no longer this worker's
        assert store.transition(conn, request.id, [RequestState.EXECUTING], RequestState.IN_DOUBT)
    assert not _finish(store, request, [])
    assert store.get(request.id).state is RequestState.IN_DOUBT
    assert store.audit.verify(store.engine) == []


# --- heads this process saw (store/heads.py): a guess, never a source of truth ------------------


def _writes(store: Store, action) -> list[str]:
    statements: list[str] = []
    listener = lambda *a: statements.append(a[2])  # noqa: E731
    event.listen(store.engine, "before_cursor_execute", listener)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", listener)
    return [s.split()[0] for s in statements if s.split()[0] in ("UPDATE", "INSERT")]


def _append(store: Store, request_id: str, event_name: str) -> None:
    with store.transaction() as conn:
        store.audit.append(conn, request_id, event_name, "me", {})


def test_an_append_to_a_head_this_process_saw_takes_one_update(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    request = _executing(store)
    assert _writes(store, lambda: _append(store, request.id, "reported")) == ["UPDATE", "INSERT"]
    assert _events(store, request.id) == ["submitted", "claimed", "reported"]
    assert store.audit.verify(store.engine) == []


def test_a_replica_that_appended_meanwhile_makes_the_guess_fall_back(store_url):  # noqa: F811
    here, replica = Store.from_url(store_url), Store.from_url(store_url)
    request = _executing(here)
    _append(replica, request.id, "refused")  # the other process moved the head on
    writes = _writes(here, lambda: _append(here, request.id, "reported"))
    assert writes == ["UPDATE", "UPDATE", "INSERT", "UPDATE"]  # the guess matched nothing: read it
    with here.transaction() as conn:  # a transition from a stale guess falls back the same way
        done = [("x", "me", {})]
        moved = here.moved(conn, request.id, [RequestState.EXECUTING], RequestState.SUCCEEDED, audit=done)
    assert moved is not None
    _append(replica, request.id, "late")  # and the replica's own guess is stale now
    assert _events(here, request.id) == ["submitted", "claimed", "refused", "reported", "x", "late"]
    assert here.audit.verify(here.engine) == []


def test_a_head_from_a_rolled_back_transaction_is_never_trusted(store_url):  # noqa: F811
    store = Store.from_url(store_url)
    request = _executing(store)
    try:
        with store.transaction() as conn:
            store.audit.append(conn, request.id, "lost", "me", {})
            raise RuntimeError("the caller failed after appending")
    except RuntimeError:
        pass
    _append(store, request.id, "reported")
    assert _events(store, request.id) == ["submitted", "claimed", "reported"]
    assert store.audit.verify(store.engine) == []

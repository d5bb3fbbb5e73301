"""Whether a stale approval's run was interrupted is read from the audit trail in a database
thread: the read (a generator before) ran its query on the event loop."""

from __future__ import annotations

import threading

from sqlalchemy import event

from connector.core.models import RequestState
from tests.connector.test_store import insert, make_request


async def test_the_interrupted_check_reads_the_store_off_the_event_loop(connector):
    request = make_request(RequestState.APPROVED)
    insert(connector.store, request)
    loop_thread = threading.current_thread()
    readers: list[threading.Thread] = []
    listener = lambda *_: readers.append(threading.current_thread())  # noqa: E731
    event.listen(connector.store.engine, "engine_connect", listener)
    try:
        interrupted = await connector.service.execution.timing._interrupted(request)
    finally:
        event.remove(connector.store.engine, "engine_connect", listener)
    assert interrupted is False
    assert readers and loop_thread not in readers

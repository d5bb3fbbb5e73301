"""Writers of one process on one SQLite file queue on a lock of their own (SQLite's busy handler
would make each one that meets the write lock sleep milliseconds): none is refused, none is lost,
and a writer stuck behind another for the whole busy timeout gets SQLite's own error."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from connector.core.store import engine as engine_module
from connector.core.store.engine import make_engine, writing


def _counter(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/w.db")
    with writing(engine) as conn:
        conn.execute(text("CREATE TABLE n (id INTEGER PRIMARY KEY, v INTEGER)"))
        conn.execute(text("INSERT INTO n VALUES (1, 0)"))
    return engine


def _no_busy_wait(engine):
    """SQLite's busy handler off: a writer that meets SQLite's write lock fails at once, so any
    contention that reaches SQLite shows up as an error instead of as a sleep."""

    @event.listens_for(engine, "connect")
    def _off(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    engine.dispose()
    return engine


def test_concurrent_writers_of_one_process_never_meet_sqlites_lock(tmp_path, monkeypatch):
    engine = _no_busy_wait(_counter(tmp_path))
    # the same file, spelt another way (relative to the working directory): the same queue
    monkeypatch.chdir(tmp_path)
    other = _no_busy_wait(make_engine("sqlite:///./w.db"))
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def bump(eng):
        start.wait()
        try:
            for _ in range(40):
                with writing(eng) as conn:
                    value = conn.execute(text("SELECT v FROM n WHERE id = 1")).scalar()
                    conn.execute(text("UPDATE n SET v = :v WHERE id = 1"), {"v": value + 1})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump, args=(engine if i % 2 else other,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT v FROM n")).scalar() == 8 * 40  # read-modify-write, none lost


def test_a_writer_held_up_past_the_busy_timeout_gets_database_is_locked(tmp_path, monkeypatch):
    engine = _counter(tmp_path)
    monkeypatch.setattr(engine_module, "BUSY_SECONDS", 0.3)
    holding, done = threading.Event(), threading.Event()

    def hold():
        with writing(engine):
            holding.set()
            done.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    started = time.monotonic()
    try:
        with pytest.raises(OperationalError, match="database is locked"), writing(engine):
            pass
    finally:
        done.set()
        holder.join(10)
    assert 0.25 < time.monotonic() - started < 5
    with writing(engine) as conn:  # the lock is free again once the holder is done
        conn.execute(text("UPDATE n SET v = 7"))

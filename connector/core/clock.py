"""The one "now" the connector reads (deadlines, reminders, change windows, approval validity,
leases, audit stamps), so a test can fast-forward time for all of it at once instead of editing
rows in the database. In production the offset is zero and ``utcnow()`` is the wall clock.

Only wall-clock *readings* move: sleeps, timeouts and the scheduler's intervals stay real, so a
fast-forward never makes the process wait longer or shorter. The simulators read this clock too,
so a decision made after a fast-forward is stamped in the same moved time the connector sees."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_offset = timedelta(0)


def utcnow() -> datetime:
    """Now, in UTC, plus the offset a test set (zero unless ``advance`` / ``travel_to`` moved it)."""
    return datetime.now(timezone.utc) + _offset


def offset() -> timedelta:
    """How far the clock has been moved from the wall clock."""
    return _offset


def advance(delta: timedelta | float) -> datetime:
    """Move now forward by ``delta`` (a timedelta or seconds); returns the new now. Time never
    goes backwards: a negative delta is refused (leases and audit stamps rely on that)."""
    global _offset
    step = delta if isinstance(delta, timedelta) else timedelta(seconds=float(delta))
    if step < timedelta(0):
        raise ValueError(f"the clock only moves forward (asked to move by {step})")
    with _lock:
        _offset += step
    return utcnow()


def travel_to(moment: datetime) -> datetime:
    """Move now forward to ``moment`` (timezone-aware, or naive meaning UTC); the clock keeps
    ticking from there. Refused when ``moment`` is in the past of the current now."""
    when = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return advance(when - utcnow())


def reset() -> None:
    """Back to the wall clock (the end of a test). Only for tests: in a running connector, time
    going back would let leases and deadlines come back to life."""
    global _offset
    with _lock:
        _offset = timedelta(0)

"""Change windows as instants: the weekly calendar of a route in its own time zone (wall-clock
times across daylight-saving changes, blackout days), and the planned start and end a ticket
carries. Everything returned is an aware UTC datetime; nothing here reads a clock of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from connector.core.timing import WeeklyWindow, WindowConfig

HORIZON_DAYS = 400  # look this far ahead for the next open window (a year of blackouts and more)


@dataclass(frozen=True)
class Window:
    """[opens, closes) in UTC, and where it came from (for the ticket and the audit)."""

    opens: datetime
    closes: datetime
    source: str = "calendar"

    def contains(self, moment: datetime) -> bool:
        return self.opens <= moment < self.closes


def instant(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """The first instant whose local wall-clock time on ``day`` is at or after ``clock``: a time
    the clocks skip (spring forward) opens when the skipped hour ends; a time that happens twice
    (fall back) is its first occurrence."""
    naive = datetime.combine(day, clock)
    first = naive.replace(tzinfo=tz, fold=0)
    utc = first.astimezone(timezone.utc)
    if utc.astimezone(tz).replace(tzinfo=None) == naive:
        return utc  # the wall time exists (once, or first of two)
    # in a gap: between the instants the two offsets would give lies the transition
    low = naive.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    high = utc
    low, high = min(low, high), max(low, high)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) if high.microsecond else high


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _occurrences(rule: WeeklyWindow, day: date, tz: ZoneInfo) -> Window | None:
    """The window ``rule`` opens on local ``day``, if it opens that day."""
    if day.weekday() not in rule.weekdays():
        return None
    start, end = _clock(rule.start), _clock(rule.end)
    end_day = day if end > start else day + timedelta(days=1)
    return Window(instant(day, start, tz), instant(end_day, end, tz))


def _cut_blackouts(window: Window, blackout: set[date], tz: ZoneInfo) -> list[Window]:
    """The parts of ``window`` outside every blackout day (whole local days)."""
    parts = [window]
    first, last = window.opens.astimezone(tz).date(), window.closes.astimezone(tz).date()
    for day in sorted(d for d in blackout if first <= d <= last):
        begins = instant(day, time(0, 0), tz)
        ends = instant(day + timedelta(days=1), time(0, 0), tz)
        kept = []
        for part in parts:
            if part.closes <= begins or part.opens >= ends:
                kept.append(part)
                continue
            if part.opens < begins:
                kept.append(Window(part.opens, begins, part.source))
            if part.closes > ends:
                kept.append(Window(ends, part.closes, part.source))
        parts = kept
    return parts


def next_window(config: WindowConfig, moment: datetime) -> Window | None:
    """The calendar window that is open at ``moment``, else the next one to open; None when none
    opens within the horizon (every day blacked out)."""
    tz = config.tz()
    blackout = set(config.blackout)
    local_day = moment.astimezone(tz).date()
    best: Window | None = None
    for offset in range(-1, HORIZON_DAYS):  # yesterday's window may run past midnight
        day = local_day + timedelta(days=offset)
        for rule in config.open:
            opened = _occurrences(rule, day, tz)
            if opened is None:
                continue
            for part in _cut_blackouts(opened, blackout, tz):
                if part.closes <= moment or part.opens >= part.closes:
                    continue
                if best is None or part.opens < best.opens:
                    best = part
        if best is not None:  # later days only open later
            return _merged(config, best)
    return None


def _merged(config: WindowConfig, window: Window) -> Window:
    """Windows that touch or overlap (Fri 22:00-24:00 and Sat 00:00-04:00) are one window."""
    closes = window.closes
    for _ in range(30):
        following = next_window_after(config, closes)
        if following is None or following.opens > closes:
            break
        closes = max(closes, following.closes)
    return Window(window.opens, closes, window.source)


def next_window_after(config: WindowConfig, moment: datetime) -> Window | None:
    """A window open at or opening right at ``moment`` (no merging: the merge's own step)."""
    tz = config.tz()
    local_day = moment.astimezone(tz).date()
    for offset in (-1, 0, 1):
        day = local_day + timedelta(days=offset)
        for rule in config.open:
            opened = _occurrences(rule, day, tz)
            if opened is None:
                continue
            for part in _cut_blackouts(opened, set(config.blackout), tz):
                if part.opens <= moment < part.closes:
                    return part
    return None

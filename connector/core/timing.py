"""Per-route timing of a decision, as configuration: reminders and escalation while a ticket waits,
the change window an approved call must run in, how long an approval stays valid, and risk tiers
that say what happens at the deadline. Pure data with its checks; the service acts on it
(``connector.core.service.nudges`` / ``timing``), the calendar arithmetic is in ``windows``."""

from __future__ import annotations

import re
from datetime import date, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.core.durations import duration_between

Wait = duration_between("1s", "365d")  # reminders, escalation, validity: seconds are allowed (tests, demos)

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class OnDeadline(str, Enum):
    EXPIRE = "expire"  # nothing runs; the ticket is told (the default)
    ESCALATE = "escalate"  # escalate once and wait one more deadline, then expire
    APPROVE = "approve"  # run without a human: only for tiers marked low-risk, reason recorded


Risk = Literal["low", "normal", "high"]


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name (Europe/Berlin, UTC); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or UTC)"
        ) from None


class WeeklyWindow(_Strict):
    """``days`` (mon..sun, or ``*``) from ``start`` to ``end`` in local wall-clock time (HH:MM); an
    ``end`` at or before ``start`` runs past midnight into the next day."""

    days: list[str] = Field(default_factory=lambda: ["*"])
    start: str
    end: str

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        days = []
        for given in value:
            day = str(given).strip().lower()
            short = day[:3]
            if day != "*" and (short not in _DAYS or not _FULL_DAYS[_DAYS.index(short)].startswith(day)):
                raise ValueError(f"{given!r} is not a day (mon, tue, wed, thu, fri, sat, sun or *)")
            days.append("*" if day == "*" else short)
        if not days:
            raise ValueError("name at least one day (or '*')")
        return list(_DAYS) if "*" in days else days

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not _CLOCK.match(str(value)):
            raise ValueError(f"{value!r} is not a time of day like 22:00")
        return str(value)

    def weekdays(self) -> set[int]:
        return {_DAYS.index(d) for d in self.days}


class WindowConfig(_Strict):
    """Where an approved call's change window comes from. ``from: ticket`` reads the planned start
    and end from the ticket (the adapter's ``ticket.window`` fields); ``from: calendar`` uses the
    weekly ``open`` windows in ``timezone``, closed on the ``blackout`` dates (local days)."""

    source: Literal["ticket", "calendar"] = Field(default="calendar", alias="from")
    timezone: str = "UTC"
    open: list[WeeklyWindow] = Field(default_factory=list)
    blackout: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @model_validator(mode="after")
    def _calendar_has_windows(self) -> WindowConfig:
        if self.source == "calendar" and not self.open:
            raise ValueError(
                "a calendar window needs 'open' windows (e.g. [{days: [sat], start: '01:00', end: '05:00'}])"
            )
        if self.source == "ticket" and self.open:
            raise ValueError("'open' windows belong to a calendar (from: calendar); from: ticket reads them")
        return self

    def tz(self) -> ZoneInfo:
        return zone(self.timezone)


class Timing(_Strict):
    """The timing keys of a route (flat on the route in the YAML; ``RouteConfig`` extends this)."""

    remind_after: Wait | None = None
    remind_every: Wait | None = None
    max_reminders: int = Field(default=1, ge=1, le=50)
    escalate_after: Wait | None = None
    valid_for: Wait | None = None
    window: WindowConfig | None = None
    risk: Risk = "normal"
    on_deadline: OnDeadline = OnDeadline.EXPIRE


def reminder_times(since: Any, timing: Timing) -> list[Any]:
    """When each reminder is due for a request waiting since ``since``."""
    if timing.remind_after is None:
        return []
    every = timing.remind_every or timing.remind_after
    return [since + timing.remind_after + every * n for n in range(timing.max_reminders)]


def nudge_schedule(since: Any, timing: Timing) -> list[tuple[Any, str]]:
    """Every reminder and the escalation, as (due time, action id), earliest first."""
    actions = [(at, f"reminder-{n + 1}") for n, at in enumerate(reminder_times(since, timing))]
    if timing.escalate_after is not None:
        actions.append((since + timing.escalate_after, "escalation"))
    return sorted(actions, key=lambda a: a[0])


def first_nudge(since: Any, timing: Timing) -> Any:
    schedule = nudge_schedule(since, timing)
    return schedule[0][0] if schedule else None


def describe(delta: timedelta) -> str:
    """``90m`` → '1h 30m' (for comments people read)."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2]) or "0s"


def needed_features(route: Any) -> list[tuple[str, str]]:
    """(route key, adapter feature) this route's timing needs from its ticketing system."""
    needs = []
    escalation_keys = [k for k in ("escalate_after",) if getattr(route, k) is not None]
    if route.on_deadline is OnDeadline.ESCALATE:
        escalation_keys.append("on_deadline")
    if any(t.on_deadline is OnDeadline.ESCALATE for t in route.tiers):
        escalation_keys.append("tiers")
    needs += [(key, "escalate") for key in escalation_keys[:1]]
    if route.valid_for is not None:
        needs.append(("valid_for", "reopen"))
    if route.window is not None and route.window.source == "ticket":
        needs.append(("window", "window"))
    return needs

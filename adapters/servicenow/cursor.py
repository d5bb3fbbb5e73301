"""The poll cursor: the newest server timestamp seen, the record versions already handled inside
the overlap window (timestamps have one-second resolution, so ``>=`` plus de-duplication), when
the previous poll started (a ticket recorded since then is looked up by sys_id once, so clock
skew cannot hide it), and the records to look up again. Its size does not grow with the number
of waiting tickets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from .parse import format_time, parse_time

NEW_TICKET_MARGIN = timedelta(minutes=15)  # covers clock skew between the connector and the instance
RECORDED_MARGIN = timedelta(seconds=10)  # a ticket recorded just before a poll may commit after it


@dataclass
class PollCursor:
    newest: str | None = None  # max sys_updated_on returned by the server ('YYYY-MM-DD HH:MM:SS')
    seen: dict[str, str] = field(default_factory=dict)  # "sys_id:sys_mod_count" -> sys_updated_on
    polled_at: str | None = None  # when the previous poll started (the connector's clock, ISO)
    retry: set[str] = field(default_factory=set)  # records to look up by sys_id again (unreadable)

    @classmethod
    def load(cls, text: str | None) -> PollCursor:
        """An unreadable cursor starts over (re-reading is safe: the core de-duplicates too)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            newest = data.get("t")
            if newest is not None and parse_time(str(newest)) is None:
                return cls()
            return cls(
                newest=newest,
                seen={str(k): str(v) for k, v in dict(data.get("seen") or {}).items()},
                polled_at=str(data["p"]) if data.get("p") else None,
                retry={str(k) for k in data.get("retry") or []},
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {"v": 2, "t": self.newest, "seen": self.seen, "p": self.polled_at, "retry": sorted(self.retry)},
            separators=(",", ":"),
            sort_keys=True,
        )

    def since(self, overlap: float) -> str | None:
        """Where the time part of the next query starts: the cursor minus the overlap."""
        newest = parse_time(self.newest) if self.newest else None
        return format_time(newest - timedelta(seconds=overlap)) if newest else None

    def recorded_after(self) -> datetime | None:
        """A ticket recorded after this is new to the poll (None: every ticket is, as the previous
        poll's start is not known), in UTC."""
        if self.polled_at is None:
            return None
        try:
            previous = datetime.fromisoformat(self.polled_at)
        except ValueError:
            return None
        if previous.tzinfo is None:
            previous = previous.replace(tzinfo=timezone.utc)
        return previous.astimezone(timezone.utc) - RECORDED_MARGIN

    def is_seen(self, sys_id: str, mod_count: str) -> bool:
        return f"{sys_id}:{mod_count}" in self.seen

    def mark(self, sys_id: str, mod_count: str, updated_on: str) -> None:
        self.seen[f"{sys_id}:{mod_count}"] = updated_on

    def forget(self, sys_id: str, mod_count: str) -> None:
        self.seen.pop(f"{sys_id}:{mod_count}", None)

    def advance(self, updated_on: str) -> None:
        if updated_on and parse_time(updated_on) and (self.newest is None or updated_on > self.newest):
            self.newest = updated_on

    def prune(self, overlap: float) -> None:
        """Forget versions older than the window: they can no longer come back."""
        newest = parse_time(self.newest) if self.newest else None
        if newest is None:
            return
        floor = format_time(newest - timedelta(seconds=overlap + 1))
        self.seen = {k: v for k, v in self.seen.items() if v >= floor}

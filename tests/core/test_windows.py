"""Change windows as instants: a weekly calendar in its own time zone across daylight-saving
changes (a window on the short night lasts an hour less, on the long night an hour more; a start
the clocks skip opens when the skipped hour ends), blackout days, windows that run into each
other; and the planned start and end as Jira and ServiceNow write them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.jira.parse import planned_time
from adapters.servicenow.parse import parse_time
from connector.core.errors import ConfigError
from connector.core.timing import WindowConfig
from connector.core.windows import next_window

UTC = timezone.utc


def calendar(
    *open_windows: dict, zone: str = "Europe/Berlin", blackout: list[str] | None = None
) -> WindowConfig:
    return WindowConfig.model_validate(
        {"from": "calendar", "timezone": zone, "open": list(open_windows), "blackout": blackout or []}
    )


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_window_on_the_night_the_clocks_go_forward_is_an_hour_shorter():
    sunday = calendar({"days": ["sun"], "start": "01:00", "end": "04:00"})
    window = next_window(sunday, at(2026, 3, 28, 12))
    assert (window.opens, window.closes) == (at(2026, 3, 29, 0), at(2026, 3, 29, 2))  # 01:00 CET - 04:00 CEST


def test_a_window_on_the_night_the_clocks_go_back_is_an_hour_longer():
    sunday = calendar({"days": ["sun"], "start": "01:00", "end": "04:00"})
    window = next_window(sunday, at(2026, 10, 24, 12))
    assert (window.opens, window.closes) == (at(2026, 10, 24, 23), at(2026, 10, 25, 3))
    assert window.closes - window.opens == timedelta(hours=4)


def test_a_start_in_the_skipped_hour_opens_when_the_hour_ends():
    sunday = calendar({"days": ["sun"], "start": "02:30", "end": "05:00"})
    window = next_window(sunday, at(2026, 3, 28, 12))
    assert window.opens == at(2026, 3, 29, 1)  # 03:00 CEST, the first moment at or after 02:30
    assert window.closes == at(2026, 3, 29, 3)


def test_a_time_that_happens_twice_is_its_first_occurrence():
    sunday = calendar({"days": ["sun"], "start": "02:30", "end": "03:30"})
    window = next_window(sunday, at(2026, 10, 24, 12))
    assert window.opens == at(2026, 10, 25, 0, 30)  # 02:30 CEST, before the clocks go back
    assert window.closes == at(2026, 10, 25, 2, 30)  # 03:30 CET


def test_a_window_in_progress_is_the_current_one_and_past_midnight_runs_into_the_next_day():
    nightly = calendar({"days": ["fri"], "start": "22:00", "end": "02:00"}, zone="America/New_York")
    window = next_window(nightly, at(2026, 6, 13, 3))  # Friday 23:00 EDT
    assert window.contains(at(2026, 6, 13, 3))
    assert (window.opens, window.closes) == (at(2026, 6, 13, 2), at(2026, 6, 13, 6))


def test_blackout_days_are_skipped_and_cut_windows_that_reach_into_them():
    weekend = calendar(
        {"days": ["fri"], "start": "22:00", "end": "00:00"},
        {"days": ["sat"], "start": "00:00", "end": "04:00"},
        blackout=["2026-05-02", "2026-05-08"],
    )
    merged = next_window(weekend, at(2026, 4, 20))
    assert (merged.opens, merged.closes) == (at(2026, 4, 24, 20), at(2026, 4, 25, 2))  # one window
    cut = next_window(weekend, at(2026, 4, 28))
    assert (cut.opens, cut.closes) == (at(2026, 5, 1, 20), at(2026, 5, 1, 22))  # Saturday blacked out
    skipped = next_window(weekend, at(2026, 5, 6))
    assert skipped.opens == at(2026, 5, 8, 22)  # Friday the 8th blacked out: from Saturday midnight


def test_a_calendar_that_never_opens_has_no_window():
    never = calendar({"days": ["*"], "start": "09:00", "end": "10:00"}, zone="UTC")
    never.blackout = [at(2026, 1, 1).date() + timedelta(days=n) for n in range(420)]
    assert next_window(never, at(2026, 1, 1)) is None


def test_jira_date_times_are_read_with_their_offsets_and_dates_as_days_in_the_route_zone():
    assert planned_time("2026-05-04T22:00:00.000+0200", None, end=False) == at(2026, 5, 4, 20)
    assert planned_time("2026-11-01T01:30:00.000-0500", None, end=False) == at(2026, 11, 1, 6, 30)
    assert planned_time("2026-03-29", "Europe/Berlin", end=False) == at(2026, 3, 28, 23)
    assert planned_time("2026-03-29", "Europe/Berlin", end=True) == at(2026, 3, 29, 22)  # next midnight, CEST
    assert planned_time("", None, end=True) is None
    with pytest.raises(ConfigError, match="set ticket.window.timezone"):
        planned_time("2026-03-29", None, end=False)


def test_servicenow_date_times_are_utc_in_value_mode():
    assert parse_time("2026-05-04 20:00:00") == at(2026, 5, 4, 20)
    assert parse_time("") is None

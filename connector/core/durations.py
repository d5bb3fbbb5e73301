"""Durations in the configuration: ``90s``, ``15m``, ``24h``, ``7d`` or a number of seconds.

Every duration setting has an allowed range, and the error says it (``must be between 1s and 1d
(got 0)``): a zero lease would declare healthy runs in doubt, a negative retention would delete
every webhook delivery id. NaN, infinities and numbers too large for a ``timedelta`` are refused
with the same one line instead of an OverflowError."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
_LONGEST = timedelta.max.total_seconds()
_EXAMPLES = "use e.g. 30s, 15m, 24h, 7d"


def _seconds(value: Any) -> float:
    """How many seconds ``value`` means (possibly NaN or infinite); ValueError if it is no duration."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a duration ({_EXAMPLES})")
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int with hundreds of digits
            return math.inf if value > 0 else -math.inf
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"{_shown(value)} is not a duration ({_EXAMPLES})")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _shown(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_duration(value: Any) -> timedelta:
    """A duration value as a timedelta; ValueError for anything that is not a finite duration."""
    seconds = _seconds(value)
    if not math.isfinite(seconds) or abs(seconds) > _LONGEST:
        raise ValueError(f"{_shown(value)} is not a duration of a sensible length")
    return timedelta(seconds=seconds)


def _range_check(low: str, high: str) -> Any:
    """A validator returning the seconds of a duration within [low, high]; the error names both."""
    lowest, highest = parse_duration(low).total_seconds(), parse_duration(high).total_seconds()

    def check(value: Any) -> float:
        seconds = _seconds(value)
        if not lowest <= seconds <= highest:  # NaN fails every comparison
            raise ValueError(f"must be between {low} and {high} (got {_shown(value)})")
        return seconds

    return check


def duration_between(low: str, high: str) -> Any:
    """A timedelta setting allowed from ``low`` to ``high`` (both durations, e.g. '1s', '1d')."""
    check = _range_check(low, high)
    return Annotated[timedelta, BeforeValidator(lambda value: timedelta(seconds=check(value)))]


def seconds_between(low: str, high: str) -> Any:
    """A setting kept as float seconds (``timeouts.read: 30``), allowed from ``low`` to ``high``."""
    return Annotated[float, BeforeValidator(_range_check(low, high))]


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]  # any finite duration

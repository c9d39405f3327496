"""Durations written as a number with s, m, h or d ("90m", "7d"), and ISO 8601 times with offset."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$", re.IGNORECASE)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class DurationError(ValueError):
    """The text is not a duration or time in the accepted shape."""


def parse_duration(text: object) -> timedelta:
    """'24h' -> timedelta(hours=24). Zero is allowed here; callers decide what is sensible."""
    if not isinstance(text, str) or not (m := _DURATION.match(text)):
        raise DurationError(
            f"{text!r} is not a duration: write a number with s, m, h or d, e.g. 24h"
        )
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2).lower()])


def format_duration(value: timedelta) -> str:
    """The shortest exact spelling: timedelta(hours=48) -> '2d', timedelta(minutes=90) -> '90m'."""
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_time(value: object) -> datetime:
    """An ISO 8601 date-time that carries a UTC offset (YAML may already have parsed it)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise DurationError(f"{value!r} is not an ISO 8601 time") from exc
    else:
        raise DurationError(f"{value!r} is not an ISO 8601 time")
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise DurationError(f"{value!r} needs a UTC offset, e.g. 2026-03-01T17:00:00+00:00")
    return parsed


def parse_closes(value: object) -> timedelta | datetime:
    """`closes`: a positive duration after launch, or an ISO 8601 time with offset."""
    if isinstance(value, str) and _DURATION.match(value):
        duration = parse_duration(value)
        if duration <= timedelta(0):
            raise DurationError("closes must be longer than 0")
        return duration
    try:
        return parse_time(value)
    except DurationError:
        raise DurationError(
            f"{value!r} is neither a duration (a number with s, m, h or d, e.g. 7d) "
            "nor an ISO 8601 time with offset"
        ) from None

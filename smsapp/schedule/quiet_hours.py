"""Quiet hours: no texts to young people overnight or (optionally) during school hours.

Pure: takes UTC instants, reasons in local wall-clock time via zoneinfo, answers in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "Europe/London"
MAX_SPELLS = 2 * 8


@dataclass(frozen=True)
class QuietHours:
    """Local times when no text may go out. ``start`` after ``end`` means it spans midnight."""

    start: time = time(21, 0)
    end: time = time(8, 0)
    enabled: bool = True
    school_hours: tuple[time, time] | None = None  # quiet on weekdays only, e.g. (09:00, 15:30)


def _as_utc(when_utc: datetime) -> datetime:
    # Naive values are taken as UTC: SQLite hands back naive datetimes for UTC columns.
    if when_utc.tzinfo is None:
        return when_utc.replace(tzinfo=UTC)
    return when_utc.astimezone(UTC)


def _quiet_until(local: datetime, policy: QuietHours) -> tuple[date, time] | None:
    """The local date and wall time a quiet spell containing ``local`` ends, or None if allowed."""
    now = local.time().replace(tzinfo=None)
    start, end = policy.start, policy.end
    if start > end:  # spans midnight
        if now >= start:
            return local.date() + timedelta(days=1), end
        if now < end:
            return local.date(), end
    elif start < end and start <= now < end:
        return local.date(), end
    if policy.school_hours is not None and local.weekday() < 5:
        school_start, school_end = policy.school_hours
        if school_start <= now < school_end:
            return local.date(), school_end
    return None


def is_quiet(when_utc: datetime, policy: QuietHours, tz: str = DEFAULT_TIMEZONE) -> bool:
    """True when no text may be sent at ``when_utc`` under ``policy`` in timezone ``tz``."""
    if not policy.enabled:
        return False
    local = _as_utc(when_utc).astimezone(ZoneInfo(tz))
    return _quiet_until(local, policy) is not None


def _first_instant_at_or_after(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local wall-clock time is at or after ``wall`` (naive).

    Usually that is simply ``wall`` in the zone (the same local time across clock changes; an
    ambiguous autumn time gives its first occurrence). A wall time inside the spring gap does
    not exist: the answer is then the moment the clocks jump, the first instant after it.
    """
    guess = wall.replace(tzinfo=zone).astimezone(UTC)
    if guess.astimezone(zone).replace(tzinfo=None) == wall:
        return guess
    # Whole seconds: clocks jump on a whole second, so the search lands exactly on it.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())  # before the jump
    high = int(guess.timestamp())  # after it
    while high - low > 1:
        middle = (low + high) // 2
        local = datetime.fromtimestamp(middle, zone).replace(tzinfo=None)
        if local >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def next_allowed(when_utc: datetime, policy: QuietHours, tz: str = DEFAULT_TIMEZONE) -> datetime:
    """``when_utc`` if a text may go then, else the first instant (aware UTC) one may."""
    when = _as_utc(when_utc)
    if not policy.enabled:
        return when
    zone = ZoneInfo(tz)
    # A quiet spell can end inside another (overnight then school hours when configured that
    # way), so follow the chain. Weekends have no school hours, so within a week there is
    # always a gap: at most two spells a day for eight days.
    for _ in range(MAX_SPELLS):
        until = _quiet_until(when.astimezone(zone), policy)
        if until is None:
            return when
        day, wall = until
        when = _first_instant_at_or_after(datetime.combine(day, wall), zone)
    raise ValueError(f"quiet hours policy never allows sending: {policy!r}")

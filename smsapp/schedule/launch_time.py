"""When a scheduled launch is due: a local wall-clock time typed by a person, read in the
service's time zone and answered in UTC. Pure: no database, no clock of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

FORMAT = "%Y-%m-%d %H:%M"
FORMAT_HINT = "YYYY-MM-DD HH:MM"


class LaunchTimeError(ValueError):
    """A launch time that cannot be used, with the reason in words."""


def parse_launch_time(text: str, timezone: str, now: datetime) -> datetime:
    """`2027-03-01 17:30` (local time in `timezone`) as an aware UTC datetime.

    Refuses a time that is not in the format, one that does not exist locally (the hour the
    clocks go forward), and one that is not after `now`. An hour that happens twice (the clocks
    go back) means the first of the two.
    """
    cleaned = " ".join((text or "").replace("T", " ").split())
    try:
        naive = datetime.strptime(cleaned, FORMAT)
    except ValueError:
        raise LaunchTimeError(
            f"{text!r} is not a date and time like {FORMAT_HINT} (for example 2027-03-01 17:30)"
        ) from None
    zone = ZoneInfo(timezone)
    local = naive.replace(tzinfo=zone, fold=0)
    when = local.astimezone(UTC)
    if when.astimezone(zone).replace(tzinfo=None) != naive:
        raise LaunchTimeError(
            f"{cleaned} does not exist in {timezone}: the clocks go forward then; pick another time"
        )
    if when <= now.astimezone(UTC):
        raise LaunchTimeError(
            f"{cleaned} ({timezone}) has already passed; a launch can only be scheduled ahead"
        )
    return when


def local_text(when: datetime, timezone: str) -> str:
    """How a launch time reads on a page or in the terminal: `Mon 01 Mar 2027 17:30 (Europe/London)`."""
    return f"{when.astimezone(ZoneInfo(timezone)):%a %d %b %Y %H:%M} ({timezone})"


def local_input_value(when: datetime, timezone: str) -> str:
    """The value of a datetime-local field showing `when`: `2027-03-01T17:30`."""
    return f"{when.astimezone(ZoneInfo(timezone)):%Y-%m-%dT%H:%M}"

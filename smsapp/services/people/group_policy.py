"""A group's quiet-hours policy, read from Group.settings JSON (on by default: 21:00-08:00).

Example settings: {"quiet_hours": {"start": "21:00", "end": "08:00", "enabled": true,
"school_hours": ["09:00", "15:30"]}}. Anything unreadable falls back to the safe default.
"""

from __future__ import annotations

import logging
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.models import Group
from smsapp.schedule.quiet_hours import QuietHours, next_allowed

log = logging.getLogger(__name__)

DEFAULT_POLICY = QuietHours()


def _clock_time(value: Any, fallback: time) -> time:
    if isinstance(value, str):
        try:
            hours, _, minutes = value.strip().partition(":")
            return time(int(hours), int(minutes or 0))
        except ValueError:
            log.warning("ignoring unreadable quiet-hours time %r", value)
    return fallback


def quiet_hours_from_settings(settings: dict[str, Any] | None) -> QuietHours:
    """The QuietHours a group's settings describe; a missing or broken entry means the default."""
    raw = (settings or {}).get("quiet_hours")
    if not isinstance(raw, dict):
        return DEFAULT_POLICY
    school = raw.get("school_hours")
    school_hours = None
    if isinstance(school, list | tuple) and len(school) == 2:
        begin, end = _clock_time(school[0], time(9)), _clock_time(school[1], time(15, 30))
        if begin < end:
            school_hours = (begin, end)
    start = _clock_time(raw.get("start"), DEFAULT_POLICY.start)
    end = _clock_time(raw.get("end"), DEFAULT_POLICY.end)
    if start == end:
        start, end = DEFAULT_POLICY.start, DEFAULT_POLICY.end  # a zero-length spell is a typo
    return QuietHours(
        start=start,
        end=end,
        enabled=raw.get("enabled", True) is not False,
        school_hours=school_hours,
    )


def group_quiet_hours(session: Session, group_id: int | None) -> QuietHours:
    if group_id is None:
        return DEFAULT_POLICY
    settings = session.scalar(sa.select(Group.settings).where(Group.id == group_id))
    return quiet_hours_from_settings(settings)


def send_time(now: datetime, policy: QuietHours, tz: str) -> tuple[datetime, bool]:
    """When a text due at ``now`` may go out, and whether quiet hours deferred it."""
    when = next_allowed(now, policy, tz)
    return when, when > now

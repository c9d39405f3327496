"""Scheduled launches: a draft carries the time to launch it (Poll.launch_at), and the clock's
job launches each due one through the one launch use case (launch.launch_poll), so it is
refused or held exactly as a launch by hand would be, and quiet hours still move its texts.

Exactly once: the job claims a due poll with a conditional UPDATE (launch_at back to NULL
where it still holds the time it was due at and the poll is still a draft) in the transaction
that launches it. Two ticks, or two workers, racing for one poll: one claim updates the row,
the other finds it changed (PostgreSQL re-checks the WHERE after the first commits; SQLite
runs one write transaction at a time) and does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import for_update, utcnow
from smsapp.models import Poll, PollStatus
from smsapp.runtime import Runtime
from smsapp.schedule.launch_time import local_text, parse_launch_time
from smsapp.services import audit
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.polls.definitions import (
    PollError,
    load_definition,
    require_poll,
    unopenable,
)
from smsapp.services.polls.launch import LaunchPlan, launch_poll, plan_launch

log = logging.getLogger(__name__)

SCHEDULE_ACTOR = "schedule"
DUE_BATCH = 50


@dataclass(frozen=True)
class Scheduled:
    slug: str
    launch_at: datetime
    when: str  # the local time in words
    plan: LaunchPlan | None  # what the launch would do at that time, as far as is known now
    warning: str | None  # why a launch at that time would be refused, as things stand now


def _draft_for_update(session: Session, slug: str) -> Poll:
    poll = session.scalar(for_update(sa.select(Poll).where(Poll.slug == slug), session))
    if poll is None:
        raise PollError(f"no poll called {slug!r}")
    if poll.status != PollStatus.DRAFT:
        raise PollError(
            f"poll {slug!r} is {poll.status}, so it cannot be scheduled: only a draft launches "
            f"(smsapp polls duplicate {slug} NEW_SLUG makes a new draft from it)"
        )
    return poll


def schedule_launch(
    runtime: Runtime,
    session: Session,
    slug: str,
    at_text: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> Scheduled:
    """Set (or move) the time the clock launches the draft `slug`; `at_text` is local time.

    PollError for a poll that is not a draft, and for a time that is not ahead or not a time
    (schedule.launch_time says why). A launch that would be refused today (nobody in the group
    can be texted yet, or a shortlist not made yet) is still scheduled, with a warning: that
    may change before then, and the clock records the reason if it still cannot launch.
    """
    now = now or utcnow()
    tz = runtime.settings.timezone
    poll = _draft_for_update(session, slug)
    try:
        when = parse_launch_time(at_text, tz, now)
    except ValueError as exc:
        raise PollError(str(exc)) from None
    plan, warning = None, unopenable(load_definition(poll))
    try:
        plan = plan_launch(runtime, session, poll, now=when)
        warning = warning or plan.refusal
    except PollError as exc:
        warning = str(exc)
    poll.launch_at = when
    poll.launch_scheduled_by = actor
    poll.launch_problem = None
    audit.record(session, actor, "poll.schedule", slug, launch_at=when.isoformat())
    return Scheduled(slug, when, local_text(when, tz), plan, warning)


def cancel_schedule(session: Session, slug: str, *, actor: str) -> datetime:
    """Take the scheduled launch off a draft; returns the time it had. PollError if none."""
    poll = require_poll(session, slug)
    poll = session.scalar(for_update(sa.select(Poll).where(Poll.id == poll.id), session))
    assert poll is not None
    if poll.launch_at is None:
        raise PollError(f"poll {slug!r} has no scheduled launch to cancel")
    was = poll.launch_at
    poll.launch_at = None
    poll.launch_scheduled_by = None
    audit.record(session, actor, "poll.schedule_cancel", slug, launch_at=was.isoformat())
    return was


def claim(session: Session, poll_id: int, due: datetime) -> bool:
    """Take the due launch of one poll for this transaction: True for exactly one caller."""
    result = session.execute(
        sa.update(Poll)
        .where(Poll.id == poll_id, Poll.launch_at == due, Poll.status == PollStatus.DRAFT)
        .values(launch_at=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def launch_one(
    runtime: Runtime, poll_id: int, due: datetime, *, now: datetime | None = None
) -> str:
    """Claim and launch one due poll in one transaction: "launched", "refused" or "taken"."""
    with runtime.db.transaction() as session:
        if not claim(session, poll_id, due):
            return "taken"
        poll = session.get(Poll, poll_id)
        assert poll is not None
        slug, by = poll.slug, poll.launch_scheduled_by or "staff"
        try:
            with session.begin_nested():
                result = launch_poll(
                    runtime, session, slug, actor=f"{SCHEDULE_ACTOR} ({by})", now=now
                )
        except PollError as exc:
            poll = session.get(Poll, poll_id)
            assert poll is not None
            poll.launch_problem = f"The launch scheduled for {local_text(due, runtime.settings.timezone)} did not go ahead: {exc}"
            audit.record(session, SCHEDULE_ACTOR, "poll.schedule_refused", slug, reason=str(exc))
            log.info("scheduled launch of poll %s refused: %s", slug, exc)
            return "refused"
        log.info("scheduled launch of poll %s: %d texts queued", slug, result.messages)
        return "launched"


def due_launches(session: Session, now: datetime) -> list[tuple[int, datetime]]:
    rows = session.execute(
        sa.select(Poll.id, Poll.launch_at)
        .where(Poll.launch_at.is_not(None), Poll.launch_at <= now)
        .order_by(Poll.launch_at, Poll.id)
        .limit(DUE_BATCH)
    ).all()
    return [(poll_id, due) for poll_id, due in rows if due is not None]


def launch_due_polls(runtime: Runtime, *, now: datetime | None = None) -> dict[str, int]:
    """The clock's job: launch every draft whose time has come, each once; then start the sends.

    A due poll that is no longer a draft (launched by hand meanwhile) just loses its time.
    """
    now = now or utcnow()
    with runtime.db.transaction() as session:
        due = due_launches(session, now)
    outcomes = {"launched": 0, "refused": 0, "taken": 0}
    for poll_id, at in due:
        outcome = launch_one(runtime, poll_id, at, now=now)
        outcomes[outcome] += 1
    with runtime.db.transaction() as session:
        # A closed or open poll with a time left on it (from before launch cleared it) drops it.
        session.execute(
            sa.update(Poll)
            .where(Poll.launch_at.is_not(None), Poll.status != PollStatus.DRAFT)
            .values(launch_at=None)
            .execution_options(synchronize_session=False)
        )
    if outcomes["launched"]:
        try_kick_senders(runtime)
    return outcomes

"""The dashboard every staff role sees: groups and how many can be texted (no numbers), the polls
with their response rate and next reminder, and what needs attention (flags, failed texts,
nominations waiting for moderation)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    Nomination,
    NominationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    Poll,
    PollStatus,
)
from smsapp.services.agenda import proposals
from smsapp.services.people.consent import group_reach
from smsapp.services.research.results import respondents
from smsapp.services.safeguarding.inbox import open_flag_counts
from smsapp.web import db_session, runtime
from smsapp.web.admin import STAFF, bp
from smsapp.web.auth import roles_required

DASHBOARD_POLLS = 20
FAILED_WINDOW = timedelta(days=7)
FLAG_ROLES = ("safeguarding", "admin")
FAILED = (OutboundStatus.FAILED, OutboundStatus.UNDELIVERED)


@dataclass
class PollLine:
    poll: Poll
    invited: int
    responded: int
    next_reminder: str | None
    failed: int
    pending_nominations: int

    @property
    def response_rate(self) -> float:
        return self.responded / self.invited if self.invited else 0.0


def _per_poll(stmt: Any) -> dict[int, int]:
    return {poll_id: int(n or 0) for poll_id, n in db_session().execute(stmt).all()}


def poll_lines(zone: ZoneInfo) -> list[PollLine]:
    s = db_session()
    open_first = sa.case((Poll.status == PollStatus.OPEN, 0), else_=1)
    polls = s.scalars(
        sa.select(Poll).order_by(open_first, Poll.updated_at.desc()).limit(DASHBOARD_POLLS)
    ).all()
    ids = [p.id for p in polls]
    real = sa.select(Participant.id).where(Participant.simulated.is_(False))
    invited = _per_poll(
        sa.select(Conversation.poll_id, sa.func.count())
        .where(Conversation.poll_id.in_(ids), Conversation.participant_id.in_(real))
        .group_by(Conversation.poll_id)
    )
    responded = respondents(s, ids)
    failed = _per_poll(
        sa.select(OutboundMessage.poll_id, sa.func.count())
        .where(OutboundMessage.poll_id.in_(ids), OutboundMessage.status.in_(FAILED))
        .group_by(OutboundMessage.poll_id)
    )
    pending = _per_poll(
        sa.select(Nomination.poll_id, sa.func.count())
        .where(Nomination.poll_id.in_(ids), Nomination.status == NominationStatus.PENDING)
        .group_by(Nomination.poll_id)
    )
    reminders: dict[int, datetime | None] = {
        poll_id: due
        for poll_id, due in s.execute(
            sa.select(Conversation.poll_id, sa.func.min(Conversation.next_reminder_at))
            .where(
                Conversation.poll_id.in_(ids),
                Conversation.status == ConversationStatus.OPEN,
                Conversation.next_reminder_at.is_not(None),
            )
            .group_by(Conversation.poll_id)
        ).all()
    }
    lines = []
    for p in polls:
        due = reminders.get(p.id)
        when = f"{due.astimezone(zone):%a %d %b %H:%M}" if due and p.status == "open" else None
        lines.append(
            PollLine(
                p,
                invited.get(p.id, 0),
                responded.get(p.id, 0),
                when,
                failed.get(p.id, 0),
                pending.get(p.id, 0),
            )
        )
    return lines


@bp.get("/")
@roles_required(*STAFF)
def dashboard() -> ResponseReturnValue:
    s = db_session()
    groups = group_reach(s)
    polls = s.execute(sa.select(Poll.status, sa.func.count(Poll.id)).group_by(Poll.status)).all()
    flags = open_flag_counts(s) if current_user.role in FLAG_ROLES else None
    failed_recent = s.scalar(
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(
            OutboundMessage.status.in_(FAILED),
            OutboundMessage.updated_at >= utcnow() - FAILED_WINDOW,
        )
    )
    lines = poll_lines(ZoneInfo(runtime().settings.timezone))
    return render_template(
        "admin/dashboard.html",
        groups=groups,
        poll_counts={k: n for k, n in polls},
        lines=lines,
        flags=flags,
        failed_recent=int(failed_recent or 0),
        failed_days=FAILED_WINDOW.days,
        pending_nominations=sum(line.pending_nominations for line in lines),
        waiting_questions=proposals.waiting_by_group(s),
    )

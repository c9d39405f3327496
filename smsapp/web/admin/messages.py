"""The message log (texts out with delivery status and error codes, texts in), filtered by poll
and status and paginated; and the audit log for admins. Numbers appear masked, and only here."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import render_template, request
from flask.typing import ResponseReturnValue

from smsapp.models import (
    AuditEvent,
    Conversation,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    Participant,
    Poll,
)
from smsapp.services.safeguarding.screening import flagged_inbound_ids
from smsapp.web import db_session
from smsapp.web.admin import ADMINS, PEOPLE, bp
from smsapp.web.auth import roles_required

PAGE_SIZE = 50
STATUSES = (
    OutboundStatus.QUEUED,
    OutboundStatus.SENDING,
    OutboundStatus.SENT,
    OutboundStatus.DELIVERED,
    OutboundStatus.UNDELIVERED,
    OutboundStatus.FAILED,
    OutboundStatus.CANCELLED,
)


def _page() -> int:
    return max(1, request.args.get("page", 1, type=int) or 1)


def _paged(stmt: Any, page: int) -> tuple[list[Any], bool]:
    """One page of rows, and whether there is another after it."""
    rows = list(
        db_session().execute(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    )
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


@bp.get("/messages")
@roles_required(*PEOPLE)
def messages() -> ResponseReturnValue:
    s = db_session()
    direction = "in" if request.args.get("direction") == "in" else "out"
    slug = request.args.get("poll") or ""
    status = request.args.get("status") or ""
    page = _page()
    polls = s.execute(sa.select(Poll.id, Poll.slug, Poll.title).order_by(Poll.title)).all()
    poll_id = next((p.id for p in polls if p.slug == slug), None)
    who = (Participant.pseudonym, Participant.phone_masked, Participant.simulated)
    stmt: Any  # one of two selects, each with its own row shape
    if direction == "out":
        # A reply to a flagged text is not shown: older versions quoted the text back in it
        # ("Got it: “…”"), and its words are for the safeguarding lead only.
        to_flagged = OutboundMessage.in_reply_to_id.in_(flagged_inbound_ids())
        stmt = (
            sa.select(OutboundMessage, Poll.slug, *who, to_flagged)
            .outerjoin(Participant, Participant.id == OutboundMessage.participant_id)
            .outerjoin(Poll, Poll.id == OutboundMessage.poll_id)
            .order_by(OutboundMessage.id.desc())
        )
        if slug:
            stmt = stmt.where(OutboundMessage.poll_id == poll_id)
        if status in STATUSES:
            stmt = stmt.where(OutboundMessage.status == status)
    else:
        stmt = (
            sa.select(InboundMessage, Poll.slug, *who)
            .outerjoin(Participant, Participant.id == InboundMessage.participant_id)
            .outerjoin(Conversation, Conversation.id == InboundMessage.conversation_id)
            .outerjoin(Poll, Poll.id == Conversation.poll_id)
            .order_by(InboundMessage.id.desc())
        )
        if slug:
            stmt = stmt.where(Conversation.poll_id == poll_id)
    rows, more = _paged(stmt, page)
    filters = {"direction": direction, "poll": slug, "status": status if direction == "out" else ""}
    return render_template(
        "admin/messages.html",
        rows=rows,
        direction=direction,
        polls=polls,
        statuses=STATUSES,
        filters=filters,
        page=page,
        more=more,
        failed=(OutboundStatus.FAILED, OutboundStatus.UNDELIVERED),
    )


@bp.get("/audit")
@roles_required(*ADMINS)
def audit_log() -> ResponseReturnValue:
    action = request.args.get("action") or ""
    page = _page()
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    rows, more = _paged(stmt, page)
    actions = db_session().scalars(sa.select(AuditEvent.action).distinct().order_by("action"))
    return render_template(
        "admin/audit.html",
        events=[row[0] for row in rows],
        actions=list(actions),
        action=action,
        page=page,
        more=more,
    )

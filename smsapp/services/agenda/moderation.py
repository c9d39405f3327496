"""Moderating young people's questions: approve one as it is or edited into a quick poll to the
proposer's group (credited "a group member's question", never a name or number) and launch it
through the one launch use case, or leave it for a youth lead's SEND; or decline it with a kind
reply. The proposer is told which, by a queued text that quiet hours and consent apply to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from smsapp.conversation.validation import parse_poll
from smsapp.db import utcnow
from smsapp.models import Group, Proposal, ProposalStatus
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.agenda.proposals import (
    KIND,
    TEXT_LIMIT,
    ProposalError,
    group_setting,
    require_group,
    require_waiting,
)
from smsapp.services.outbox.rows import queue_texts
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.definitions import poll_by_slug, save_definition
from smsapp.services.polls.launch import LaunchPlan, LaunchResult, launch_poll, plan_launch

DEFAULT_CLOSES = "3d"  # a group setting: settings["proposal_closes"]
DEFAULT_OPTIONS = ("Yes", "No")
CREDIT = "A group member's question"
APPROVED_TEXT = "Good news: your question was approved and goes to your group soon."
EDITED_TEXT = (
    "Good news: your question was approved. A facilitator edited it a little, so it goes to "
    "your group as: {text}"
)
DECLINED_TEXT = (
    "Thanks for your question. The facilitators decided not to send this one to the group, "
    "but please keep your ideas coming!"
)


def parse_options(text: str | None) -> tuple[str, ...]:
    """ "Yes,No" -> ("Yes", "No"); at least two, at most nine distinct options."""
    if text is None or not text.strip():
        return DEFAULT_OPTIONS
    options = tuple(o.strip() for o in text.split(",") if o.strip())
    if not 2 <= len(options) <= 9:
        raise ProposalError("give between 2 and 9 options, separated by commas, e.g. Yes,No")
    if len({o.casefold() for o in options}) != len(options):
        raise ProposalError("each option must be different")
    return options


def _quick_poll_slug(session: Session, group: Group, proposal: Proposal) -> str:
    base = f"{group.slug}-{proposal.code.lower()}"[:76]
    slug, n = base, 1
    while poll_by_slug(session, slug) is not None:
        n += 1
        slug = f"{base}-{n}"
    return slug


@dataclass(frozen=True)
class Approved:
    code: str
    poll_slug: str
    text: str
    edited: bool


def approve(
    runtime: Runtime,
    session: Session,
    group_slug: str,
    code: str,
    *,
    actor: str,
    text: str | None = None,
    options: str | None = None,
    now: datetime | None = None,
) -> Approved:
    """Make a waiting proposal a draft quick poll to its group and tell the proposer (that it was
    edited, when it was). Launching it is the launch use case's job (approve_and_launch, the
    launch page, or a youth lead's SEND)."""
    now = now or utcnow()
    group = require_group(session, group_slug)
    proposal = require_waiting(session, group, code)
    original = proposal.text or ""
    final = " ".join((text if text is not None else original).split())
    if not final:
        raise ProposalError("the question cannot be empty")
    if len(final) > TEXT_LIMIT:
        raise ProposalError(f"the question can be at most {TEXT_LIMIT} characters")
    edited = final != " ".join(original.split())
    slug = _quick_poll_slug(session, group, proposal)
    data = {
        "slug": slug,
        "title": CREDIT,
        "group": group.slug,
        "closes": group_setting(group, "proposal_closes", DEFAULT_CLOSES),
        "intro": f"{CREDIT}:",
        "questions": [
            {"key": "answer", "kind": "choice", "prompt": final, "options": parse_options(options)}
        ],
    }
    try:
        defn = parse_poll(data)
    except ValueError as exc:
        raise ProposalError(f"the quick poll is not valid: {exc}") from exc
    poll = save_definition(session, defn, actor=actor).poll
    proposal.status = ProposalStatus.APPROVED
    proposal.poll_id = poll.id
    proposal.edited = edited
    proposal.moderated_by, proposal.moderated_at = actor, now
    if edited:
        proposal.text = final
    _tell_proposer(
        runtime, session, proposal, EDITED_TEXT.format(text=final) if edited else APPROVED_TEXT, now
    )
    audit.record(
        session,
        actor,
        "proposal.approve",
        f"{group.slug} {proposal.code}",
        poll=slug,
        edited=edited,
    )
    return Approved(proposal.code, slug, final, edited)


def decline(
    runtime: Runtime,
    session: Session,
    group_slug: str,
    code: str,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> None:
    """Decline a waiting proposal: the proposer gets a kind reply; the reason is for staff only."""
    now = now or utcnow()
    group = require_group(session, group_slug)
    proposal = require_waiting(session, group, code)
    proposal.status = ProposalStatus.DECLINED
    proposal.moderated_by, proposal.moderated_at = actor, now
    proposal.reason = (reason or "").strip()[:500] or None
    _tell_proposer(runtime, session, proposal, DECLINED_TEXT, now)
    audit.record(session, actor, "proposal.decline", f"{group.slug} {proposal.code}")


def _tell_proposer(
    runtime: Runtime, session: Session, proposal: Proposal, body: str, now: datetime
) -> None:
    """Queue a text to the proposer; quiet hours move it, and the send path's consent rule
    (consent.text_gate) decides at the last moment whether it may go."""
    if proposal.participant_id is None:
        return  # withdrawn since: nobody to tell
    send_after, deferred = send_time(
        now, group_quiet_hours(session, proposal.group_id), runtime.settings.timezone
    )
    queue_texts(
        session,
        participant_id=proposal.participant_id,
        poll_id=proposal.poll_id,
        conversation_id=None,
        kind=KIND,
        texts=[body],
        backend=runtime.settings.sms_backend,
        send_after=send_after,
        deferred=deferred,
    )


def preview_approval(
    runtime: Runtime,
    session: Session,
    group_slug: str,
    code: str,
    *,
    actor: str,
    text: str | None = None,
    options: str | None = None,
) -> LaunchPlan:
    """What approving and launching would do, computed inside a savepoint that is rolled back:
    nothing changes. ProposalError or PollError when it cannot be done."""
    nested = session.begin_nested()
    try:
        approved = approve(
            runtime, session, group_slug, code, actor=actor, text=text, options=options
        )
        poll = poll_by_slug(session, approved.poll_slug)
        assert poll is not None
        return plan_launch(runtime, session, poll)
    finally:
        nested.rollback()


def approve_and_launch(
    runtime: Runtime,
    session: Session,
    group_slug: str,
    code: str,
    *,
    actor: str,
    text: str | None = None,
    options: str | None = None,
) -> tuple[Approved, LaunchResult]:
    """Approve and launch through the one launch use case, in the caller's transaction: a launch
    that is refused (nobody can be texted) raises PollError and the caller rolls back both."""
    approved = approve(runtime, session, group_slug, code, actor=actor, text=text, options=options)
    return approved, launch_poll(runtime, session, approved.poll_slug, actor=actor)

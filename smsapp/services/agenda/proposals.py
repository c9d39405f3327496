"""Questions young people propose by texting ASK: storing them (or holding them), the queue and
the group's record of what became of each, and the results to the proposer first when their quick
poll closes. Approving and declining are agenda/moderation.py.

A proposal the safeguarding screen flags is "held": it is stored without its words (they stay in
the flagged text, which only the safeguarding role reads), listed by code and status only, and
never approved, declined or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import for_update, utcnow
from smsapp.models import (
    Group,
    GroupMembership,
    InboundMessage,
    Participant,
    Poll,
    PollStatus,
    Proposal,
    ProposalStatus,
)
from smsapp.privacy.redact import redact
from smsapp.privacy.suppression import DEFAULT_THRESHOLD
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.rows import queue_texts
from smsapp.services.people import consent
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.definitions import PollError
from smsapp.services.votes import announce, tallying

DEFAULT_WAITING_LIMIT = 3  # a group setting: settings["proposal_limit"]
TEXT_LIMIT = 300
KIND = "proposal"  # the texts about a proposal to its proposer
RESULTS_KIND = announce.PROPOSER_KIND

THANKS = "Thanks for your question! A facilitator will look at it soon."
HOW_TO_ASK = (
    "To suggest a question for your group, text ASK and then your question, "
    "e.g. ASK should we visit the science museum?"
)
TOO_MANY = (
    "Thanks! You already have {n} waiting for a facilitator, so please wait until they have "
    "looked at {them} before you ask another."
)
NEEDS_CONSENT = (
    "Sorry, we need a parent or carer's consent before you can suggest a question. "
    "Please ask your group leader."
)
SIMULATED = "The pretend phone can't suggest questions: text ASK from a real phone to try it."
NO_GROUP = "Sorry, you need to be in a group to suggest a question. Please ask your group leader."
FIRST_RESULTS = 'Your question "{question}" has closed, and you hear first. {results}'


class ProposalError(ValueError):
    """A proposal step that cannot be done, with the reason in words; nothing changed."""


@dataclass(frozen=True)
class ProposalOnRecord:
    """One proposal as the group's record shows it; `text` is None when held."""

    code: str
    status: str  # waiting, held, approved, declined, asked, closed
    text: str | None
    proposed_on: date
    poll_slug: str | None
    headline: str | None


@dataclass(frozen=True)
class ProposalLine:
    """One proposal in the moderation queue and `smsapp proposals list`."""

    code: str
    status: str
    text: str | None  # None when held
    proposed_at: datetime
    poll_slug: str | None
    edited: bool


def group_setting(group: Group, name: str, default: Any) -> Any:
    value = (group.settings or {}).get(name)
    return default if value is None else value


def waiting_limit(group: Group) -> int:
    value = group_setting(group, "proposal_limit", DEFAULT_WAITING_LIMIT)
    return value if isinstance(value, int) and value >= 0 else DEFAULT_WAITING_LIMIT


LIMIT_RANGE = range(1, 21)


def set_waiting_limit(session: Session, group_slug: str, limit: int, *, actor: str) -> None:
    """The group's setting: how many questions each member may have waiting (1 to 20)."""
    if limit not in LIMIT_RANGE:
        raise ProposalError(
            f"questions waiting per member: a number from {LIMIT_RANGE.start} to "
            f"{LIMIT_RANGE.stop - 1}"
        )
    group = require_group(session, group_slug)
    group.settings = {**(group.settings or {}), "proposal_limit": limit}
    audit.record(session, actor, "proposal.limit", group.slug, limit=limit)


def proposer_group(session: Session, participant: Participant) -> Group | None:
    """The group a participant's questions go to: the first group they joined."""
    return session.scalar(
        sa.select(Group)
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.participant_id == participant.id, Group.ended_at.is_(None))
        .order_by(GroupMembership.joined_at, GroupMembership.id)
        .limit(1)
    )


def display_status(proposal_status: str, poll_status: str | None) -> str:
    """An approved proposal reads "asked" while its poll is open and "closed" once it closed."""
    if proposal_status == ProposalStatus.APPROVED and poll_status == PollStatus.OPEN:
        return "asked"
    if proposal_status == ProposalStatus.APPROVED and poll_status == PollStatus.CLOSED:
        return "closed"
    return proposal_status


def _next_code(session: Session, group_id: int) -> str:
    """Q1, Q2, …: one more than the highest so far (a withdrawal may have removed some)."""
    highest = session.scalar(
        sa.select(sa.func.max(sa.cast(sa.func.substr(Proposal.code, 2), sa.Integer))).where(
            Proposal.group_id == group_id
        )
    )
    return f"Q{int(highest or 0) + 1}"


def propose(
    session: Session, inbound: InboundMessage, participant: Participant, question: str
) -> list[str]:
    """Store an ASK and return the reply. A flagged text is held (no words kept, no thanks: the
    supportive reply goes instead); over the group's waiting limit nothing is stored."""
    held = bool(inbound.flagged)
    if not question:
        return [HOW_TO_ASK]
    # After a disclosure the supportive reply stands alone: nothing else is said (held).
    if not held and consent.textable_reason(session, participant, kind=KIND) is not None:
        # Someone we may not text could never hear what became of it: the one rule says who.
        return [SIMULATED if participant.simulated else NEEDS_CONSENT]
    group = proposer_group(session, participant)
    if group is None:
        return [] if held else [NO_GROUP]
    if not held:
        waiting = int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(Proposal)
                .where(
                    Proposal.participant_id == participant.id,
                    Proposal.status == ProposalStatus.WAITING,
                )
            )
            or 0
        )
        if waiting >= waiting_limit(group):
            many = waiting != 1
            return [
                TOO_MANY.format(
                    n=f"{waiting} question{'s' if many else ''}", them="those" if many else "it"
                )
            ]
    # One proposal at a time per group, so codes count up without gaps or clashes.
    session.scalar(for_update(sa.select(Group.id).where(Group.id == group.id), session))
    proposal = Proposal(
        group_id=group.id,
        code=_next_code(session, group.id),
        participant_id=participant.id,
        inbound_message_id=inbound.id,
        # A number or e-mail address in it never reaches a staff page or the group.
        text=None if held else redact(question)[:TEXT_LIMIT],
        status=ProposalStatus.HELD if held else ProposalStatus.WAITING,
        created_at=utcnow(),
    )
    session.add(proposal)
    session.flush()
    audit.record(
        session,
        participant.pseudonym,
        "proposal.held" if held else "proposal.ask",
        f"{group.slug} {proposal.code}",
    )
    return [] if held else [THANKS]


def require_group(session: Session, group_slug: str) -> Group:
    group = group_by_slug(session, group_slug)
    if group is None:
        raise ProposalError(f"no group called {group_slug!r}")
    return group


def require_waiting(session: Session, group: Group, code: str) -> Proposal:
    proposal = session.scalar(
        for_update(
            sa.select(Proposal).where(
                Proposal.group_id == group.id, Proposal.code == code.strip().upper()
            ),
            session,
        )
    )
    if proposal is None:
        raise ProposalError(f"{group.slug} has no proposal {code.strip().upper()}")
    if proposal.status == ProposalStatus.HELD:
        raise ProposalError(
            f"{proposal.code} is held for the safeguarding lead: it can never be approved, "
            "declined or sent"
        )
    if proposal.status != ProposalStatus.WAITING:
        raise ProposalError(f"{proposal.code} is already {proposal.status}")
    return proposal


def list_proposals(session: Session, group_slug: str) -> list[ProposalLine]:
    """Every proposal of a group, oldest first; a held one without its words."""
    group = require_group(session, group_slug)
    rows = session.execute(
        sa.select(Proposal, Poll.slug, Poll.status)
        .outerjoin(Poll, Poll.id == Proposal.poll_id)
        .where(Proposal.group_id == group.id)
        .order_by(Proposal.id)
    ).all()
    return [
        ProposalLine(
            code=p.code,
            status=display_status(p.status, poll_status),
            text=None if p.status == ProposalStatus.HELD else p.text,
            proposed_at=p.created_at,
            poll_slug=slug,
            edited=p.edited,
        )
        for p, slug, poll_status in rows
    ]


def oldest_unlaunched(session: Session, group_id: int) -> tuple[Proposal, Poll] | None:
    """The oldest approved proposal whose quick poll is still a draft (what SEND launches)."""
    row = session.execute(
        sa.select(Proposal, Poll)
        .join(Poll, Poll.id == Proposal.poll_id)
        .where(
            Proposal.group_id == group_id,
            Proposal.status == ProposalStatus.APPROVED,
            Poll.status == PollStatus.DRAFT,
        )
        .order_by(Proposal.id)
        .limit(1)
    ).first()
    return (row[0], row[1]) if row else None


def headline(session: Session, poll: Poll, k: int) -> str | None:
    """A closed poll's headline result in the results text's words (small counts suppressed),
    or None before its final count."""
    try:
        return " ".join(announce.headline_lines(session, poll, k))
    except PollError:
        return None


def for_record(session: Session, group_id: int, k: int | None = None) -> list[ProposalOnRecord]:
    """The group's proposals for its record page: what became of each, never a held one's words.
    `k`: the small-count threshold (default: privacy.suppression's)."""
    rows = session.execute(
        sa.select(Proposal, Poll)
        .outerjoin(Poll, Poll.id == Proposal.poll_id)
        .where(Proposal.group_id == group_id)
        .order_by(Proposal.id)
    ).all()
    shown = []
    for proposal, poll in rows:
        status = display_status(proposal.status, poll.status if poll else None)
        shown.append(
            ProposalOnRecord(
                code=proposal.code,
                status=status,
                text=None if proposal.status == ProposalStatus.HELD else proposal.text,
                proposed_on=proposal.created_at.date(),
                poll_slug=poll.slug if poll is not None else None,
                headline=(
                    headline(session, poll, k or DEFAULT_THRESHOLD)
                    if poll is not None and status == "closed"
                    else None
                ),
            )
        )
    return shown


def send_results_to_proposer(
    runtime: Runtime, poll_id: int, *, now: datetime | None = None
) -> bool:
    """After a proposal's quick poll closed: count it (final; the one count at a time) and queue
    its results to the proposer, ahead of the group's results text. Once only. True when queued.
    """
    now = now or utcnow()
    with runtime.db.transaction() as session:
        proposal = session.scalar(
            for_update(sa.select(Proposal).where(Proposal.poll_id == poll_id), session)
        )
        poll = session.get(Poll, poll_id)
        if proposal is None or poll is None or poll.status != PollStatus.CLOSED:
            return False
        if proposal.results_sent_at is not None or proposal.participant_id is None:
            return False
        tallying.tally_poll(session, poll, final=True, actor="proposer-results")
        try:
            text = announce.results_text(session, poll, runtime.settings.small_count)
        except PollError:
            return False
        send_after, deferred = send_time(
            now, group_quiet_hours(session, poll.group_id), runtime.settings.timezone
        )
        queue_texts(
            session,
            participant_id=proposal.participant_id,
            poll_id=poll.id,
            conversation_id=None,
            kind=RESULTS_KIND,
            texts=[FIRST_RESULTS.format(question=proposal.text or "", results=text)],
            backend=runtime.settings.sms_backend,
            send_after=send_after,
            deferred=deferred,
        )
        proposal.results_sent_at = now
        audit.record(session, "system", "proposal.results", poll.slug)
    return True


SWEEP_AFTER = timedelta(minutes=2)  # the job queued at the close normally does it first
SWEEP_WITHIN = timedelta(days=7)


def proposer_results_due(runtime: Runtime, *, now: datetime | None = None) -> list[int]:
    """Quick polls closed a little while ago whose proposer has not had the results yet."""
    now = now or utcnow()
    with runtime.db.transaction() as session:
        return list(
            session.scalars(
                sa.select(Poll.id)
                .join(Proposal, Proposal.poll_id == Poll.id)
                .where(
                    Poll.status == PollStatus.CLOSED,
                    Poll.closed_at <= now - SWEEP_AFTER,
                    Poll.closed_at >= now - SWEEP_WITHIN,
                    Proposal.results_sent_at.is_(None),
                    Proposal.participant_id.is_not(None),
                )
            )
        )


def waiting_by_group(session: Session) -> list[tuple[str, str, int]]:
    """(group slug, group name, questions waiting) for every group with any, for the dashboard."""
    rows = session.execute(
        sa.select(Group.slug, Group.name, sa.func.count(Proposal.id))
        .join(Proposal, Proposal.group_id == Group.id)
        .where(Proposal.status == ProposalStatus.WAITING)
        .group_by(Group.slug, Group.name)
        .order_by(Group.name)
    ).all()
    return [(slug, name, int(n)) for slug, name, n in rows]

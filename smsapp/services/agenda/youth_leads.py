"""Youth leads: a facilitator makes a participant a youth lead of a group (consent recorded with
consent.checked_consent, the one consent check), and may allow them to text SEND, which launches
the group's oldest approved question through the one launch use case. Any youth lead may text
SEND RESULTS for the latest closed poll's headline results (small counts suppressed, as in every
results text). Every step is audited, and the role can be revoked at any time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import (
    Group,
    GroupMembership,
    Participant,
    Poll,
    PollStatus,
    YouthLead,
)
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.agenda.proposals import oldest_unlaunched
from smsapp.services.people.consent import (
    checked_consent,
    member_textability,
    text_gate,
    textable_reason,
)
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.definitions import PollError
from smsapp.services.polls.launch import launch_poll
from smsapp.services.votes import announce

NOT_AVAILABLE = (
    "Sorry, SEND isn't available to you. Text ASK and your question to suggest one for your "
    "group, or HELP for what you can text."
)
SEND_NOT_ALLOWED = (
    "Sorry, sending questions isn't switched on for you yet. Please ask your facilitator."
)
KIND = "youth-lead"  # the replies a youth lead gets; any kind but the JOIN invitation
NOTHING_TO_SEND = "There's no approved question waiting to be sent right now."
SENT = "Sent! The question is going to {n} people in your group."
SENT_LATER = "Done! The question goes to {n} people in your group at {when} (quiet hours)."
NOT_SENT = "Sorry, the question couldn't go out: {reason}."
NO_RESULTS = "There are no results to share yet."


class YouthLeadError(ValueError):
    """A youth-lead step that cannot be done, with the reason in words; nothing changed."""


@dataclass(frozen=True)
class LeadLine:
    pseudonym: str
    nickname: str | None
    can_send: bool
    consent_by: str
    consent_method: str
    appointed_at: datetime
    revoked_at: datetime | None


def _group(session: Session, slug: str) -> Group:
    group = group_by_slug(session, slug)
    if group is None:
        raise YouthLeadError(f"no group called {slug!r}")
    return group


def _member(session: Session, group: Group, pseudonym: str) -> Participant:
    participant = session.scalar(
        sa.select(Participant)
        .join(GroupMembership, GroupMembership.participant_id == Participant.id)
        .where(GroupMembership.group_id == group.id, Participant.pseudonym == pseudonym.strip())
    )
    if participant is None:
        raise YouthLeadError(f"{pseudonym} is not a member of {group.slug}")
    return participant


def _lead(session: Session, group: Group, participant: Participant) -> YouthLead | None:
    return session.scalar(
        sa.select(YouthLead).where(
            YouthLead.group_id == group.id, YouthLead.participant_id == participant.id
        )
    )


class Candidate(NamedTuple):
    pseudonym: str
    nickname: str | None


def candidates(session: Session, group_id: int) -> list[Candidate]:
    """The members who could be made youth lead (pseudonym, nickname): those the one text rule
    (consent.text_gate) lets the service text, since a youth lead works by text."""
    allowed = [
        m.participant_id
        for m in member_textability(session, [group_id])
        if text_gate(m.facts, KIND) is None
    ]
    if not allowed:
        return []
    rows = session.execute(
        sa.select(Participant.pseudonym, Participant.nickname)
        .where(Participant.id.in_(allowed))
        .order_by(Participant.nickname, Participant.pseudonym)
    ).all()
    return [Candidate(pseudonym, nickname) for pseudonym, nickname in rows]


def appoint(
    session: Session,
    group_slug: str,
    pseudonym: str,
    *,
    given_by: str,
    method: str,
    can_send: bool,
    actor: str,
    at: datetime | None = None,
) -> YouthLead:
    """Make a member a youth lead, recording who agreed to it, how and when (ConsentError from
    the consent check, YouthLeadError otherwise; nothing changes on either)."""
    group = _group(session, group_slug)
    participant = _member(session, group, pseudonym)
    why_not = textable_reason(session, participant, kind=KIND)
    if why_not is not None:
        raise YouthLeadError(f"{participant.pseudonym} cannot be a youth lead: {why_not}")
    given_by, method, when = checked_consent(given_by, method, at)
    lead = _lead(session, group, participant)
    if lead is not None and lead.revoked_at is None:
        raise YouthLeadError(f"{participant.pseudonym} is already a youth lead of {group.slug}")
    now = utcnow()
    if lead is None:
        lead = YouthLead(group_id=group.id, participant_id=participant.id)
        session.add(lead)
    lead.can_send = can_send
    lead.consent_by, lead.consent_method, lead.consent_at = given_by, method, when
    lead.appointed_by, lead.appointed_at = actor, now
    lead.revoked_by = lead.revoked_at = None
    session.flush()
    audit.record(
        session,
        actor,
        "youth_lead.appoint",
        participant.pseudonym,
        group=group.slug,
        can_send=can_send,
        consent_method=method,
    )
    return lead


def _active(session: Session, group_slug: str, pseudonym: str) -> tuple[Group, YouthLead]:
    group = _group(session, group_slug)
    lead = _lead(session, group, _member(session, group, pseudonym))
    if lead is None or lead.revoked_at is not None:
        raise YouthLeadError(f"{pseudonym} is not a youth lead of {group.slug}")
    return group, lead


def allow_send(
    session: Session, group_slug: str, pseudonym: str, allowed: bool, *, actor: str
) -> None:
    group, lead = _active(session, group_slug, pseudonym)
    lead.can_send = allowed
    audit.record(
        session, actor, "youth_lead.allow_send", pseudonym, group=group.slug, allowed=allowed
    )


def revoke(session: Session, group_slug: str, pseudonym: str, *, actor: str) -> None:
    group, lead = _active(session, group_slug, pseudonym)
    lead.revoked_at, lead.revoked_by, lead.can_send = utcnow(), actor, False
    audit.record(session, actor, "youth_lead.revoke", pseudonym, group=group.slug)


def leads(session: Session, group_id: int) -> list[LeadLine]:
    """The group's youth leads, current and revoked, for the facilitator's page."""
    rows = session.execute(
        sa.select(YouthLead, Participant.pseudonym, Participant.nickname)
        .join(Participant, Participant.id == YouthLead.participant_id)
        .where(YouthLead.group_id == group_id)
        .order_by(YouthLead.revoked_at.is_not(None), YouthLead.appointed_at)
    ).all()
    return [
        LeadLine(
            pseudonym,
            nickname,
            lead.can_send and lead.revoked_at is None,
            lead.consent_by,
            lead.consent_method,
            lead.appointed_at,
            lead.revoked_at,
        )
        for lead, pseudonym, nickname in rows
    ]


def _current(session: Session, participant: Participant) -> list[YouthLead]:
    return list(
        session.scalars(
            sa.select(YouthLead)
            .where(YouthLead.participant_id == participant.id, YouthLead.revoked_at.is_(None))
            .order_by(YouthLead.id)
        )
    )


def send(runtime: Runtime, session: Session, participant: Participant) -> list[str]:
    """A youth lead's SEND: launch the oldest approved question of a group they may send for."""
    current = _current(session, participant)
    if not current:
        return [NOT_AVAILABLE]
    allowed = [lead for lead in current if lead.can_send]
    if not allowed:
        return [SEND_NOT_ALLOWED]
    for lead in allowed:
        waiting = oldest_unlaunched(session, lead.group_id)
        if waiting is None:
            continue
        proposal, poll = waiting
        actor = f"youth lead {participant.pseudonym}"
        try:
            with session.begin_nested():
                result = launch_poll(runtime, session, poll.slug, actor=actor)
        except PollError as exc:
            audit.record(session, actor, "youth_lead.send_refused", poll.slug, reason=str(exc))
            return [NOT_SENT.format(reason=str(exc))]
        audit.record(session, actor, "youth_lead.send", poll.slug, proposal=proposal.code)
        _kick_after_commit(runtime, session)
        n = result.conversations
        if result.plan.deferred:
            when = result.plan.local(result.plan.send_after)
            return [SENT_LATER.format(n=n, when=when)]
        return [SENT.format(n=n)]
    return [NOTHING_TO_SEND]


def _kick_after_commit(runtime: Runtime, session: Session) -> None:
    def _after_commit(_session: Session) -> None:
        from smsapp.services.outbox.sending import try_kick_senders

        try_kick_senders(runtime)

    sa.event.listen(session, "after_commit", _after_commit, once=True)


def results(runtime: Runtime, session: Session, participant: Participant) -> list[str]:
    """A youth lead's SEND RESULTS: the latest closed poll of their group, in the results text's
    words (small counts suppressed as in every results text)."""
    current = _current(session, participant)
    if not current:
        return [NOT_AVAILABLE]
    group_ids = [lead.group_id for lead in current]
    closed = session.scalars(
        sa.select(Poll)
        .where(Poll.group_id.in_(group_ids), Poll.status == PollStatus.CLOSED)
        .order_by(Poll.closed_at.desc(), Poll.id.desc())
        .limit(5)
    )
    for poll in closed:
        try:
            text = announce.results_text(session, poll, runtime.settings.small_count)
        except PollError:
            continue
        audit.record(
            session, f"youth lead {participant.pseudonym}", "youth_lead.results", poll.slug
        )
        return [text]
    return [NO_RESULTS]

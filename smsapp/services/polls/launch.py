"""Launch a poll: preview who gets it (and who does not, and why), then invite them all at once.

Launch writes every conversation and first text in one transaction with bulk inserts; the send
jobs do the rest. A poll launches once: its unique (poll, participant) pairs say so too.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation import engine
from smsapp.db import for_update, utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    Group,
    GroupMembership,
    NumberStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    Poll,
    PollStatus,
)
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.rows import outbound_row, parts, segments_of
from smsapp.services.people import consent
from smsapp.services.people.consent import Textability, text_gate
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.definitions import (
    PollError,
    closes_at,
    load_definition,
    open_poll,
    require_poll,
)
from smsapp.services.polls.reminders import first_reminder_at
from smsapp.sms.segments import cost_of

# Exclusion reasons, in the order they are checked and shown.
NO_CONSENT = "no consent"
OPTED_OUT = "opted out"
WITHDRAWN = "withdrawn"
INVALID_NUMBER = "invalid number"
REASONS = (WITHDRAWN, OPTED_OUT, NO_CONSENT, INVALID_NUMBER)

INSERT_CHUNK = 5_000
NOBODY_TO_TEXT = "nobody in the group can be texted, so there is nothing to launch"


@dataclass(frozen=True)
class Member:
    id: int
    nickname: str | None
    status: str
    consent_at: datetime | None
    number_status: str
    has_phone: bool
    assent_at: datetime | None = None


MEMBER_COLUMNS = (
    Participant.id,
    Participant.nickname,
    Participant.status,
    Participant.consent_at,
    Participant.number_status,
    Participant.phone_ciphertext.is_not(None),
    Participant.assent_at,
)


def exclusion_reason(member: Member) -> str | None:
    """Why this group member is not texted (a short category for the preview), or None.

    Whether they are texted is consent.text_gate's decision, the same rule the send path
    applies to every text; this only names the reason in the preview's words. Assent is left
    out here: the launch asks for it with a JOIN invitation instead of excluding anyone.
    """
    facts = Textability(
        simulated=False,
        status=member.status,
        has_phone=member.has_phone,
        number_status=member.number_status,
        has_consent=member.consent_at is not None,
        needs_assent=False,
    )
    if text_gate(facts, "invitation") is None:
        return None
    if member.status in (ParticipantStatus.WITHDRAWN, ParticipantStatus.ERASED):
        return WITHDRAWN
    if member.status == ParticipantStatus.OPTED_OUT:
        return OPTED_OUT
    if member.status != ParticipantStatus.ACTIVE:
        return member.status
    if member.consent_at is None:
        return NO_CONSENT
    if member.number_status != NumberStatus.OK or not member.has_phone:
        return INVALID_NUMBER
    return None


@dataclass
class LaunchPlan:
    """What a launch will do; the preview shows it and launch carries it out."""

    poll_id: int
    slug: str
    title: str
    recipients: list[Member]
    waiting: set[int]  # recipients busy in another poll: invited when that one ends
    excluded: Counter[str]
    texts_by_nickname: dict[str | None, tuple[str, ...]]
    state: dict[str, Any]
    finished_at_start: bool
    send_after: datetime
    deferred: bool
    price_per_segment: float
    currency: str
    now: datetime
    closes_at: datetime | None
    segments: int = 0
    texts: int = 0
    timezone: str = "Europe/London"
    # Recipients whose group asks for their own assent by text and who have not replied JOIN:
    # they wait for the poll, and those not yet asked get the JOIN invitation (join_texts).
    awaiting_assent: set[int] = field(default_factory=set)
    join_text: str | None = None
    join_texts: set[int] = field(default_factory=set)

    def local(self, moment: datetime) -> str:
        return f"{moment.astimezone(ZoneInfo(self.timezone)):%a %d %b %Y %H:%M} ({self.timezone})"

    @property
    def refusal(self) -> str | None:
        """Why this launch must not go ahead, or None: a launch to nobody is refused."""
        return None if self.recipients else NOBODY_TO_TEXT

    @property
    def texted_now(self) -> int:
        return len(self.recipients) - len(self.waiting)

    @property
    def estimated_cost(self) -> float:
        return cost_of(self.segments, self.price_per_segment)

    def summary_lines(self) -> list[str]:
        lines = [
            f"Poll {self.slug}: \u201c{self.title}\u201d",
            f"Recipients: {len(self.recipients)}"
            + (
                f" ({len(self.waiting)} are in another poll and get it when that one ends)"
                if self.waiting
                else ""
            ),
        ]
        if self.awaiting_assent:
            lines.append(
                f"Awaiting the young person's own assent: {len(self.awaiting_assent)} "
                f"({len(self.join_texts)} get a JOIN invitation now; each gets the poll after "
                "replying JOIN)"
            )
        if self.excluded:
            lines.append("Not texted:")
            lines += [f"  {reason}: {n}" for reason, n in sorted(self.excluded.items())]
        else:
            lines.append("Not texted: nobody")
        lines.append(
            f"Texts: {self.texts}, segments: {self.segments}, estimated cost: "
            f"{self.estimated_cost:.2f} {self.currency}"
        )
        if self.deferred:
            lines.append(f"Quiet hours: texts will go out from {self.local(self.send_after)}")
        else:
            lines.append("Texts go out now (not in quiet hours)")
        if self.closes_at is not None:
            lines.append(f"Closes: {self.local(self.closes_at)}")
        return lines


def _members(session: Session, group_id: int) -> list[Member]:
    rows = session.execute(
        sa.select(*MEMBER_COLUMNS)
        .join(GroupMembership, GroupMembership.participant_id == Participant.id)
        .where(GroupMembership.group_id == group_id, Participant.simulated.is_(False))
        .order_by(Participant.id)
    ).all()
    return [Member(*row) for row in rows]


def plan_launch(
    runtime: Runtime, session: Session, poll: Poll, *, now: datetime | None = None
) -> LaunchPlan:
    """Everything the preview shows, computed from the database without changing it."""
    if poll.status != PollStatus.DRAFT:
        raise PollError(f"poll {poll.slug!r} is already {poll.status}; it cannot launch again")
    if poll.group_id is None:
        raise PollError(f"poll {poll.slug!r} has no group, so there is nobody to invite")
    now = now or utcnow()
    defn = load_definition(poll)
    members = _members(session, poll.group_id)
    excluded: Counter[str] = Counter()
    recipients = []
    for member in members:
        reason = exclusion_reason(member)
        if reason is None:
            recipients.append(member)
        else:
            excluded[reason] += 1
    busy = set(
        session.scalars(
            sa.select(Conversation.participant_id).where(
                Conversation.status == ConversationStatus.OPEN
            )
        )
    )
    group = session.get(Group, poll.group_id)
    join_texts: set[int] = set()
    join_text = None
    # Anyone who owes assent to any group of theirs waits for the poll: the send path holds
    # every text but the JOIN invitation until they reply (consent.text_gate).
    awaiting_assent = consent.awaiting_assent(
        session, {m.id for m in recipients if m.assent_at is None}
    )
    if group is not None and consent.group_requires_assent(group):
        join_text = consent.join_invitation_text(group)
        owing, step = sorted(awaiting_assent), consent.ASSENT_QUERY_SLICE
        asked: set[int] = set()
        for start in range(0, len(owing), step):  # in slices, as awaiting_assent reads them
            asked.update(
                session.scalars(
                    sa.select(OutboundMessage.participant_id).where(
                        OutboundMessage.kind == consent.JOIN_INVITATION,
                        OutboundMessage.participant_id.in_(owing[start : start + step]),
                        OutboundMessage.status.not_in(
                            [OutboundStatus.CANCELLED, OutboundStatus.FAILED]
                        ),
                    )
                )
            )
        join_texts = awaiting_assent - asked
    waiting = {m.id for m in recipients if m.id in busy} | awaiting_assent
    max_attempts = runtime.settings.max_attempts
    # The first texts differ only by nickname: compute each distinct one once.
    texts_by_nickname: dict[str | None, tuple[str, ...]] = {}
    first = engine.start(defn, nickname=None, max_attempts=max_attempts)
    segments = texts = 0
    for member in recipients:
        if member.nickname not in texts_by_nickname:
            texts_by_nickname[member.nickname] = engine.start(
                defn, nickname=member.nickname, max_attempts=max_attempts
            ).replies
        if member.id in waiting:
            continue
        for body in texts_by_nickname[member.nickname]:
            segments += segments_of(body)
            texts += 1
    if join_text is not None and join_texts:
        segments += segments_of(join_text) * len(join_texts)
        texts += len(join_texts)
    policy = group_quiet_hours(session, poll.group_id)
    send_after, deferred = send_time(now, policy, runtime.settings.timezone)
    return LaunchPlan(
        poll_id=poll.id,
        slug=poll.slug,
        title=poll.title,
        recipients=recipients,
        waiting=waiting,
        excluded=excluded,
        texts_by_nickname=texts_by_nickname,
        state=first.state.to_dict(),
        finished_at_start=first.finished,
        send_after=send_after,
        deferred=deferred,
        price_per_segment=runtime.settings.price_per_segment,
        currency=runtime.settings.currency,
        now=now,
        closes_at=closes_at(defn, now),
        segments=segments,
        texts=texts,
        timezone=runtime.settings.timezone,
        awaiting_assent=awaiting_assent,
        join_text=join_text,
        join_texts=join_texts,
    )


def preview_launch(
    runtime: Runtime, session: Session, slug: str, *, now: datetime | None = None
) -> LaunchPlan:
    """What launching `slug` now would do; changes nothing. PollError if it cannot launch."""
    return plan_launch(runtime, session, require_poll(session, slug), now=now)


@dataclass
class LaunchResult:
    plan: LaunchPlan
    conversations: int = 0
    messages: int = 0
    waiting: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def bulk_insert(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: COPY on PostgreSQL (about 20x an executemany), else executemany.

    COPY bypasses column types, so values must already be what the database stores: aware UTC
    datetimes and JSON as text (the callers here build exactly that).
    """
    if not rows:
        return
    if session.get_bind().dialect.name != "postgresql":
        for i in range(0, len(rows), INSERT_CHUNK):
            session.execute(sa.insert(table), rows[i : i + INSERT_CHUNK])
        return
    columns = list(rows[0])
    json_columns = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    raw = session.connection().connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        dumped: dict[int, str] = {}  # launch rows share their JSON values: encode each once
        for row in rows:
            values = []
            for c in columns:
                value = row[c]
                if c in json_columns:
                    if id(value) not in dumped:
                        dumped[id(value)] = json.dumps(value)
                    value = dumped[id(value)]
                values.append(value)
            copy.write_row(values)


def launch_poll(
    runtime: Runtime,
    session: Session,
    slug: str,
    *,
    actor: str = "system",
    now: datetime | None = None,
) -> LaunchResult:
    """Open the poll and queue every invitation, in the caller's transaction.

    PollError, and nothing changes, when it cannot launch: not a draft, no group, or nobody in
    the group can be texted (LaunchPlan.refusal). Call try_kick_senders
    (smsapp.services.outbox.sending) after the commit so the jobs start at once; if nobody
    does, the clock's next tick finds the queued rows anyway.
    """
    poll = session.scalar(for_update(sa.select(Poll).where(Poll.slug == slug), session))
    if poll is None:
        raise PollError(f"no poll called {slug!r}")
    plan = plan_launch(runtime, session, poll, now=now)
    if plan.refusal is not None:
        raise PollError(plan.refusal)
    open_poll(session, poll, actor=actor)
    now = plan.now
    poll.launch_at = None  # launched (by hand or by the clock): no scheduled launch is left
    poll.launched_at = now
    poll.closes_at = plan.closes_at
    next_reminder = first_reminder_at(load_definition(poll), now, plan.finished_at_start)
    open_status = ConversationStatus.FINISHED if plan.finished_at_start else ConversationStatus.OPEN
    conversation_rows = [
        {
            "poll_id": poll.id,
            "participant_id": m.id,
            "status": ConversationStatus.WAITING if m.id in plan.waiting else open_status,
            "state": {} if m.id in plan.waiting else plan.state,
            "started_by": "launch",
            "created_at": now,
            "invited_at": None if m.id in plan.waiting else now,
            "last_activity_at": now,
            "finished_at": now if plan.finished_at_start and m.id not in plan.waiting else None,
            "reminders_sent": 0,
            "next_reminder_at": None if m.id in plan.waiting else next_reminder,
        }
        for m in plan.recipients
    ]
    bulk_insert(session, Conversation.__table__, conversation_rows)  # type: ignore[arg-type]
    ids = dict(
        session.execute(
            sa.select(Conversation.participant_id, Conversation.id).where(
                Conversation.poll_id == poll.id, Conversation.status != ConversationStatus.WAITING
            )
        ).all()
    )
    no_extra: dict[str, Any] = {}  # one shared (never mutated) value: COPY encodes it once
    message_rows = []
    backend = runtime.settings.sms_backend
    for member in plan.recipients:
        if member.id in plan.waiting:
            continue
        for body, send_after in parts(plan.texts_by_nickname[member.nickname], plan.send_after):
            message_rows.append(
                outbound_row(
                    participant_id=member.id,
                    poll_id=poll.id,
                    conversation_id=ids[member.id],
                    kind="invitation",
                    body=body,
                    backend=backend,
                    send_after=send_after,
                    deferred=plan.deferred,
                    valid_until=plan.closes_at,
                    now=now,
                    extra=no_extra,
                )
            )
    if plan.join_text is not None:
        for member_id in sorted(plan.join_texts):
            message_rows.append(
                outbound_row(
                    participant_id=member_id,
                    poll_id=poll.id,
                    kind=consent.JOIN_INVITATION,
                    body=plan.join_text,
                    backend=backend,
                    send_after=plan.send_after,
                    deferred=plan.deferred,
                    now=now,
                    extra=no_extra,
                )
            )
    bulk_insert(session, OutboundMessage.__table__, message_rows)  # type: ignore[arg-type]
    audit.record(
        session,
        actor,
        "poll.launch",
        poll.slug,
        recipients=len(plan.recipients),
        waiting=len(plan.waiting),
        awaiting_assent=len(plan.awaiting_assent),
        excluded=dict(plan.excluded),
        segments=plan.segments,
        deferred_until=plan.send_after.isoformat() if plan.deferred else None,
    )
    return LaunchResult(
        plan=plan,
        conversations=len(conversation_rows),
        messages=len(message_rows),
        waiting=len(plan.waiting),
    )

"""Celebrate: a short text to the whole group about what it achieved this term, previewed first
(who gets it, who does not and why, segments, cost) like a launch or the results text.

Who may be texted is consent.text_gate's decision (the send path checks it again at the last
moment, so a STOP after the preview still wins); quiet hours move the send time as for every
text (people.group_policy.send_time); the rows come from outbox.rows and go through the send
jobs, which send each row exactly once. The same words go to a group once: a second press of
"Send" is refused, so a double click never texts anyone twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.purposes import NAME, PRIORITIES, TERMS_OF_REFERENCE
from smsapp.db import for_update, utcnow
from smsapp.models import Group, GroupMembership, OutboundMessage
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.rows import queue_texts
from smsapp.services.people.consent import member_textability, text_gate
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.definitions import PollError
from smsapp.services.record.page import GroupRecord
from smsapp.sms.segments import cost_of, count_segments

KIND = "celebrate"
MAX_SEGMENTS = 3
TERM = timedelta(days=120)  # "this term": what the group decided in about the last four months


class CelebrateError(PollError):
    """The celebration cannot be sent as asked; nothing was queued."""


@dataclass
class CelebratePlan:
    group_id: int
    slug: str
    name: str
    text: str
    recipients: list[int]
    excluded: Counter[str] = field(default_factory=Counter)
    segments_each: int = 1
    price_per_segment: float = 0.0
    currency: str = "GBP"
    sent_before: bool = False  # these very words already went to the group
    send_after: datetime | None = None  # when the texts may go (quiet hours moved it)
    deferred: bool = False

    @property
    def segments(self) -> int:
        return self.segments_each * len(self.recipients)

    @property
    def estimated_cost(self) -> float:
        return cost_of(self.segments, self.price_per_segment)

    @property
    def refusal(self) -> str | None:
        """Why this text cannot be sent, or None; queue_celebration refuses for this reason."""
        if not self.text.strip():
            return "write the text first"
        if self.segments_each > MAX_SEGMENTS:
            return f"the text is {self.segments_each} texts long: keep it to {MAX_SEGMENTS}"
        if self.sent_before:
            return "this text has already been sent to the group"
        if not self.recipients:
            return "nobody in the group can be texted, so nothing was queued"
        return None


def suggested_text(record: GroupRecord, today: date) -> str:
    """A first draft for the facilitator to edit: what the group decided this term."""
    since = today - TERM
    recent = [d for d in record.decisions if d.status == "closed" and d.on and d.on >= since]
    done = []
    for d in recent:
        if d.purpose == NAME and d.winners:
            done.append(f"chose your name: {d.winners[0]}")
        elif d.purpose == PRIORITIES and d.winners:
            done.append(f"set your top priority: {d.winners[0]}")
    agreed = record.agreed_terms
    if agreed and agreed.closed_on and agreed.closed_on >= since and agreed.agreed:
        done.append(f"agreed {len(agreed.agreed)} rules for the group")
    others = [d for d in recent if d.purpose not in (NAME, PRIORITIES, TERMS_OF_REFERENCE)]
    if others:
        done.append(f"answered {len(others)} more question{'s' if len(others) > 1 else ''}")
    if not done:
        done.append("shared your views and shaped what we do")
    return f"Well done, {record.name}! This term you " + "; ".join(done) + ". Thank you!"


def _already_sent(session: Session, group_id: int, text: str) -> bool:
    members = sa.select(GroupMembership.participant_id).where(GroupMembership.group_id == group_id)
    return bool(
        session.scalar(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .where(
                OutboundMessage.kind == KIND,
                OutboundMessage.body == text,
                OutboundMessage.participant_id.in_(members),
            )
        )
    )


def preview(
    runtime: Runtime, session: Session, group: Group, text: str, now: datetime | None = None
) -> CelebratePlan:
    text = text.strip()
    send_after, deferred = send_time(
        now or utcnow(), group_quiet_hours(session, group.id), runtime.settings.timezone
    )
    recipients: list[int] = []
    excluded: Counter[str] = Counter()
    for member in member_textability(session, [group.id]):
        if member.facts.simulated:
            continue  # the admin page's pretend phone is nobody: not counted either way
        reason = text_gate(member.facts, KIND)
        if reason is None:
            recipients.append(member.participant_id)
        else:
            excluded[reason] += 1
    return CelebratePlan(
        group.id,
        group.slug,
        group.name,
        text,
        recipients,
        excluded,
        segments_each=count_segments(text).segments if text else 0,
        price_per_segment=runtime.settings.price_per_segment,
        currency=runtime.settings.currency,
        sent_before=bool(text) and _already_sent(session, group.id, text),
        send_after=send_after,
        deferred=deferred,
    )


def queue_celebration(
    runtime: Runtime,
    session: Session,
    group: Group,
    text: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> CelebratePlan:
    """Queue the previewed text for every recipient; the send jobs deliver it, holding any that
    fall in the group's quiet hours. The group's row is locked first, so two presses at once
    queue it once."""
    now = now or utcnow()
    session.execute(for_update(sa.select(Group.id).where(Group.id == group.id), session))
    plan = preview(runtime, session, group, text, now)
    if plan.refusal:
        raise CelebrateError(plan.refusal)
    for participant_id in plan.recipients:
        queue_texts(
            session,
            participant_id=participant_id,
            poll_id=None,
            conversation_id=None,
            kind=KIND,
            texts=[plan.text],
            backend=runtime.settings.sms_backend,
            send_after=plan.send_after or now,
            deferred=plan.deferred,
        )
    session.flush()
    audit.record(
        session,
        actor,
        "group.celebrate",
        group.slug,
        recipients=len(plan.recipients),
        text=plan.text,
    )
    return plan

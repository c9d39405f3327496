"""Results back to participants: after the close, the top of the final count goes to everyone who
took part, previewed first (who, what, segments, cost) like a launch."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import Question
from smsapp.conversation.normalise import shorten
from smsapp.conversation.purposes import TERMS_OF_REFERENCE
from smsapp.db import utcnow
from smsapp.models import (
    Answer,
    Conversation,
    ConversationStatus,
    OutboundMessage,
    Participant,
    Poll,
    PollStatus,
    TallyRun,
)
from smsapp.privacy.suppression import DEFAULT_THRESHOLD, show, suppress
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.rows import queue_texts
from smsapp.services.people.group_policy import group_quiet_hours, send_time
from smsapp.services.polls.definitions import PollError, load_definition
from smsapp.services.polls.launch import MEMBER_COLUMNS, Member, exclusion_reason
from smsapp.services.votes.tallying import latest_results
from smsapp.services.votes.terms import TermsVote, terms_vote
from smsapp.sms.segments import cost_of, count_segments

KIND = "results"
# The results a young person's proposed question sends its proposer first (services/agenda):
# the group's results text then leaves them out, so nobody gets the same results twice.
PROPOSER_KIND = "proposer-results"
HEARD_FIRST = "had the results first (proposed the question)"
TOP = 3
UNITS = {"points": "pts", "approval": "votes", "plurality": "votes"}


@dataclass
class AnnouncePlan:
    poll_id: int
    slug: str
    title: str
    text: str
    recipients: list[Member]
    excluded: Counter[str] = field(default_factory=Counter)
    segments_each: int = 1
    price_per_segment: float = 0.0
    currency: str = "GBP"
    already_sent: int = 0  # results texts queued for this poll before

    @property
    def segments(self) -> int:
        return self.segments_each * len(self.recipients)

    @property
    def refusal(self) -> str | None:
        """Why these results cannot be sent, or None; queue_results refuses for this reason."""
        if not self.recipients:
            return "nobody who took part can be texted, so no results were queued"
        return None

    @property
    def estimated_cost(self) -> float:
        return cost_of(self.segments, self.price_per_segment)

    def summary_lines(self) -> list[str]:
        lines = [
            f"Results of {self.slug}: \u201c{self.title}\u201d",
            f"Recipients: {len(self.recipients)} (everyone who took part and can be texted)",
        ]
        if self.excluded:
            lines.append("Not texted:")
            lines += [f"  {reason}: {n}" for reason, n in sorted(self.excluded.items())]
        lines.append(
            f"Segments: {self.segments_each} each, {self.segments} in all, estimated cost: "
            f"{self.estimated_cost:.2f} {self.currency}"
        )
        if self.already_sent:
            lines.append(f"Note: results were already queued {self.already_sent} time(s).")
        lines += ["Text:", self.text]
        return lines


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def question_line(question: Question, run: TallyRun, many: bool, k: int) -> str:
    """One count's top places in words ("1 Apples (7 votes), 2 Bananas (fewer than 5)"): the
    results text and the group's record page (services/record) say a result the same way."""
    labels = {o.code: o.label for o in question.options}
    order = list(run.result.get("order", []))[:TOP]
    scores = run.result.get("scores", {})
    unit = UNITS.get(run.method)
    # Below k ballots, counts could let people work out how a friend voted: order only.
    show_counts = run.ballots >= k and unit is not None
    # Votes count people: a small one ("C (1 votes)") would single someone out, so those are
    # hidden by privacy.suppression, as in the tally export (secondary suppression included).
    shown = suppress({c: int(n) for c, n in scores.items()}, k) if unit == "votes" else dict(scores)
    parts = []
    for place, code in enumerate(order, 1):
        # Order only: "1st Yes, 2nd No", since "1 Yes, 2 No" reads as one yes and two noes.
        part = f"{place if show_counts else _ordinal(place)} {labels.get(code, code)}"
        if show_counts:
            value = shown.get(code, 0)
            part += f" ({value} {unit})" if value is not None else f" ({show(value, k)})"
        parts.append(part)
    head = f"{shorten(question.prompt.splitlines()[0], 40)}: " if many else ""
    return head + ", ".join(parts)


def results_text(session: Session, poll: Poll, k: int = DEFAULT_THRESHOLD) -> str:
    """The top results of the final count, with labels; order only when fewer than k people
    voted, and counts below k hidden (SMSAPP_SMALL_COUNT, privacy.suppression)."""
    # no curly quotes round the title: they would force UCS-2 and double the segments
    lines = [f"Results of {poll.title}:", *headline_lines(session, poll, k)]
    lines.append("Thanks for taking part!")
    return "\n".join(lines)


def headline_lines(session: Session, poll: Poll, k: int = DEFAULT_THRESHOLD) -> list[str]:
    """The results text's own lines (each question's top, and the order-only note), for pages
    that show a poll's headline result in the same words; PollError before a final count."""
    if poll.status != PollStatus.CLOSED:
        raise PollError(f"poll {poll.slug!r} is {poll.status}: results go out after it closes")
    questions = load_definition(poll).ballot_questions()
    stored = latest_results(session, poll)
    final = {
        q.key: runs[0] for q in questions if (runs := stored.get(q.key)) and not runs[0].provisional
    }
    if not questions or len(final) != len(questions):
        raise PollError(
            f"poll {poll.slug!r} has no final count yet (smsapp polls tally {poll.slug})"
        )
    if load_definition(poll).purpose == TERMS_OF_REFERENCE:
        return terms_lines(terms_vote(session, poll, min_turnout=k, zone=ZoneInfo("UTC")))
    many = len(questions) > 1
    lines = [question_line(q, final[q.key], many, k) for q in questions]
    if min(run.ballots for run in final.values()) < k:
        lines.append(f"Fewer than {k} people voted, so we're sharing the order only.")
    return lines


def terms_lines(vote: TermsVote) -> list[str]:
    """A terms-of-reference vote in a text: which clauses the group agreed, not every count
    (the pass rule is voting.agreement's; the record page lists the rest with reasons)."""
    agreed = vote.agreed
    if not agreed:
        return [f"None of the {len(vote.clauses)} clauses was agreed yet: we'll talk them over."]
    lines = [f"We agreed {len(agreed)} of {len(vote.clauses)} clauses:"]
    return lines + [f"- {shorten(clause.text, 60)}" for clause in agreed]


def _took_part(session: Session, poll: Poll) -> list[Member]:
    answered = sa.select(Answer.participant_id).where(Answer.poll_id == poll.id)
    finished = sa.select(Conversation.participant_id).where(
        Conversation.poll_id == poll.id, Conversation.status == ConversationStatus.FINISHED
    )
    rows = session.execute(
        sa.select(*MEMBER_COLUMNS)
        .where(
            Participant.simulated.is_(False),
            sa.or_(Participant.id.in_(answered), Participant.id.in_(finished)),
        )
        .order_by(Participant.id)
    ).all()
    return [Member(*row) for row in rows]


def preview(runtime: Runtime, session: Session, poll: Poll) -> AnnouncePlan:
    text = results_text(session, poll, runtime.settings.small_count)
    recipients, excluded = [], Counter[str]()
    heard_first = set(
        session.scalars(
            sa.select(OutboundMessage.participant_id).where(
                OutboundMessage.poll_id == poll.id, OutboundMessage.kind == PROPOSER_KIND
            )
        )
    )
    for member in _took_part(session, poll):
        reason = HEARD_FIRST if member.id in heard_first else exclusion_reason(member)
        if reason is None:
            recipients.append(member)
        else:
            excluded[reason] += 1
    already = session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.poll_id == poll.id, OutboundMessage.kind == KIND)
    )
    return AnnouncePlan(
        poll.id,
        poll.slug,
        poll.title,
        text,
        recipients,
        excluded,
        segments_each=count_segments(text).segments,
        price_per_segment=runtime.settings.price_per_segment,
        currency=runtime.settings.currency,
        already_sent=int(already or 0),
    )


def queue_results(
    runtime: Runtime,
    session: Session,
    poll: Poll,
    *,
    actor: str = "system",
    now: datetime | None = None,
) -> AnnouncePlan:
    """Queue the previewed text for every recipient (status queued, kind "results"); the send
    jobs deliver them, holding any that fall in the group's quiet hours."""
    now = now or utcnow()
    plan = preview(runtime, session, poll)
    if plan.refusal:
        raise PollError(plan.refusal)
    send_after, deferred = send_time(
        now, group_quiet_hours(session, poll.group_id), runtime.settings.timezone
    )
    for member in plan.recipients:
        queue_texts(
            session,
            participant_id=member.id,
            poll_id=poll.id,
            conversation_id=None,
            kind=KIND,
            texts=[plan.text],
            backend=runtime.settings.sms_backend,
            send_after=send_after,
            deferred=deferred,
        )
    session.flush()
    audit.record(
        session, actor, "poll.announce", poll.slug, recipients=len(plan.recipients), text=plan.text
    )
    return plan

"""Per-question summaries of a poll: counts per option, response rates. Shared by CLI and pages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import Question
from smsapp.models import (
    Answer,
    Conversation,
    ConversationStatus,
    Participant,
    Poll,
    TallyRun,
)
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research.answers import counted_answers

CHOICE_KINDS = ("choice", "multi", "approve", "yesno")


@dataclass
class QuestionSummary:
    key: str
    kind: str
    prompt: str
    answered: int = 0
    skipped: int = 0
    counts: list[tuple[str, str, int]] = field(default_factory=list)  # (code, label, n)
    mean: float | None = None
    asked: int = 0

    @property
    def response_rate(self) -> float:
        return self.answered / self.asked if self.asked else 0.0


@dataclass
class PollSummary:
    slug: str
    title: str
    status: str
    invited: int
    started: int
    finished: int
    questions: list[QuestionSummary]

    @property
    def completion_rate(self) -> float:
        return self.finished / self.invited if self.invited else 0.0


def _counts(question: Question, values: list[Any]) -> list[tuple[str, str, int]]:
    tally: Counter[str] = Counter()
    for value in values:
        if isinstance(value, list):
            tally.update(str(v) for v in value[:1] if question.kind == "rank")
            if question.kind != "rank":
                tally.update(str(v) for v in value)
        elif isinstance(value, dict):
            for code, pts in value.items():
                tally[str(code)] += int(pts)
        elif isinstance(value, bool):
            tally["Y" if value else "N"] += 1
        elif value is not None:
            tally[str(value)] += 1
    if question.kind == "yesno":
        return [("Y", "Yes", tally["Y"]), ("N", "No", tally["N"])]
    if question.options:
        return [(o.code, o.label, tally[o.code]) for o in question.options]
    return [(k, k, n) for k, n in sorted(tally.items(), key=lambda kv: -kv[1])]


def summarise(session: Session, poll: Poll) -> PollSummary:
    defn = load_definition(poll)
    real = sa.select(Participant.id).where(Participant.simulated.is_(False))
    conv_rows = session.execute(
        sa.select(Conversation.status, sa.func.count())
        .where(Conversation.poll_id == poll.id, Conversation.participant_id.in_(real))
        .group_by(Conversation.status)
    ).all()
    by_status = {status: n for status, n in conv_rows}
    invited = sum(by_status.values())
    started = invited - by_status.get(ConversationStatus.WAITING, 0)
    answers = session.execute(
        counted_answers(session, Answer.question_key, Answer.value, Answer.skipped, poll=poll.id)
    ).all()
    per_question: dict[str, list[Any]] = {}
    skipped: Counter[str] = Counter()
    for key, value, was_skipped in answers:
        if was_skipped:
            skipped[key] += 1
        else:
            per_question.setdefault(key, []).append(value)
    summaries = []
    for question in defn.questions:
        values = per_question.get(question.key, [])
        summary = QuestionSummary(
            key=question.key,
            kind=question.kind,
            prompt=question.prompt,
            answered=len(values),
            skipped=skipped[question.key],
            asked=started,
        )
        if question.kind in ("scale", "number") and values:
            numbers = [float(v) for v in values if isinstance(v, int | float)]
            summary.mean = sum(numbers) / len(numbers) if numbers else None
            summary.counts = _counts(question, values) if question.kind == "scale" else []
        elif question.kind not in ("text", "nominate"):
            summary.counts = _counts(question, values)
        summaries.append(summary)
    return PollSummary(
        poll.slug,
        poll.title,
        poll.status,
        invited,
        started,
        by_status.get(ConversationStatus.FINISHED, 0),
        summaries,
    )


def format_summary(summary: PollSummary) -> str:
    """A readable terminal summary: counts and response rate per question."""
    lines = [
        f"{summary.title} ({summary.slug}) — {summary.status}",
        f"Invited {summary.invited}, started {summary.started}, finished {summary.finished} "
        f"({summary.completion_rate:.0%} completion)",
        "",
    ]
    for q in summary.questions:
        lines.append(f"[{q.key}] {q.kind}: {q.prompt.splitlines()[0][:70]}")
        lines.append(
            f"  answered {q.answered} of {q.asked} ({q.response_rate:.0%}), skipped {q.skipped}"
        )
        if q.mean is not None:
            lines.append(f"  mean {q.mean:.2f}")
        total = sum(n for _, _, n in q.counts) or 1
        width = max((len(label) for _, label, _ in q.counts), default=0)
        for code, label, n in q.counts:
            bar = "█" * round(20 * n / total)
            lines.append(f"  {code:>3} {label:<{min(width, 30)}.30} {n:>5}  {bar}")
        if q.kind in ("text", "nominate"):
            lines.append("  (free text: see the moderated results page or the export)")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def respondents(session: Session, poll_ids: list[int]) -> dict[int, int]:
    """Per poll, how many participants gave an answer that counts (research.answers): the
    dashboard's "responded"."""
    stmt = counted_answers(
        session, Answer.poll_id, sa.func.count(sa.distinct(Answer.participant_id)), poll=poll_ids
    ).group_by(Answer.poll_id)
    return {poll_id: int(n) for poll_id, n in session.execute(stmt).all()}


def respondents_over_time(session: Session, poll: Poll) -> list[tuple[datetime, int]]:
    """How many participants had given an answer that counts, cumulative, per hour (per day
    once answers span more than three days), from 0 the step before the first answer; empty
    hours or days in between are filled in."""
    firsts = sorted(
        session.scalars(
            counted_answers(session, sa.func.min(Answer.answered_at), poll=poll.id).group_by(
                Answer.participant_id
            )
        )
    )
    if not firsts:
        return []
    by_day = firsts[-1] - firsts[0] > timedelta(days=3)
    step = timedelta(days=1) if by_day else timedelta(hours=1)

    def floor(moment: datetime) -> datetime:
        moment = moment.replace(minute=0, second=0, microsecond=0)
        return moment.replace(hour=0) if by_day else moment

    # The line starts from nobody, one step before the first answer.
    points: list[tuple[datetime, int]] = [(floor(firsts[0]) - step, 0)]
    at, total, index = floor(firsts[0]), 0, 0
    while index < len(firsts):
        while index < len(firsts) and floor(firsts[index]) <= at:
            total += 1
            index += 1
        points.append((at, total))
        at += step
    return points


def results_version(session: Session, poll: Poll) -> str:
    """A marker that changes whenever the results page would: the poll's status or edit time,
    its newest answer (ix_answer_poll_id: one index probe), or its newest stored count.

    The live results page asks for it every few seconds and redraws only when it changes, so
    a page left open costs two index look-ups per look, not a summary of every answer.
    """
    newest_answer = session.scalar(
        sa.select(sa.func.max(Answer.id)).where(Answer.poll_id == poll.id)
    )
    newest_count = session.scalar(
        sa.select(sa.func.max(TallyRun.id)).where(TallyRun.poll_id == poll.id)
    )
    updated = poll.updated_at.timestamp() if poll.updated_at else 0
    return f"{poll.id}.{poll.status}.{updated:.0f}.{newest_answer or 0}.{newest_count or 0}"

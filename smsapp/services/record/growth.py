"""The year review's tree of growth: roots (what we learned), trunk (how we work together) and
branches (what we changed), from the choice answers (each option's part is declared by the
question's `growth:` map) and the free-text answers a facilitator tags.

Which answers count is research.answers' rule (so flagged texts, the simulated phone and
erased answers never appear), and every count shown passes privacy.suppression.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.purposes import GROWTH_MEANING, GROWTH_PARTS
from smsapp.db import utcnow
from smsapp.models import Answer, GrowthTag, Poll
from smsapp.privacy.redact import redact
from smsapp.privacy.suppression import suppress, suppress_total
from smsapp.services import audit
from smsapp.services.polls.definitions import PollError, load_definition
from smsapp.services.research.answers import counted_answers
from smsapp.services.research.results import summarise

FREE_TEXT = "text"


@dataclass
class Part:
    part: str
    meaning: str
    options: list[tuple[str, int | None]] = field(default_factory=list)  # (label, shown count)
    tagged: int | None = 0  # free-text answers tagged to this part (None: hidden, fewer than k)
    total: int | None = 0  # mentions: picks of its options plus tagged answers


@dataclass
class Tree:
    slug: str
    title: str
    respondents: int | None  # people whose answers count (None: fewer than k)
    parts: list[Part]
    untagged: int  # free-text answers no facilitator has tagged yet (staff only: a to-do)


def has_tree(poll: Poll) -> bool:
    return any(q.growth for q in load_definition(poll).questions)


def _tag_counts(session: Session, poll: Poll) -> dict[str, int]:
    stmt = (
        counted_answers(session, GrowthTag.part, sa.func.count(), poll=poll.id)
        .join(GrowthTag, GrowthTag.answer_id == Answer.id)
        .where(Answer.kind == FREE_TEXT, Answer.skipped.is_(False))
        .group_by(GrowthTag.part)
    )
    return {part: int(n) for part, n in session.execute(stmt)}


def tree_of_growth(session: Session, poll: Poll, k: int) -> Tree:
    defn = load_definition(poll)
    summary = summarise(session, poll)
    counts = {q.key: q.counts for q in summary.questions}
    picks: dict[tuple[str, str], int] = {}
    labels: dict[tuple[str, str], tuple[str, str]] = {}  # (question, code) -> (part, label)
    for question in defn.questions:
        for code, part in question.growth:
            n = next((n for c, _, n in counts.get(question.key, []) if c == code), 0)
            picks[(question.key, code)] = n
            option = question.option(code)
            labels[(question.key, code)] = (part, option.label if option else code)
    tags = _tag_counts(session, poll)
    parts = []
    for part in GROWTH_PARTS:
        # Each part shows its total beside its items (its options' picks and its tagged
        # answers), so the items are suppressed together, part by part: one hidden item
        # alone could be worked out as the total minus the others.
        items: dict[tuple[str, str] | None, int] = {
            key: n for key, n in picks.items() if labels[key][0] == part
        }
        items[None] = tags.get(part, 0)
        shown = suppress(items, k)
        total = sum(items.values())
        options = [(labels[key][1], shown[key]) for key in items if key is not None]
        parts.append(
            Part(part, GROWTH_MEANING[part], options, shown[None], suppress_total(total, k))
        )
    untagged = session.scalar(
        counted_answers(session, sa.func.count(), poll=poll.id)
        .outerjoin(GrowthTag, GrowthTag.answer_id == Answer.id)
        .where(Answer.kind == FREE_TEXT, Answer.skipped.is_(False), GrowthTag.id.is_(None))
    )
    respondents = session.scalar(
        counted_answers(session, sa.func.count(sa.distinct(Answer.participant_id)), poll=poll.id)
    )
    return Tree(
        poll.slug,
        poll.title,
        suppress_total(int(respondents or 0), k),
        parts,
        untagged=int(untagged or 0),
    )


@dataclass(frozen=True)
class TaggableAnswer:
    answer_id: int
    question_key: str
    text: str  # redacted: a number or e-mail address in it never reaches the page
    part: str | None


def taggable_answers(session: Session, poll: Poll) -> list[TaggableAnswer]:
    """The free-text answers that count, oldest first, with their tag if any."""
    stmt = (
        counted_answers(
            session, Answer.id, Answer.question_key, Answer.value, GrowthTag.part, poll=poll.id
        )
        .outerjoin(GrowthTag, GrowthTag.answer_id == Answer.id)
        .where(Answer.kind == FREE_TEXT, Answer.skipped.is_(False))
        .order_by(Answer.answered_at, Answer.id)
    )
    return [
        TaggableAnswer(answer_id, key, redact(str(value or "")), part)
        for answer_id, key, value, part in session.execute(stmt)
    ]


def tag_answers(
    session: Session,
    poll: Poll,
    parts: dict[int, str | None],
    *,
    actor: str,
    now: datetime | None = None,
) -> int:
    """Set (or clear, with None) the tag of each answer; only the poll's free-text answers that
    count may be tagged. Returns how many tags changed."""
    if not has_tree(poll):
        raise PollError(f"poll {poll.slug!r} has no tree of growth (no growth: map)")
    bad = [p for p in parts.values() if p is not None and p not in GROWTH_PARTS]
    if bad:
        raise PollError(f"a tag is one of {', '.join(GROWTH_PARTS)}")
    allowed = {a.answer_id: a.part for a in taggable_answers(session, poll)}
    unknown = [answer_id for answer_id in parts if answer_id not in allowed]
    if unknown:
        raise PollError("only this poll's free-text answers that count can be tagged")
    now = now or utcnow()
    changed = 0
    for answer_id, part in parts.items():
        if allowed[answer_id] == part:
            continue
        existing = session.scalar(sa.select(GrowthTag).where(GrowthTag.answer_id == answer_id))
        if part is None:
            if existing is not None:
                session.delete(existing)
        elif existing is None:
            session.add(
                GrowthTag(
                    answer_id=answer_id, poll_id=poll.id, part=part, tagged_by=actor, tagged_at=now
                )
            )
        else:
            existing.part, existing.tagged_by, existing.tagged_at = part, actor, now
        changed += 1
    if changed:
        audit.record(session, actor, "growth.tag", poll.slug, changed=changed)
    return changed

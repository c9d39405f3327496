"""The group's record page: what the group decided and when, the questions its young people
proposed, how many took part each month, and its agreed terms of reference, in plain words.

Every count goes through the one counted-answers rule (research.answers), every stored result
is the current one (votes.tallying.latest_results, said as the results text says it:
votes.announce.question_line), and every count shown passes privacy.suppression.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import Question
from smsapp.conversation.normalise import shorten
from smsapp.conversation.purposes import NAME, PRIORITIES, TERMS_OF_REFERENCE
from smsapp.models import Answer, Group, Poll, PollStatus
from smsapp.privacy.suppression import show, suppress, suppress_total
from smsapp.services.agenda.proposals import ProposalOnRecord, for_record
from smsapp.services.polls.definitions import load_definition
from smsapp.services.record.growth import has_tree
from smsapp.services.research.answers import counted_answers
from smsapp.services.research.results import QuestionSummary, summarise
from smsapp.services.votes.announce import question_line
from smsapp.services.votes.tallying import latest_results
from smsapp.services.votes.terms import TermsVote, terms_vote

COUNTED_KINDS = ("yesno", "multi", "approve", "choice")  # said as "most chose …" from counts
AVERAGED_KINDS = ("scale", "number")
SECTIONS = {NAME: "The name we chose", PRIORITIES: "Our top priority"}


@dataclass(frozen=True)
class Decision:
    """One poll of the group and its headline result, a line per question."""

    slug: str
    title: str
    purpose: str | None
    status: str
    on: date | None  # the day it closed (or opened, while it is open)
    provisional: bool  # some line comes from a count made while the poll was open
    lines: list[str]
    winners: tuple[str, ...] = ()  # each ballot question's final first place, by label


@dataclass(frozen=True)
class MonthCount:
    month: date  # the first of the month
    people: int | None  # None: fewer than k (hidden)


@dataclass
class GroupRecord:
    slug: str
    name: str
    k: int
    decisions: list[Decision] = field(default_factory=list)
    proposals: list[ProposalOnRecord] = field(default_factory=list)
    participation: list[MonthCount] = field(default_factory=list)
    terms: list[TermsVote] = field(default_factory=list)
    year_reviews: list[str] = field(default_factory=list)  # slugs with a tree of growth

    def section(self, purpose: str | None) -> list[Decision]:
        return [d for d in self.decisions if d.purpose == purpose]

    @property
    def other_decisions(self) -> list[Decision]:
        return [d for d in self.decisions if d.purpose not in SECTIONS]

    @property
    def agreed_terms(self) -> TermsVote | None:
        """The latest terms-of-reference vote that closed with its final count."""
        final = [t for t in self.terms if t.final]
        return final[-1] if final else None

    def show(self, value: int | None) -> str:
        return show(value, self.k)


def _head(prompt: str) -> str:
    """The question itself, without the how-to-reply hint after it ("…? Pick any, e.g. A C")."""
    first = prompt.splitlines()[0]
    asked, mark, _ = first.partition("?")
    return shorten(asked + mark if mark else first, 80)


def _line(head: str, result: str) -> str:
    """ "Which name? Team Spark …" or "Rank the names: 1 Team Spark …": one way to join them."""
    return f"{head} {result}" if head.endswith("?") else f"{head}: {result}"


def _summary_line(q: QuestionSummary, k: int) -> str | None:
    head = _head(q.prompt)
    if q.kind in ("text", "nominate"):
        written = show(suppress_total(q.answered, k), k)
        return _line(head, f"{written} written answers (kept for the group's facilitators)")
    if suppress_total(q.answered, k) is None:
        return _line(head, f"fewer than {k} people answered, so the result is not shown.")
    if q.kind in AVERAGED_KINDS and q.mean is not None:
        return _line(head, f"{q.answered} answered, average {q.mean:.1f}")
    if q.kind in COUNTED_KINDS and q.counts:
        shown = suppress({(code, label): n for code, label, n in q.counts}, k)
        ranked = sorted(q.counts, key=lambda c: -c[2])[:3]
        parts = [f"{label} ({show(shown[(code, label)], k)})" for code, label, _ in ranked]
        return _line(head, ", ".join(parts))
    return None


def answered_counts(session: Session, poll_ids: list[int]) -> dict[tuple[int, str], int]:
    """How many answered each question (skips left out), for many polls in one query under the
    counted-answers rule."""
    if not poll_ids:
        return {}
    stmt = (
        counted_answers(
            session, Answer.poll_id, Answer.question_key, sa.func.count(), poll=poll_ids
        )
        .where(Answer.skipped.is_(False))
        .group_by(Answer.poll_id, Answer.question_key)
    )
    return {(poll_id, key): int(n) for poll_id, key, n in session.execute(stmt)}


def _summaries(
    session: Session, poll: Poll, questions: list[Question], answered: dict[tuple[int, str], int]
) -> dict[str, QuestionSummary]:
    """What the lines of the questions that are not ballots need. Counting options or averaging
    reads every answer's value (research.results.summarise); free text needs only how many
    answered (`answered`, counted for every poll at once: a year of long polls has tens of
    thousands of written answers)."""
    if any(q.kind in COUNTED_KINDS or q.kind in AVERAGED_KINDS for q in questions):
        return {q.key: q for q in summarise(session, poll).questions}
    return {
        q.key: QuestionSummary(q.key, q.kind, q.prompt, answered=answered.get((poll.id, q.key), 0))
        for q in questions
    }


def decision_of(
    session: Session,
    poll: Poll,
    k: int,
    zone: ZoneInfo,
    answered: dict[tuple[int, str], int] | None = None,
) -> Decision:
    defn = load_definition(poll)
    stored = latest_results(session, poll)
    ballots = {q.key: q for q in defn.ballot_questions()}
    lines, provisional, winners = [], False, []
    others = [q for q in defn.questions if q.key not in ballots]
    if answered is None:
        answered = answered_counts(session, [poll.id])
    summaries = _summaries(session, poll, others, answered)
    for question in defn.questions:
        runs = stored.get(question.key)
        if question.key in ballots and runs:
            run = runs[0]
            provisional = provisional or run.provisional
            lines.append(_line(_head(question.prompt), question_line(question, run, False, k)))
            order = run.result.get("order") or []
            if order and not run.provisional:
                option = question.option(order[0])
                winners.append(option.label if option else order[0])
            if run.ballots < k:
                lines.append(f"Fewer than {k} people voted, so only the order is shown.")
        elif question.key in ballots:
            lines.append(_line(_head(question.prompt), "not counted yet"))
        elif (line := _summary_line(summaries[question.key], k)) is not None:
            lines.append(line)
    when = poll.closed_at if poll.status == PollStatus.CLOSED else poll.launched_at
    on = when.astimezone(zone).date() if when else None
    return Decision(
        poll.slug, poll.title, defn.purpose, poll.status, on, provisional, lines, tuple(winners)
    )


def participation_by_month(
    session: Session, poll_ids: list[int], k: int, zone: ZoneInfo
) -> list[MonthCount]:
    """How many different people took part in each month (local time): someone takes part in
    a poll in the month of their first answer to it that counts."""
    if not poll_ids:
        return []
    people: dict[date, set[int]] = defaultdict(set)
    stmt = counted_answers(
        session, Answer.participant_id, sa.func.min(Answer.answered_at), poll=poll_ids
    ).group_by(Answer.poll_id, Answer.participant_id)
    for participant_id, at in session.execute(stmt):
        local = at.astimezone(zone)
        people[date(local.year, local.month, 1)].add(participant_id)
    return [MonthCount(month, suppress_total(len(people[month]), k)) for month in sorted(people)]


def group_polls(session: Session, group: Group) -> list[Poll]:
    """The group's polls that have gone out, oldest first."""
    return list(
        session.scalars(
            sa.select(Poll)
            .where(Poll.group_id == group.id, Poll.status != PollStatus.DRAFT)
            .order_by(sa.func.coalesce(Poll.launched_at, Poll.created_at), Poll.id)
        )
    )


def group_record(session: Session, group: Group, *, k: int, timezone: str) -> GroupRecord:
    zone = ZoneInfo(timezone)
    polls = group_polls(session, group)
    record = GroupRecord(group.slug, group.name, k)
    answered = answered_counts(session, [p.id for p in polls])
    for poll in polls:
        purpose = load_definition(poll).purpose
        decision = decision_of(session, poll, k, zone, answered)
        if purpose == TERMS_OF_REFERENCE:
            terms = terms_vote(session, poll, min_turnout=k, zone=zone)
            record.terms.append(terms)
            # Each clause's count is in the terms section; here, what became of the draft.
            decision = replace(decision, lines=[terms.headline])
        if has_tree(poll):
            record.year_reviews.append(poll.slug)
        record.decisions.append(decision)
    record.proposals = for_record(session, group.id, k)
    record.participation = participation_by_month(session, [p.id for p in polls], k, zone)
    return record


def format_record(record: GroupRecord) -> str:
    """The record as plain text for the terminal (`smsapp groups record SLUG`): what the page
    shows, in the same words."""
    day = "%-d %B %Y"
    lines = [f"The record of {record.name} ({record.slug})", ""]
    lines.append("What we decided")
    for d in record.decisions:
        when = d.on.strftime(day) if d.on else ""
        state = f"decided {when}" if d.status == PollStatus.CLOSED else f"open since {when}"
        lines.append(f"  {d.title} ({state}{', count not final' if d.provisional else ''})")
        if d.winners and d.purpose in SECTIONS:
            lines.append(f"    {SECTIONS[d.purpose]}: {d.winners[0]}")
        lines += [f"    - {line}" for line in d.lines]
    if not record.decisions:
        lines.append("  No polls have gone out to this group yet.")
    lines += ["", "Questions you proposed"]
    for p in record.proposals:
        words = "(held for the safeguarding lead)" if p.text is None else p.text
        lines.append(
            f"  {p.code} {p.status}: {words}" + (f" -> {p.headline}" if p.headline else "")
        )
    if not record.proposals:
        lines.append("  None yet.")
    lines += ["", "How many took part"]
    lines += [f"  {m.month:%B %Y}: {record.show(m.people)}" for m in record.participation]
    if not record.participation:
        lines.append("  Nobody has answered a poll yet.")
    lines += ["", "Our terms of reference"]
    terms = record.agreed_terms
    if terms and terms.closed_on:
        lines.append(f"  Agreed by text on {terms.closed_on.strftime(day)}:")
        lines += [f"  {n}. {c.text}" for n, c in enumerate(terms.agreed, 1)]
    else:
        lines.append("  None agreed yet.")
    return "\n".join(lines) + "\n"

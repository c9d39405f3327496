"""Count a poll's ballot questions with the pure tallies and store each count as a TallyRun:
provisional while the poll is open, final once it has closed.

The input is canonical: the question's option codes in definition order, the poll's tie seed,
and K = the question's places for points. `smsapp tally` given the exported ballots and
`reproduce_args()` computes the same JSON, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import ALLOWED_TALLY, Question
from smsapp.db import for_update, utcnow
from smsapp.models import Answer, Participant, Poll, PollStatus, TallyRun
from smsapp.services import audit
from smsapp.services.polls.definitions import PollError, load_definition
from smsapp.services.research.answers import counted_ballots
from smsapp.voting import Ballot, TallyResult, consensus_check, tally
from smsapp.voting.ballots import ranking_of
from smsapp.voting.budget import RULE as BUDGET_RULE
from smsapp.voting.budget import count_budget

BALLOT_KINDS = tuple(ALLOWED_TALLY)  # rank, approve, choice, points


def methods_for(question: Question) -> list[str]:
    """Every method the question's kind allows, the poll's chosen one first."""
    chosen = question.tally_method or ALLOWED_TALLY[question.kind][0]
    return [chosen] + [m for m in ALLOWED_TALLY[question.kind] if m != chosen]


def max_ranks_for(question: Question, method: str) -> int | None:
    """K places for points on a ranking; other methods take every place a ballot has."""
    return question.places if method == "points" and question.kind != "points" else None


@dataclass(frozen=True)
class CastBallot:
    participant_id: int
    pseudonym: str
    value: Any  # the answer's value: a list of codes, one code, or {code: points}
    cast_at: datetime


def cast_ballots(session: Session, poll: Poll, question: Question) -> list[CastBallot]:
    """Each real participant's ballot held at the close (earlier ones stay for audit).

    Which answers count is research.answers' rule, the same for the results and every export
    (skips, the simulated phone and safeguarding-flagged texts never count), and a value is a
    ballot when voting.ballots.ranking_of reads it as one, as the ballots export does: a
    recount from the export gives the stored result.
    """
    stmt = counted_ballots(session, Answer, Participant.pseudonym, poll=poll.id).where(
        Answer.question_key == question.key
    )
    rows = sorted(session.execute(stmt).all(), key=lambda row: row[1])  # by pseudonym
    return [
        CastBallot(answer.participant_id, pseudonym, answer.value, answer.answered_at)
        for answer, pseudonym in rows
        if ranking_of(question.kind, question.codes, answer.value) is not None
    ]


def reproduce_args(poll: Poll, question: Question, method: str) -> list[str]:
    """The `smsapp tally BALLOTS.csv …` arguments that recount a rank/approve/choice question."""
    args = ["--method", method, "--seed", poll.tie_seed, "--options", ",".join(question.codes)]
    k = max_ranks_for(question, method)
    if k is not None:
        args += ["--max-ranks", str(k)]
    return args + ["--json"]


@dataclass
class MethodCount:
    method: str
    result: dict[str, Any]  # TallyResult.to_json_dict(), plus "rule" for a points budget
    consensus: dict[str, Any] | None
    tally: TallyResult


def count_question(question: Question, values: list[Any], seed: str) -> list[MethodCount]:
    """Every allowed method over the ballot values; consensus check beside the chosen one."""
    options = list(question.codes)
    read = [ranking_of(question.kind, options, value) for value in values]
    rankings = [r for r in read if r is not None]
    if question.kind == "points":
        allocations = [dict(zip(r.codes, r.points, strict=True)) for r in rankings]
        result = count_budget(options, allocations, seed=seed)
        return [MethodCount("points", {**result.to_json_dict(), "rule": BUDGET_RULE}, None, result)]
    ballots = [Ballot(r.codes) for r in rankings]
    counts = []
    for index, method in enumerate(methods_for(question)):
        result = tally(
            method, options, ballots, seed=seed, max_ranks=max_ranks_for(question, method)
        )
        check = None
        if index == 0 and method != "schulze" and question.kind == "rank":
            check = consensus_check(options, ballots, seed, result)
        counts.append(MethodCount(method, result.to_json_dict(), check, result))
    return counts


def check_countable(poll: Poll) -> None:
    """A draft has no ballots: counting it, or asking for a count, is refused."""
    if poll.status == PollStatus.DRAFT:
        raise PollError(f"poll {poll.slug!r} is a draft: there is nothing to count yet")


def tally_poll(
    session: Session,
    poll: Poll,
    *,
    final: bool = False,
    actor: str = "system",
    now: datetime | None = None,
) -> list[TallyRun]:
    """Count every ballot question; final once the poll has closed, provisional while open.

    One count of a poll at a time: the poll's row is locked first (FOR UPDATE on PostgreSQL;
    SQLite's BEGIN IMMEDIATE already serialises writers), so a second count waits for the
    first to commit and then sees its runs. The job, `smsapp polls tally` and "Tally now" all
    count through here. A provisional count replaces the poll's earlier provisional ones. A
    final count that matches a stored final count (same input fingerprint) is not stored twice.
    """
    # populate_existing: the status and close time are read again once the lock is held
    session.scalar(
        for_update(sa.select(Poll).where(Poll.id == poll.id), session).execution_options(
            populate_existing=True
        )
    )
    check_countable(poll)
    if final and poll.status != PollStatus.CLOSED:
        raise PollError(f"poll {poll.slug!r} is still open: only a provisional count is possible")
    final = poll.status == PollStatus.CLOSED
    # taken before the ballots are read, so a ballot newer than this is surely not counted
    as_of = now or utcnow()
    runs: list[TallyRun] = []
    for question in load_definition(poll).ballot_questions():
        values = [b.value for b in cast_ballots(session, poll, question)]
        for count in count_question(question, values, poll.tie_seed):
            if final:
                same = session.scalar(
                    sa.select(TallyRun).where(
                        TallyRun.poll_id == poll.id,
                        TallyRun.question_key == question.key,
                        TallyRun.method == count.method,
                        TallyRun.provisional.is_(False),
                        TallyRun.input_sha256 == count.tally.input_sha256,
                    )
                )
                if same is not None:
                    runs.append(same)
                    continue
            run = TallyRun(
                poll_id=poll.id,
                question_key=question.key,
                method=count.method,
                provisional=not final,
                seed=poll.tie_seed,
                ballots=count.tally.ballots,
                input_sha256=count.tally.input_sha256,
                version=count.tally.version,
                result=count.result,
                consensus=count.consensus,
                created_at=as_of,
            )
            session.add(run)
            runs.append(run)
    session.flush()
    if not final:
        kept = [r.id for r in runs]
        session.execute(
            sa.delete(TallyRun)
            .where(
                TallyRun.poll_id == poll.id,
                TallyRun.provisional.is_(True),
                TallyRun.id.not_in(kept),
            )
            .execution_options(synchronize_session=False)
        )
    else:
        audit.record(
            session,
            actor,
            "poll.tally",
            poll.slug,
            runs=[
                {"question": r.question_key, "method": r.method, "sha256": r.input_sha256}
                for r in runs
            ],
        )
    return runs


def latest_results(session: Session, poll: Poll) -> dict[str, list[TallyRun]]:
    """The stored counts to report, for the results page, the results text and the tally
    export alike: for each question and method the final count, else the newest provisional.

    Keyed by ballot question in the poll's order, each question's chosen method first, then
    its other methods; counts of a question or method the definition no longer has come last.
    """
    runs = session.scalars(
        sa.select(TallyRun)
        .where(TallyRun.poll_id == poll.id)
        .order_by(TallyRun.provisional, TallyRun.created_at.desc(), TallyRun.id.desc())
    ).all()
    current: dict[tuple[str, str], TallyRun] = {}
    for run in runs:  # finals first, newest first: the first seen is the one to report
        current.setdefault((run.question_key, run.method), run)
    order = {
        (question.key, method): (index, rank)
        for index, question in enumerate(load_definition(poll).ballot_questions())
        for rank, method in enumerate(methods_for(question))
    }
    out: dict[str, list[TallyRun]] = {}
    for key in sorted(current, key=lambda km: (*order.get(km, (len(order), len(order))), km)):
        out.setdefault(key[0], []).append(current[key])
    return out


def polls_needing_provisional(session: Session) -> list[int]:
    """Open polls with a ballot newer than their latest provisional count (or none yet)."""
    last_ballot = (
        sa.select(Answer.poll_id, sa.func.max(Answer.answered_at).label("at"))
        .join(Poll, Poll.id == Answer.poll_id)
        .where(Poll.status == PollStatus.OPEN, Answer.kind.in_(BALLOT_KINDS))
        .group_by(Answer.poll_id)
        .subquery()
    )
    last_run = (
        sa.select(TallyRun.poll_id, sa.func.max(TallyRun.created_at).label("at"))
        .where(TallyRun.provisional.is_(True))
        .group_by(TallyRun.poll_id)
        .subquery()
    )
    stmt = (
        sa.select(last_ballot.c.poll_id)
        .outerjoin(last_run, last_run.c.poll_id == last_ballot.c.poll_id)
        .where(sa.or_(last_run.c.at.is_(None), last_run.c.at < last_ballot.c.at))
        .order_by(last_ballot.c.poll_id)
    )
    return list(session.scalars(stmt))

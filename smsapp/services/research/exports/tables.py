"""The small exports: ballots (ready for `smsapp tally`), the stored tallies round by round, and
the codebook of questions and options."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinition, Question
from smsapp.formats import cells, columns
from smsapp.formats.cells import count_cell
from smsapp.models import Answer, Participant, Poll
from smsapp.privacy.suppression import suppress, suppress_total
from smsapp.services.research.answers import counted_ballots
from smsapp.services.research.exports.reading import Row, iso, stream
from smsapp.services.votes.tallying import latest_results
from smsapp.voting.ballots import ranking_of


def ballot_rows(
    session: Session, poll: Poll, defn: PollDefinition, question: str | None = None
) -> Iterator[Row]:
    """One row per current ballot: ranking = codes best first, as `smsapp tally` reads them.

    Each ballot is read by voting.ballots.ranking_of against its question, as the tally reads
    it, so `smsapp tally` on this file recreates the stored count.
    """
    questions = {q.key: q for q in defn.ballot_questions()}
    # Exactly the ballots the count takes, so `smsapp tally` on this file recreates it.
    stmt = counted_ballots(
        session,
        Participant.pseudonym,
        Answer.question_key,
        Answer.kind,
        Answer.value,
        Answer.answered_at,
        poll=poll.id,
    ).order_by(Answer.question_key, Answer.id)
    if question is not None:
        stmt = stmt.where(Answer.question_key == question)
    for pseudonym, key, kind, value, cast_at in stream(session, stmt):
        asked = questions.get(key)
        ranked = ranking_of(asked.kind, asked.codes, value) if asked is not None else None
        if ranked is None:
            continue
        ranking, points = columns.ballot_cells(ranked)
        yield [
            pseudonym,
            poll.slug,
            key,
            cells.neutralise(ranking),
            iso(cast_at),
            kind,
            points,
        ]


def _labels(defn: PollDefinition, key: str) -> dict[str, str]:
    try:
        question = defn.question(key)
    except KeyError:
        return {}
    return {o.code: o.label for o in question.options}


_EXHAUSTED = ("exhausted",)  # a round's exhausted ballots, beside its options' votes


def _suppressed(items: list[dict[str, Any]], below: int | None) -> list[dict[str, Any]]:
    """One round's rows with its small counts hidden by privacy.suppression: the votes and
    the exhausted ballots add up to the ballots column, so a lone hidden count takes the next
    smallest with it, as in every results text."""
    if below is None:
        return items
    counts: dict[object, int] = {item["option"]: int(item["votes"]) for item in items}
    exhausted = items[0]["exhausted"] if items else ""
    if exhausted != "":
        counts[_EXHAUSTED] = int(exhausted)
    shown = suppress(counts, below)
    return [
        {
            **item,
            "votes": count_cell(shown[item["option"]], below),
            "exhausted": "" if exhausted == "" else count_cell(shown[_EXHAUSTED], below),
        }
        for item in items
    ]


def tally_rows(
    session: Session, poll: Poll, defn: PollDefinition, suppress_below: int | None = None
) -> Iterator[Row]:
    """Every round of every method counted, from the stored TallyRun rows."""
    current = [run for runs in latest_results(session, poll).values() for run in runs]
    # by question key then method, as researchers' scripts have always read the file
    for run in sorted(current, key=lambda run: (run.question_key, run.method)):
        ballots: int | str = run.ballots
        if suppress_below is not None:
            ballots = count_cell(suppress_total(run.ballots, suppress_below), suppress_below)
        items = columns.tally_rows(run.result, _labels(defn, run.question_key))
        for _, one_round in itertools.groupby(items, key=lambda item: item["round"]):
            for item in _suppressed(list(one_round), suppress_below):
                yield [
                    poll.slug,
                    run.question_key,
                    run.method,
                    item["round"],
                    cells.neutralise(item["option"]),
                    cells.safe_text(item["label"]),
                    item["votes"],
                    item["status"],
                    cells.safe_text(item["note"]),
                    item["place"],
                    ballots,
                    item["exhausted"],
                    0 if run.provisional else 1,
                    run.input_sha256,
                ]


def _when(question: Question) -> str:
    return "; ".join(f"{key} in {' '.join(values)}" for key, values in question.when)


def codebook_rows(poll: Poll, defn: PollDefinition) -> Iterator[Row]:
    """One row per option (or scale point) per question; one row for a question without."""
    for question in defn.questions:
        if question.kind == "yesno":
            codes = [("Y", "Yes"), ("N", "No")]
        elif question.options:
            codes = [(o.code, o.label) for o in question.options]
        elif question.kind == "scale" and (question.max or 5) - question.low < (
            columns.SCALE_ROWS_LIMIT
        ):
            high = question.max or 5
            ends = dict(zip((question.low, high), question.labels or (), strict=False))
            codes = [(str(n), ends.get(n, str(n))) for n in range(question.low, high + 1)]
        else:
            codes = [("", "")]
        extra = [
            1 if question.optional else 0,
            "" if question.min is None else question.min,
            "" if question.max is None else question.max,
            question.tally_method or "",
            cells.safe_text(_when(question)),
        ]
        for code, label in codes:
            yield [
                poll.slug,
                question.key,
                question.kind,
                cells.safe_text(question.prompt),
                cells.neutralise(code),
                cells.safe_text(label),
                *extra,
            ]

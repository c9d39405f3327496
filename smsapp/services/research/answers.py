"""Which answers count: the one rule for the dashboard, results, the tally and every export.

An answer counts when it is its participant's latest to the question, came from a real
participant (not the admin's simulated phone), not in a safeguarding-flagged text
(safeguarding.answer_is_flagged), and, for a ballot of a closed poll, was cast by the close.
A skipped answer counts as an answer (the responses export shows it) but is no ballot.

"Latest" is the `superseded` flag, which a changed ballot sets on the one it replaces: a
column of the row itself, read without a look at the other answers. It means latest by time
too, since a flagged text no longer replaces a ballot (polls.conversations.handle_text). One
case needs the other answers: a ballot changed only after the close (a text that raced the
close) superseded the one held at the close, and that one is still the ballot, as the tally
always counted it. Those few, and the polls' close times, are read first in small queries of
their own and named in the rule as values: the statement stays a plain filter on each row,
which PostgreSQL plans as it did before the rule (in parallel, with no sub-query it would cost
per row, and for an open poll exactly the old filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from smsapp.models import Answer, Participant, Poll
from smsapp.services.safeguarding.screening import answer_is_flagged
from smsapp.voting.ballots import BALLOT_KINDS


def _held_at_the_close(poll_ids: Sequence[int]) -> sa.Select[Any]:
    """Ids of superseded ballots that were still the latest at their poll's close."""
    held, later, poll = aliased(Answer, name="held"), aliased(Answer, name="later"), aliased(Poll)
    changed_by_the_close = sa.exists().where(
        later.conversation_id == held.conversation_id,
        later.question_key == held.question_key,
        later.answered_at <= poll.closed_at,
        sa.or_(
            later.answered_at > held.answered_at,
            sa.and_(later.answered_at == held.answered_at, later.id > held.id),
        ),
    )
    return (
        sa.select(held.id)
        .select_from(poll)
        .join(held, held.poll_id == poll.id)
        .where(
            poll.id.in_(poll_ids),
            held.superseded.is_(True),
            held.kind.in_(BALLOT_KINDS),
            held.answered_at <= poll.closed_at,
            sa.not_(changed_by_the_close),
        )
        .order_by(held.id)
    )


def answer_counts(session: Session, poll: int | Sequence[int]) -> list[sa.ColumnElement[bool]]:
    """The rule for the answers of one poll (or several), as where-clauses on Answer joined to
    its Participant. The polls' close times and held ballots are read first, so the clauses
    name them as values."""
    poll_ids = [poll] if isinstance(poll, int) else list(poll)
    closing = sa.select(Poll.id, Poll.closed_at).where(
        Poll.id.in_(poll_ids), Poll.closed_at.is_not(None)
    )
    closed = {poll_id: at for poll_id, at in session.execute(closing)}
    clauses = [
        Answer.poll_id == poll_ids[0] if len(poll_ids) == 1 else Answer.poll_id.in_(poll_ids),
        Participant.simulated.is_(False),
        sa.not_(answer_is_flagged()),
    ]
    latest = Answer.superseded.is_(False)
    if not closed:
        return [*clauses, latest]
    after_the_close = sa.or_(
        *(sa.and_(Answer.poll_id == pid, Answer.answered_at > at) for pid, at in closed.items())
    )
    held = list(session.scalars(_held_at_the_close(list(closed))))
    return [
        *clauses,
        # rarely true, so tested first: most rows stop there
        sa.not_(sa.and_(after_the_close, Answer.kind.in_(BALLOT_KINDS))),
        sa.or_(latest, Answer.id.in_(held)) if held else latest,
    ]


def counted_answers(session: Session, *columns: Any, poll: int | Sequence[int]) -> sa.Select[Any]:
    """`SELECT columns FROM answer` (with its participant) for the answers of `poll` (an id, or
    several) that count.

    Callers add their own joins, filters, grouping and order; the statement streams as well as
    it counts. `session` reads the polls' close times and held ballots beforehand.
    """
    return (
        sa.select(*columns)
        .select_from(Answer)
        .join(Participant, Participant.id == Answer.participant_id)
        .where(*answer_counts(session, poll))
    )


def counted_ballots(session: Session, *columns: Any, poll: int | Sequence[int]) -> sa.Select[Any]:
    """counted_answers of the ballot questions, skips left out: what the tally reads.

    Whether a stored value is a ballot at all is voting.ballots.ranking_of's to say.
    """
    return counted_answers(session, *columns, poll=poll).where(
        Answer.kind.in_(BALLOT_KINDS), Answer.skipped.is_(False)
    )

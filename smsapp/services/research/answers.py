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
always counted it. Those few are found once per statement, and only if a superseded answer
comes up at all, so the planner costs and runs the rule like a plain filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from smsapp.models import Answer, Participant, Poll
from smsapp.services.safeguarding.flags import answer_is_flagged
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
        .join(poll, poll.id == held.poll_id)
        .where(
            held.poll_id.in_(poll_ids),
            held.superseded.is_(True),
            held.kind.in_(BALLOT_KINDS),
            held.answered_at <= poll.closed_at,
            sa.not_(changed_by_the_close),
        )
    )


def answer_counts(poll: int | Sequence[int]) -> list[sa.ColumnElement[bool]]:
    """The rule for the answers of one poll (or several), as where-clauses on Answer joined to
    its Participant and its Poll."""
    poll_ids = [poll] if isinstance(poll, int) else list(poll)
    is_ballot = Answer.kind.in_(BALLOT_KINDS)
    return [
        Answer.poll_id.in_(poll_ids) if len(poll_ids) != 1 else Answer.poll_id == poll_ids[0],
        Participant.simulated.is_(False),
        sa.not_(answer_is_flagged()),
        # cheapest first: most rows stop at the first test that holds
        sa.or_(Poll.closed_at.is_(None), Answer.answered_at <= Poll.closed_at, sa.not_(is_ballot)),
        # the plain test first: the set of held ballots is built only for a superseded answer
        sa.or_(Answer.superseded.is_(False), Answer.id.in_(_held_at_the_close(poll_ids))),
    ]


def counted_answers(*columns: Any, poll: int | Sequence[int]) -> sa.Select[Any]:
    """`SELECT columns FROM answer` (with its participant and poll) for the answers of `poll`
    (an id, or several) that count.

    Callers add their own joins, filters, grouping and order; the statement streams as well as
    it counts.
    """
    return (
        sa.select(*columns)
        .select_from(Answer)
        .join(Participant, Participant.id == Answer.participant_id)
        .join(Poll, Poll.id == Answer.poll_id)
        .where(*answer_counts(poll))
    )


def counted_ballots(*columns: Any, poll: int | Sequence[int]) -> sa.Select[Any]:
    """counted_answers of the ballot questions, skips left out: what the tally reads.

    Whether a stored value is a ballot at all is voting.ballots.ranking_of's to say.
    """
    return counted_answers(*columns, poll=poll).where(
        Answer.kind.in_(BALLOT_KINDS), Answer.skipped.is_(False)
    )

"""Which answers count: the one rule for the dashboard, results, the tally and every export.

An answer counts when it is its participant's latest to the question, came from a real
participant (not the admin's simulated phone), not in a safeguarding-flagged text
(safeguarding.answer_is_flagged), and, for a ballot of a closed poll, was cast by the close.
A skipped answer counts as an answer (the responses export shows it) but is no ballot.

"Latest" is the `superseded` flag, which a changed ballot sets on the one it replaces: an
indexable column, read without a look at the other answers. It means latest by time too,
since a flagged text no longer replaces a ballot (polls.conversations.handle_text). One case
needs the other answers: a ballot changed only after the close (a text that raced the close)
superseded the one held at the close, and that one is still the ballot, as the tally always
counted it. The check runs only for superseded ballots of closed polls, a handful.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import aliased

from smsapp.models import Answer, Participant, Poll
from smsapp.services.safeguarding.flags import answer_is_flagged
from smsapp.voting.ballots import BALLOT_KINDS


def answer_counts() -> list[sa.ColumnElement[bool]]:
    """The rule, as where-clauses on Answer joined to its Participant and its Poll."""
    is_ballot = Answer.kind.in_(BALLOT_KINDS)
    later = aliased(Answer, name="later")
    changed_by_the_close = sa.exists().where(
        later.conversation_id == Answer.conversation_id,
        later.question_key == Answer.question_key,
        later.answered_at <= Poll.closed_at,
        sa.or_(
            later.answered_at > Answer.answered_at,
            sa.and_(later.answered_at == Answer.answered_at, later.id > Answer.id),
        ),
    )
    held_at_the_close = sa.and_(
        Poll.closed_at.is_not(None), is_ballot, sa.not_(changed_by_the_close)
    )
    return [
        Participant.simulated.is_(False),
        sa.not_(answer_is_flagged()),
        sa.or_(sa.not_(is_ballot), Poll.closed_at.is_(None), Answer.answered_at <= Poll.closed_at),
        # the cheap test first: the database evaluates the rest only for a superseded answer
        sa.or_(Answer.superseded.is_(False), held_at_the_close),
    ]


def counted_answers(*columns: Any) -> sa.Select[Any]:
    """`SELECT columns FROM answer` (with its participant and poll) where the answer counts.

    Callers add the poll (`Answer.poll_id == …`), their own joins, grouping and order; the
    statement streams as well as it counts.
    """
    return (
        sa.select(*columns)
        .select_from(Answer)
        .join(Participant, Participant.id == Answer.participant_id)
        .join(Poll, Poll.id == Answer.poll_id)
        .where(*answer_counts())
    )


def counted_ballots(*columns: Any) -> sa.Select[Any]:
    """counted_answers of the ballot questions, skips left out: what the tally reads.

    Whether a stored value is a ballot at all is voting.ballots.ranking_of's to say.
    """
    return counted_answers(*columns).where(Answer.kind.in_(BALLOT_KINDS), Answer.skipped.is_(False))

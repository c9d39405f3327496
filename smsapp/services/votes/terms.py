"""Terms of reference agreed by text: each clause of a terms-of-reference poll, with the current
count (votes.tallying.latest_results) read through the one pass rule (voting.agreement)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from smsapp.conversation.purposes import AGREEMENT, TERMS_OF_REFERENCE
from smsapp.models import Poll, PollStatus
from smsapp.services.polls.definitions import load_definition
from smsapp.services.votes.tallying import latest_results
from smsapp.voting.agreement import ClauseOutcome, clause_outcome

# "3. We make decisions by voting": the record numbers the agreed clauses itself.
NUMBERING = re.compile(r"^\s*\d+\s*[.)]\s*")


@dataclass(frozen=True)
class Clause:
    key: str
    text: str
    outcome: ClauseOutcome | None  # None: no count of it yet


@dataclass(frozen=True)
class TermsVote:
    """One terms-of-reference poll of the group and what became of each clause."""

    slug: str
    title: str
    status: str
    closed_on: date | None
    final: bool  # every clause has its final count (the poll closed and was counted)
    clauses: list[Clause]

    @property
    def agreed(self) -> list[Clause]:
        return [c for c in self.clauses if self.final and c.outcome and c.outcome.passed]

    @property
    def not_agreed(self) -> list[Clause]:
        return [c for c in self.clauses if c not in self.agreed]

    @property
    def headline(self) -> str:
        if self.final:
            return f"{len(self.agreed)} of {len(self.clauses)} clauses agreed (listed below)"
        if self.status == PollStatus.OPEN:
            return f"{len(self.clauses)} draft clauses, open for answers"
        return "being counted"


def terms_vote(session: Session, poll: Poll, *, min_turnout: int, zone: ZoneInfo) -> TermsVote:
    defn = load_definition(poll)
    stored = latest_results(session, poll)
    clauses, final = [], poll.status == PollStatus.CLOSED
    for question in defn.questions:
        if question.kind != "choice":
            continue
        runs = stored.get(question.key)
        run = runs[0] if runs else None
        outcome = None
        if run is not None:
            scores = run.result.get("scores", {})
            by_label = {
                o.label.strip().lower(): int(scores.get(o.code, 0)) for o in question.options
            }
            agree, change, disagree = (by_label.get(word, 0) for word in AGREEMENT)
            outcome = clause_outcome(agree, change, disagree, min_turnout)
        final = final and run is not None and not run.provisional
        words = NUMBERING.sub("", question.prompt.splitlines()[0])
        clauses.append(Clause(question.key, words, outcome))
    closed_on = poll.closed_at.astimezone(zone).date() if poll.closed_at else None
    return TermsVote(poll.slug, poll.title, poll.status, closed_on, final, clauses)


def is_terms_poll(poll: Poll) -> bool:
    return load_definition(poll).purpose == TERMS_OF_REFERENCE

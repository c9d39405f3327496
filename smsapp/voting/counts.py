"""Approval (every listed code is approved) and plurality (first place only): plain counts."""

from __future__ import annotations

from collections.abc import Sequence

from smsapp.voting.ballots import Profile
from smsapp.voting.result import TallyResult
from smsapp.voting.tiebreak import order_by


def count_approval(options: Sequence[str], profile: Profile, seed: str) -> TallyResult:
    """Approvals per option; ties go to the lot."""
    approvals = dict.fromkeys(options, 0)
    for ranking, count in profile.items():
        for code in ranking:
            approvals[code] += count
    order, tie_breaks = order_by(options, approvals, [], seed, score_name="approvals")
    return TallyResult(
        method="approval",
        ballots=sum(profile.values()),
        order=order,
        winners=order[:1],
        scores=approvals,
        tie_breaks=tie_breaks,
    )


def count_plurality(options: Sequence[str], profile: Profile, seed: str) -> TallyResult:
    """First places per option (empty ballots count for no one); ties go to the lot."""
    firsts = dict.fromkeys(options, 0)
    for ranking, count in profile.items():
        if ranking:
            firsts[ranking[0]] += count
    order, tie_breaks = order_by(options, firsts, [], seed, score_name="first places")
    return TallyResult(
        method="plurality",
        ballots=sum(profile.values()),
        order=order,
        winners=order[:1],
        scores=firsts,
        tie_breaks=tie_breaks,
    )

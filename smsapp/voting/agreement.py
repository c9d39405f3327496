"""Whether a terms-of-reference clause is agreed: the one pass rule. Pure.

A clause passes when more people chose Agree than Change and Disagree together (a majority of
those who answered it), and at least `min_turnout` people answered it: a clause two people
agreed to is not the group's. The record page uses SMSAPP_SMALL_COUNT for `min_turnout`, the
same threshold below which counts are hidden, so an agreed clause never rests on a hidden count.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClauseOutcome:
    agree: int
    change: int
    disagree: int
    passed: bool
    reason: str  # in plain words, for the record page


def clause_outcome(agree: int, change: int, disagree: int, min_turnout: int) -> ClauseOutcome:
    if min(agree, change, disagree) < 0:
        raise ValueError("a count cannot be negative")
    answered = agree + change + disagree
    if answered < min_turnout:
        reason = f"fewer than {min_turnout} people answered"
        return ClauseOutcome(agree, change, disagree, False, reason)
    if agree > change + disagree:
        return ClauseOutcome(agree, change, disagree, True, "most people agreed")
    return ClauseOutcome(agree, change, disagree, False, "not enough people agreed")

"""Points-budget ballots ("A3 C2": share 5 points): each option's points are summed; ties go to
the lot. The rule is written into the result, since these ballots are not rankings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from smsapp.voting.result import TallyResult, fingerprint
from smsapp.voting.tiebreak import order_by

RULE = "budget: each option scores the sum of the points given to it; ties go to the lot"


def count_budget(
    options: Sequence[str], allocations: Iterable[Mapping[str, int]], *, seed: str
) -> TallyResult:
    """Sum each option's points over `allocations`; codes that are not options are an error."""
    options = list(options)
    if len(set(options)) != len(options):
        raise ValueError("options must not repeat")
    totals = dict.fromkeys(options, 0)
    canonical: list[list[list[str | int]]] = []
    ballots = 0
    for allocation in allocations:
        unknown = sorted(set(allocation) - set(totals))
        if unknown:
            raise ValueError(f"unknown option code(s): {', '.join(unknown)}")
        for code, points in allocation.items():
            if points < 0:
                raise ValueError(f"negative points for {code}")
            totals[code] += int(points)
        canonical.append(sorted([code, int(p)] for code, p in allocation.items() if p))
        ballots += 1
    order, tie_breaks = order_by(options, totals, [], seed, score_name="points")
    canonical_input = {
        "method": "points-budget",
        "options": sorted(options),
        "seed": seed,
        "ballots": sorted(canonical),
    }
    return TallyResult(
        method="points",
        ballots=ballots,
        order=order,
        winners=order[:1],
        scores=totals,
        tie_breaks=tie_breaks,
        input_sha256=fingerprint(canonical_input),
    )

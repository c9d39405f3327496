"""Points (a Borda count over K places): rank r earns K - r + 1, unranked options earn 0."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache

from smsapp.voting.ballots import Profile, pairwise, truncate
from smsapp.voting.result import TallyResult
from smsapp.voting.tiebreak import Rule, head_to_head, order_by


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def count_points(
    options: Sequence[str], profile: Profile, seed: str, max_ranks: int | None
) -> TallyResult:
    """Points, then ballots ranking it, then first places, second places…, head-to-head, lot."""
    places = max_ranks if max_ranks is not None else len(options)
    # places beyond K earn nothing and count as unranked for every tie-break, too
    cut = truncate(profile, places)
    at_place = [dict.fromkeys(options, 0) for _ in range(places)]
    for ranking, count in cut.items():
        for index, code in enumerate(ranking):
            at_place[index][code] += count
    points = {
        code: sum((places - i) * row[code] for i, row in enumerate(at_place)) for code in options
    }
    ranked = {code: sum(row[code] for row in at_place) for code in options}

    @cache
    def matrix() -> dict[str, dict[str, int]]:
        # only computed when a tie reaches the head-to-head rule
        return pairwise(cut, options)

    def fixed(values: dict[str, int]) -> Callable[[list[str]], dict[str, int]]:
        return lambda group: values

    rules = [Rule("ballots-ranking", "the option ranked on more ballots", fixed(ranked))]
    for index in range(places):
        name = "first-places" if index == 0 else f"place-{index + 1}"
        rules.append(Rule(name, f"more {_ordinal(index + 1)} places", fixed(at_place[index])))
    rules.append(head_to_head(matrix))
    order, tie_breaks = order_by(options, points, rules, seed, score_name="points")
    return TallyResult(
        method="points",
        ballots=sum(profile.values()),
        order=order,
        winners=order[:1],
        scores=points,
        tie_breaks=tie_breaks,
    )

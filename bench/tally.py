"""Benchmark: every tally method on 1,000,000 truncated ballots over 20 options, then the
same ballots counted by pref_voting for comparison. Prints figures; asserts nothing."""

from __future__ import annotations

import argparse
import random
import string
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from smsapp.voting import METHODS, Ballot, tally

OPTIONS = list(string.ascii_uppercase[:20])


def make_ballots(n: int, seed: int) -> list[Ballot]:
    """Plackett-Luce-ish ballots of 1 to 5 places: a few popular options, a long tail."""
    rng = random.Random(seed)
    weights = [0.82**i for i in range(len(OPTIONS))]
    shuffled = OPTIONS[:]
    rng.shuffle(shuffled)
    cumulative: list[float] = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    lengths = rng.choices(range(1, 6), weights=[30, 25, 20, 15, 10], k=n)
    ballots: list[Ballot] = []
    choices = rng.choices
    for length in lengths:
        ranking: list[str] = []
        while len(ranking) < length:
            # draw by weight, redrawing an option already ranked: a Plackett-Luce step
            code = shuffled[choices(range(len(OPTIONS)), cum_weights=cumulative)[0]]
            if code not in ranking:
                ranking.append(code)
        ballots.append(Ballot(tuple(ranking)))
    return ballots


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def pref_voting_winners(method: str, ballots: list[Ballot]) -> list[str] | None:
    """Build a pref_voting profile from the ballots (aggregated, as it allows) and count."""
    from pref_voting import voting_methods as vm
    from pref_voting.profiles_with_ties import ProfileWithTies

    aggregated = Counter(ballot.ranking for ballot in ballots)
    rankings = [{code: place for place, code in enumerate(r, 1)} for r in aggregated]
    profile = ProfileWithTies(rankings, rcounts=list(aggregated.values()), candidates=OPTIONS)
    profile.use_extended_strict_preference()
    if method == "irv":
        winners = vm.instant_runoff_for_truncated_linear_orders(profile)
    elif method == "schulze":
        winners = vm.beat_path(profile, strength_function=profile.support)
    elif method == "plurality":
        winners = vm.plurality(profile)
    else:
        return None  # pref_voting's truncated Borda and approval count differently
    return sorted(winners)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--pref-voting-ballots", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    ballots, made = timed(lambda: make_ballots(args.ballots, args.seed))
    distinct = len(Counter(ballot.ranking for ballot in ballots))
    print(
        f"{args.ballots:,} ballots, {len(OPTIONS)} options, {distinct:,} distinct rankings "
        f"(generated in {made:.1f} s)"
    )
    print(f"{'method':<10} {'smsapp s':>9}  winner")
    for method in METHODS:
        result, seconds = timed(partial(tally, method, OPTIONS, ballots, seed="bench"))
        print(f"{method:<10} {seconds:9.3f}  {result.winners[0]}")

    sample = ballots[: args.pref_voting_ballots]
    print(f"\npref_voting on {len(sample):,} ballots (build + count, same run):")
    print(f"{'method':<10} {'smsapp s':>9} {'pref_voting s':>14} {'ratio':>7}  same winner")
    for method in ("irv", "schulze", "plurality"):
        ours, our_seconds = timed(partial(tally, method, OPTIONS, sample, seed="bench"))
        theirs, their_seconds = timed(partial(pref_voting_winners, method, sample))
        same = "yes" if theirs == ours.winners else f"no (pref_voting {theirs})"
        print(
            f"{method:<10} {our_seconds:9.3f} {their_seconds:14.3f} "
            f"{their_seconds / our_seconds:6.1f}x  {same}"
        )


if __name__ == "__main__":
    main()

"""The pure vote-counting core: points, IRV, Schulze, approval and plurality, with the lot."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from smsapp.voting.ballots import Ballot, aggregate, normalise_ranking
from smsapp.voting.counts import count_approval, count_plurality
from smsapp.voting.csvio import BallotFileError, read_ballots_csv
from smsapp.voting.irv import count_irv
from smsapp.voting.lot import lot_order
from smsapp.voting.points import count_points
from smsapp.voting.result import TallyResult, input_sha256
from smsapp.voting.schulze import count_schulze

METHODS = ("points", "irv", "schulze", "approval", "plurality")

__all__ = [
    "METHODS",
    "Ballot",
    "BallotFileError",
    "TallyResult",
    "consensus_check",
    "lot_order",
    "normalise_ranking",
    "read_ballots_csv",
    "tally",
]


def tally(
    method: str,
    options: Sequence[str],
    ballots: Iterable[Ballot],
    *,
    seed: str,
    max_ranks: int | None = None,
) -> TallyResult:
    """Count `ballots` over `options` by `method`; `max_ranks` (K places) applies to points.

    Raises ValueError for an unknown method, a repeated option, a code that is not an option,
    or a max_ranks below 1.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    options = list(options)
    if len(set(options)) != len(options):
        raise ValueError("options must not repeat")
    if max_ranks is not None and max_ranks < 1:
        raise ValueError("max_ranks must be at least 1")
    with _collector_paused():
        return _count(method, options, ballots, seed, max_ranks)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while counting.

    Counting builds many small tuples and dicts and no cycles; with a million ballots alive,
    every full collection would rescan all of them, which costs more than the count itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _count(
    method: str, options: list[str], ballots: Iterable[Ballot], seed: str, max_ranks: int | None
) -> TallyResult:
    profile = aggregate(ballots, options)
    if method == "points":
        result = count_points(options, profile, seed, max_ranks)
    elif method == "irv":
        result = count_irv(options, profile, seed)
    elif method == "schulze":
        result = count_schulze(options, profile, seed)
    elif method == "approval":
        result = count_approval(options, profile, seed)
    else:
        result = count_plurality(options, profile, seed)
    result.input_sha256 = input_sha256(method, options, max_ranks, seed, profile)
    return result


def consensus_check(
    options: Sequence[str], ballots: Iterable[Ballot], seed: str, result: TallyResult
) -> dict[str, Any]:
    """Run Schulze on the same ballots beside `result`, to show whether they pick one winner.

    `ballots` must be re-iterable (a list), as the caller has usually counted them once already.
    """
    check = tally("schulze", options, ballots, seed=seed)
    return {
        "schulze_winner": check.winners[0] if check.winners else None,
        "schulze_order": check.order,
        "agrees": check.winners == result.winners,
    }

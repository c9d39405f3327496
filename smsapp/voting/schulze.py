"""Schulze (winning votes): strongest beatpaths over the pairwise counts; residual ties by lot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smsapp.voting.ballots import Profile, pairwise
from smsapp.voting.result import TallyResult
from smsapp.voting.tiebreak import lot_break


def strongest_paths(
    options: Sequence[str], d: dict[str, dict[str, int]]
) -> dict[str, dict[str, int]]:
    """p[a][b]: the strength of the strongest path from a to b (Floyd–Warshall, widest path)."""
    p = {a: {b: (d[a][b] if d[a][b] > d[b][a] else 0) for b in options if b != a} for a in options}
    for k in options:
        pk = p[k]
        for i in options:
            if i == k:
                continue
            pik = p[i][k]
            if not pik:
                continue
            pi = p[i]
            for j in options:
                if j != i and j != k:
                    via = pik if pik < pk[j] else pk[j]
                    if via > pi[j]:
                        pi[j] = via
    return p


def count_schulze(options: Sequence[str], profile: Profile, seed: str) -> TallyResult:
    """Order by repeatedly taking the options no remaining option beats; the lot splits them."""
    d = pairwise(profile, options)
    p = strongest_paths(options, d)
    beats = {a: sum(1 for b in options if b != a and p[a][b] > p[b][a]) for a in options}
    remaining = list(options)
    order: list[str] = []
    tie_breaks: list[dict[str, Any]] = []
    while remaining:
        unbeaten = [a for a in remaining if not any(p[b][a] > p[a][b] for b in remaining if b != a)]
        if len(unbeaten) == 1:
            chosen = unbeaten[0]
        else:
            # Schulze's relation is transitive, so a non-empty unbeaten set always exists
            place = len(order) + 1
            record = lot_break(
                unbeaten,
                seed,
                context=f"are level for place {place} (neither has a stronger beatpath)",
            )
            tie_breaks.append(record)
            chosen = record["order"][0]
        order.append(chosen)
        remaining.remove(chosen)
    return TallyResult(
        method="schulze",
        ballots=sum(profile.values()),
        order=order,
        winners=order[:1],
        scores=beats,
        tie_breaks=tie_breaks,
        pairwise=d,
    )

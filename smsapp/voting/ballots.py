"""Ballots and their aggregation: identical rankings are counted once so every tally works on
the (far fewer) distinct rankings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

BALLOT_KINDS = ("rank", "approve", "choice", "points")


@dataclass(frozen=True, slots=True)
class Ballot:
    """One ranking, best first, cast `count` times."""

    ranking: tuple[str, ...]
    count: int = 1


Profile = dict[tuple[str, ...], int]
"""Distinct rankings (repeats removed) mapped to how many ballots cast them."""


@dataclass(frozen=True, slots=True)
class Ranked:
    """A ballot answer read as a ranking: option codes best first, and for a points ballot each
    code's points beside it (empty for the other kinds)."""

    codes: tuple[str, ...]
    points: tuple[int, ...] = ()


def ranking_of(kind: str, options: Sequence[str], value: Any) -> Ranked | None:
    """A stored ballot answer as a ranking; None when the value is no ballot of its kind.

    The one reading of a ballot: the tally counts it and the ballots export writes it, so
    `smsapp tally` on the export counts what the service counted. Codes that are not options
    are left out, and a repeated code counts where it first appears.
    - rank, approve: the listed codes in their order (an empty list is an empty ballot);
    - choice: the one code;
    - points: the options given points, most first, equal points in the options' order; an
      option given no points is not on the ballot (the points, not the order, are counted).
    """
    known = set(options)
    if kind in ("rank", "approve") and isinstance(value, list):
        return Ranked(_drop_repeats(str(code) for code in value if str(code) in known))
    if kind == "choice" and isinstance(value, str):
        return Ranked((value,) if value in known else ())
    if kind == "points" and isinstance(value, Mapping):
        given = {str(code): int(points) for code, points in value.items()}
        ranked = sorted(
            (code for code in options if given.get(code, 0) > 0), key=lambda c: -given[c]
        )
        return Ranked(tuple(ranked), tuple(given[code] for code in ranked))
    return None


def normalise_ranking(codes: Iterable[str]) -> tuple[str, ...]:
    """Upper-case the codes and drop any code repeated later in the ballot."""
    return _drop_repeats(code.strip().upper() for code in codes if code.strip())


def _drop_repeats(codes: Iterable[str]) -> tuple[str, ...]:
    # dict keeps first-seen order, so a later repeat of a code is ignored
    return tuple(dict.fromkeys(codes))


def aggregate(ballots: Iterable[Ballot], options: Sequence[str]) -> Profile:
    """Count identical rankings, drop repeated codes, and reject codes that are not options."""
    # Counter over a map runs in C, far faster on a million ballots than a Python loop; most
    # ballots count once, so only the others need a correction afterwards.
    ballots = ballots if isinstance(ballots, list | tuple) else list(ballots)
    raw: dict[tuple[str, ...], int] = Counter(map(attrgetter("ranking"), ballots))
    for ballot in [ballot for ballot in ballots if ballot.count != 1]:
        if ballot.count < 0:
            raise ValueError(f"negative ballot count for ranking {' '.join(ballot.ranking)}")
        raw[ballot.ranking] += ballot.count - 1
    known = set(options)
    profile: Profile = {}
    for ranking, count in raw.items():
        if not count:
            continue
        if not known.issuperset(ranking):
            unknown = sorted(set(ranking) - known)
            raise ValueError(f"unknown option code(s): {', '.join(unknown)}")
        if len(set(ranking)) != len(ranking):
            ranking = _drop_repeats(ranking)
        profile[ranking] = profile.get(ranking, 0) + count
    return profile


def truncate(profile: Profile, places: int) -> Profile:
    """Keep only each ranking's first `places` codes (merging rankings that become equal)."""
    if all(len(ranking) <= places for ranking in profile):
        return profile
    cut: Profile = {}
    for ranking, count in profile.items():
        key = ranking[:places]
        cut[key] = cut.get(key, 0) + count
    return cut


def pairwise(profile: Profile, options: Sequence[str]) -> dict[str, dict[str, int]]:
    """d[a][b] = ballots ranking a above b; a ranked option beats an unranked one.

    Only ranked-over-ranked pairs are walked per ranking (at most n(n-1)/2 for n places); the
    ranked-over-unranked part follows from d[a][b] = ballots ranking a - ballots ranking b
    above a, which keeps long option lists with short ballots fast.
    """
    ranked = {code: 0 for code in options}
    above: dict[str, dict[str, int]] = {a: {b: 0 for b in options} for a in options}
    for ranking, count in profile.items():
        for i, a in enumerate(ranking):
            ranked[a] += count
            row = above[a]
            for b in ranking[i + 1 :]:
                row[b] += count
    return {a: {b: ranked[a] - above[b][a] for b in options if b != a} for a in options}

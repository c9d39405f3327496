"""Small-count suppression: no count below the threshold is shown to participants or the group,
so nobody can be singled out ("only one person chose C", "the 2 who said no").

A lone hidden count could be worked out from the total, so when exactly one count is hidden the
next smallest non-zero count is hidden with it (secondary suppression). A zero is shown: it says
that nobody chose something, which singles no one out. Pure: no Flask, no database.

The one rule for small counts: the results texts sent to participants and the researchers'
tally export (with its own threshold, `suppress_below`) both hide counts with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

DEFAULT_THRESHOLD = 5

K = TypeVar("K")


def suppress(counts: Mapping[K, int], k: int = DEFAULT_THRESHOLD) -> dict[K, int | None]:
    """The counts safe to show: each hidden one becomes None (show it as "fewer than k").

    `counts` maps an option (or any label) to how many chose it; the order is kept.
    """
    if k <= 1:
        return dict(counts)
    shown: dict[K, int | None] = {}
    hidden: list[K] = []
    for key, n in counts.items():
        if n < 0:
            raise ValueError(f"a count cannot be negative ({key!r}: {n})")
        if 0 < n < k:
            shown[key] = None
            hidden.append(key)
        else:
            shown[key] = n
    if len(hidden) == 1:
        # Otherwise total minus the shown counts would give the hidden one away.
        others = [(n, i, key) for i, (key, n) in enumerate(counts.items()) if shown[key]]
        if others:
            _, _, smallest = min(others, key=lambda t: (t[0], t[1]))
            shown[smallest] = None
    return shown


def suppress_total(total: int, k: int = DEFAULT_THRESHOLD) -> int | None:
    """A total below k is hidden too: "3 people answered" and "all chose A" single them out."""
    return None if 0 < total < k else total


def show(value: int | None, k: int = DEFAULT_THRESHOLD) -> str:
    """How a possibly hidden count reads on a page or in a text."""
    return f"fewer than {k}" if value is None else str(value)

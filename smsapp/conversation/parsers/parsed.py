"""What a parser makes of a reply (Parsed), and how its problems are worded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Parsed:
    ok: bool
    value: object | None  # str code, list[str] codes, int, float, str, bool, dict[str, int]
    label: str | None  # human reading, e.g. "1 Team Spark, 2 Health Voices"
    problem: str | None  # when not ok: what was wrong, in kind words
    notes: tuple[str, ...] = ()  # e.g. "Only your top 3 count, so I dropped D."


def fail(problem: str) -> Parsed:
    return Parsed(False, None, None, problem)


def listing(words: Sequence[str]) -> str:
    """ "X", "X and Q", "X, Q and Z"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"

"""What a parser makes of a reply (Parsed), and how its problems name what was sent.

A problem is texted back to the young person, so it stays short (at most 160 characters) and
never echoes a long message: a word is cut to WORD_LIMIT characters, a list of words stops at
about NAMES_LIMIT characters with "and N more", and a long number is named in words instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smsapp.conversation.definition import canonical_number
from smsapp.conversation.normalise import shorten

WORD_LIMIT = 15
NAMES_LIMIT = 60
NUMBER_LIMIT = 12


@dataclass(frozen=True)
class Parsed:
    ok: bool
    value: object | None  # str code, list[str] codes, int, float, str, bool, dict[str, int]
    label: str | None  # human reading, e.g. "1 Team Spark, 2 Health Voices"
    problem: str | None  # when not ok: what was wrong, in kind words
    notes: tuple[str, ...] = ()  # e.g. "Only your top 3 count, so I dropped D."


def fail(problem: str) -> Parsed:
    return Parsed(False, None, None, problem)


def naming(words: Iterable[str]) -> str:
    """ "X", "X and Q", "X, Q and Z": each word once, cut short, and "…, Q and 7 more" when the
    whole list would be longer than NAMES_LIMIT."""
    names = list(dict.fromkeys(shorten(word, WORD_LIMIT) for word in words))
    shown = names[:1]
    for count in range(2, len(names) + 1):
        rest = len(names) - count
        if len(_listing(names[:count] + ([f"{rest} more"] if rest else []))) > NAMES_LIMIT:
            break
        shown = names[:count]
    rest = len(names) - len(shown)
    return _listing(shown + [f"{rest} more"] if rest else shown)


def number_named(number: float, instead: str) -> str:
    """`number` as written back ("4", "2.5"), or `instead` when that would be long (or infinite)."""
    if not math.isfinite(number):
        return instead
    written = canonical_number(number)
    return written if len(written) <= NUMBER_LIMIT and "e" not in written else instead


def _listing(words: Sequence[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"

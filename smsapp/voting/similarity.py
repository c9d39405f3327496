"""Near-duplicate nominations ("Health Voices", "health voices!!", "Helth Voices"): pure
suggestions that a facilitator confirms one by one; nothing here merges anything."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from smsapp.conversation.normalise import fold

# difflib ratio at or above which two folded entries are suggested as one. 0.85 catches a
# dropped or swapped letter in a two-word name but not two different short words.
THRESHOLD = 0.85


def compact(text: str) -> str:
    """Case, accents, punctuation, emoji and spaces removed: "Health-Voices!!" -> "healthvoices"."""
    return fold(text).replace(" ", "")


def similarity(a: str, b: str) -> float:
    """1.0 for entries that fold to the same words, else difflib's ratio of the folded forms."""
    fa, fb = compact(a), compact(b)
    if fa == fb:
        return 1.0 if fa else 0.0
    return _ratio(fa, fb, 0.0)


def _ratio(a: str, b: str, threshold: float) -> float:
    """difflib's ratio taken both ways round (it is not symmetric), or 0.0 when the cheap upper
    bound already falls short of `threshold`."""
    best = 0.0
    for x, y in ((a, b), (b, a)):
        matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
        if matcher.quick_ratio() < threshold:
            return 0.0  # quick_ratio is the same both ways round
        best = max(best, matcher.ratio())
    return best


@dataclass(frozen=True)
class MergeSuggestion:
    """Fold `duplicates` into `keep` (the earliest of the group); `score` is the weakest link."""

    keep: str
    duplicates: tuple[str, ...]
    score: float


def suggest_merges(
    entries: Sequence[tuple[str, str]], threshold: float = THRESHOLD
) -> list[MergeSuggestion]:
    """Group (code, text) entries, given in arrival order, whose texts are near-duplicates.

    Each group is linked by pairs at or above `threshold`; the first entry of a group is the
    one suggested to keep, since it arrived first. Groups come in the order of their kept entry.
    """
    n = len(entries)
    keys = [compact(text) for _, text in entries]
    parent = list(range(n))
    weakest: dict[int, float] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        if not keys[i]:
            continue
        for j in range(i + 1, n):
            if not keys[j]:
                continue
            score = 1.0 if keys[i] == keys[j] else _ratio(keys[i], keys[j], threshold)
            if score < threshold:
                continue
            ri, rj = root(i), root(j)
            low = min(score, weakest.get(ri, 1.0), weakest.get(rj, 1.0))
            if ri != rj:
                first, second = min(ri, rj), max(ri, rj)
                parent[second] = first
                weakest.pop(second, None)
                weakest[first] = low
            else:
                weakest[ri] = low
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [
        MergeSuggestion(
            keep=entries[members[0]][0],
            duplicates=tuple(entries[m][0] for m in members[1:]),
            score=round(weakest.get(head, 1.0), 3),
        )
        for head, members in sorted(groups.items())
        if len(members) > 1
    ]

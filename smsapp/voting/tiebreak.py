"""Ordering options by a score, then by a chain of tie-break rules, recording each one used."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from smsapp.voting.lot import lot_key, lot_order


@dataclass(frozen=True)
class Rule:
    """A tie-break: `values` gives each option of a tied group a number, higher is better."""

    name: str
    describe: str  # e.g. "more first places"; used in the plain-English explanation
    values: Callable[[list[str]], dict[str, int]]


def _names(codes: Sequence[str]) -> str:
    codes = list(codes)
    if len(codes) <= 2:
        return " and ".join(codes)
    return ", ".join(codes[:-1]) + " and " + codes[-1]


def _figures(values: dict[str, Any], order: Sequence[str]) -> str:
    return ", ".join(f"{code} {values[code]}" for code in order)


def lot_break(group: Sequence[str], seed: str, *, context: str) -> dict[str, Any]:
    """Record of the lot deciding `group`: its "order" is lot_order's, "values" the keys."""
    order = lot_order(group, seed)
    return {
        "rule": "lot",
        "between": sorted(group),
        "values": {code: lot_key(seed, code) for code in group},
        "order": order,
        "winner": order[0],
        "explanation": (
            f"{_names(sorted(group))} {context}; no count could separate them, so the lot "
            f"(SHA-256 of the seed and each code, lowest first) puts them in the order "
            f"{', '.join(order)}."
        ),
    }


def order_by(
    options: Sequence[str],
    score: dict[str, int],
    rules: Sequence[Rule],
    seed: str,
    *,
    score_name: str,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Sort by score (high first); settle each tie by the rules in turn, then by the lot."""
    tie_breaks: list[dict[str, Any]] = []

    def split(group: list[str], values: dict[str, int]) -> list[list[str]]:
        levels = sorted(set(values[code] for code in group), reverse=True)
        return [sorted(code for code in group if values[code] == level) for level in levels]

    def settle(group: list[str], first_rule: int, context: str) -> list[str]:
        if len(group) == 1:
            return group
        for index in range(first_rule, len(rules)):
            rule = rules[index]
            values = rule.values(group)
            parts = split(group, values)
            if len(parts) == 1:
                continue
            order = [code for part in parts for code in part]
            tie_breaks.append(
                {
                    "rule": rule.name,
                    "between": sorted(group),
                    "values": {code: values[code] for code in order},
                    "order": order,
                    "winner": order[0] if len(parts[0]) == 1 else None,
                    "explanation": (
                        f"{_names(sorted(group))} {context}; the tie goes to {rule.describe} "
                        f"({_figures(values, order)})."
                    ),
                }
            )
            # a rule that depends on the group (head-to-head) is worth asking again inside
            # each smaller group, so the sub-groups restart at the same rule
            settled: list[str] = []
            for part in parts:
                settled += settle(part, index, f"were still level after {rule.describe}")
            return settled
        record = lot_break(group, seed, context=context)
        tie_breaks.append(record)
        return list(record["order"])

    result: list[str] = []
    for part in split(list(options), score):
        result += settle(part, 0, f"tied on {score[part[0]]} {score_name}")
    return result, tie_breaks


def head_to_head(pairwise: Callable[[], dict[str, dict[str, int]]]) -> Rule:
    """Within a tied group, how many of the others each option beats one-to-one.

    `pairwise` gives the pairwise counts when a tie first reaches this rule: most counts never
    need them, and they cost a pass over every ballot.
    """

    def values(group: list[str]) -> dict[str, int]:
        d = pairwise()
        return {a: sum(1 for b in group if b != a and d[a][b] > d[b][a]) for a in group}

    return Rule("head-to-head", "head-to-head wins within the tied group", values)

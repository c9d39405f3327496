"""The reader for points answers: a small budget shared between options ("A3 C2", "3A 2C")."""

from __future__ import annotations

import re

from smsapp.conversation.definition import Question
from smsapp.conversation.normalise import fold
from smsapp.conversation.parsers.codes import (
    FILLER,
    label_of,
    single_char_codes,
    unknown_names,
    unrecognised,
)
from smsapp.conversation.parsers.parsed import Parsed, fail, naming, number_named


def parse_points(question: Question, text: str) -> Parsed:
    items: list[tuple[str, str]] = []  # ("code", X) or ("num", "3")
    for word in fold(text).upper().split():
        if word in question.codes:
            items.append(("code", word))
        elif word.lower() in FILLER:
            continue
        else:
            items.extend(
                ("num" if run.isdigit() else "code", run) for run in re.findall(r"[A-Z]+|\d+", word)
            )
    if not items:
        return fail("I didn't find any points in that.")
    number_first = items[0][0] == "num"
    points: dict[str, int] = {}
    unknown: list[str] = []
    dangling: list[str] = []
    i = 0
    while i < len(items):
        sort, token = items[i]
        if number_first and sort == "num" and i + 1 < len(items) and items[i + 1][0] == "code":
            amount, run, i = int(token), items[i + 1][1], i + 2
        elif (
            not number_first and sort == "code" and i + 1 < len(items) and items[i + 1][0] == "num"
        ):
            amount, run, i = int(items[i + 1][1]), token, i + 2
        elif sort == "code":
            amount, run, i = 1, token, i + 1
        else:
            dangling.append(token)
            i += 1
            continue
        if run in question.codes:
            points[run] = points.get(run, 0) + amount
        elif amount == 1 and single_char_codes(question) and all(c in question.codes for c in run):
            for ch in run:  # "AAAC": one point per letter
                points[ch] = points.get(ch, 0) + 1
        elif (
            single_char_codes(question)
            and len(run) > 1
            and run[-1] in question.codes
            and all(c in question.codes for c in run)
        ):
            for ch in run[:-1]:
                points[ch] = points.get(ch, 0) + 1
            points[run[-1]] = points.get(run[-1], 0) + amount
        else:
            unknown.extend(unknown_names(question, run))
    if unknown:
        return fail(unrecognised(unknown))
    if dangling:
        return fail(f"I couldn't tell which option {naming(dangling)} was for.")
    points = {c: points[c] for c in question.codes if points.get(c)}
    total = sum(points.values())
    budget = question.points_budget
    if not points:
        return fail("That gave no points to any option.")
    if total > budget:
        return fail(
            f"That's {number_named(total, 'too many')} points, but you have {budget} to share."
        )
    ordered = sorted(points.items(), key=lambda item: -item[1])
    label = ", ".join(f"{label_of(question, c)} {n}" for c, n in ordered)
    return Parsed(True, points, label, None)

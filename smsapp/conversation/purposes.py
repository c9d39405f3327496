"""What a poll is for on the group's record, and the year review's tree of growth: the two
optional fields a definition may carry (`purpose:` on the poll, `growth:` on a question).

Pure: the checks return problems (field, message) for validation.parse_poll to report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from smsapp.conversation.definition import Option

NAME = "name"
PRIORITIES = "priorities"
YEAR_REVIEW = "year-review"
TERMS_OF_REFERENCE = "terms-of-reference"
PURPOSES = (NAME, PRIORITIES, YEAR_REVIEW, TERMS_OF_REFERENCE)

# The paper's tree of growth, in the order it is drawn from the ground up.
GROWTH_PARTS = ("roots", "trunk", "branches")
GROWTH_MEANING = {
    "roots": "what we learned",
    "trunk": "how we work together",
    "branches": "what we changed",
}
GROWTH_KINDS = ("choice", "multi")

# A terms-of-reference clause is a choice question answered with exactly these three labels.
AGREEMENT = ("agree", "change", "disagree")

ProblemList = list[tuple[str, str]]


def check_purpose(raw: object) -> tuple[str | None, ProblemList]:
    """The purpose named, or None when absent; a problem when it is not one of PURPOSES."""
    if raw is None:
        return None, []
    if not isinstance(raw, str) or raw not in PURPOSES:
        return None, [("purpose", f"use one of {', '.join(PURPOSES)}")]
    return raw, []


def check_growth(
    raw: object, kind: str | None, options: Sequence[Option], where: str
) -> tuple[tuple[tuple[str, str], ...], ProblemList]:
    """`growth: {A: roots, B: trunk, C: branches}`: each option code of a choice or multi
    question mapped to a part of the tree. Options left out count towards no part."""
    if raw is None:
        return (), []
    if kind is not None and kind not in GROWTH_KINDS:
        return (), [(where, "only a choice or multi question takes a growth map")]
    if not isinstance(raw, Mapping) or not raw:
        return (), [(where, "write it as {A: roots, B: trunk, C: branches}")]
    codes = {o.code for o in options}
    problems: ProblemList = []
    out: list[tuple[str, str]] = []
    for code, part in raw.items():
        code_text = str(code).upper()
        if code_text not in codes:
            problems.append((f"{where}.{code}", f"{code} is not one of the options' codes"))
        elif part not in GROWTH_PARTS:
            problems.append((f"{where}.{code}", f"use one of {', '.join(GROWTH_PARTS)}"))
        else:
            out.append((code_text, str(part)))
    return tuple(out), problems


def check_clause(kind: str | None, options: Sequence[Option], where: str) -> ProblemList:
    """In a terms-of-reference poll every choice question is a clause: Agree, Change, Disagree."""
    if kind != "choice":
        return []
    if tuple(o.label.strip().lower() for o in options) != AGREEMENT:
        return [(f"{where}.options", "a clause's options are Agree, Change, Disagree")]
    return []

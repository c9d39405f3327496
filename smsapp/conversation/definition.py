"""Poll definitions: the frozen model a poll is made of (questions, options, reminders), and the
Problem a facilitator is shown for each thing wrong with a definition.

Reading a definition is validation.py (a mapping) and poll_yaml.py (YAML text); writing one back
is serialise.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

KINDS = (
    "choice",
    "multi",
    "scale",
    "yesno",
    "number",
    "text",
    "nominate",
    "rank",
    "approve",
    "points",
)
TALLY_METHODS = ("points", "irv", "schulze", "approval", "plurality")
ALLOWED_TALLY = {
    "rank": ("points", "irv", "schulze"),
    "approve": ("approval",),
    "choice": ("plurality",),
    "points": ("points",),
}
DEFAULT_TALLY = {"rank": "points", "approve": "approval", "choice": "plurality", "points": "points"}
# Points ballots share this many points when the question gives no `budget`: a fixed number
# (not the option count) because options_from questions have no options at import time.
DEFAULT_BUDGET = 5
SCALE_LOW = 1  # where a scale starts when it gives no `min`
MAX_TEXT = 1600  # one concatenated SMS of ten segments; also Twilio's body limit


@dataclass(frozen=True)
class Option:
    code: str
    label: str


@dataclass(frozen=True)
class Reminders:
    after: timedelta
    every: timedelta
    max: int


@dataclass(frozen=True)
class Question:
    """One question. `max`: rank places, multi/approve picks, scale/number upper bound.

    `when` holds (earlier question key, allowed values): option codes, "Y"/"N" for yesno, or
    numbers written canonically ("4", "2.5") for scale/number. `labels` are optional words for
    the ends of a scale, e.g. ("not at all", "loads").
    """

    key: str
    kind: str
    prompt: str
    options: tuple[Option, ...] = ()
    max: int | None = None
    min: int | None = None
    optional: bool = False
    when: tuple[tuple[str, tuple[str, ...]], ...] = ()
    tally_method: str | None = None
    options_from: str | None = None
    budget: int | None = None
    labels: tuple[str, str] | None = None
    # year review: option code -> part of the tree of growth (conversation.purposes)
    growth: tuple[tuple[str, str], ...] = ()

    def option(self, code: str) -> Option | None:
        return next((o for o in self.options if o.code == code), None)

    @cached_property  # the parsers ask for it dozens of times per reply
    def codes(self) -> tuple[str, ...]:
        return tuple(o.code for o in self.options)

    @property
    def low(self) -> int:
        """Lowest accepted scale value (scale min defaults to 1)."""
        return self.min if self.min is not None else SCALE_LOW

    @property
    def points_budget(self) -> int:
        return self.budget if self.budget is not None else DEFAULT_BUDGET

    @property
    def places(self) -> int:
        """How many codes a rank/multi/approve answer may hold."""
        limit = len(self.options) or 1
        if self.kind == "nominate":
            return self.max or 1
        return min(self.max, limit) if self.max else limit


@dataclass(frozen=True)
class PollDefinition:
    slug: str
    title: str
    group: str | None
    keyword: str | None
    closes: timedelta | datetime | None
    intro: str | None
    outro: str | None
    reminders: Reminders | None
    tie_seed: str | None
    questions: tuple[Question, ...]
    purpose: str | None = None  # what the poll is for on the group's record (purposes.PURPOSES)

    def question(self, key: str) -> Question:
        for question in self.questions:
            if question.key == key:
                return question
        raise KeyError(key)

    def index(self, key: str) -> int:
        return next(i for i, q in enumerate(self.questions) if q.key == key)

    def ballot_questions(self) -> list[Question]:
        """The questions that are counted: every rank, approve, choice and points question."""
        return [q for q in self.questions if q.kind in ALLOWED_TALLY and q.tally_method]


@dataclass(frozen=True)
class Problem:
    field: str  # e.g. "questions[2].options" or "questions.why.when"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class PollDefinitionError(ValueError):
    """Every problem found in a poll definition; str() lists them one per line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def auto_code(index: int) -> str:
    """A, B, … Z, AA, AB, … for options given as a plain list of labels."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def canonical_number(number: float) -> str:
    """4.0 -> "4", 2.5 -> "2.5": one spelling for comparing `when` values."""
    return str(int(number)) if float(number).is_integer() else repr(float(number))

"""Validating a poll definition: a mapping in the public interface's shape -> a frozen PollDefinition.

parse_poll() checks everything and raises one PollDefinitionError listing every problem, each
with the field it belongs to, so a facilitator can fix a file in one pass. with_options() checks
a shortlist's options the same way when it fills an `options_from` question.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from smsapp.conversation import purposes
from smsapp.conversation.definition import (
    ALLOWED_TALLY,
    DEFAULT_TALLY,
    KINDS,
    MAX_TEXT,
    SCALE_LOW,
    TALLY_METHODS,
    Option,
    PollDefinition,
    PollDefinitionError,
    Problem,
    Question,
    Reminders,
    auto_code,
    canonical_number,
)
from smsapp.conversation.durations import DurationError, parse_closes, parse_duration
from smsapp.conversation.keywords import RESERVED

NEEDS_OPTIONS = ("choice", "multi", "rank", "approve", "points")
MAY_USE_SHORTLIST = ("choice", "rank", "approve", "points")
PICKS_KINDS = ("multi", "rank", "approve")  # `max` counts picks/places, at most the options
BOUNDED_KINDS = ("scale", "number")  # `max`/`min` bound the value

SLUG_RE = re.compile(r"^[a-z0-9-]+$")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
CODE_RE = re.compile(r"^[A-Z0-9]{1,3}$")
KEYWORD_RE = re.compile(r"^[A-Z0-9]{1,20}$")
OPTIONS_FROM_RE = re.compile(r"^[a-z0-9-]+\.[a-z][a-z0-9_]{0,39}$")

TOP_FIELDS = (
    "slug",
    "title",
    "group",
    "keyword",
    "closes",
    "intro",
    "outro",
    "reminders",
    "tie_seed",
    "questions",
    "purpose",
)
QUESTION_FIELDS = (
    "key",
    "kind",
    "prompt",
    "options",
    "options_from",
    "max",
    "min",
    "optional",
    "when",
    "tally",
    "budget",
    "labels",
    "growth",
)


@dataclass
class _Checker:
    problems: list[Problem] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def text(
        self, data: Mapping, name: str, where: str, *, required: bool, limit: int = MAX_TEXT
    ) -> str | None:
        value = data.get(name)
        if value is None:
            if required:
                self.add(where, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.add(where, "must be text")
            return None
        value = str(value).strip()
        if not value:
            if required:
                self.add(where, "must not be empty")
            return None
        if len(value) > limit:
            self.add(where, f"is {len(value)} characters; the limit is {limit}")
        return value

    def integer(self, data: Mapping, name: str, where: str, *, least: int) -> int | None:
        value = data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(where, "must be a whole number")
            return None
        if value < least:
            self.add(where, f"must be at least {least}")
            return None
        return value

    def flag(self, data: Mapping, name: str, where: str) -> bool:
        value = data.get(name, False)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
            return value.strip().lower() == "yes"
        self.add(where, "must be true or false")
        return False

    def unknown_fields(self, data: Mapping, allowed: Sequence[str], where: str) -> None:
        for name in data:
            if name not in allowed:
                hint = _closest(str(name), allowed)
                extra = f" (did you mean {hint}?)" if hint else ""
                prefix = f"{where}." if where else ""
                self.add(f"{prefix}{name}", f"is not a known field{extra}")


def _closest(name: str, allowed: Sequence[str]) -> str | None:
    found = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    return found[0] if found else None


def parse_poll(data: Mapping) -> PollDefinition:
    """Validate a mapping in the public interface's shape; raise PollDefinitionError with EVERY problem."""
    check = _Checker()
    if not isinstance(data, Mapping):
        raise PollDefinitionError([Problem("yaml", "the poll must be a mapping of fields")])
    check.unknown_fields(data, TOP_FIELDS, "")

    slug = check.text(data, "slug", "slug", required=True, limit=80)
    if slug is not None and not SLUG_RE.match(slug):
        check.add("slug", "use only lower-case letters, digits and hyphens")
    title = check.text(data, "title", "title", required=True, limit=200)
    group = check.text(data, "group", "group", required=False, limit=80)
    keyword = check.text(data, "keyword", "keyword", required=False, limit=20)
    if keyword is not None:
        keyword = keyword.upper()
        if not KEYWORD_RE.match(keyword):
            check.add("keyword", "must be one word of letters and digits")
        elif keyword in RESERVED:
            check.add("keyword", f"{keyword} is a reserved word and cannot start a poll")
    closes: timedelta | datetime | None = None
    if data.get("closes") is not None:
        try:
            closes = parse_closes(data["closes"])
        except DurationError as exc:
            check.add("closes", str(exc))
    intro = check.text(data, "intro", "intro", required=False)
    outro = check.text(data, "outro", "outro", required=False)
    reminders = _reminders(data.get("reminders"), check)
    tie_seed = check.text(data, "tie_seed", "tie_seed", required=False, limit=200)
    purpose, purpose_problems = purposes.check_purpose(data.get("purpose"))
    for spot, message in purpose_problems:
        check.add(spot, message)

    questions: list[Question] = []
    raw_questions = data.get("questions")
    if raw_questions is None:
        check.add("questions", "is required: list at least one question")
    elif isinstance(raw_questions, str) or not isinstance(raw_questions, Sequence):
        check.add("questions", "must be a list of questions")
    elif not raw_questions:
        check.add("questions", "list at least one question")
    else:
        seen: dict[str, Question] = {}
        keys_seen: set[str] = set()  # includes questions too broken to build, e.g. a bad kind
        for index, raw in enumerate(raw_questions):
            raw_key = raw.get("key") if isinstance(raw, Mapping) else None
            duplicate = isinstance(raw_key, str) and raw_key in keys_seen
            if duplicate:
                check.add(f"questions[{index}].key", f"duplicate key {raw_key!r}")
            elif isinstance(raw_key, str):
                keys_seen.add(raw_key)
            question = _question(raw, f"questions[{index}]", check, seen)
            if question is not None:
                questions.append(question)
                if purpose == purposes.TERMS_OF_REFERENCE:
                    where = f"questions[{index}]"
                    for spot, message in purposes.check_clause(
                        question.kind, question.options, where
                    ):
                        check.add(spot, message)
                if question.key not in seen and not duplicate:
                    seen[question.key] = question

    if check.problems:
        raise PollDefinitionError(check.problems)
    assert slug is not None and title is not None
    return PollDefinition(
        slug=slug,
        title=title,
        group=group,
        keyword=keyword,
        closes=closes,
        intro=intro,
        outro=outro,
        reminders=reminders,
        tie_seed=tie_seed,
        questions=tuple(questions),
        purpose=purpose,
    )


def _reminders(raw: object, check: _Checker) -> Reminders | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        check.add("reminders", "must be a mapping like {after: 24h, every: 24h, max: 2}")
        return None
    check.unknown_fields(raw, ("after", "every", "max"), "reminders")
    spans: dict[str, timedelta] = {}
    for name in ("after", "every"):
        if name not in raw:
            check.add(f"reminders.{name}", "is required")
            continue
        try:
            spans[name] = parse_duration(raw[name])
        except DurationError as exc:
            check.add(f"reminders.{name}", str(exc))
            continue
        if spans[name] <= timedelta(0):
            check.add(f"reminders.{name}", "must be longer than 0")
    most = check.integer(raw, "max", "reminders.max", least=0)
    if "max" not in raw:
        check.add("reminders.max", "is required")
    if len(spans) == 2 and most is not None and all(s > timedelta(0) for s in spans.values()):
        return Reminders(after=spans["after"], every=spans["every"], max=most)
    return None


def _options(raw: object, where: str, check: _Checker) -> tuple[Option, ...]:
    if isinstance(raw, str) or not isinstance(raw, Sequence):
        check.add(where, "must be a list of labels or of {code, label}")
        return ()
    options: list[Option] = []
    for index, item in enumerate(raw):
        spot = f"{where}[{index}]"
        if isinstance(item, Mapping):
            check.unknown_fields(item, ("code", "label"), spot)
            code_raw, label_raw = item.get("code"), item.get("label")
        else:
            code_raw, label_raw = auto_code(index), item
        if isinstance(label_raw, bool) or not isinstance(label_raw, str | int | float):
            check.add(f"{spot}.label" if isinstance(item, Mapping) else spot, "must be text")
            continue
        label = str(label_raw).strip()
        if not label:
            check.add(spot, "the label must not be empty")
            continue
        if len(label) > 200:
            check.add(spot, f"the label is {len(label)} characters; the limit is 200")
        if isinstance(code_raw, bool) or not isinstance(code_raw, str | int):
            check.add(f"{spot}.code", "must be 1-3 letters or digits")
            continue
        code = str(code_raw).strip().upper()
        if not CODE_RE.match(code):
            check.add(f"{spot}.code", f"{code_raw!r} must be 1-3 letters or digits")
            continue
        if code in RESERVED:
            check.add(f"{spot}.code", f"{code} is a reserved word and cannot be an option code")
            continue
        if any(o.code == code for o in options):
            check.add(f"{spot}.code", f"duplicate option code {code}")
            continue
        options.append(Option(code, label))
    return tuple(options)


def _question(
    raw: object, where: str, check: _Checker, earlier: Mapping[str, Question]
) -> Question | None:
    if not isinstance(raw, Mapping):
        check.add(where, "must be a mapping with key, kind and prompt")
        return None
    check.unknown_fields(raw, QUESTION_FIELDS, where)
    key = check.text(raw, "key", f"{where}.key", required=True, limit=40)
    if key is not None and not KEY_RE.match(key):
        check.add(
            f"{where}.key", "start with a lower-case letter; use lower-case letters, digits and _"
        )
        key = None
    kind_raw = raw.get("kind")
    kind: str | None = None
    if kind_raw is None:
        check.add(f"{where}.kind", f"is required: one of {', '.join(KINDS)}")
    elif kind_raw not in KINDS:
        check.add(f"{where}.kind", f"unknown kind {kind_raw!r}: use one of {', '.join(KINDS)}")
    else:
        kind = str(kind_raw)
    prompt = check.text(raw, "prompt", f"{where}.prompt", required=True)
    optional = check.flag(raw, "optional", f"{where}.optional")

    options: tuple[Option, ...] = ()
    if raw.get("options") is not None:
        options = _options(raw["options"], f"{where}.options", check)
        if kind is not None and kind not in NEEDS_OPTIONS:
            check.add(f"{where}.options", f"a {kind} question takes no options")
    options_from = check.text(raw, "options_from", f"{where}.options_from", required=False)
    if options_from is not None:
        if not OPTIONS_FROM_RE.match(options_from):
            check.add(f"{where}.options_from", "write it as SLUG.QUESTION, e.g. ideas.idea")
        if kind is not None and kind not in MAY_USE_SHORTLIST:
            check.add(f"{where}.options_from", f"a {kind} question cannot take a shortlist")
    if kind in NEEDS_OPTIONS and options_from is None and not raw.get("options"):
        check.add(f"{where}.options", f"a {kind} question needs options")

    most = check.integer(raw, "max", f"{where}.max", least=1)
    least_floor = 0 if kind in BOUNDED_KINDS else 1
    least = check.integer(raw, "min", f"{where}.min", least=least_floor)
    if kind == "scale" and raw.get("max") is None:
        check.add(f"{where}.max", "a scale question needs max, e.g. 5")
    if kind in PICKS_KINDS and most is not None and options and most > len(options):
        check.add(f"{where}.max", f"is {most} but there are only {len(options)} options")
    if kind in ("choice", "yesno", "text", "points") and "max" in raw:
        check.add(f"{where}.max", f"a {kind} question takes no max")
    if kind is not None and kind not in BOUNDED_KINDS and "min" in raw:
        check.add(f"{where}.min", f"a {kind} question takes no min")
    scale_low = least if least is not None else SCALE_LOW
    if kind == "scale" and most is not None and most <= scale_low:
        check.add(f"{where}.max", f"must be more than min ({scale_low})")
    if kind == "number" and most is not None and least is not None and most < least:
        check.add(f"{where}.max", f"must be at least min ({least})")

    budget = check.integer(raw, "budget", f"{where}.budget", least=1)
    if "budget" in raw and kind is not None and kind != "points":
        check.add(f"{where}.budget", "only a points question takes a budget")

    labels = _labels(raw.get("labels"), f"{where}.labels", kind, check)
    tally_method = _tally(raw.get("tally"), f"{where}.tally", kind, check)
    when = _when(raw.get("when"), f"{where}.when", key, earlier, check)
    growth, growth_problems = purposes.check_growth(
        raw.get("growth"), kind, options, f"{where}.growth"
    )
    for spot, message in growth_problems:
        check.add(spot, message)

    if key is None or kind is None:
        return None
    # Returned even with problems elsewhere (e.g. no prompt), so later questions' `when` and
    # duplicate-key checks still see it; the caller raises anyway when any problem was found.
    return Question(
        key=key,
        kind=kind,
        prompt=prompt or "",
        options=options,
        max=most,
        min=least,
        optional=optional,
        when=when,
        tally_method=tally_method,
        options_from=options_from,
        budget=budget,
        labels=labels,
        growth=growth,
    )


def _labels(raw: object, where: str, kind: str | None, check: _Checker) -> tuple[str, str] | None:
    if raw is None:
        return None
    if kind is not None and kind != "scale":
        check.add(where, "only a scale question takes labels")
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"low", "high"}:
        check.add(where, "write it as {low: ..., high: ...}")
        return None
    low = check.text(raw, "low", f"{where}.low", required=True, limit=60)
    high = check.text(raw, "high", f"{where}.high", required=True, limit=60)
    return (low, high) if low and high else None


def _tally(raw: object, where: str, kind: str | None, check: _Checker) -> str | None:
    if raw is None:
        return DEFAULT_TALLY.get(kind or "")
    if not isinstance(raw, Mapping):
        check.add(where, "write it as {method: points}")
        return None
    check.unknown_fields(raw, ("method",), where)
    method = raw.get("method")
    if method not in TALLY_METHODS:
        check.add(f"{where}.method", f"{method!r} is not one of {', '.join(TALLY_METHODS)}")
        return None
    if kind is not None and method not in ALLOWED_TALLY.get(kind, ()):
        allowed = ALLOWED_TALLY.get(kind)
        if allowed:
            check.add(f"{where}.method", f"a {kind} question is tallied by {', '.join(allowed)}")
        else:
            check.add(where, f"a {kind} question is not tallied")
        return None
    return str(method)


def _when(
    raw: object,
    where: str,
    key: str | None,
    earlier: Mapping[str, Question],
    check: _Checker,
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping) or not raw:
        check.add(where, "write it as {question_key: [allowed answers]}")
        return ()
    conditions: list[tuple[str, tuple[str, ...]]] = []
    for target_key, values in raw.items():
        spot = f"{where}.{target_key}"
        target = earlier.get(str(target_key))
        if target is None:
            reason = "itself" if target_key == key else "a later or unknown question"
            check.add(spot, f"{target_key!r} is {reason}; `when` may only name an earlier question")
            continue
        if isinstance(values, str | int | float | bool):
            values = [values]
        if not isinstance(values, Sequence) or not values:
            check.add(spot, "list the answers that make this question apply")
            continue
        allowed: list[str] = []
        for value in values:
            canonical = _when_value(target, value)
            if canonical is None:
                check.add(spot, f"{value!r} is not a possible answer to {target.key}")
            elif canonical not in allowed:
                allowed.append(canonical)
        conditions.append((target.key, tuple(allowed)))
    return tuple(conditions)


def _when_value(target: Question, value: object) -> str | None:
    """The canonical string for one allowed `when` answer, or None when it cannot occur."""
    if target.kind == "yesno":
        if isinstance(value, bool):
            return "Y" if value else "N"
        spelled = str(value).strip().upper()
        return {"Y": "Y", "YES": "Y", "N": "N", "NO": "N"}.get(spelled)
    if target.kind in ("scale", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            number = float(value)
        except ValueError:
            return None
        low = target.low if target.kind == "scale" else target.min
        if (low is not None and number < low) or (target.max is not None and number > target.max):
            return None
        return canonical_number(number)
    if target.kind in ("text", "nominate"):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    code = str(value).strip().upper()
    if not target.options:  # options_from: codes are only known after the shortlist
        return code if CODE_RE.match(code) else None
    return code if code in target.codes else None


def with_options(
    defn: PollDefinition, question_key: str, options: Sequence[Option]
) -> PollDefinition:
    """`defn` with one question's options replaced (a shortlist filling `options_from`).

    Codes are checked like imported ones; a `max` above the new option count is lowered to it.
    """
    index = defn.index(question_key)
    question = defn.questions[index]
    check = _Checker()
    where = f"questions.{question_key}.options"
    given = [{"code": o.code, "label": o.label} for o in options]
    checked = _options(given, where, check)
    if not checked:
        check.add(where, "the shortlist has no options")
    if check.problems:
        raise PollDefinitionError(check.problems)
    most = question.max
    if most is not None and question.kind in PICKS_KINDS:
        most = min(most, len(checked))
    replaced = dataclasses.replace(question, options=checked, max=most)
    questions = defn.questions[:index] + (replaced,) + defn.questions[index + 1 :]
    return dataclasses.replace(defn, questions=questions)

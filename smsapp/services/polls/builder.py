"""The poll builder's form <-> definition conversion, problem placement and text previews.

Pure: the admin views feed it request fields and settings; parse_poll stays the one validator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from smsapp.conversation import engine
from smsapp.conversation.definition import (
    KINDS,
    TALLY_METHODS,
    PollDefinition,
    Problem,
    auto_code,
)
from smsapp.sms.segments import count_segments

SAMPLE_NICKNAME = "Sam"
TOP_FIELDS = (
    "title",
    "slug",
    "group",
    "keyword",
    "closes",
    "intro",
    "outro",
    "reminders_after",
    "reminders_every",
    "reminders_max",
    "tie_seed",
    "purpose",
)
ROW_FIELDS = (
    "key",
    "kind",
    "prompt",
    "options",
    "options_from",
    "max",
    "min",
    "budget",
    "tally",
    "when",
    "labels_low",
    "labels_high",
    "growth",
)
# "C) Label" on an options line picks the code; plain lines get A, B, C… as the YAML does.
_CODED_OPTION = re.compile(r"^([A-Za-z0-9]{1,3})\)\s+(.+)$")
_ROW_NAME = re.compile(r"^q-(\d+)-(\w+)$")
_QUESTION_PROBLEM = re.compile(r"^questions\[(\d+)\](?:\.(\w+))?")


@dataclass
class QuestionRow:
    """One question as the form shows it: every value is the text in its input."""

    key: str = ""
    kind: str = "choice"
    prompt: str = ""
    options: str = ""  # one label per line, or "C) Label"
    options_from: str = ""
    max: str = ""
    min: str = ""
    budget: str = ""
    optional: bool = False
    tally: str = ""  # "" = the kind's default method
    when: str = ""  # conditions split by ";" or new lines: "colour: A, B; mood: 4, 5"
    labels_low: str = ""
    labels_high: str = ""
    growth: str = ""  # a year review's "A: roots; B: trunk" (kept as it came: no input for it)

    def is_blank(self) -> bool:
        return not (self.key.strip() or self.prompt.strip() or self.options.strip())


@dataclass
class BuilderForm:
    title: str = ""
    slug: str = ""
    group: str = ""
    keyword: str = ""
    closes: str = ""
    intro: str = ""
    outro: str = ""
    reminders_after: str = ""
    reminders_every: str = ""
    reminders_max: str = ""
    tie_seed: str = ""
    purpose: str = ""  # conversation.purposes: kept as it came (a hidden field, like tie_seed)
    questions: list[QuestionRow] = field(default_factory=list)

    def top_values(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in TOP_FIELDS}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_form(values: Mapping[str, str]) -> BuilderForm:
    """The builder's fields as posted (`q-<n>-<field>` per question, any numbering, in order)."""
    form = BuilderForm()
    for name in TOP_FIELDS:
        setattr(form, name, str(values.get(name) or ""))
    rows: dict[int, QuestionRow] = {}
    for name in values:
        match = _ROW_NAME.match(name)
        if match:
            rows.setdefault(int(match.group(1)), QuestionRow())
    for number, row in rows.items():
        for name in ROW_FIELDS:
            setattr(row, name, str(values.get(f"q-{number}-{name}") or ""))
        row.optional = bool(values.get(f"q-{number}-optional"))
    form.questions = [rows[n] for n in sorted(rows) if not rows[n].is_blank()]
    return form


def _number_or_text(text: str) -> int | str:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d{1,9}", text) else text


def _options_data(text: str) -> list[Any]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    coded = [_CODED_OPTION.match(line) for line in lines]
    if not any(coded):
        return lines
    out: list[Any] = []
    for index, (line, match) in enumerate(zip(lines, coded, strict=True)):
        if match:
            out.append({"code": match.group(1).upper(), "label": match.group(2).strip()})
        else:
            out.append({"code": auto_code(index), "label": line})
    return out


def _when_data(text: str) -> Any:
    conditions: dict[str, Any] = {}
    for line in (line.strip() for line in re.split(r"[\n;]", text)):
        if not line:
            continue
        target, sep, answers = line.partition(":")
        if not sep or not target.strip():
            return line  # parse_poll explains the expected shape next to the field
        conditions[target.strip()] = [a for a in re.split(r"[\s,]+", answers) if a]
    return conditions or None


def row_to_data(row: QuestionRow) -> dict[str, Any]:
    data: dict[str, Any] = {"key": row.key.strip(), "kind": row.kind.strip()}
    data["prompt"] = row.prompt.strip()
    if row.options.strip():
        data["options"] = _options_data(row.options)
    if row.options_from.strip():
        data["options_from"] = row.options_from.strip()
    for name in ("max", "min", "budget"):
        value = getattr(row, name).strip()
        if value:
            data[name] = _number_or_text(value)
    if row.labels_low.strip() or row.labels_high.strip():
        data["labels"] = {"low": row.labels_low.strip(), "high": row.labels_high.strip()}
    if row.tally.strip():
        data["tally"] = {"method": row.tally.strip()}
    if row.optional:
        data["optional"] = True
    when = _when_data(row.when)
    if when is not None:
        data["when"] = when
    growth = _when_data(row.growth)  # the same "code: part; code: part" shape
    if isinstance(growth, dict):
        data["growth"] = {
            code: parts[0] if len(parts) == 1 else parts for code, parts in growth.items()
        }
    elif growth is not None:
        data["growth"] = growth
    return data


def form_to_data(form: BuilderForm) -> dict[str, Any]:
    """A mapping in the public interface's YAML shape (unvalidated: parse_poll judges it)."""
    data: dict[str, Any] = {}
    for name in ("slug", "title", "group", "keyword", "closes", "intro", "outro", "purpose"):
        value = getattr(form, name).strip()
        if value:
            data[name] = value
    after, every, most = (
        form.reminders_after.strip(),
        form.reminders_every.strip(),
        form.reminders_max.strip(),
    )
    if after or every or most:
        reminders: dict[str, Any] = {}
        if after:
            reminders["after"] = after
        if every:
            reminders["every"] = every
        if most:
            reminders["max"] = _number_or_text(most)
        data["reminders"] = reminders
    if form.tie_seed.strip():
        data["tie_seed"] = form.tie_seed.strip()
    data["questions"] = [row_to_data(row) for row in form.questions]
    return data


def _options_text(options: Sequence[Any]) -> str:
    pairs: list[tuple[str, str]] = []
    for index, option in enumerate(options):
        if isinstance(option, Mapping):
            pairs.append((str(option.get("code", "")), str(option.get("label", ""))))
        else:
            pairs.append((auto_code(index), str(option)))
    if all(code == auto_code(i) for i, (code, _) in enumerate(pairs)):
        return "\n".join(label for _, label in pairs)
    return "\n".join(f"{code}) {label}" for code, label in pairs)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def data_to_form(data: Mapping[str, Any]) -> BuilderForm:
    """The form for a definition mapping (poll_to_dict's output or parsed YAML)."""
    reminders = data.get("reminders") if isinstance(data.get("reminders"), Mapping) else {}
    assert isinstance(reminders, Mapping)
    form = BuilderForm(
        title=_text(data.get("title")),
        slug=_text(data.get("slug")),
        group=_text(data.get("group")),
        keyword=_text(data.get("keyword")),
        closes=_text(data.get("closes")),
        intro=_text(data.get("intro")),
        outro=_text(data.get("outro")),
        reminders_after=_text(reminders.get("after")),
        reminders_every=_text(reminders.get("every")),
        reminders_max=_text(reminders.get("max")),
        tie_seed=_text(data.get("tie_seed")),
        purpose=_text(data.get("purpose")),
    )
    for raw in data.get("questions") or []:
        if not isinstance(raw, Mapping):
            continue
        labels = raw.get("labels") if isinstance(raw.get("labels"), Mapping) else {}
        tally = raw.get("tally") if isinstance(raw.get("tally"), Mapping) else {}
        assert isinstance(labels, Mapping) and isinstance(tally, Mapping)
        when = raw.get("when")
        when_text = ""
        if isinstance(when, Mapping):
            when_text = "; ".join(
                f"{target}: "
                + ", ".join(_yes_no(v) for v in (values if isinstance(values, list) else [values]))
                for target, values in when.items()
            )
        options = raw.get("options")
        growth = raw.get("growth")
        growth_text = (
            "; ".join(f"{code}: {part}" for code, part in growth.items())
            if isinstance(growth, Mapping)
            else ""
        )
        form.questions.append(
            QuestionRow(
                key=_text(raw.get("key")),
                kind=_text(raw.get("kind")),
                prompt=_text(raw.get("prompt")),
                options=_options_text(options) if isinstance(options, list) else "",
                options_from=_text(raw.get("options_from")),
                max=_text(raw.get("max")),
                min=_text(raw.get("min")),
                budget=_text(raw.get("budget")),
                optional=raw.get("optional") is True,
                tally=_text(tally.get("method")),
                when=when_text,
                labels_low=_text(labels.get("low")),
                labels_high=_text(labels.get("high")),
                growth=growth_text,
            )
        )
    return form


def _yes_no(value: Any) -> str:
    if value is True:
        return "Y"
    if value is False:
        return "N"
    return str(value)


def data_to_yaml(data: Mapping[str, Any]) -> str:
    """The YAML view of the form: plain labels stay plain, field order as in docs/interfaces.md."""
    return yaml.safe_dump(
        dict(data), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


def form_field(problem_field: str) -> str:
    """The form input a Problem belongs to: "questions[2].options[1]" -> "q-2-options"."""
    match = _QUESTION_PROBLEM.match(problem_field)
    if match:
        index, sub = match.group(1), match.group(2) or "key"
        if sub == "labels":
            rest = problem_field[match.end() :]
            sub = "labels_high" if rest.startswith(".high") else "labels_low"
        if sub not in ROW_FIELDS and sub != "optional":
            sub = "key"
        return f"q-{index}-{sub}"
    head = problem_field.split(".")[0].split("[")[0]
    if head == "reminders":
        tail = problem_field.split(".", 1)[1] if "." in problem_field else "after"
        return f"reminders_{tail}" if tail in ("after", "every", "max") else "reminders_after"
    if head in TOP_FIELDS:
        return head
    if head == "questions":
        return "questions"
    return "yaml"


def problems_by_field(problems: Sequence[Problem]) -> dict[str, list[str]]:
    placed: dict[str, list[str]] = {}
    for problem in problems:
        placed.setdefault(form_field(problem.field), []).append(problem.message)
    return placed


@dataclass(frozen=True)
class TextPreview:
    label: str
    text: str
    segments: int
    encoding: str
    ucs2_chars: tuple[str, ...]
    cost: float

    @property
    def ucs2_codes(self) -> list[tuple[str, str]]:
        """Each character that forces UCS-2 with its code point: a curly quote or a no-break
        space looks like its plain twin, and an emoji may not render on a staff laptop."""
        return [(c, f"U+{ord(c):04X}") for c in self.ucs2_chars]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["ucs2_chars"] = list(self.ucs2_chars)
        return out


def _preview(label: str, text: str, price: float) -> TextPreview:
    info = count_segments(text)
    return TextPreview(
        label, text, info.segments, info.encoding, info.ucs2_chars, info.segments * price
    )


def previews(defn: PollDefinition, price_per_segment: float) -> list[TextPreview]:
    """Every text a participant can receive, as sent, with a sample nickname.

    The first text is the intro and first question packed together, as the engine sends it.
    """
    out: list[TextPreview] = []
    first = engine.start(defn, nickname=SAMPLE_NICKNAME)
    for index, text in enumerate(first.replies):
        label = "First text (intro and first question)" if index == 0 else "First text, part 2"
        out.append(_preview(label, text, price_per_segment))
    for question in defn.questions[1:]:
        text = engine.render(engine.question_text(question), nickname=SAMPLE_NICKNAME)
        out.append(_preview(f"Question {question.key}", text, price_per_segment))
    outro = engine.render(defn.outro or engine.DEFAULT_OUTRO, nickname=SAMPLE_NICKNAME)
    out.append(_preview("Closing text", outro, price_per_segment))
    return out


def cost_per_recipient(texts: Sequence[TextPreview]) -> tuple[int, float]:
    """Segments and cost for one participant who answers every question first time."""
    segments = sum(t.segments for t in texts)
    return segments, sum(t.cost for t in texts)


def kinds() -> tuple[str, ...]:
    return KINDS


def tally_methods() -> tuple[str, ...]:
    return TALLY_METHODS

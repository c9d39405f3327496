"""Properties of the answer parsers: no text makes them raise, and well-formed answers read back."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsapp.conversation.definition import KINDS, Option, Question
from smsapp.conversation.keywords import RESERVED
from smsapp.conversation.normalise import clean
from smsapp.conversation.parsers import parse_answer, parse_strict
from smsapp.conversation.parsers.yesno import NO_WORDS, YES_WORDS

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LABELS = [
    "Young Researchers",
    "Health Voices",
    "Team Spark",
    "Green Future",
    "Music Makers",
    "Park Life",
    "Digital Crew",
    "Kindness Club",
]
NUMBER_WORDS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
]


def options(count: int, codes: list[str] | None = None) -> tuple[Option, ...]:
    codes = codes or [chr(ord("A") + i) for i in range(count)]
    return tuple(Option(code, label) for code, label in zip(codes, LABELS, strict=False))


def question(kind: str, count: int = 4, **extra: object) -> Question:
    opts = options(count) if kind in ("choice", "multi", "rank", "approve", "points") else ()
    if kind == "scale":
        extra.setdefault("max", 5)
    return Question("q", kind, "?", options=opts, **extra)  # type: ignore[arg-type]


any_text = st.text(max_size=2000) | st.text(
    alphabet=st.characters(codec=None, categories=("Cc", "Cf", "So", "Zs", "Po", "Lu")),
    max_size=300,
)
letter_codes = st.lists(
    st.from_regex(r"[A-Z]{1,3}", fullmatch=True).filter(lambda c: c not in RESERVED),
    min_size=2,
    max_size=8,
    unique=True,
)


ODD_CODES = tuple(Option(c, f"Label {c}") for c in ("1", "2", "AB", "X9", "Q"))


def shaped_questions(kind: str) -> list[Question]:
    """The usual question, one with digit and mixed-length codes, and one still awaiting a shortlist."""
    extra = {"max": 3} if kind in ("rank", "multi", "scale") else {}
    shapes = [question(kind, **extra)]
    if kind in ("choice", "multi", "rank", "approve", "points"):
        shapes.append(Question("q", kind, "?", options=ODD_CODES))
        shapes.append(Question("q", kind, "?", options_from="ideas.idea"))
    return shapes


@FAST
@given(kind=st.sampled_from(KINDS), text=any_text, shape=st.integers(0, 2))
def test_no_text_makes_a_parser_raise(kind: str, text: str, shape: int) -> None:
    shapes = shaped_questions(kind)
    parsed = parse_strict(shapes[shape % len(shapes)], text)
    if parsed.ok:
        json.dumps(parsed.value)
        assert parsed.problem is None
    else:
        assert parsed.value is None and parsed.problem and len(parsed.problem) <= 160


@FAST
@given(data=st.data(), count=st.integers(2, 8))
def test_choice_reads_code_number_or_label(data: st.DataObject, count: int) -> None:
    q = question("choice", count)
    index = data.draw(st.integers(0, count - 1))
    option = q.options[index]
    style = data.draw(
        st.sampled_from(
            [
                option.code,
                option.code.lower(),
                f"({option.code.lower()})",
                f" {option.code}. ",
                f"{option.code}!!",
                str(index + 1),
                option.label,
                option.label.lower() + "!!",
                f"I think {option.code}",
            ]
        )
    )
    assert parse_answer(q, style).value == option.code


@FAST
@given(data=st.data(), codes=letter_codes, kind=st.sampled_from(["multi", "approve"]))
def test_picks_read_back_in_any_style(data: st.DataObject, codes: list[str], kind: str) -> None:
    q = Question("q", kind, "?", options=options(len(codes), codes))
    picks = data.draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
    styles = [" ".join(picks), ", ".join(picks).lower(), " and ".join(picks), "; ".join(picks)]
    if all(len(c) == 1 for c in codes):
        styles.append("".join(picks).lower())
    parsed = parse_answer(q, data.draw(st.sampled_from(styles)))
    assert parsed.ok and parsed.value == picks


@FAST
@given(data=st.data(), count=st.integers(2, 8), places=st.integers(1, 8))
def test_rankings_read_back_in_any_style(data: st.DataObject, count: int, places: int) -> None:
    q = question("rank", count, max=min(places, count))
    ranking = data.draw(st.permutations(q.codes))[: q.places]
    ranking = ranking[: data.draw(st.integers(1, len(ranking)))]
    styles = [
        " ".join(ranking),
        "".join(ranking).lower(),
        ", ".join(ranking).lower(),
        ">".join(ranking),
        " ".join(f"{i}. {c}" for i, c in enumerate(ranking, 1)),
        " ".join(str(q.codes.index(c) + 1) for c in ranking),
    ]
    parsed = parse_answer(q, data.draw(st.sampled_from(styles)))
    assert parsed.ok and parsed.value == list(ranking) and not parsed.notes


@FAST
@given(data=st.data(), codes=letter_codes)
def test_rank_with_longer_codes_and_extra_places(data: st.DataObject, codes: list[str]) -> None:
    q = Question("q", "rank", "?", options=options(len(codes), codes), max=2)
    ranking = list(data.draw(st.permutations(codes)))
    parsed = parse_answer(q, data.draw(st.sampled_from([" ".join(ranking), ", ".join(ranking)])))
    assert parsed.ok and parsed.value == ranking[:2]
    assert bool(parsed.notes) == (len(ranking) > 2)


@FAST
@given(data=st.data(), count=st.integers(2, 8), budget=st.integers(1, 12))
def test_points_read_back_in_any_style(data: st.DataObject, count: int, budget: int) -> None:
    q = question("points", count, budget=budget)
    chosen = data.draw(st.lists(st.sampled_from(q.codes), min_size=1, max_size=budget, unique=True))
    spare = budget - len(chosen)
    extra = data.draw(st.lists(st.integers(0, spare), min_size=len(chosen), max_size=len(chosen)))
    points: dict[str, int] = {}
    for code, more in zip(chosen, extra, strict=True):
        if sum(points.values()) + 1 + more + (len(chosen) - len(points) - 1) <= budget:
            points[code] = 1 + more
        else:
            points[code] = 1
    styles = [
        " ".join(f"{c}{n}" for c, n in points.items()),
        ", ".join(f"{c}={n}" for c, n in points.items()),
        " ".join(f"{n}{c}" for c, n in points.items()),
        " ".join(f"{c.lower()}: {n}" for c, n in points.items()),
        "".join(c * n for c, n in points.items()),
    ]
    parsed = parse_answer(q, data.draw(st.sampled_from(styles)))
    assert parsed.ok and parsed.value == points


@FAST
@given(data=st.data(), low=st.integers(0, 3), span=st.integers(1, 9))
def test_scale_reads_digits_words_and_fractions(data: st.DataObject, low: int, span: int) -> None:
    q = Question("q", "scale", "?", min=low, max=low + span)
    value = data.draw(st.integers(low, low + span))
    styles = [str(value), f"{value}/{low + span}", f"{value} out of {low + span}", f" {value}!!"]
    if value < len(NUMBER_WORDS):
        styles.append(NUMBER_WORDS[value].capitalize())
    assert parse_answer(q, data.draw(st.sampled_from(styles))).value == value
    assert not parse_answer(q, str(low + span + 1)).ok


@FAST
@given(data=st.data(), value=st.integers(0, 5000) | st.decimals("0", "500", places=2))
def test_number_reads_back(data: st.DataObject, value: object) -> None:
    q = Question("q", "number", "?", min=0, max=5000)
    written = str(value)
    style = data.draw(st.sampled_from(["{}", "about {}", "{}ish", "~{}", "roughly {} I think"]))
    parsed = parse_answer(q, style.format(written))
    assert parsed.ok and float(parsed.value) == float(written)  # type: ignore[arg-type]


@FAST
@given(
    word=st.sampled_from(sorted(YES_WORDS | NO_WORDS)),
    shout=st.booleans(),
    tail=st.sampled_from(["", "!", ".", "!!", " 🙂"]),
)
def test_yesno_words(word: str, shout: bool, tail: str) -> None:
    parsed = parse_answer(question("yesno"), (word.upper() if shout else word) + tail)
    assert parsed.ok and parsed.value is (word in YES_WORDS)


@FAST
@given(text=st.text(min_size=1, max_size=2000))
def test_text_keeps_what_was_written(text: str) -> None:
    parsed = parse_answer(question("text"), text)
    assert parsed.ok == bool(clean(text))
    if parsed.ok:
        assert parsed.value == clean(text)[:1600]


def test_all_names_the_option_called_all_rather_than_every_option() -> None:
    # Found by hypothesis: codes ALL and A, and the answer "ALL" read as both.
    q = Question("q", "multi", "?", options=options(2, ["ALL", "A"]))
    assert parse_answer(q, "ALL").value == ["ALL"]
    plain = Question("q", "multi", "?", options=options(2, ["A", "B"]))
    assert parse_answer(plain, "all").value == ["A", "B"]  # otherwise "all" is every option

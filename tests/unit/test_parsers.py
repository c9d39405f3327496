"""Answer parsers: the readings, problems and notes a participant sees; command words."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytest

from smsapp.conversation import parsers
from smsapp.conversation.definition import KINDS, MAX_TEXT, Option, Question
from smsapp.conversation.keywords import RESERVED, command_word
from smsapp.conversation.parsers import Parsed, parse_answer, parse_strict
from smsapp.conversation.parsers.free_text import NOMINATION_LIMIT

NAMES = tuple(
    Option(c, label)
    for c, label in zip(
        "ABCD", ["Young Researchers", "Health Voices", "Team Spark", "Youth Voice"], strict=True
    )
)


def q(kind: str, **extra: object) -> Question:
    opts = NAMES if kind in ("choice", "multi", "rank", "approve", "points") else ()
    if kind == "scale":
        extra.setdefault("max", 5)
    return Question("q", kind, "?", options=opts, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("text", ["", "   ", "\x00\x01\x1b", "\u200b\u200d", "\n\t"])
def test_empty_messages_get_a_friendly_problem(kind: str, text: str) -> None:
    parsed = parse_answer(q(kind), text)
    assert not parsed.ok and parsed.problem == "That message looked empty."


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("text", "yesno")])
def test_pure_emoji_is_not_an_answer_except_in_free_text(kind: str) -> None:
    parsed = parse_answer(q(kind), "😂🎉🔥")
    assert not parsed.ok and parsed.problem
    assert parse_answer(q("text"), "😂🎉🔥").value == "😂🎉🔥"


def test_choice_reads_back_the_label() -> None:
    assert parse_answer(q("choice"), "b") == Parsed(True, "B", "Health Voices", None)


def test_choice_between_two_close_labels_is_not_guessed() -> None:
    question = Question(
        "q", "choice", "?", options=(Option("A", "Team Spark"), Option("B", "Team Spork"))
    )
    parsed = parse_answer(question, "team spirk")
    assert not parsed.ok and parsed.problem == "That could be more than one option."


def test_choice_names_the_unknown_code_and_refuses_two_picks() -> None:
    assert parse_answer(q("choice"), "X").problem == "I didn't recognise X."
    assert parse_answer(q("choice"), "a or b").problem == "Please pick just one, not A and B."


def test_rank_names_every_unknown_code() -> None:
    parsed = parse_answer(q("rank"), "C X A Q")
    assert not parsed.ok and parsed.problem == "I didn't recognise X and Q."


def test_rank_drops_places_beyond_max_with_a_note() -> None:
    parsed = parse_answer(q("rank", max=2), "c a b d")
    assert parsed.ok and parsed.value == ["C", "A"]
    assert parsed.label == "1 Team Spark, 2 Young Researchers"
    assert parsed.notes == ("Only your top 2 count, so I dropped B and D.",)


def test_rank_ignores_a_repeat() -> None:
    assert parse_answer(q("rank"), "c a c b").value == ["C", "A", "B"]


def test_multi_over_max_says_how_many() -> None:
    parsed = parse_answer(q("multi", max=2), "a b c")
    assert not parsed.ok and parsed.problem == "You can pick up to 2, and that was 3."


def test_points_over_budget_names_the_budget() -> None:
    parsed = parse_answer(q("points", budget=6), "A4 B3")
    assert not parsed.ok and parsed.problem == "That's 7 points, but you have 6 to share."
    ok = parse_answer(q("points", budget=6), "A4 B2")
    assert ok.value == {"A": 4, "B": 2} and ok.label == "Young Researchers 4, Health Voices 2"


def test_points_need_an_option_for_each_number() -> None:
    assert parse_answer(q("points"), "A2 3").problem == "I couldn't tell which option 3 was for."


# A problem is texted back: a short sentence (160 characters at most) that names a few of the
# words it could not read, never the whole message.
MANY_WORDS = " ".join(f"zq{a}{b}" for a in "efghij" for b in "klmnopqrstuvwxyz")  # 96 words


@pytest.mark.parametrize("kind", ["multi", "rank", "approve", "points"])
def test_a_problem_names_a_few_unknown_words_and_counts_the_rest(kind: str) -> None:
    parsed = parse_answer(q(kind), MANY_WORDS)
    expected = "I didn't recognise ZQEK, ZQEL, ZQEM, ZQEN, ZQEO, ZQEP, ZQEQ, ZQER and 88 more."
    assert not parsed.ok and parsed.problem == expected


def test_points_name_a_few_numbers_without_an_option() -> None:
    parsed = parse_answer(q("points"), "A1 " + " ".join(str(n) for n in range(10, 200)))
    named = "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21 and 178 more"
    expected = f"I couldn't tell which option {named} was for."
    assert parsed.problem == expected


def test_a_huge_number_is_not_written_back() -> None:
    huge = "9" * 40
    assert parse_answer(q("number", max=10), huge).problem == "That number is more than 10."
    assert parse_answer(q("number", min=1), "-" + huge).problem == "That number is less than 1."
    assert parse_answer(q("number"), huge).problem == "That number is too big."
    assert parse_answer(q("scale"), huge).problem == "That number is outside the scale of 1 to 5."
    too_many = parse_answer(q("points"), f"A{huge}").problem
    assert too_many == "That's too many points, but you have 5 to share."


def test_numbers_up_to_the_biggest_exact_one_are_read_as_sent() -> None:
    assert parse_answer(q("number"), "999999999999999").value == 999_999_999_999_999
    assert parse_answer(q("number"), "1000000000000000").problem == "That number is too big."


def test_and_a_half_reads_as_a_decimal_everywhere() -> None:
    for text in ("2 and a half", "two and a half", "2 and half", "2.5"):
        assert parse_answer(q("number"), text).value == 2.5, text
        assert parse_answer(q("scale"), text).problem == "Please send a whole number from 1 to 5."


def test_scale_end_labels_count_as_answers() -> None:
    question = q("scale", labels=("not at all", "loads"))
    assert parse_answer(question, "Loads!").value == 5
    assert parse_answer(question, "not at all").value == 1
    assert parse_answer(question, "4/10").problem == "This scale goes from 1 to 5."


def test_number_respects_bounds() -> None:
    question = q("number", min=1, max=10)
    assert parse_answer(question, "11").problem == "11 is more than 10."
    assert parse_answer(question, "0").problem == "0 is less than 1."
    assert parse_answer(question, "ten").value == 10


def test_text_is_capped_with_a_note() -> None:
    parsed = parse_answer(q("text"), "word " * 400)
    assert parsed.ok and isinstance(parsed.value, str) and len(parsed.value) == 1600
    assert parsed.notes == ("I kept the first 1,600 characters.",)


def test_nomination_length_limit() -> None:
    assert parse_answer(q("nominate"), "x" * NOMINATION_LIMIT).ok
    parsed = parse_answer(q("nominate"), "x" * (NOMINATION_LIMIT + 1))
    assert not parsed.ok and str(NOMINATION_LIMIT) in (parsed.problem or "")


def test_a_parser_bug_becomes_a_polite_problem(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(question: Question, text: str) -> Parsed:
        raise RuntimeError("boom")

    monkeypatch.setitem(parsers._PARSERS, "choice", broken)
    with caplog.at_level(logging.ERROR):
        parsed = parse_answer(q("choice"), "b")
    assert not parsed.ok and parsed.problem == "Sorry, I couldn't read that."
    assert "parser failed" in caplog.text


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("stop", "STOP"),
        ("stop.", "STOP"),
        (" Stop!", "STOP"),
        ("STOPALL", "STOPALL"),
        ("unsubscribe", "UNSUBSCRIBE"),
        ("opt-out", "OPTOUT"),
        ("Start", "START"),
        ("help?", "HELP"),
        ("skip", "SKIP"),
        ("Withdraw.", "WITHDRAW"),
        ("yes", "YES"),
        ("please stop texting me", None),
        ("stop it", None),
        ("stopp", None),
        ("B", None),
        ("", None),
        ("🛑", None),
    ],
)
def test_command_word_is_the_whole_message_only(text: str, word: str | None) -> None:
    assert command_word(text) == word


def test_every_reserved_word_is_a_command() -> None:
    for word in RESERVED:
        assert command_word(f" {word.lower()}! ") == word


@dataclass(frozen=True)
class No:
    """The reply is refused with this problem (None: refused, the wording not pinned)."""

    problem: str | None = None


KEPT = "the first 1,600 characters, with a note"  # what a too-long free text keeps
YESNO = No("Please reply Y for yes or N for no.")
TOO_LONG = No("That's a bit long. Please send it in 100 characters or fewer.")
NOT_AN_OPTION = No("I didn't recognise that as one of the options.")

# Texts that once made parsers slow or crash, and what each kind of question must make of them
# (options A-D are NAMES, scales run 1-5, points share 5). Replies are parsed inside the webhook
# request. How fast these are read is measured by bench/engine.py (timed assertions don't belong
# in tests on shared machines); a catastrophic backtracking regex would still hang visibly.
PATHOLOGICAL: dict[str, tuple[str, dict[str, object]]] = {
    "garbage": (
        "zq#~" * 400,
        {
            "choice": NOT_AN_OPTION,
            "multi": No("I didn't recognise ZQ."),
            "scale": No("Please send a number from 1 to 5."),
            "yesno": YESNO,
            "number": No("Please send a number."),
            "text": "zq#~" * 400,  # exactly 1,600 characters: all kept, no note
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise ZQ."),
            "approve": No("I didn't recognise ZQ."),
            "points": No("I didn't recognise ZQ."),
        },
    ),
    "one-a-500-times": (
        "1 a " * 500 + "!",
        {
            "choice": "A",  # option 1 and A are the same pick
            "multi": ["A"],
            "scale": 1,
            "yesno": YESNO,
            "number": 1,
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": ["A"],
            "approve": ["A"],
            "points": No("That's 500 points, but you have 5 to share."),
        },
    ),
    "spaces": (
        "1" + " " * 1500 + "!",
        {
            "choice": "A",
            "multi": ["A"],
            "scale": 1,
            "yesno": YESNO,
            "number": 1,
            "text": "1 !",  # whitespace collapsed
            "nominate": "1 !",
            "rank": ["A"],
            "approve": ["A"],
            "points": No("I couldn't tell which option 1 was for."),
        },
    ),
    "first-dash": (
        "1st" + " " * 1000 + "-" + " " * 500 + "!",
        {
            "choice": No("I didn't recognise 1ST."),
            "multi": No("I didn't recognise 1ST."),
            "scale": 1,
            "yesno": YESNO,
            "number": 1,
            "text": "1st - !",
            "nominate": "1st - !",
            "rank": No("I didn't recognise 1ST."),
            "approve": No("I didn't recognise 1ST."),
            "points": No("I didn't recognise ST."),
        },
    ),
    "commas": (
        ("1 a" + ",,,") * 300 + "9",
        {
            "choice": "A",
            "multi": No("I didn't recognise 9."),
            "scale": No("Please send just one number from 1 to 5."),
            "yesno": YESNO,
            "number": No("Please send just one number."),
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise 9."),
            "approve": No("I didn't recognise 9."),
            "points": No("I couldn't tell which option 9 was for."),
        },
    ),
    "huge-number": (
        "9" * 1999 + "!",
        {
            "choice": NOT_AN_OPTION,
            "multi": No("I didn't recognise 99999999999999…."),  # named, but cut short
            "scale": No("That number is outside the scale of 1 to 5."),
            "yesno": YESNO,
            "number": No("That number is too big."),  # not float('inf')
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise 99999999999999…."),
            "approve": No("I didn't recognise 99999999999999…."),
            "points": No("I couldn't tell which option 99999999999999… was for."),  # cut short
        },
    ),
    "nines-and-dots": (
        "9." * 999 + "x",
        {
            "choice": NOT_AN_OPTION,
            "multi": No("I didn't recognise 9 and X."),
            "scale": No("Please send a number from 1 to 5."),
            "yesno": YESNO,
            "number": No("Please send a number."),
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise 9 and X."),
            "approve": No("I didn't recognise 9 and X."),
            "points": No("I didn't recognise X."),
        },
    ),
    "label-typo-110-times": (
        "Helth Voicez, " * 110,
        {
            "choice": NOT_AN_OPTION,
            "multi": ["B"],  # one pick, however often it is named
            "scale": No("Please send a number from 1 to 5."),
            "yesno": YESNO,
            "number": No("Please send a number."),
            "text": ("Helth Voicez, " * 110).strip(),  # 1,539 characters: under the cap
            "nominate": TOO_LONG,
            "rank": ["B"],
            "approve": ["B"],
            "points": No("I didn't recognise HELTH, V, O, I, E and Z."),
        },
    ),
    "out-of-200-times": (
        "4 out of " * 200,
        {
            "choice": "D",  # option 4
            "multi": No("I didn't recognise OUT and OF."),
            "scale": No("This scale goes from 1 to 5."),
            "yesno": YESNO,
            "number": 4,
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise OUT and OF."),
            "approve": No("I didn't recognise OUT and OF."),
            "points": No("I didn't recognise OUT and OF."),
        },
    ),
    "a3-900-times": (
        "A3" * 900,
        {
            "choice": NOT_AN_OPTION,
            "multi": No("I didn't recognise A3A3A3A3A3A3A3…."),
            "scale": No("Please send a number from 1 to 5."),
            "yesno": YESNO,
            "number": No("Please send a number."),
            "text": KEPT,
            "nominate": TOO_LONG,
            "rank": No("I didn't recognise A3A3A3A3A3A3A3…."),
            "approve": No("I didn't recognise A3A3A3A3A3A3A3…."),
            "points": No("That's 2700 points, but you have 5 to share."),
        },
    ),
}


def _cases() -> list[Any]:
    cases = []
    for name, (text, readings) in PATHOLOGICAL.items():
        assert sorted(readings) == sorted(KINDS), name  # every kind has its pinned reading
        for kind, expected in readings.items():
            cases.append(pytest.param(kind, text, expected, id=f"{name}-{kind}"))
    return cases


@pytest.mark.parametrize(("kind", "text", "expected"), _cases())
def test_pathological_texts_read_as_pinned(kind: str, text: str, expected: object) -> None:
    parsed = parse_strict(q(kind), text)  # no safety net: an exception fails the test
    if isinstance(expected, No):
        assert (parsed.ok, parsed.value) == (False, None)
        assert parsed.problem, "a refusal always says what was wrong"
        # The problem is texted back: a sentence, never an echo of the whole message.
        assert len(parsed.problem) <= 160, parsed.problem
        if expected.problem is not None:
            assert parsed.problem == expected.problem
    elif expected is KEPT:
        assert parsed.ok and parsed.value == text[:MAX_TEXT]
        assert parsed.notes == ("I kept the first 1,600 characters.",)
    else:
        assert (parsed.ok, parsed.problem) == (True, None)
        assert parsed.value == expected
        assert type(parsed.value) is type(expected)

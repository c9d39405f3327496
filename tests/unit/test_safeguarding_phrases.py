"""The safeguarding matcher: every category, the ways young people really type, and no alarms
on ordinary poll answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.safeguarding.phrases import (
    ABUSE,
    BULLYING,
    DEFAULT_RULES,
    SELF_HARM,
    UNSAFE,
    Matcher,
    RulesError,
    allowed_edits,
    check,
    merge_rules,
    normalised_text,
    parse_rules,
    tokens,
    within_distance,
)


def categories(text: str) -> list[str]:
    return [m.category for m in check(text)]


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("I want to kill myself", SELF_HARM),
        ("i want to k i l l myself", SELF_HARM),
        ("KILLLLL MYSELF", SELF_HARM),
        ("k1ll mys3lf", SELF_HARM),
        ("kil myslef", SELF_HARM),  # a dropped letter and a swap
        ("killmyself", SELF_HARM),
        ("i wanna dieeee", SELF_HARM),
        ("thinking about suicide", SELF_HARM),
        ("im suicidle", SELF_HARM),
        ("I don\u2019t want to be alive", SELF_HARM),
        ("nobody would miss me", SELF_HARM),
        ("i s e l f  h a r m", SELF_HARM),
        ("Sélf-hàrm", SELF_HARM),
        ("my step dad slapped me", ABUSE),
        ("he touches me and says its a secret", ABUSE),
        ("a man online asked me to send pics", ABUSE),
        ("im being bulllied at school", BULLYING),
        ("they keep calling me names", BULLYING),
        ("everyone hates me", BULLYING),
        ("I don't feel safe at home", UNSAFE),
        ("help me", UNSAFE),
        ("scared to go home tonight", UNSAFE),
    ],
)
def test_disclosures_are_flagged(text: str, category: str) -> None:
    assert category in categories(text), text


@pytest.mark.parametrize(
    "text",
    [
        "B C A",
        "1 3 5",
        "A",
        "yes",
        "SKIP",
        "I was amused by it",  # one letter from "abused": short words need an exact match
        "buried treasure",  # one letter from "bullied"
        "I will skill myself up",  # "kill myself" across a word boundary
        "Can you help me with question 2",
        "more football pitches please",
        "the youth club should open later on fridays",
        "beats me",  # "I don't know"
    ],
)
def test_ordinary_answers_are_not_flagged(text: str) -> None:
    assert categories(text) == [], text


def test_a_text_touching_two_categories_names_both_in_order() -> None:
    matches = check("they bully me and I want to kill myself")
    assert [m.category for m in matches] == [SELF_HARM, BULLYING]
    assert matches[0].rule == "kill myself" and matches[0].excerpt == "kill myself"


def test_leetspeak_maps_only_inside_words() -> None:
    assert tokens("K1LL m3!") == ["kill", "me"]
    assert tokens("1 3 5") == ["1", "3", "5"]
    assert normalised_text("d i e   now") == "die now"


_phrases = [(c, p) for c, r in DEFAULT_RULES.items() for p in r.phrases]


def _respell(phrase: str, data: st.DataObject) -> str:
    """Type a phrase as a young person might: case, stretched letters, spacing, leet."""
    leet = {"o": "0", "i": "1", "e": "3", "a": "4", "s": "5", "t": "7"}
    out = []
    for ch in phrase:
        if ch == " ":
            out.append(data.draw(st.sampled_from([" ", "  ", "", "\n"])))
            continue
        if ch.isalpha():
            if data.draw(st.booleans()):
                ch = ch.upper()
            if ch.lower() in leet and data.draw(st.integers(0, 4)) == 0:
                ch = leet[ch.lower()]
            ch = ch * data.draw(st.sampled_from([1, 1, 1, 2, 4]))
        out.append(ch)
    spaced = data.draw(st.booleans())
    word = "".join(out)
    return " ".join(word) if spaced else word


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_phrases), st.data())
def test_every_phrase_survives_case_spacing_stretching_and_leet(
    entry: tuple[str, str], data: st.DataObject
) -> None:
    category, phrase = entry
    text = _respell(phrase, data)
    assert category in categories(f"ok so {text} !!"), (phrase, text)


def _reference_osa(a: str, b: str) -> int:
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


@settings(max_examples=400, deadline=None)
@given(st.text("abcd", max_size=8), st.text("abcd", max_size=8), st.integers(0, 3))
def test_bounded_distance_agrees_with_the_full_table(a: str, b: str, limit: int) -> None:
    assert within_distance(a, b, limit) == (_reference_osa(a, b) <= limit)


def test_short_phrases_must_match_exactly() -> None:
    assert allowed_edits(6) == 0 and allowed_edits(7) == 1 and allowed_edits(12) == 2


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["A", "B", "C", "D", "1", "2", "3", "10", ",", " "]), max_size=12))
def test_option_codes_and_numbers_never_flag(parts: list[str]) -> None:
    assert check(" ".join(parts)) == []


def test_a_phrase_file_adds_to_the_defaults_or_replaces_them() -> None:
    extra, replace = parse_rules(
        {"categories": {BULLYING: {"phrases": ["they took my lunch money"]}, "local": {
            "patterns": [r"\bbus stop by the park\b"]}}}
    )  # fmt: skip
    assert not replace
    matcher = Matcher(merge_rules(DEFAULT_RULES, extra, replace=False))
    assert [m.category for m in matcher.check("they tok my lunch money")] == [BULLYING]
    assert [m.category for m in matcher.check("at the bus stop by the park")] == ["local"]
    assert [m.category for m in matcher.check("i want to kill myself")] == [SELF_HARM]
    only, replace = parse_rules(
        {"replace_defaults": True, "categories": {"x": {"phrases": ["zz top"]}}}
    )
    alone = Matcher(merge_rules(DEFAULT_RULES, only, replace=replace))
    assert alone.check("i want to kill myself") == [] and alone.check("zz top")


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"categories": []},
        {"categories": {"x": {"phrases": "not a list"}}},
        {"categories": {"x": {"patterns": ["(unclosed"]}}},
    ],
)
def test_a_broken_phrase_file_is_refused_with_a_reason(data: object) -> None:
    with pytest.raises(RulesError):
        parse_rules(data)


def test_a_long_text_is_checked_quickly() -> None:
    import time

    text = ("we should have more clubs after school and trips in the summer " * 30)[:1600]
    started = time.perf_counter()
    assert check(text + " i want to kill myself") != []
    assert time.perf_counter() - started < 0.5


def test_a_number_typed_for_a_word_between_words_is_read_as_leet() -> None:
    # Found by hypothesis: "end 17 all" is "end it all" typed with 1 for i and 7 for t.
    assert categories("end 17 all") == [SELF_HARM]
    # A number beside a number is still a number: "rank 1 3 5" is an answer, not leet.
    assert tokens("rank 1 3 5") == ["rank", "1", "3", "5"]


def test_in_a_text_written_in_leet_a_number_beside_a_word_is_leet_too() -> None:
    # Found by hypothesis: "eat" typed as "347" at the end, after "to", which has no leet.
    assert "abuse" in categories("ok so n07 4ll0w3d to 347 !!")
    # Without leet elsewhere, a number after a word is still a number.
    assert tokens("question 2 and 347") == ["question", "2", "and", "347"]
    assert tokens("m0r3 sp4c3 for 12") == ["more", "space", "for", "12"]  # nothing to map

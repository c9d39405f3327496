"""Export cells: phone numbers and e-mails redacted in any common format, formulas neutralised,
small counts suppressed, answers and tallies turned into the right cells."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.exports import cells, columns
from smsapp.voting import Ballot, tally

# Words around a number never contain digits, so any digit left in the output came from it.
WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@+-=\t\r"),
    max_size=20,
)
SEPARATORS = st.sampled_from([" ", "-", ".", "  ", " - ", "/", "(", ")", "\u00a0", "\u2013"])
MOBILE = st.integers(min_value=0, max_value=999_999).map(lambda n: f"7911{n:06d}")


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _grouped(nsn: str, prefix: str, cuts: list[int], seps: list[str]) -> str:
    pieces, last = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(nsn[last:cut])
        last = cut
    pieces.append(nsn[last:])
    out = prefix
    for i, piece in enumerate(p for p in pieces if p):
        out += (seps[i % len(seps)] if i else "") + piece
    return out


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(how a young person might write a UK mobile, its 10 significant digits)."""
    nsn = draw(MOBILE)
    style = draw(st.sampled_from(["format", "grouped", "spaced"]))
    if style == "format":
        number = phonenumbers.parse("+44" + nsn)
        fmt = draw(
            st.sampled_from(
                [
                    phonenumbers.PhoneNumberFormat.E164,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.RFC3966,
                ]
            )
        )
        return phonenumbers.format_number(number, fmt), nsn
    prefix = draw(st.sampled_from(["0", "+44", "+44 ", "0044", "0044 ", "+44 (0)", "(0", ""]))
    if style == "spaced":
        return prefix + " ".join(nsn), nsn
    cuts = draw(st.lists(st.integers(min_value=1, max_value=9), max_size=4))
    seps = draw(st.lists(SEPARATORS, min_size=1, max_size=3))
    return _grouped(nsn, prefix, cuts, seps), nsn


@settings(max_examples=400, deadline=None)
@given(written_numbers(), WORDS, WORDS)
def test_no_phone_number_survives_in_any_format(written, before, after) -> None:
    number, nsn = written
    out = cells.redact(f"{before}{number}{after}")
    assert nsn not in digits(out), (number, out)
    assert cells.NUMBER_MARK in out


@pytest.mark.parametrize(
    "text",
    [
        "07 911 123 456",
        "07911 123456",
        "+44 7911 123456",
        "0044 7911 123456",
        "+44 (0) 7911 123 456",
        "(07911) 123-456",
        "07911.123.456",
        "0 7 9 1 1 1 2 3 4 5 6",
        "tel:+44-7911-123456",
        "\uff10\uff17\uff19\uff11\uff11\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
        "text me07911123456pls",
        "1234567890123",  # a bare 13-digit run
    ],
)
def test_common_formats_are_redacted(text) -> None:
    out = cells.redact(f"my mate's number is {text} ok")
    assert "[number]" in out
    assert len(digits(out)) < 10


@pytest.mark.parametrize(
    "text", ["I'm 13", "4/5", "2026-03-02", "Year 9, room 101", "1 2 3", "£12.50 each"]
)
def test_short_numbers_are_kept(text) -> None:
    assert cells.redact(text) == text


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}@[a-z0-9-]{1,10}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    WORDS,
    WORDS,
)
def test_emails_are_redacted(email, before, after) -> None:
    out = cells.redact(f"{before} {email} {after}")
    assert "@" not in out.replace(before, "").replace(after, "")
    assert cells.EMAIL_MARK in out


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_no_cell_starts_like_a_formula(text) -> None:
    out = cells.safe_text(text)
    if out and out[0] in cells.FORMULA_STARTS:
        # only plain negative numbers are let through
        assert re.fullmatch(r"-\d+(\.\d+)?", out), out
    if text and text[0] in "=+@\t\r":
        assert out.startswith("'")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_neutralise_only_adds_a_quote(text) -> None:
    out = cells.neutralise(text)
    assert out in (text, "'" + text)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+1", "'+1"),
        ("-1+1", "'-1+1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-3", "-3"),
        ("-2.5", "-2.5"),
        ("Hello", "Hello"),
        ("", ""),
    ],
)
def test_neutralise_examples(cell, expected) -> None:
    assert cells.neutralise(cell) == expected


def test_suppression_hides_small_counts_only() -> None:
    assert [cells.suppress(n, 5) for n in (0, 1, 4, 5, 9)] == [0, "<5", "<5", 5, 9]
    assert cells.suppress(3, None) == 3


@pytest.mark.parametrize(
    ("kind", "value", "text"),
    [
        ("choice", "B", "B"),
        ("multi", ["A", "C"], "A C"),
        ("rank", ["C", "A", "B"], "C A B"),
        ("approve", [], ""),
        ("yesno", True, "Y"),
        ("yesno", False, "N"),
        ("scale", 4, "4"),
        ("number", 2.5, "2.5"),
        ("text", "hi there", "hi there"),
        ("points", {"A": 1, "C": 3, "B": 1}, "C:3 A:1 B:1"),
        ("text", None, ""),
    ],
)
def test_answer_text(kind, value, text) -> None:
    assert columns.answer_text(kind, value) == text


def test_ballot_cells() -> None:
    assert columns.ballot_cells("rank", ["C", "A"]) == ("C A", "")
    assert columns.ballot_cells("approve", ["B"]) == ("B", "")
    assert columns.ballot_cells("choice", "A") == ("A", "")
    assert columns.ballot_cells("points", {"A": 2, "C": 3}) == ("C A", "3 2")
    assert columns.ballot_cells("text", "hello") is None


def test_tally_rows_irv_rounds_and_tie_break_notes() -> None:
    ballots = [Ballot(("C", "A")), Ballot(("C",)), Ballot(("A", "B")), Ballot(("B", "A"))]
    result = tally("irv", ["A", "B", "C"], ballots, seed="s").to_json_dict()
    rows = list(columns.tally_rows(result, {"A": "Apple"}))
    assert [(r["round"], r["option"]) for r in rows] == [
        (rnd["round"], code) for rnd in result["rounds"] for code in rnd["votes"]
    ]
    assert rows[0]["label"] == "Apple" and rows[1]["label"] == "B"
    round_one = [r for r in rows if r["round"] == 1]
    [out] = [r for r in round_one if r["status"] == "eliminated"]
    assert out["option"] == result["rounds"][0]["eliminated"]
    assert out["note"] and "tied" in out["note"]
    assert {r["exhausted"] for r in round_one} == {0}
    final = [r for r in rows if r["round"] == len(result["rounds"])]
    assert any(r["status"] in ("elected", "winner") for r in final)


def test_tally_rows_other_methods_are_one_round_of_final_scores() -> None:
    result = tally(
        "points", ["A", "B", "C"], [Ballot(("A", "B")), Ballot(("B", "A"))], seed="s"
    ).to_json_dict()
    rows = list(columns.tally_rows(result, {}))
    assert [r["option"] for r in rows] == result["order"]
    assert [r["votes"] for r in rows] == [result["scores"][c] for c in result["order"]]
    assert [r["status"] for r in rows] == ["winner", "not-elected", "not-elected"]
    assert [r["place"] for r in rows] == [1, 2, 3]
    assert {r["round"] for r in rows} == {1}
    # A and B tie on points; the note explains how the tie was broken
    assert rows[0]["note"] and rows[1]["note"] and not rows[2]["note"]

"""Export cells: phone numbers and e-mails redacted in any common format, formulas neutralised,
small counts suppressed, answers and tallies turned into the right cells."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.formats import cells, columns
from smsapp.privacy.redact import redact
from smsapp.voting import Ballot, tally
from smsapp.voting.ballots import Ranked


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize(
    "text",
    [
        "07911,123,456",
        "07911, 123, 456",
        "07911,123 456",
        "+44,7911,123,456",
        "7,911,123,456",
        "07911\uff0c123\uff0c456",  # fullwidth commas
    ],
)
def test_commas_between_digit_groups_are_redacted(text: str) -> None:
    """Issue 12 (10d): commas were not separators, so `07911,123,456` reached researchers."""
    out = cells.safe_text(f"ring me {text} tonight")
    assert "[number]" in out and len(digits(out)) < 10, out


def test_cells_use_the_one_redaction_rule() -> None:
    text = "me: 07911 123456, sam@example.org, 3 of 5"
    assert cells.safe_text(text) == redact(text) == "me: [number], [email], 3 of 5"


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


def test_a_hidden_count_reads_below_the_threshold() -> None:
    assert [cells.count_cell(n, 5) for n in (None, 0, 4, 9)] == ["<5", 0, 4, 9]


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
    assert columns.ballot_cells(Ranked(("C", "A"))) == ("C A", "")
    assert columns.ballot_cells(Ranked(())) == ("", "")
    assert columns.ballot_cells(Ranked(("C", "A"), (3, 2))) == ("C A", "3 2")


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

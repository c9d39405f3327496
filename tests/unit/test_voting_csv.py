"""Reading ballots CSV files: separators, counts, unknown codes and clear errors."""

from __future__ import annotations

import io

import pytest

from smsapp.voting import Ballot, BallotFileError, read_ballots_csv


def read(text: str, **kw):
    return read_ballots_csv(io.StringIO(text), **kw)


def test_spaces_commas_case_repeats_count_and_bom():
    options, ballots = read('\ufeffRanking,Count\nc a b,2\n"b, A,a",\n\nA  A,1\n')
    assert options == ["A", "B", "C"]  # every code seen, sorted
    assert ballots == [Ballot(("C", "A", "B"), 2), Ballot(("B", "A"), 1), Ballot(("A",), 1)]


def test_extra_columns_are_ignored_and_count_is_optional():
    options, ballots = read("participant,ranking,cast_at\nP-1,B A,2026-01-01\nP-2,,\n")
    assert options == ["A", "B"]
    assert ballots == [Ballot(("B", "A")), Ballot(())]


def test_declared_options_keep_their_order_and_reject_unknown_codes():
    options, _ = read("ranking\nB\n", options=["c", "B", "A"])
    assert options == ["C", "B", "A"]
    with pytest.raises(BallotFileError) as caught:
        read("ranking\nA\nA Z B\n", options=["A", "B"])
    assert caught.value.line_no == 3 and "Z" in str(caught.value)


def test_skip_unknown_drops_the_unknown_codes_only():
    _, ballots = read("ranking\nZ A Y B\n", options=["A", "B"], skip_unknown=True)
    assert ballots == [Ballot(("A", "B"))]


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ("", "empty", 0),
        ("   \n\n", "empty", 0),
        ("code,count\nA,1\n", "'ranking' column", 1),
        ("ranking,count\nA,two\n", "whole number", 2),
        ("ranking,count\nA,1\nB,-1\n", "whole number", 3),
        ("ranking,count\nA,1.5\n", "whole number", 2),
    ],
)
def test_errors_say_what_and_where(text, message, line):
    with pytest.raises(BallotFileError, match=message) as caught:
        read(text)
    assert caught.value.line_no == line

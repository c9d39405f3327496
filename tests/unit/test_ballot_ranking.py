"""A stored ballot answer read as a ranking (voting.ballots.ranking_of): the one reading the
tally counts and the ballots export writes."""

from __future__ import annotations

import pytest

from smsapp.conversation.definition import ALLOWED_TALLY
from smsapp.voting.ballots import BALLOT_KINDS, Ranked, ranking_of

OPTIONS = ("A", "B", "C", "D")


@pytest.mark.parametrize(
    "kind, value, ranked",
    [
        ("rank", ["C", "A"], Ranked(("C", "A"))),
        ("rank", ["C", "X", "A", "C"], Ranked(("C", "A"))),  # not an option, said twice
        ("rank", [], Ranked(())),
        ("approve", ["D", "B"], Ranked(("D", "B"))),
        ("choice", "B", Ranked(("B",))),
        ("choice", "X", Ranked(())),
        # most points first; equal points in the options' order, not the stored order
        ("points", {"C": 2, "A": 2, "D": 1}, Ranked(("A", "C", "D"), (2, 2, 1))),
        # an option given no points is not on the ballot
        ("points", {"B": 0, "D": 5}, Ranked(("D",), (5,))),
        ("points", {"X": 3, "A": 2}, Ranked(("A",), (2,))),
        ("points", {}, Ranked(())),
    ],
)
def test_a_ballot_reads_as_codes_best_first(kind: str, value: object, ranked: Ranked) -> None:
    assert ranking_of(kind, OPTIONS, value) == ranked


@pytest.mark.parametrize(
    "kind, value",
    [("rank", "A"), ("rank", None), ("approve", {"A": 1}), ("choice", ["A"]), ("points", ["A"])]
    + [("text", "A"), ("yesno", True), ("multi", ["A"])],
)
def test_a_value_that_is_no_ballot_of_its_kind_is_none(kind: str, value: object) -> None:
    assert ranking_of(kind, OPTIONS, value) is None


def test_the_ballot_kinds_are_the_kinds_a_poll_tallies() -> None:
    assert set(BALLOT_KINDS) == set(ALLOWED_TALLY)

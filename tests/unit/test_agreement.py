"""The terms-of-reference pass rule: more Agree than Change and Disagree together, with enough
people answering. Checked at its edges and, with hypothesis, against its definition."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smsapp.voting.agreement import clause_outcome

counts = st.integers(min_value=0, max_value=50)


@pytest.mark.parametrize(
    ("agree", "change", "disagree", "passed", "reason"),
    [
        (6, 1, 0, True, "most people agreed"),
        (3, 2, 1, False, "not enough people agreed"),  # 3 is not more than 3
        (4, 1, 1, True, "most people agreed"),
        (4, 0, 0, False, "fewer than 5 people answered"),  # all agree, but only four answered
        (0, 0, 0, False, "fewer than 5 people answered"),
    ],
)
def test_the_rule_at_its_edges(agree, change, disagree, passed, reason):
    outcome = clause_outcome(agree, change, disagree, min_turnout=5)
    assert (outcome.passed, outcome.reason) == (passed, reason)


@given(counts, counts, counts, st.integers(min_value=0, max_value=10))
def test_a_clause_passes_exactly_when_a_majority_of_enough_people_agree(a, c, d, k):
    outcome = clause_outcome(a, c, d, k)
    assert outcome.passed == (a + c + d >= k and 2 * a > a + c + d)


def test_a_negative_count_is_a_mistake():
    with pytest.raises(ValueError):
        clause_outcome(-1, 0, 0, 5)

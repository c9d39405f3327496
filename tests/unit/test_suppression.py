"""Small-count suppression: nothing below the threshold is shown, and nothing hidden can be
worked back out from the total."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.privacy.suppression import show, suppress, suppress_total


def test_counts_below_five_are_hidden_and_the_rest_shown_as_they_are() -> None:
    assert suppress({"A": 12, "B": 4, "C": 7, "D": 0, "E": 5}) == {
        "A": 12,
        "B": None,
        "C": 7,
        "D": 0,
        "E": None,  # the smallest shown count is hidden too, or 28 - 12 - 7 - 5 gives B away
    }


def test_two_small_counts_hide_each_other() -> None:
    assert suppress({"A": 20, "B": 1, "C": 2}) == {"A": 20, "B": None, "C": None}


def test_a_threshold_can_be_set() -> None:
    assert suppress({"A": 9, "B": 10, "C": 30}, k=10) == {"A": None, "B": None, "C": 30}
    assert suppress({"A": 1, "B": 2}, k=1) == {"A": 1, "B": 2}


def test_totals_and_wording() -> None:
    assert suppress_total(3) is None and suppress_total(0) == 0 and suppress_total(5) == 5
    assert show(None) == "fewer than 5" and show(7) == "7"


counts = st.dictionaries(st.sampled_from("ABCDEFGH"), st.integers(0, 40), max_size=8)


@settings(max_examples=500, deadline=None)
@given(counts, st.integers(2, 10))
def test_nothing_small_is_ever_shown_and_nothing_shown_is_changed(
    data: dict[str, int], k: int
) -> None:
    shown = suppress(data, k)
    assert list(shown) == list(data)  # same options, same order
    for key, value in shown.items():
        if value is not None:
            assert value == data[key]
            assert value == 0 or value >= k
        else:
            assert data[key] > 0


@settings(max_examples=500, deadline=None)
@given(counts, st.integers(2, 10))
def test_a_hidden_count_is_never_alone_when_others_are_shown(data: dict[str, int], k: int) -> None:
    shown = suppress(data, k)
    hidden = [key for key, value in shown.items() if value is None]
    others = [key for key, value in shown.items() if value]
    # With the total known, one lone hidden count among shown ones could be subtracted out.
    assert len(hidden) != 1 or not others

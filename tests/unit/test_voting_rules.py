"""Hand-made profiles for each counting and tie-break rule of docs/interfaces.md."""

from __future__ import annotations

import pytest

from smsapp.voting import METHODS, Ballot, lot_order, normalise_ranking, tally
from smsapp.voting.budget import count_budget
from smsapp.voting.tiebreak import lot_break


def ballots(*rankings: str, count: int = 1) -> list[Ballot]:
    return [Ballot(tuple(r.split()), count) for r in rankings]


# The lot's orders below were worked out once outside Python, with coreutils:
#   printf '%s' 'SEED:CODE' | sha256sum        (the lower hex digest comes first)
# s33d:B 2b7d86.., s33d:E 813e07.., s33d:A 88a6af.., s33d:C d2b9a8.., s33d:D f3dd86..; and
#   A,C:  ""  -> C A    "x"   -> C A    "y"    -> A C    "z"    -> A C
#   B,C:  ""  -> C B    "one" -> C B    "four" -> B C    "five" -> B C
#   X,Y:  ""  -> Y X    "a"   -> Y X    "five" -> X Y
#   P,Q:  "seed" -> P Q                 "five" -> Q P


def test_lot_order_sorts_by_sha256_of_seed_and_code():
    assert lot_order(["A", "B", "C", "D", "E"], "s33d") == ["B", "E", "A", "C", "D"]
    assert lot_order(["E", "D", "C", "B", "A"], "s33d") == ["B", "E", "A", "C", "D"]


def test_a_lot_tie_break_records_the_lot_order_and_its_keys():
    record = lot_break(["E", "D", "C", "B", "A"], "s33d", context="tied")
    assert record["order"] == ["B", "E", "A", "C", "D"] and record["winner"] == "B"
    assert record["values"]["B"].startswith("2b7d86") and record["values"]["D"].startswith("f3dd86")


def test_normalise_ranking_upper_cases_and_drops_later_repeats():
    assert normalise_ranking(["b", "A", "B", " c ", ""]) == ("B", "A", "C")


def test_points_use_k_places_and_ignore_places_beyond_k():
    result = tally("points", "ABCD", ballots("A B C D", "B C"), seed="", max_ranks=2)
    # rank r earns K - r + 1 with K = 2: C and D in third and fourth place earn nothing
    assert result.scores == {"A": 2, "B": 1 + 2, "C": 1, "D": 0}
    assert result.order[:2] == ["B", "A"]
    default_k = tally("points", "ABCD", ballots("A B C D", "B C"), seed="")
    assert default_k.scores == {"A": 4, "B": 3 + 4, "C": 2 + 3, "D": 1}


def test_points_tie_goes_to_the_option_ranked_on_more_ballots():
    # K = 3: A gets 3+3 = 6 from two ballots, B 2+2+2 = 6 from three, C 9
    result = tally("points", "ABC", ballots("A", "A", "C B", "C B", "C B"), seed="")
    assert result.scores["A"] == result.scores["B"] == 6
    assert result.order == ["C", "B", "A"]
    (record,) = result.tie_breaks
    assert record["rule"] == "ballots-ranking"
    assert record["between"] == ["A", "B"] and record["winner"] == "B"
    assert record["values"] == {"B": 3, "A": 2}
    assert "B" in record["explanation"] and "A" in record["explanation"]


@pytest.mark.parametrize(("seed", "order"), [("", "CAB"), ("x", "CAB"), ("y", "ACB"), ("z", "ACB")])
def test_points_then_first_places_then_the_lot(seed, order):
    # All on 4 points from two ballots; B has no first place; A and C stay level all the way
    # (places, head-to-head 1-1), so the lot orders them.
    result = tally("points", "ABC", ballots("A B C", "C B A"), seed=seed)
    assert result.scores == {"A": 4, "B": 4, "C": 4}
    first, lot = result.tie_breaks
    assert first["rule"] == "first-places" and first["order"][-1] == "B"
    assert lot["rule"] == "lot" and lot["between"] == ["A", "C"]
    assert result.order == list(order)


def test_points_head_to_head_settles_what_places_cannot():
    result = tally("points", "ABC", ballots("C A B", "A B", "B C"), seed="")
    assert result.scores == {"A": 5, "B": 6, "C": 5}
    (record,) = result.tie_breaks
    # C is above A on two ballots (one ranks C and leaves A unranked), A above C on one
    assert record["rule"] == "head-to-head" and record["winner"] == "C"
    assert result.order == ["B", "C", "A"]


def test_irv_tie_for_last_goes_to_the_previous_round():
    profile = ballots("A", count=5) + ballots("B", count=3) + ballots("C", count=2)
    profile += ballots("D C")
    result = tally("irv", "ABCD", profile, seed="")
    assert [r["eliminated"] for r in result.rounds] == ["D", "C", None]
    assert result.rounds[1]["votes"] == {"A": 5, "B": 3, "C": 3}
    (record,) = result.tie_breaks
    assert record["rule"] == "previous-round" and record["round"] == 2
    assert record["values"] == {"B": 3, "C": 2} and record["eliminated"] == "C"
    assert result.rounds[2] == {
        "round": 3,
        "votes": {"A": 5, "B": 3},
        "exhausted": 3,
        "eliminated": None,
        "elected": "A",
    }
    assert result.order == ["A", "B", "C", "D"]


@pytest.mark.parametrize(("seed", "loser"), [("", "B"), ("one", "B"), ("four", "C"), ("five", "C")])
def test_irv_tie_with_no_earlier_round_goes_to_the_lot(seed, loser):
    # Earlier in the lot wins a tie, so the one later in the lot is eliminated.
    result = tally("irv", "ABC", ballots("A A", "A", "B", "C"), seed=seed)
    assert result.rounds[0]["eliminated"] == loser
    assert result.tie_breaks[0]["rule"] == "lot"
    assert result.order == ["A", "C" if loser == "B" else "B", loser]


def test_irv_keeps_counting_after_an_early_majority_for_a_full_order():
    profile = ballots("A", count=7) + ballots("B", count=3) + ballots("C A", count=2)
    profile += ballots("D C")
    result = tally("irv", "ABCD", profile, seed="")
    assert result.rounds[0]["elected"] == "A" and result.rounds[0]["eliminated"] == "D"
    assert result.rounds[1]["votes"] == {"A": 7, "B": 3, "C": 3}
    assert result.rounds[1]["elected"] is None  # elected once, in the round it happened
    assert [r["eliminated"] for r in result.rounds] == ["D", "C", None]
    assert result.rounds[2]["votes"] == {"A": 9, "B": 3}
    assert result.winners == ["A"]
    assert result.order == ["A", "B", "C", "D"]


def test_schulze_with_a_cycle_uses_winning_votes():
    # a three-way cycle: A>B 6-3, B>C 7-2, C>A 5-4; the weakest defeat (C over A) gives way
    profile = ballots("A B C", count=4) + ballots("B C A", count=3) + ballots("C A B", count=2)
    result = tally("schulze", "ABC", profile, seed="")
    assert result.pairwise is not None
    assert result.pairwise["A"]["B"] == 6 and result.pairwise["B"]["C"] == 7
    assert result.pairwise["C"]["A"] == 5
    assert result.order == ["A", "B", "C"]
    assert result.tie_breaks == []


@pytest.mark.parametrize(("seed", "order"), [("", "YX"), ("a", "YX"), ("five", "XY")])
def test_schulze_residual_tie_goes_to_the_lot(seed, order):
    result = tally("schulze", "XY", ballots("X Y", "Y X"), seed=seed)
    assert result.order == list(order)
    assert result.tie_breaks[0]["rule"] == "lot"


def test_approval_counts_every_listed_code_and_plurality_only_the_first():
    profile = ballots("A B", "B C", "B", "C A")
    assert tally("approval", "ABC", profile, seed="").scores == {"A": 2, "B": 3, "C": 2}
    assert tally("plurality", "ABC", profile, seed="").scores == {"A": 1, "B": 2, "C": 1}


@pytest.mark.parametrize(("seed", "order"), [("seed", "PQ"), ("five", "QP")])
@pytest.mark.parametrize("method", ["approval", "plurality"])
def test_count_ties_go_to_the_lot(method, seed, order):
    result = tally(method, "PQ", ballots("P", "Q"), seed=seed)
    assert result.order == list(order)
    assert [r["rule"] for r in result.tie_breaks] == ["lot"]


@pytest.mark.parametrize("method", METHODS)
def test_every_method_orders_every_option_even_with_no_ballots(method):
    result = tally(method, ["A", "B", "C"], [], seed="s")
    assert sorted(result.order) == ["A", "B", "C"]
    assert result.winners == result.order[:1]
    assert result.ballots == 0


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="unknown option"):
        tally("points", "AB", ballots("A Z"), seed="")
    with pytest.raises(ValueError, match="unknown method"):
        tally("borda", "AB", [], seed="")
    with pytest.raises(ValueError, match="max_ranks"):
        tally("points", "AB", [], seed="", max_ranks=0)
    with pytest.raises(ValueError, match="negative"):
        tally("points", "AB", [Ballot(("A",), -1)], seed="")


def test_result_json_has_the_contract_keys_and_the_version():
    data = tally("irv", "AB", ballots("A", "B A"), seed="").to_json_dict()
    assert list(data) == [
        "method", "ballots", "order", "winners", "scores", "rounds", "tie_breaks",
        "input_sha256", "version",
    ]  # fmt: skip
    assert len(data["input_sha256"]) == 64
    assert data["version"]


# Worked out with coreutils from the canonical JSON each count fingerprints, e.g.
#   printf '%s' '{"ballots":[[["A","B"],2],[["C"],1]],"max_ranks":null,"method":"irv",'\
#     '"options":["A","B","C"],"seed":"x"}' | sha256sum
def test_ranked_and_budget_counts_fingerprint_their_input_the_same_way():
    ranked = tally("irv", "ABC", [Ballot(("A", "B"), 2), Ballot(("C",), 1)], seed="x")
    assert ranked.input_sha256 == "67f3708252b07cf55e66129dab2946d1cdcb317211aa086bfe641f6bc6889f99"
    # {"ballots":[[["A",3],["C",2]],[["B",5]]],"method":"points-budget","options":["A","B","C"],
    #  "seed":"s"}
    budget = count_budget("ABC", [{"A": 3, "C": 2}, {"B": 5}], seed="s")
    assert budget.input_sha256 == "02284e604d5f5d84fd59528f9c90ccdc834e0c8592332b756352499a6b5fe07f"


def test_input_sha256_changes_with_anything_that_decides_the_result():
    base = tally("points", "ABC", ballots("A B", "C"), seed="s").input_sha256
    assert tally("points", "ABC", ballots("A B", "C"), seed="t").input_sha256 != base
    assert tally("points", "ABC", ballots("A B", "C"), seed="s", max_ranks=2).input_sha256 != base
    assert tally("points", "ABC", ballots("B A", "C"), seed="s").input_sha256 != base
    assert tally("irv", "ABC", ballots("A B", "C"), seed="s").input_sha256 != base
    # a repeated code is ignored, so it does not change the input either
    assert tally("points", "ABC", ballots("A B A", "C"), seed="s").input_sha256 == base

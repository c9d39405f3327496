"""Properties every tally keeps, on random profiles (hypothesis)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.voting import METHODS, Ballot, tally

CODES = ["A", "B", "C", "D", "E", "F"]


@st.composite
def profiles(draw, min_ballots: int = 0) -> tuple[list[str], list[Ballot]]:
    options = CODES[: draw(st.integers(2, 6))]
    ranking = st.permutations(options).flatmap(
        lambda perm: st.integers(0, len(perm)).map(lambda k: tuple(perm[:k]))
    )
    ballot = st.builds(Ballot, ranking, st.integers(1, 4))
    return options, draw(st.lists(ballot, min_size=min_ballots, max_size=25))


def condorcet_winner(options: list[str], ballots: list[Ballot]) -> str | None:
    """Worked out here from the definition, one ballot at a time."""

    def above(ranking: tuple[str, ...], a: str, b: str) -> bool:
        return a in ranking and (b not in ranking or ranking.index(a) < ranking.index(b))

    for a in options:
        if all(
            sum(x.count for x in ballots if above(x.ranking, a, b))
            > sum(x.count for x in ballots if above(x.ranking, b, a))
            for b in options
            if b != a
        ):
            return a
    return None


@settings(max_examples=150, deadline=None)
@given(profiles(min_ballots=1))
def test_a_condorcet_winner_is_the_schulze_winner(profile):
    options, ballots = profile
    winner = condorcet_winner(options, ballots)
    if winner is not None:
        assert tally("schulze", options, ballots, seed="").winners == [winner]


@settings(max_examples=120, deadline=None)
@given(profiles(), st.sampled_from(METHODS), st.randoms(use_true_random=False), st.text(max_size=5))
def test_ballot_order_and_splitting_never_change_the_result(profile, method, rnd, seed):
    options, ballots = profile
    expected = tally(method, options, ballots, seed=seed).to_json_dict()
    shuffled = ballots[:]
    rnd.shuffle(shuffled)
    assert tally(method, options, shuffled, seed=seed).to_json_dict() == expected
    # a ballot counted n times is the same as n single ballots
    single = [Ballot(b.ranking) for b in shuffled for _ in range(b.count)]
    assert tally(method, options, single, seed=seed).to_json_dict() == expected


@settings(max_examples=150, deadline=None)
@given(profiles(), st.data())
def test_ranking_an_option_first_never_lowers_its_points(profile, data):
    options, ballots = profile
    favourite = data.draw(st.sampled_from(options))
    rest = data.draw(st.permutations([o for o in options if o != favourite]))
    extra = Ballot((favourite, *rest[: data.draw(st.integers(0, len(rest)))]))
    before = tally("points", options, ballots, seed="")
    after = tally("points", options, [*ballots, extra], seed="")
    assert after.scores[favourite] > before.scores[favourite]
    assert after.order.index(favourite) <= before.order.index(favourite)


@settings(max_examples=120, deadline=None)
@given(profiles(), st.sampled_from(METHODS), st.text(max_size=8))
def test_same_input_and_seed_give_identical_json_bytes(profile, method, seed):
    options, ballots = profile

    def dump() -> bytes:
        result = tally(method, options, ballots, seed=seed).to_json_dict()
        return json.dumps(result, ensure_ascii=False, indent=2).encode()

    assert dump() == dump()


@settings(max_examples=150, deadline=None)
@given(profiles(), st.sampled_from(METHODS))
def test_every_result_is_a_full_order_with_the_winner_first(profile, method):
    options, ballots = profile
    result = tally(method, options, ballots, seed="s")
    assert sorted(result.order) == sorted(options)
    assert result.winners == result.order[:1]
    assert result.ballots == sum(b.count for b in ballots)
    for round_ in result.rounds:
        assert sum(round_["votes"].values()) + round_["exhausted"] == result.ballots

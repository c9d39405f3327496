"""The tallies against pref_voting on random small profiles, complete and truncated.

Only cases where pref_voting names a single winner are compared; a few hundred seeded profiles
run in well under a second, and each test checks that enough cases were really compared.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

pytest.importorskip("pref_voting")

from pref_voting import voting_methods as vm  # noqa: E402
from pref_voting.profiles import Profile  # noqa: E402
from pref_voting.profiles_with_ties import ProfileWithTies  # noqa: E402

from smsapp.voting import Ballot, tally  # noqa: E402

CODES = "ABCDEF"


def random_profiles(truncated: bool, seed: int, n: int = 250):
    rng = random.Random(seed)
    for _ in range(n):
        options = list(CODES[: rng.randint(3, 6)])
        # a mild skew so that clear winners and near-ties both turn up
        weights = [rng.random() + 0.2 for _ in options]
        ballots = []
        for _ in range(rng.randint(5, 40)):
            pool, w, ranking = options[:], weights[:], []
            while pool:
                i = rng.choices(range(len(pool)), weights=w)[0]
                ranking.append(pool.pop(i))
                w.pop(i)
            if truncated:
                ranking = ranking[: rng.randint(1, len(options))]
            ballots.append(Ballot(tuple(ranking)))
        yield options, ballots


def with_ties(options, ballots) -> ProfileWithTies:
    counts = Counter(b.ranking for b in ballots)
    rankings = [{options.index(c): p for p, c in enumerate(r, 1)} for r in counts]
    profile = ProfileWithTies(
        rankings, rcounts=list(counts.values()), candidates=list(range(len(options)))
    )
    profile.use_extended_strict_preference()  # a ranked option beats an unranked one
    return profile


def linear(options, ballots) -> Profile:
    return Profile([[options.index(c) for c in b.ranking] for b in ballots])


def compare(method, pv_winners, options, ballots, **kw) -> bool:
    if len(pv_winners) != 1:
        return False
    result = tally(method, options, ballots, seed="diff", **kw)
    assert result.winners == [options[pv_winners[0]]], (method, ballots)
    return True


@pytest.mark.parametrize("truncated", [False, True])
def test_schulze_winning_votes_matches_pref_voting_beat_path(truncated):
    compared = 0
    for options, ballots in random_profiles(truncated, seed=11):
        profile = with_ties(options, ballots)
        winners = vm.beat_path(profile, strength_function=profile.support)
        compared += compare("schulze", winners, options, ballots)
    assert compared > 150


def test_irv_matches_pref_voting_on_complete_ballots():
    compared = 0
    for options, ballots in random_profiles(False, seed=12, n=150):
        # parallel-universe IRV: a single winner means every tie-break order agrees
        compared += compare(
            "irv", vm.instant_runoff_put(linear(options, ballots)), options, ballots
        )
    assert compared > 100


def test_irv_matches_pref_voting_on_truncated_ballots():
    compared = 0
    for options, ballots in random_profiles(True, seed=13):
        ours = tally("irv", options, ballots, seed="diff")
        if ours.tie_breaks:
            continue  # pref_voting eliminates tied options together; we eliminate one
        winners = vm.instant_runoff_for_truncated_linear_orders(with_ties(options, ballots))
        compared += compare("irv", winners, options, ballots)
    assert compared > 80


@pytest.mark.parametrize("truncated", [False, True])
def test_plurality_matches_pref_voting(truncated):
    compared = 0
    for options, ballots in random_profiles(truncated, seed=14):
        compared += compare(
            "plurality", vm.plurality(with_ties(options, ballots)), options, ballots
        )
    assert compared > 150


def test_points_match_pref_voting_borda_on_complete_ballots():
    # pref_voting's Borda for profiles with ties is symmetric (wins minus losses over all
    # pairs); on complete ballots that is 2 * (n - r) - (n - 1) summed, and the public interface's
    # K - r + 1 is (n - r) + 1, so the two are tied by a fixed formula.
    compared = 0
    for options, ballots in random_profiles(False, seed=15):
        profile = with_ties(options, ballots)
        n, voters = len(options), len(ballots)
        expected = {
            options[c]: (s + (n - 1) * voters) // 2 + voters
            for c, s in profile.borda_scores().items()
        }
        assert tally("points", options, ballots, seed="diff").scores == expected
        compared += compare("points", vm.borda_for_profile_with_ties(profile), options, ballots)
    assert compared > 150


def test_approval_by_hand():
    for options, ballots in random_profiles(True, seed=16, n=100):
        expected = {c: sum(c in b.ranking for b in ballots) for c in options}
        assert tally("approval", options, ballots, seed="diff").scores == expected

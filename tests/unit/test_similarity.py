"""Merge suggestions for near-duplicate nominations: the issue's examples, and properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.voting.similarity import THRESHOLD, compact, similarity, suggest_merges


def test_the_issue_examples_are_one_group_kept_at_the_first() -> None:
    entries = [
        ("N1", "Health Voices"),
        ("N2", "Team Spark"),
        ("N3", "health voices!!"),
        ("N4", "Helth Voices"),
        ("N5", "Young Researchers"),
    ]
    [suggestion] = suggest_merges(entries)
    assert suggestion.keep == "N1"
    assert suggestion.duplicates == ("N3", "N4")
    assert THRESHOLD <= suggestion.score < 1.0  # "Helth" is close, not equal


def test_fold_equal_entries_score_one() -> None:
    assert similarity("Team Spark", "TEAM-SPARK 🔥") == 1.0
    assert similarity("Café Niño", "cafe nino") == 1.0
    [suggestion] = suggest_merges([("N1", "Team Spark"), ("N2", "team spark!!!")])
    assert suggestion.score == 1.0


def test_different_names_are_not_suggested() -> None:
    entries = [("N1", "Team Spark"), ("N2", "Team Spirit"), ("N3", "Sparks"), ("N4", "Voices")]
    assert similarity("Team Spark", "Team Spirit") < THRESHOLD
    assert suggest_merges(entries) == []


def test_empty_after_folding_never_matches() -> None:
    # emoji-only entries fold to nothing: they are not "the same" as each other
    assert compact("🔥🔥") == ""
    assert similarity("🔥", "🎉") == 0.0
    assert suggest_merges([("N1", "🔥"), ("N2", "🎉"), ("N3", "!!")]) == []


def test_groups_are_in_order_of_their_kept_entry() -> None:
    entries = [
        ("N1", "Spark"),
        ("N2", "Voices"),
        ("N3", "voices"),
        ("N4", "spark!"),
    ]
    suggestions = suggest_merges(entries)
    assert [(s.keep, s.duplicates) for s in suggestions] == [("N1", ("N4",)), ("N2", ("N3",))]


names = st.text(alphabet="abcdeHV !-", min_size=0, max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(names, max_size=12))
def test_every_entry_in_at_most_one_group_and_keep_is_earliest(texts: list[str]) -> None:
    entries = [(f"N{i + 1}", t) for i, t in enumerate(texts)]
    position = {code: i for i, (code, _) in enumerate(entries)}
    seen: list[str] = []
    for s in suggest_merges(entries):
        members = [s.keep, *s.duplicates]
        assert len(members) >= 2
        assert all(position[s.keep] < position[d] for d in s.duplicates)
        assert list(s.duplicates) == sorted(s.duplicates, key=position.__getitem__)
        seen += members
    assert len(seen) == len(set(seen))


@settings(max_examples=300, deadline=None)
@given(names, names)
def test_similarity_is_symmetric_and_pairs_above_threshold_are_grouped(a: str, b: str) -> None:
    assert similarity(a, b) == similarity(b, a)
    grouped = suggest_merges([("N1", a), ("N2", b)])
    assert bool(grouped) == (similarity(a, b) >= THRESHOLD and compact(a) != "")

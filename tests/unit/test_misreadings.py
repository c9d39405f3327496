"""Every real-looking reply in the misreadings table reads as the table says."""

from __future__ import annotations

import pytest

from smsapp.conversation.definition import Option, Question
from smsapp.conversation.parsers import parse_answer
from tests.unit.misreadings import MISREADINGS

SETTINGS: dict[str, dict[str, int]] = {
    "scale": {"max": 5},
    "rank": {"max": 3},
    "points": {"budget": 5},
}


def test_the_table_is_big_and_covers_every_kind() -> None:
    assert len(MISREADINGS) >= 80
    assert {row[0] for row in MISREADINGS} >= {"choice", "multi", "rank", "points", "yesno"}


@pytest.mark.parametrize(("kind", "labels", "text", "expected"), MISREADINGS)
def test_misreading(kind: str, labels: tuple[str, ...], text: str, expected: object) -> None:
    options = tuple(Option(chr(ord("A") + i), label) for i, label in enumerate(labels))
    question = Question("q", kind, "?", options=options, **SETTINGS.get(kind, {}))  # type: ignore[arg-type]
    parsed = parse_answer(question, text)
    if expected is None:
        assert not parsed.ok, parsed
        assert parsed.problem
    else:
        assert parsed.ok, parsed.problem
        assert parsed.value == expected
        assert type(parsed.value) is type(expected)

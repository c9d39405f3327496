"""Real-looking replies young people text, for every kind of question, read as the table in
tests/unit/misreadings.py says: the value each must give, or that it must be refused."""

from __future__ import annotations

import pytest

from smsapp.conversation.definition import KINDS, Option, Question
from smsapp.conversation.parsers import parse_answer
from tests.unit.misreadings import MISREADINGS

SETTINGS: dict[str, dict[str, int]] = {
    "scale": {"max": 5},
    "rank": {"max": 3},
    "points": {"budget": 5},
}


def test_every_question_kind_has_replies_read_and_replies_refused() -> None:
    read = {kind for kind, _, _, expected in MISREADINGS if expected is not None}
    refused = {kind for kind, _, _, expected in MISREADINGS if expected is None}
    assert sorted(read) == sorted(KINDS)
    assert sorted(refused) == sorted(KINDS)


CASES = [pytest.param(*row, id=f"{row[0]}:{row[2]!r}") for row in MISREADINGS]


@pytest.mark.parametrize(("kind", "labels", "text", "expected"), CASES)
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

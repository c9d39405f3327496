"""Fuzzing the poll YAML import (any text, and every_kind.yaml with random fields broken: it
parses, or fails with PollDefinitionError naming the problems) and answers in Unicode digits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smsapp.conversation.definition import PollDefinitionError
from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.conversation.serialise import poll_to_dict

EVERY_KIND = yaml.safe_load(
    (Path(__file__).resolve().parents[1] / "data" / "every_kind.yaml").read_text()
)
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", "A", "yes", "no", "7d", "24h", "-1", "irv", "choice", "STOP", "{x}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)


def parse_or_problems(text: str) -> Any:
    """The parsed poll, or None when it was refused the documented way."""
    try:
        return parse_poll_yaml(text)
    except PollDefinitionError as exc:
        assert exc.problems, "refused without saying why"
        return None


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_parses_or_is_refused_with_problems(text: str) -> None:
    parse_or_problems(text)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in the document a value can be swapped."""
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += paths(child, (*prefix, i))
    return found


PATHS = paths(EVERY_KIND)


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {**doc, head: replaced(doc[head], rest, value)}
    copy = list(doc)
    copy[head] = replaced(doc[head], rest, value)
    return copy


@FUZZ
@given(
    changes=st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=3),
    drop=st.booleans(),
)
# Found by this test: `max:` left empty on a scale question was accepted, with no upper bound,
# and the poll it wrote back out was refused.
@example(changes=[(("questions", 3, "max"), None)], drop=False)
def test_a_broken_poll_parses_or_is_refused_and_round_trips(
    changes: list[tuple[tuple[Any, ...], Any]], drop: bool
) -> None:
    doc: Any = EVERY_KIND
    for path, value in changes:
        try:
            doc = replaced(doc, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    if drop and isinstance(doc, dict) and isinstance(doc.get("questions"), list):
        doc = {**doc, "questions": doc["questions"][1:]}
    poll = parse_or_problems(yaml.safe_dump(doc, allow_unicode=True))
    if poll is not None:
        # Whatever was accepted can be written out and read back as the same poll.
        again = parse_poll_yaml(yaml.safe_dump(poll_to_dict(poll), allow_unicode=True))
        assert poll_to_dict(again) == poll_to_dict(poll)


digitlike = st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4)


@FUZZ
@given(text=st.one_of(digitlike, st.tuples(digitlike, digitlike).map(" ".join)))
@example(text="❷")  # found by bench/fuzz_webhook.py: isdigit() but not int()-able
def test_answers_in_unicode_digits_never_crash_a_parser(text: str) -> None:
    from smsapp.conversation.parsers import parse_strict

    poll = parse_poll_yaml(yaml.safe_dump(EVERY_KIND))
    for question in poll.questions:
        parse_strict(question, text)  # parsed or refused, never raised

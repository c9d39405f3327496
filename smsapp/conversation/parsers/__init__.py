"""Forgiving readers for SMS answers, one per question kind; they never raise on any text.

Each returns a Parsed: a JSON-serialisable value and a human reading when ok, otherwise a short,
kind problem that names what was wrong (the engine adds the options and tries again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from smsapp.conversation.definition import Question
from smsapp.conversation.normalise import clean, fold, symbols
from smsapp.conversation.parsers.choices import parse_choice, parse_picks, parse_rank
from smsapp.conversation.parsers.free_text import parse_nominate, parse_text
from smsapp.conversation.parsers.numbers import parse_number, parse_scale
from smsapp.conversation.parsers.parsed import Parsed, fail
from smsapp.conversation.parsers.points import parse_points
from smsapp.conversation.parsers.yesno import parse_yesno

__all__ = ["Parsed", "parse_answer", "parse_strict"]

log = logging.getLogger(__name__)


def parse_answer(question: Question, text: str) -> Parsed:
    """Read `text` as an answer to `question`. Never raises: a bug becomes a polite problem."""
    try:
        return parse_strict(question, text)
    except Exception:  # a participant must always get a reply, whatever they send
        log.exception("parser failed for %s question %s", question.kind, question.key)
        return fail("Sorry, I couldn't read that.")


def parse_strict(question: Question, text: str) -> Parsed:
    """parse_answer without the safety net, so tests see any exception."""
    cleaned = clean(text)
    if not cleaned:
        return fail("That message looked empty.")
    if question.kind in ("text",):
        return parse_text(question, cleaned)
    if not fold(cleaned) and not (question.kind == "yesno" and symbols(cleaned)):
        return fail("I couldn't find an answer in that, only symbols.")
    return _PARSERS[question.kind](question, cleaned)


_PARSERS: dict[str, Callable[[Question, str], Parsed]] = {
    "choice": parse_choice,
    "multi": parse_picks,
    "approve": parse_picks,
    "rank": parse_rank,
    "points": parse_points,
    "scale": parse_scale,
    "number": parse_number,
    "yesno": parse_yesno,
    "text": parse_text,
    "nominate": parse_nominate,
}

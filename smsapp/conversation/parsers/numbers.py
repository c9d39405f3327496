"""Readers for numbers: scale (whole numbers between two ends) and number questions."""

from __future__ import annotations

import re

from smsapp.conversation.definition import Question, canonical_number
from smsapp.conversation.normalise import fold
from smsapp.conversation.parsers.parsed import Parsed, fail

_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
}
_NUMBER_WORDS.update({"none": 0, "nothing": 0, "nil": 0, "a": 1, "an": 1})
_NUMBER = re.compile(r"(?<![\w.])([-−]?\d+(?:\.\d+)?)(?![\w.]*\d)")


def _numbers_in(text: str) -> list[float]:
    """Numbers written with digits or as words up to twenty ("about 5", "5ish", "four")."""
    spaced = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.replace("−", "-"))
    spaced = re.sub(r"(\d)([a-zA-Z])", r"\1 \2", spaced)
    found = [float(m) for m in _NUMBER.findall(spaced)]
    if found:
        return found
    words = fold(text).split()
    return [float(_NUMBER_WORDS[w]) for w in words if w in _NUMBER_WORDS and w not in ("a", "an")]


def _out_of(text: str) -> tuple[float, float] | None:
    """'4/5', '4 out of 5', '4 of 5' -> (4, 5)."""
    m = re.search(r"(\d+)\s*(?:/|out\s*of|outta|of)\s*(\d+)", text, re.IGNORECASE)
    return (float(m.group(1)), float(m.group(2))) if m else None


def parse_scale(question: Question, text: str) -> Parsed:
    low, high = question.low, question.max or 5
    folded = fold(text)
    if question.labels:
        for end, word in zip((low, high), question.labels, strict=True):
            if folded == fold(word):
                return Parsed(True, end, f"{end} ({word})", None)
    fraction = _out_of(text)
    if fraction is not None:
        value, top = fraction
        if top != high:
            return fail(f"This scale goes from {low} to {high}.")
        numbers: list[float] = [value]
    else:
        numbers = _numbers_in(text)
    if not numbers:
        return fail(f"Please send a number from {low} to {high}.")
    if len(set(numbers)) > 1:
        return fail(f"Please send just one number from {low} to {high}.")
    number = numbers[0]
    if not number.is_integer():
        return fail(f"Please send a whole number from {low} to {high}.")
    if not low <= number <= high:
        return fail(f"{canonical_number(number)} is outside the scale of {low} to {high}.")
    return Parsed(True, int(number), f"{int(number)} out of {high}", None)


def parse_number(question: Question, text: str) -> Parsed:
    numbers = _numbers_in(text)
    if not numbers:
        return fail("Please send a number.")
    if len(set(numbers)) > 1:
        return fail("Please send just one number.")
    number = numbers[0]
    if question.min is not None and number < question.min:
        return fail(f"{canonical_number(number)} is less than {question.min}.")
    if question.max is not None and number > question.max:
        return fail(f"{canonical_number(number)} is more than {question.max}.")
    value: int | float = int(number) if number.is_integer() else number
    return Parsed(True, value, canonical_number(number), None)

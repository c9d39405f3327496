"""Readers for numbers: scale (whole numbers between two ends) and number questions.

"2 and a half" and "two and a half" read as 2.5, as "2.5" does: a number question takes
decimals, so the three must agree. A scale then refuses 2.5 with its "whole number" re-prompt
rather than reading 2. A number too big to hold exactly (BIGGEST and above, or a thousand-digit
one that reads as infinity) is refused; a problem never writes a long number back.
"""

from __future__ import annotations

import math
import re

from smsapp.conversation.definition import Question, canonical_number
from smsapp.conversation.normalise import fold
from smsapp.conversation.parsers.parsed import Parsed, fail, number_named

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
# "2 and a half", "2 and half": a whole number of digits and a half, written as "2.5".
_AND_A_HALF = re.compile(r"(?<![\d.])(\d+)\s+and\s+(?:a\s+)?half\b", re.IGNORECASE)
_HALF_WORDS = (["and", "a", "half"], ["and", "half"])
# Floats hold every whole number exactly only up to 2**53 (about 9e15): a number from here up
# could not be stored as sent, and no answer a young person means is that big.
BIGGEST = 10**15


def _numbers_in(text: str) -> list[float]:
    """Numbers written with digits or as words up to twenty ("about 5", "5ish", "four"), each
    with "and a half" if it follows ("2 and a half", "two and a half")."""
    spaced = re.sub(r"(\d),(\d{3})\b", r"\1\2", text.replace("−", "-"))
    spaced = re.sub(r"(\d)([a-zA-Z])", r"\1 \2", spaced)
    spaced = _AND_A_HALF.sub(r"\1.5", spaced)
    found = [float(m) for m in _NUMBER.findall(spaced)]
    if found:
        return found
    words = fold(text).split()
    numbers = []
    for i, word in enumerate(words):
        if word in _NUMBER_WORDS and word not in ("a", "an"):
            half = any(words[i + 1 : i + 1 + len(h)] == h for h in _HALF_WORDS)
            numbers.append(_NUMBER_WORDS[word] + (0.5 if half else 0.0))
    return numbers


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
    if math.isfinite(number) and not number.is_integer():
        return fail(f"Please send a whole number from {low} to {high}.")
    if not low <= number <= high:
        said = number_named(number, "That number")
        return fail(f"{said} is outside the scale of {low} to {high}.")
    return Parsed(True, int(number), f"{int(number)} out of {high}", None)


def parse_number(question: Question, text: str) -> Parsed:
    numbers = _numbers_in(text)
    if not numbers:
        return fail("Please send a number.")
    if len(set(numbers)) > 1:
        return fail("Please send just one number.")
    number = numbers[0]
    said = number_named(number, "That number")
    if question.min is not None and number < question.min:
        return fail(f"{said} is less than {question.min}.")
    if question.max is not None and number > question.max:
        return fail(f"{said} is more than {question.max}.")
    if abs(number) >= BIGGEST:
        return fail(f"That number is too {'big' if number > 0 else 'small'}.")
    value: int | float = int(number) if number.is_integer() else number
    return Parsed(True, value, canonical_number(number), None)

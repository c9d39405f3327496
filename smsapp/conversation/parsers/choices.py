"""Readers for answers that pick options: choice (one), multi and approve (several), rank
(several, in order)."""

from __future__ import annotations

import re

from smsapp.conversation.definition import Option, Question
from smsapp.conversation.normalise import fold
from smsapp.conversation.parsers.codes import (
    Reading,
    code_words,
    codes_in,
    dedupe,
    exact_label,
    label_match,
    label_of,
    resolve,
    tokens_to_codes,
    unrecognised,
)
from smsapp.conversation.parsers.parsed import Parsed, fail, naming

_ALL_WORDS = frozenset({"all", "everything", "every", "each", "all of them", "all of the above"})
_NONE_WORDS = frozenset({"none", "nothing", "neither", "none of them", "none of the above"})
_ORDINALS = frozenset({"ST", "ND", "RD", "TH"})


def parse_choice(question: Question, text: str) -> Parsed:
    words = code_words(question, text)
    if len(words) == 1 and (found := resolve(question, words[0])) and len(found) == 1:
        return Parsed(True, found[0], label_of(question, found[0]), None)
    match = label_match(question, text)
    if isinstance(match, Option) and match is exact_label(question, text):
        return Parsed(True, match.code, match.label, None)
    named = dedupe(codes_in(question, text)[0])
    if len(named) > 1:  # "coding and D", "coding & art": not one of them, silently
        return fail(f"Please pick just one, not {naming(named)}.")
    if isinstance(match, Option):
        return Parsed(True, match.code, match.label, None)
    codes, unknown = tokens_to_codes(question, words)
    distinct = dedupe(codes)
    if len(distinct) == 1 and not unknown:
        return Parsed(True, distinct[0], label_of(question, distinct[0]), None)
    if len(distinct) > 1:
        return fail(f"Please pick just one, not {naming(distinct)}.")
    if match == "ambiguous":
        return fail("That could be more than one option.")
    if len(distinct) == 1:
        return Parsed(True, distinct[0], label_of(question, distinct[0]), None)
    if len(words) == 1 and len(words[0]) <= 3:
        return fail(unrecognised(words))
    return fail("I didn't recognise that as one of the options.")


def parse_picks(question: Question, text: str) -> Parsed:
    """multi and approve: several codes, repeats ignored, up to `max`."""
    folded = fold(text)
    if folded in _NONE_WORDS:
        return Parsed(True, [], "none", None)
    # "all" picks every option, unless an option is called that (its code or its label).
    every = folded in _ALL_WORDS and not (
        folded.upper() in {code.upper() for code in question.codes}
        or exact_label(question, text) is not None
    )
    reading = (list(question.codes), [], False) if every else codes_in(question, text)
    refused = _refusal(reading)
    if refused is not None:
        return refused
    codes = dedupe(reading[0])
    if len(codes) > question.places:
        return fail(f"You can pick up to {question.places}, and that was {len(codes)}.")
    return Parsed(True, codes, ", ".join(label_of(question, c) for c in codes), None)


def parse_rank(question: Question, text: str) -> Parsed:
    pairs = _place_pairs(question, text)
    if pairs is not None:
        # "1. C 2. A": the numbers are places, so order by them rather than by position
        reading = (*tokens_to_codes(question, [c for _, c in sorted(pairs)]), False)
    else:
        reading = codes_in(question, text)
    refused = _refusal(reading)
    if refused is not None:
        return refused
    ranking = dedupe(reading[0])
    notes: tuple[str, ...] = ()
    if len(ranking) > question.places:
        dropped = ranking[question.places :]
        ranking = ranking[: question.places]
        notes = (f"Only your top {question.places} count, so I dropped {naming(dropped)}.",)
    label = ", ".join(f"{i} {label_of(question, c)}" for i, c in enumerate(ranking, 1))
    return Parsed(True, ranking, label, None, notes)


def _refusal(reading: Reading) -> Parsed | None:
    """Why a list answer cannot be taken, if it cannot: words not read, or no option named."""
    codes, unknown, ambiguous = reading
    if unknown:
        return fail(unrecognised(unknown))
    if ambiguous and not codes:
        return fail("That could be more than one option.")
    if not codes:
        return fail("I didn't recognise any options in that.")
    return None


def _place_pairs(question: Question, text: str) -> list[tuple[int, str]] | None:
    """[(1, "C"), (2, "A")] for "1. C 2. A" or "1st C 2nd A"; None for any other shape.

    A plain loop rather than one big regular expression, which backtracks for ages on long
    runs of spaces. Codes containing digits make place numbers ambiguous, so they opt out.
    """
    if any(ch.isdigit() for code in question.codes for ch in code):
        return None
    tokens = fold(text).upper().split()
    tokens = [t for word in tokens for t in re.findall(r"\d+|[A-Z]+", word)]
    if not tokens or not tokens[0].isdigit():
        return None
    pairs: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        if not tokens[i].isdigit() or len(tokens[i]) > 2:
            return None
        place, i = int(tokens[i]), i + 1
        if i < len(tokens) and tokens[i] in _ORDINALS:
            i += 1
        if i >= len(tokens) or tokens[i].isdigit() or len(tokens[i]) > 3:
            return None
        pairs.append((place, tokens[i]))
        i += 1
    return pairs

"""The one rule for what a phone number or e-mail address looks like inside free text, and the
one function that takes them out: export cells, the jobs page, stored provider errors and log
lines all call `redact`.

A number is a run of at least MIN_DIGITS digits (any script's digits), joined by up to three
separators between any two digits: spaces, dots, dashes of every kind, slashes, brackets,
underscores, and commas (`07911,123,456`). An optional leading + goes with it. That covers
+447911123456, 0044 7911 123456, 07911 123 456, (07911) 123-456, 0 7 9 1 1 1 2 3 4 5 6 and
mixtures. Every repetition of the pattern must consume a digit, so matching is linear in the
length of the text however it is built.

Why ten digits: a UK mobile has ten significant digits (07911 123456 without its 0), and that
is the shortest way a participant's number is written. Eight or nine would also take ordinary
things from researchers' exports and the logs: dates written 02/03/2026 or 20260302, sums like
12,345,678, a ranking of nine options. Shorter runs (ages, years, "3 of 5", vote counts,
Twilio's five-digit error codes such as 21211) are always left alone.

Three things look like a long number and are left alone, because none of them is how a person
writes a phone number and each is needed to read a log or an export:

- an ISO date (`2026-03-02`), so `2026-03-02 10:15` is not read as a ten-digit number;
- a list of small numbers with commas, every item at most two digits (`1,2,3,4,5,6,7,8,9,10`):
  a ranking, not a number;
- an identifier: 32 hex digits, alone or after two capitals (a Twilio SID such as SM0f3…,
  a request id), or a UUID. About one random SID in twelve holds a run of ten digits.

Pure: no Flask, no database.
"""

from __future__ import annotations

import re

NUMBER_MARK = "[number]"
EMAIL_MARK = "[email]"
MIN_DIGITS = 10

# Spaces, brackets, dots, dashes, slashes, underscores and commas, with their fullwidth forms.
_SEPARATOR = r"[\s().\-/_,\u2010-\u2015\u2212\uff08\uff09\uff0c\uff0d\uff0e\uff0f]"
_NUMBER = re.compile(rf"\+?\d(?:{_SEPARATOR}{{0,3}}\d){{{MIN_DIGITS - 1},}}")
_COMMAS = re.compile(r"[,\uff0c]")
_ISO_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d-[01]\d-[0-3]\d(?!\d)")
_HEX = "[0-9a-fA-F]"
_IDENTIFIER = re.compile(
    rf"(?<![0-9A-Za-z])(?:(?:[A-Z]{{2}})?{_HEX}{{32}}|{_HEX}{{8}}(?:-{_HEX}{{4}}){{3}}-{_HEX}{{12}})"
    r"(?![0-9A-Za-z])"
)
_IDENTIFIER_LONGEST = 36  # a UUID with its dashes
# The local part starts only where a word starts, so a long word without "@" is scanned once,
# not once per letter.
_EMAIL = re.compile(r"(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")


def redact(text: str) -> str:
    """`text` with each e-mail address replaced by [email] and each phone number by [number]."""
    if "@" in text:
        text = _EMAIL.sub(EMAIL_MARK, text)
    return _NUMBER.sub(_mark_number, text)


def redact_optional(text: str | None) -> str | None:
    """As `redact`, passing None (a column with no text) through."""
    return None if text is None else redact(text)


def _mark_number(match: re.Match[str]) -> str:
    found = match.group()
    if _inside_identifier(match):
        return found
    if _ISO_DATE.search(found) is None:
        return found if _is_short_list(found) else NUMBER_MARK
    # Take the dates out and look at what is left between them on its own.
    pieces, last = [], 0
    for date in _ISO_DATE.finditer(found):
        pieces += [_mark_undated(found[last : date.start()]), date.group()]
        last = date.end()
    pieces.append(_mark_undated(found[last:]))
    return "".join(pieces)


def _mark_undated(piece: str) -> str:
    return piece if _is_short_list(piece) else _NUMBER.sub(NUMBER_MARK, piece)


def _is_short_list(text: str) -> bool:
    """Comma-separated items of at most two digits each, such as a ranking `3,1,2,10`."""
    if "," not in text and "\uff0c" not in text:
        return False
    return all(sum(ch.isdecimal() for ch in item) <= 2 for item in _COMMAS.split(text))


def _inside_identifier(match: re.Match[str]) -> bool:
    start, end = match.span()
    if end - start > _IDENTIFIER_LONGEST:
        return False
    # Only a window around the match is searched, so this costs the same for any text length.
    window = _IDENTIFIER.finditer(
        match.string, max(0, start - _IDENTIFIER_LONGEST), end + _IDENTIFIER_LONGEST + 4
    )
    return any(found.start() <= start and end <= found.end() for found in window)

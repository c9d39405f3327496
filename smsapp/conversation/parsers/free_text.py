"""Readers for answers in the young person's own words: free text and nominations."""

from __future__ import annotations

from smsapp.conversation.definition import MAX_TEXT, Question
from smsapp.conversation.normalise import shorten
from smsapp.conversation.parsers.parsed import Parsed, fail

# A nomination is a name or an idea: short enough to list on a ballot SMS.
NOMINATION_LIMIT = 100


def parse_text(question: Question, text: str) -> Parsed:
    if len(text) > MAX_TEXT:
        kept = text[:MAX_TEXT]
        note = f"I kept the first {MAX_TEXT:,} characters."
        return Parsed(True, kept, shorten(kept, 60), None, (note,))
    return Parsed(True, text, shorten(text, 60), None)


def parse_nominate(question: Question, text: str) -> Parsed:
    entry = " ".join(text.split())
    if len(entry) > NOMINATION_LIMIT:
        return fail(f"That's a bit long. Please send it in {NOMINATION_LIMIT} characters or fewer.")
    return Parsed(True, entry, entry, None)

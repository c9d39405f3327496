"""The reader for yes/no answers: words, slang, phrases and thumbs."""

from __future__ import annotations

import re

from smsapp.conversation.definition import Question
from smsapp.conversation.normalise import fold, symbols
from smsapp.conversation.parsers.parsed import Parsed, fail

YES_WORDS = frozenset(
    [
        "y",
        "yes",
        "ya",
        "yah",
        "yeah",
        "yep",
        "yup",
        "yh",
        "ye",
        "yea",
        "yas",
        "yess",
        "ok",
        "okay",
        "k",
        "kk",
        "sure",
        "aye",
        "true",
        "definitely",
        "absolutely",
        "certainly",
        "course",
        "ofc",
        "totally",
        "yesplease",
        # slang and the usual misspellings ("deffo" squeezes to "defo")
        "def",
        "defo",
        "defs",
        "definately",
        "definetly",
        "obvs",
        "obviously",
        "yeh",
    ]
)
YES_PHRASES = frozenset({"of course", "yes please", "go on", "why not", "i do", "i am", "i will"})
NO_WORDS = frozenset(["n", "no", "nah", "na", "nope", "nay", "never", "false", "nop", "naw"])
NO_PHRASES = frozenset(
    {"no way", "not really", "no thanks", "no thank you", "not at all", "i dont", "no chance"}
    | {"definitely not", "def not", "defo not", "obviously not", "of course not"}
)
# Not an answer either way, though they hold "no" or "dont": asked again, never read as No.
UNSURE_PHRASES = frozenset({"dont know", "no idea", "not sure"})
YES_SYMBOLS = frozenset("👍✅✔☑👌💯🙆")
NO_SYMBOLS = frozenset("👎❌✖🚫🙅⛔")


def _squeeze(word: str) -> str:
    """'yesss' -> 'yes', 'noooo' -> 'no', 'yeahhh' -> 'yeah'."""
    return re.sub(r"(.)\1+", r"\1", word)


def parse_yesno(question: Question, text: str) -> Parsed:
    marks = set(symbols(text))
    yes_mark, no_mark = bool(marks & YES_SYMBOLS), bool(marks & NO_SYMBOLS)
    folded = fold(text)
    words = folded.split()
    yes = no = False
    if folded:
        squeezed = " ".join(_squeeze(w) for w in words)
        spellings = (folded, squeezed)  # "deffo not" -> "defo not"
        yes = any(s in YES_PHRASES or s in YES_WORDS for s in spellings)
        no = any(s in NO_PHRASES or s in NO_WORDS for s in spellings)
        if not (yes or no):
            first = _squeeze(words[0])
            leading_no = first in NO_WORDS or any(
                s.startswith(p) for s in spellings for p in NO_PHRASES
            )
            has_no = leading_no or any(w in NO_WORDS or w == "not" for w in words)
            if first in YES_WORDS and not has_no:
                yes = True
            elif leading_no and not any(_squeeze(w) in YES_WORDS for w in words[1:]):
                no = True
    yes, no = yes or (yes_mark and not folded), no or (no_mark and not folded)
    if folded and not (yes or no) and (yes_mark or no_mark):
        yes, no = yes_mark, no_mark  # words we don't know plus a clear thumb
    padded = f" {folded} "
    if any(f" {phrase} " in padded for phrase in UNSURE_PHRASES):
        yes = no = False
    if yes and not no:
        return Parsed(True, True, "Yes", None)
    if no and not yes:
        return Parsed(True, False, "No", None)
    return fail("Please reply Y for yes or N for no.")

"""Which options a reply names: codes, option numbers, run-together letters and labels with
typos, in lists split by commas, "&", "and" or "then". Shared by the choice, list and points
readers."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from smsapp.conversation.definition import Option, Question
from smsapp.conversation.normalise import fold, shorten
from smsapp.conversation.parsers.parsed import listing

# Labels match fuzzily at this similarity ratio, unless another label is nearly as close.
LABEL_THRESHOLD = 0.75
LABEL_MARGIN = 0.08

# Words people wrap around a code ("I think B", "option 2 please") that carry no answer.
FILLER = frozenset(
    [
        "i",
        "id",
        "ill",
        "im",
        "think",
        "thinks",
        "pick",
        "picks",
        "choose",
        "chose",
        "choice",
        "vote",
        "votes",
        "voting",
        "go",
        "for",
        "my",
        "the",
        "answer",
        "answers",
        "is",
        "its",
        "it",
        "option",
        "options",
        "number",
        "no",
        "letter",
        "please",
        "pls",
        "plz",
        "thanks",
        "thank",
        "you",
        "thx",
        "ty",
        "and",
        "or",
        "then",
        "also",
        "plus",
        "with",
        "like",
        "want",
        "would",
        "be",
        "maybe",
        "prob",
        "probably",
        "first",
        "second",
        "third",
        "place",
        "points",
        "point",
        "pts",
        "pt",
        "to",
        "give",
        "put",
        "ok",
        "okay",
        "so",
        "um",
        "umm",
        "hmm",
        "well",
    ]
)
_PART_SPLIT = re.compile(r"[,;/\n>+|&]+")
_WORD_SPLIT = re.compile(r"\s+(?:and|then|than)\s+", re.IGNORECASE)


def single_char_codes(question: Question) -> bool:
    return bool(question.options) and all(len(c) == 1 for c in question.codes)


def resolve(question: Question, token: str) -> list[str] | None:
    """Codes for one upper-case token: a code, an option number, or run-together letters."""
    codes = question.codes
    if token in codes:
        return [token]
    if token.isdecimal():  # "❷".isdigit() is true, but int() cannot read it
        index = int(token)
        return [codes[index - 1]] if 1 <= index <= len(codes) else None
    if single_char_codes(question) and all(ch in codes for ch in token):
        return list(token)
    return None


def unknown_names(question: Question, token: str) -> list[str]:
    """What to name as unrecognised: the odd letters of "CXB", else the token itself."""
    if single_char_codes(question) and len(token) <= 6 and any(c in question.codes for c in token):
        return [ch for ch in token if ch not in question.codes]
    return [shorten(token, 15)]


def label_match(question: Question, text: str) -> Option | str | None:
    """The option whose label `text` names (despite case, accents, emoji, small typos).

    Returns "ambiguous" when two labels are about equally close, None when none is.
    """
    wanted = fold(text)
    if not wanted or not question.options:
        return None
    folded = [(fold(o.label), o) for o in question.options]
    for label, option in folded:
        if label == wanted or label.replace(" ", "") == wanted.replace(" ", ""):
            return option
    contained = [o for label, o in folded if len(label) >= 3 and f" {label} " in f" {wanted} "]
    if len(contained) == 1:
        return contained[0]
    scored = []
    for label, option in folded:
        if len(wanted) > 3 * len(label) + 10:
            continue  # far longer than any label: not a label with typos
        ratio = difflib.SequenceMatcher(None, wanted, label, autojunk=False).ratio()
        scored.append((ratio, option))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    if not scored or scored[0][0] < LABEL_THRESHOLD:
        return None
    if len(scored) > 1 and scored[1][0] > scored[0][0] - LABEL_MARGIN:
        return "ambiguous"
    return scored[0][1]


def code_words(question: Question, text: str) -> list[str]:
    """Upper-case words of `text` without filler words that are not option codes."""
    codes = question.codes
    return [
        w
        for w in fold(text).upper().split()
        if w in codes or w.lower() not in FILLER or _all_codes(w, codes)
    ]


def _all_codes(word: str, codes: tuple[str, ...]) -> bool:
    """A filler word spelt wholly in distinct one-letter codes ("be" for B and E) is a ballot."""
    return len(word) > 1 and len(set(word)) == len(word) and all(ch in codes for ch in word)


def codes_in(question: Question, text: str) -> tuple[list[str], list[str], bool]:
    """(codes in order with repeats, unrecognised bits, ambiguous label seen) for list answers."""
    whole = tokens_to_codes(question, code_words(question, text))
    if not whole[1]:
        return whole[0], [], False
    label = label_match(question, text)
    if isinstance(label, Option):
        return [label.code], [], False
    codes: list[str] = []
    unknown: list[str] = []
    ambiguous = label == "ambiguous"
    for part in _PART_SPLIT.split(text):
        pieces = [part]
        if tokens_to_codes(question, code_words(question, part))[1] and not isinstance(
            label_match(question, part), Option
        ):
            pieces = _WORD_SPLIT.split(part)  # "Team Spark and Health Voices"
        for piece in pieces:
            found, missing = tokens_to_codes(question, code_words(question, piece))
            if not missing:
                codes.extend(found)
                continue
            match = label_match(question, piece)
            if isinstance(match, Option):
                codes.append(match.code)
                continue
            ambiguous = ambiguous or match == "ambiguous"
            codes.extend(found)
            unknown.extend(missing)
    return codes, unknown, ambiguous


def tokens_to_codes(question: Question, tokens: Iterable[str]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        found = resolve(question, token)
        if found is None:
            unknown.extend(unknown_names(question, token))
        else:
            codes.extend(found)
    return codes, unknown


def dedupe(codes: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for code in codes:
        if code not in seen:
            seen.append(code)
    return seen


def label_of(question: Question, code: str) -> str:
    option = question.option(code)
    return option.label if option else code


def unrecognised(unknown: Sequence[str]) -> str:
    return f"I didn't recognise {listing(dedupe(unknown))}."

"""Which options a reply names: codes, option numbers, run-together letters and labels with
typos, in lists split by commas, "&", "and" or "then". Shared by the choice, list and points
readers.

A list counts every option it names: "coding & art", "football, art" and "football art" are two
picks each. A text is read as one label only when it is that label (give or take typos), never
because one label is the closest match to a text that names two.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from smsapp.conversation.definition import Option, Question
from smsapp.conversation.normalise import fold
from smsapp.conversation.parsers.parsed import naming

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
        "n",  # "football n art"
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
    return [token]


def label_match(question: Question, text: str) -> Option | str | None:
    """The option whose label `text` names (despite case, accents, emoji, small typos).

    Returns "ambiguous" when two labels are about equally close, or when `text` names two
    labels whole ("coding & art"), None when none is.
    """
    wanted = fold(text)
    if not wanted or not question.options:
        return None
    found = _label_index(tuple(fold(o.label) for o in question.options), wanted)
    return question.options[found] if isinstance(found, int) else found


def exact_label(question: Question, text: str) -> Option | None:
    """The option whose label `text` is, despite case, accents, emoji and spaces."""
    wanted = fold(text)
    if not wanted:
        return None
    found = _exact_index(tuple(fold(o.label) for o in question.options), wanted)
    return None if found is None else question.options[found]


def _exact_index(labels: tuple[str, ...], wanted: str) -> int | None:
    squeezed = wanted.replace(" ", "")
    for index, label in enumerate(labels):
        if label == wanted or label.replace(" ", "") == squeezed:
            return index
    return None


@lru_cache(maxsize=1024)  # a reply is matched whole and in parts, and a choice reads it twice
def _label_index(labels: tuple[str, ...], wanted: str) -> int | str | None:
    """label_match on folded labels and text: an index, "ambiguous" or None."""
    exact = _exact_index(labels, wanted)
    if exact is not None:
        return exact
    padded = f" {wanted} "
    found = [i for i, label in enumerate(labels) if len(label) >= 3 and f" {label} " in padded]
    # one label inside a longer one also there ("art" in "art club") is not named by itself
    contained = [
        i
        for i in found
        if not any(labels[i] != labels[j] and f" {labels[i]} " in f" {labels[j]} " for j in found)
    ]
    if len(contained) == 1:
        return contained[0]
    if len(contained) > 1:
        return "ambiguous"
    scored = []
    for index, label in enumerate(labels):
        if len(wanted) > 3 * len(label) + 10:
            continue  # far longer than any label: not a label with typos
        ratio = difflib.SequenceMatcher(None, wanted, label, autojunk=False).ratio()
        scored.append((ratio, index))
    scored.sort(key=lambda pair: pair[0], reverse=True)
    if not scored or scored[0][0] < LABEL_THRESHOLD:
        return None
    if len(scored) > 1 and scored[1][0] > scored[0][0] - LABEL_MARGIN:
        return "ambiguous"
    return scored[0][1]


def _listed(question: Question, text: str) -> list[str] | None:
    """Codes of the labels that stand whole in `text` and of the codes beside them, in the
    order written, when they name two or more options with only filler words between them
    ("football art", "football n art", "coding d"); None for any other text."""
    words = fold(text).split()
    taken = [False] * len(words)
    at: dict[int, list[str]] = {}
    labels = [(fold(o.label).split(), o.code) for o in question.options]
    for label, code in sorted(labels, key=lambda pair: -len(pair[0])):  # longest label first
        size = len(label)
        if not label or len(" ".join(label)) < 3:
            continue
        for i in range(len(words) - size + 1):
            if words[i : i + size] == label and not any(taken[i : i + size]):
                taken[i : i + size] = [True] * size
                at[i] = [code]
    if not at:
        return None  # codes alone are read as tokens
    for i, word in enumerate(words):
        kept = [] if taken[i] else code_words(question, word)
        if kept:
            found = resolve(question, kept[0])
            if found is None:
                return None  # an unknown word beside the labels: read it another way
            at[i] = found
    named = [code for i in sorted(at) for code in at[i]]
    return named if len(named) > 1 else None


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


Reading = tuple[list[str], list[str], bool]  # (codes with repeats, unrecognised, ambiguous)


def codes_in(question: Question, text: str) -> Reading:
    """(codes in order with repeats, unrecognised bits, ambiguous label seen) for list answers.

    The text is read part by part (split at commas, "&", "+"…, then at "and"/"then"), so every
    option named counts. Only when no part names any option is the whole text tried as one
    label with typos; a part that cannot be read is named back, never silently dropped.
    """
    parts = _PART_SPLIT.split(text)
    if len(parts) == 1:
        return _read_part(question, text)
    whole = tokens_to_codes(question, code_words(question, text))
    if not whole[1]:
        return whole[0], [], False
    exact = exact_label(question, text)
    if exact is not None:  # a label that holds a comma or "&" is one option
        return [exact.code], [], False
    codes, unknown, ambiguous = _read_all(question, parts, _read_part)
    if unknown and not codes:
        label = label_match(question, text)
        if isinstance(label, Option):
            return [label.code], [], False
        ambiguous = ambiguous or label == "ambiguous"
    return codes, unknown, ambiguous


def _read_all(
    question: Question, pieces: Iterable[str], read: Callable[[Question, str], Reading]
) -> Reading:
    codes: list[str] = []
    unknown: list[str] = []
    ambiguous = False
    for piece in pieces:
        found, missing, unsure = read(question, piece)
        codes += found
        unknown += missing
        ambiguous = ambiguous or unsure
    return codes, unknown, ambiguous


def _read_part(question: Question, part: str) -> Reading:
    """One part between commas: split at "and"/"then" when that reads every piece ("coding and
    D", "Team Spark then B"), else read whole (a label with "and" in it, typos and all)."""
    whole = _read_piece(question, part)
    pieces = _WORD_SPLIT.split(part)
    if len(pieces) == 1 or exact_label(question, part) is not None:
        return whole
    split = _read_all(question, pieces, _read_piece)
    return whole if split[1] and not whole[1] else split


def _read_piece(question: Question, piece: str) -> Reading:
    """One piece of a list: its codes, else the labels it lists, else the one label it names."""
    found, missing = tokens_to_codes(question, code_words(question, piece))
    if not missing:
        return found, [], False
    listed = _listed(question, piece)
    if listed is not None:
        return listed, [], False
    match = label_match(question, piece)
    if isinstance(match, Option):
        return [match.code], [], False
    return found, missing, match == "ambiguous"


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
    return f"I didn't recognise {naming(unknown)}."

"""Forgiving readers for SMS answers, one per question kind; they never raise on any text.

Each returns a Parsed: a JSON-serialisable value and a human reading when ok, otherwise a short,
kind problem that names what was wrong (the engine adds the options and tries again).
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from smsapp.conversation.definition import MAX_TEXT, Option, Question, canonical_number
from smsapp.conversation.normalise import clean, fold, shorten, symbols

log = logging.getLogger(__name__)

# A nomination is a name or an idea: short enough to list on a ballot SMS.
NOMINATION_LIMIT = 100
# Labels match fuzzily at this similarity ratio, unless another label is nearly as close.
LABEL_THRESHOLD = 0.75
LABEL_MARGIN = 0.08

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
    ]
)
YES_PHRASES = frozenset({"of course", "yes please", "go on", "why not", "i do", "i am", "i will"})
NO_WORDS = frozenset(["n", "no", "nah", "na", "nope", "nay", "never", "false", "nop"])
NO_PHRASES = frozenset(
    {"no way", "not really", "no thanks", "no thank you", "not at all", "i dont", "no chance"}
)
YES_SYMBOLS = frozenset("👍✅✔☑👌💯🙆")
NO_SYMBOLS = frozenset("👎❌✖🚫🙅⛔")
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
_ALL_WORDS = frozenset({"all", "everything", "every", "each", "all of them", "all of the above"})
_NONE_WORDS = frozenset({"none", "nothing", "neither", "none of them", "none of the above"})
_PART_SPLIT = re.compile(r"[,;/\n>+|&]+")
_WORD_SPLIT = re.compile(r"\s+(?:and|then|than)\s+", re.IGNORECASE)
_ORDINALS = frozenset({"ST", "ND", "RD", "TH"})
_NUMBER = re.compile(r"(?<![\w.])([-−]?\d+(?:\.\d+)?)(?![\w.]*\d)")


@dataclass(frozen=True)
class Parsed:
    ok: bool
    value: object | None  # str code, list[str] codes, int, float, str, bool, dict[str, int]
    label: str | None  # human reading, e.g. "1 Team Spark, 2 Health Voices"
    problem: str | None  # when not ok: what was wrong, in kind words
    notes: tuple[str, ...] = ()  # e.g. "Only your top 3 count, so I dropped D."


def _fail(problem: str) -> Parsed:
    return Parsed(False, None, None, problem)


def parse_answer(question: Question, text: str) -> Parsed:
    """Read `text` as an answer to `question`. Never raises: a bug becomes a polite problem."""
    try:
        return parse_strict(question, text)
    except Exception:  # a participant must always get a reply, whatever they send
        log.exception("parser failed for %s question %s", question.kind, question.key)
        return _fail("Sorry, I couldn't read that.")


def parse_strict(question: Question, text: str) -> Parsed:
    """parse_answer without the safety net, so tests see any exception."""
    cleaned = clean(text)
    if not cleaned:
        return _fail("That message looked empty.")
    if question.kind in ("text",):
        return _parse_text(question, cleaned)
    if not fold(cleaned) and not (question.kind == "yesno" and symbols(cleaned)):
        return _fail("I couldn't find an answer in that, only symbols.")
    return _PARSERS[question.kind](question, cleaned)


# ---------------------------------------------------------------------------------------------
# Shared pieces: codes, labels, lists


def _listing(words: Sequence[str]) -> str:
    """ "X", "X and Q", "X, Q and Z"."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _single_char_codes(question: Question) -> bool:
    return bool(question.options) and all(len(c) == 1 for c in question.codes)


def _resolve(question: Question, token: str) -> list[str] | None:
    """Codes for one upper-case token: a code, an option number, or run-together letters."""
    codes = question.codes
    if token in codes:
        return [token]
    if token.isdecimal():  # "❷".isdigit() is true, but int() cannot read it
        index = int(token)
        return [codes[index - 1]] if 1 <= index <= len(codes) else None
    if _single_char_codes(question) and all(ch in codes for ch in token):
        return list(token)
    return None


def _unknown_names(question: Question, token: str) -> list[str]:
    """What to name as unrecognised: the odd letters of "CXB", else the token itself."""
    if _single_char_codes(question) and len(token) <= 6 and any(c in question.codes for c in token):
        return [ch for ch in token if ch not in question.codes]
    return [shorten(token, 15)]


def _label_match(question: Question, text: str) -> Option | str | None:
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


def _words(question: Question, text: str) -> list[str]:
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


def _codes_in(question: Question, text: str) -> tuple[list[str], list[str], bool]:
    """(codes in order with repeats, unrecognised bits, ambiguous label seen) for list answers."""
    whole = _tokens_to_codes(question, _words(question, text))
    if not whole[1]:
        return whole[0], [], False
    label = _label_match(question, text)
    if isinstance(label, Option):
        return [label.code], [], False
    codes: list[str] = []
    unknown: list[str] = []
    ambiguous = label == "ambiguous"
    for part in _PART_SPLIT.split(text):
        pieces = [part]
        if _tokens_to_codes(question, _words(question, part))[1] and not isinstance(
            _label_match(question, part), Option
        ):
            pieces = _WORD_SPLIT.split(part)  # "Team Spark and Health Voices"
        for piece in pieces:
            found, missing = _tokens_to_codes(question, _words(question, piece))
            if not missing:
                codes.extend(found)
                continue
            match = _label_match(question, piece)
            if isinstance(match, Option):
                codes.append(match.code)
                continue
            ambiguous = ambiguous or match == "ambiguous"
            codes.extend(found)
            unknown.extend(missing)
    return codes, unknown, ambiguous


def _tokens_to_codes(question: Question, tokens: Iterable[str]) -> tuple[list[str], list[str]]:
    codes: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        found = _resolve(question, token)
        if found is None:
            unknown.extend(_unknown_names(question, token))
        else:
            codes.extend(found)
    return codes, unknown


def _dedupe(codes: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for code in codes:
        if code not in seen:
            seen.append(code)
    return seen


def _label_of(question: Question, code: str) -> str:
    option = question.option(code)
    return option.label if option else code


def _unrecognised(unknown: Sequence[str]) -> str:
    return f"I didn't recognise {_listing(_dedupe(unknown))}."


# ---------------------------------------------------------------------------------------------
# One parser per kind


def _parse_choice(question: Question, text: str) -> Parsed:
    words = _words(question, text)
    if len(words) == 1 and (found := _resolve(question, words[0])) and len(found) == 1:
        return Parsed(True, found[0], _label_of(question, found[0]), None)
    match = _label_match(question, text)
    if isinstance(match, Option):
        return Parsed(True, match.code, match.label, None)
    codes, unknown = _tokens_to_codes(question, words)
    distinct = _dedupe(codes)
    if len(distinct) == 1 and not unknown:
        return Parsed(True, distinct[0], _label_of(question, distinct[0]), None)
    if len(distinct) > 1:
        return _fail(f"Please pick just one, not {_listing(distinct)}.")
    if match == "ambiguous":
        return _fail("That could be more than one option.")
    if len(distinct) == 1:
        return Parsed(True, distinct[0], _label_of(question, distinct[0]), None)
    if len(words) == 1 and len(words[0]) <= 3:
        return _fail(_unrecognised(words))
    return _fail("I didn't recognise that as one of the options.")


def _parse_picks(question: Question, text: str) -> Parsed:
    """multi and approve: several codes, repeats ignored, up to `max`."""
    folded = fold(text)
    if folded in _NONE_WORDS:
        return Parsed(True, [], "none", None)
    if folded in _ALL_WORDS:
        codes = list(question.codes)
    else:
        found, unknown, ambiguous = _codes_in(question, text)
        if unknown:
            return _fail(_unrecognised(unknown))
        if ambiguous and not found:
            return _fail("That could be more than one option.")
        codes = _dedupe(found)
    if not codes:
        return _fail("I didn't recognise any options in that.")
    if len(codes) > question.places:
        return _fail(f"You can pick up to {question.places}, and that was {len(codes)}.")
    return Parsed(True, codes, ", ".join(_label_of(question, c) for c in codes), None)


def _parse_rank(question: Question, text: str) -> Parsed:
    pairs = _place_pairs(question, text)
    if pairs is not None:
        # "1. C 2. A": the numbers are places, so order by them rather than by position
        codes, unknown = _tokens_to_codes(question, [c for _, c in sorted(pairs)])
        ambiguous = False
    else:
        codes, unknown, ambiguous = _codes_in(question, text)
    if unknown:
        return _fail(_unrecognised(unknown))
    if ambiguous and not codes:
        return _fail("That could be more than one option.")
    ranking = _dedupe(codes)
    if not ranking:
        return _fail("I didn't recognise any options in that.")
    notes: tuple[str, ...] = ()
    if len(ranking) > question.places:
        dropped = ranking[question.places :]
        ranking = ranking[: question.places]
        notes = (f"Only your top {question.places} count, so I dropped {_listing(dropped)}.",)
    label = ", ".join(f"{i} {_label_of(question, c)}" for i, c in enumerate(ranking, 1))
    return Parsed(True, ranking, label, None, notes)


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


def _parse_points(question: Question, text: str) -> Parsed:
    items: list[tuple[str, str]] = []  # ("code", X) or ("num", "3")
    for word in fold(text).upper().split():
        if word in question.codes:
            items.append(("code", word))
        elif word.lower() in FILLER:
            continue
        else:
            items.extend(
                ("num" if run.isdigit() else "code", run) for run in re.findall(r"[A-Z]+|\d+", word)
            )
    if not items:
        return _fail("I didn't find any points in that.")
    number_first = items[0][0] == "num"
    points: dict[str, int] = {}
    unknown: list[str] = []
    dangling: list[str] = []
    i = 0
    while i < len(items):
        sort, token = items[i]
        if number_first and sort == "num" and i + 1 < len(items) and items[i + 1][0] == "code":
            amount, run, i = int(token), items[i + 1][1], i + 2
        elif (
            not number_first and sort == "code" and i + 1 < len(items) and items[i + 1][0] == "num"
        ):
            amount, run, i = int(items[i + 1][1]), token, i + 2
        elif sort == "code":
            amount, run, i = 1, token, i + 1
        else:
            dangling.append(token)
            i += 1
            continue
        if run in question.codes:
            points[run] = points.get(run, 0) + amount
        elif amount == 1 and _single_char_codes(question) and all(c in question.codes for c in run):
            for ch in run:  # "AAAC": one point per letter
                points[ch] = points.get(ch, 0) + 1
        elif (
            _single_char_codes(question)
            and len(run) > 1
            and run[-1] in question.codes
            and all(c in question.codes for c in run)
        ):
            for ch in run[:-1]:
                points[ch] = points.get(ch, 0) + 1
            points[run[-1]] = points.get(run[-1], 0) + amount
        else:
            unknown.extend(_unknown_names(question, run))
    if unknown:
        return _fail(_unrecognised(unknown))
    if dangling:
        return _fail(f"I couldn't tell which option {_listing(dangling)} was for.")
    points = {c: points[c] for c in question.codes if points.get(c)}
    total = sum(points.values())
    budget = question.points_budget
    if not points:
        return _fail("That gave no points to any option.")
    if total > budget:
        return _fail(f"That's {total} points, but you have {budget} to share.")
    ordered = sorted(points.items(), key=lambda item: -item[1])
    label = ", ".join(f"{_label_of(question, c)} {n}" for c, n in ordered)
    return Parsed(True, points, label, None)


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


def _parse_scale(question: Question, text: str) -> Parsed:
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
            return _fail(f"This scale goes from {low} to {high}.")
        numbers: list[float] = [value]
    else:
        numbers = _numbers_in(text)
    if not numbers:
        return _fail(f"Please send a number from {low} to {high}.")
    if len(set(numbers)) > 1:
        return _fail(f"Please send just one number from {low} to {high}.")
    number = numbers[0]
    if not number.is_integer():
        return _fail(f"Please send a whole number from {low} to {high}.")
    if not low <= number <= high:
        return _fail(f"{canonical_number(number)} is outside the scale of {low} to {high}.")
    return Parsed(True, int(number), f"{int(number)} out of {high}", None)


def _parse_number(question: Question, text: str) -> Parsed:
    numbers = _numbers_in(text)
    if not numbers:
        return _fail("Please send a number.")
    if len(set(numbers)) > 1:
        return _fail("Please send just one number.")
    number = numbers[0]
    if question.min is not None and number < question.min:
        return _fail(f"{canonical_number(number)} is less than {question.min}.")
    if question.max is not None and number > question.max:
        return _fail(f"{canonical_number(number)} is more than {question.max}.")
    value: int | float = int(number) if number.is_integer() else number
    return Parsed(True, value, canonical_number(number), None)


def _squeeze(word: str) -> str:
    """'yesss' -> 'yes', 'noooo' -> 'no', 'yeahhh' -> 'yeah'."""
    return re.sub(r"(.)\1+", r"\1", word)


def _parse_yesno(question: Question, text: str) -> Parsed:
    marks = set(symbols(text))
    yes_mark, no_mark = bool(marks & YES_SYMBOLS), bool(marks & NO_SYMBOLS)
    folded = fold(text)
    words = folded.split()
    yes = no = False
    if folded:
        squeezed = " ".join(_squeeze(w) for w in words)
        yes = folded in YES_PHRASES or folded in YES_WORDS or squeezed in YES_WORDS
        no = folded in NO_PHRASES or folded in NO_WORDS or squeezed in NO_WORDS
        if not (yes or no):
            first = _squeeze(words[0])
            leading_no = first in NO_WORDS or any(folded.startswith(p) for p in NO_PHRASES)
            has_no = leading_no or any(w in NO_WORDS or w == "not" for w in words)
            if first in YES_WORDS and not has_no:
                yes = True
            elif leading_no and not any(_squeeze(w) in YES_WORDS for w in words[1:]):
                no = True
    yes, no = yes or (yes_mark and not folded), no or (no_mark and not folded)
    if folded and not (yes or no) and (yes_mark or no_mark):
        yes, no = yes_mark, no_mark  # words we don't know plus a clear thumb
    if yes and not no:
        return Parsed(True, True, "Yes", None)
    if no and not yes:
        return Parsed(True, False, "No", None)
    return _fail("Please reply Y for yes or N for no.")


def _parse_text(question: Question, text: str) -> Parsed:
    if len(text) > MAX_TEXT:
        kept = text[:MAX_TEXT]
        note = f"I kept the first {MAX_TEXT:,} characters."
        return Parsed(True, kept, shorten(kept, 60), None, (note,))
    return Parsed(True, text, shorten(text, 60), None)


def _parse_nominate(question: Question, text: str) -> Parsed:
    entry = " ".join(text.split())
    if len(entry) > NOMINATION_LIMIT:
        return _fail(
            f"That's a bit long. Please send it in {NOMINATION_LIMIT} characters or fewer."
        )
    return Parsed(True, entry, entry, None)


_PARSERS: dict[str, Callable[[Question, str], Parsed]] = {
    "choice": _parse_choice,
    "multi": _parse_picks,
    "approve": _parse_picks,
    "rank": _parse_rank,
    "points": _parse_points,
    "scale": _parse_scale,
    "number": _parse_number,
    "yesno": _parse_yesno,
    "text": _parse_text,
    "nominate": _parse_nominate,
}

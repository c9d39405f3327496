"""Safeguarding phrase lists and patterns per category, and a matcher that forgives how young
people actually type: case, accents, spacing ("k i l l myself"), repeated letters, small typos
and leetspeak-lite ("k1ll"). Pure: no Flask, no database.

The matcher errs towards flagging: a false alarm costs the safeguarding lead a minute, a missed
disclosure can cost far more. Typos are forgiven only on longer phrases, where one changed
letter rarely makes another ordinary word ("abused" must be exact, or "amused" would match).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

SELF_HARM = "self-harm"
ABUSE = "abuse"
BULLYING = "bullying"
UNSAFE = "unsafe"
CATEGORIES = (SELF_HARM, ABUSE, BULLYING, UNSAFE)

LABELS = {
    SELF_HARM: "Self-harm or suicide",
    ABUSE: "Abuse",
    BULLYING: "Bullying",
    UNSAFE: "Feeling unsafe",
}


@dataclass(frozen=True)
class CategoryRules:
    """Plain phrases (matched forgivingly) and regular expressions (on the normalised text)."""

    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


DEFAULT_RULES: dict[str, CategoryRules] = {
    SELF_HARM: CategoryRules(
        phrases=(
            "kill myself",
            "killing myself",
            "kms",
            "end my life",
            "end it all",
            "take my own life",
            "want to die",
            "wanna die",
            "want to be dead",
            "wish i was dead",
            "wish i were dead",
            "better off dead",
            "better off without me",
            "no reason to live",
            "not worth living",
            "dont want to live",
            "dont want to be alive",
            "do not want to live",
            "dont want to be here anymore",
            "suicide",
            "suicidal",
            "hurt myself",
            "hurting myself",
            "harm myself",
            "harming myself",
            "self harm",
            "self harming",
            "cut myself",
            "cutting myself",
            "overdose",
            "hang myself",
        ),
        patterns=(
            r"\b(want|wanna|going|gonna|trying|try) (to )?(die|end it)\b",
            r"\bno ?one would (care|notice|miss me)\b",
            r"\bnobody would (care|notice|miss me)\b",
        ),
    ),
    ABUSE: CategoryRules(
        phrases=(
            "abuse",
            "abused",
            "abusing me",
            "abusive",
            "hits me",
            "kicks me",
            "hurts me",
            "touches me",
            "touched me",
            "touching me",
            "raped",
            "rape",
            "molested",
            "groomed",
            "grooming",
            "send nudes",
            "asked for nudes",
            "sent me nudes",
            "made me send",
            "not allowed to eat",
            "locks me in",
            "locked me in",
        ),
        patterns=(
            r"\b(dad|mum|mom|step ?dad|step ?mum|uncle|brother|sister|he|she|they|someone)"
            r" (hit|hits|hurt|hurts|beat|beats|slap|slaps|slapped|punched|punches) me\b",
            r"\b(asked|asks|wants|wanted|made) me (to )?(send )?(pics|pictures|photos|nudes)\b",
            r"\b(secret|don ?t tell) .{0,30}\b(touch|pics|photos)\b",
        ),
    ),
    BULLYING: CategoryRules(
        phrases=(
            "bullied",
            "bullying",
            "bully",
            "bullies",
            "bullying me",
            "being bullied",
            "picking on me",
            "pick on me",
            "picked on",
            "everyone hates me",
            "they all hate me",
            "nobody likes me",
            "no one likes me",
            "laughing at me",
            "beat me up",
            "beaten up",
            "threatened me",
            "threatening me",
            "kill yourself",
            "kys",
        ),
        patterns=(r"\b(they|people|everyone|kids) (keep |always )?(call|calls|calling) me\b",),
    ),
    UNSAFE: CategoryRules(
        phrases=(
            "not safe",
            "dont feel safe",
            "feel unsafe",
            "unsafe",
            "scared to go home",
            "afraid to go home",
            "scared of my dad",
            "scared of my mum",
            "scared of my stepdad",
            "someone is following me",
            "being followed",
            "running away",
            "run away from home",
            "kicked out",
            "nowhere to sleep",
            "no food at home",
            "please help me",
        ),
        patterns=(r"^(please )?help me( please)?$", r"\bscared (of|to) .{0,20}\bhome\b"),
    ),
}


# -- normalising ---------------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s", "!": "i", "|": "l", "+": "t"})  # fmt: skip
_TOKEN = re.compile(r"[0-9a-z@$!|+]+")
_LETTER = re.compile(r"[a-z]")
_RUN3 = re.compile(r"(.)\1{2,}")
_RUN2 = re.compile(r"(.)\1+")
_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4]")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", _APOSTROPHES.sub("", text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def tokens(text: str) -> list[str]:
    """Lower-case ASCII words with leetspeak mapped back to letters ("K1LL!" -> "kill").

    A leet character counts as a letter only inside a word that has a real letter, so answers
    such as "1 3 5" and punctuation such as "help!" keep their meaning.
    """
    out: list[str] = []
    leety: list[bool] = []  # the word had leet in it, so its digit-only neighbours may too
    for raw in _TOKEN.findall(_fold(text)):
        word = raw.strip("!|+")
        if not word:
            continue
        mapped = word.translate(_LEET) if _LETTER.search(word) else word
        mapped = "".join(ch for ch in mapped if ch.isalnum())
        if mapped:
            out.append(mapped)
            leety.append(mapped != word)
    # A digit-only word beside letters typed apart ("k 1 l l") or beside leet ("n0 f00d 47
    # h0m3") is leet too; spreading this to a fixed point covers "7 0 u c h".
    # In a text written in leet anywhere, one beside a whole word is too ("n07 4ll0w3d to
    # 347": "347" follows "to", which has nothing to map).
    written_in_leet = any(leety)
    changed = True
    while changed:
        changed = False
        for i, word in enumerate(out):
            if not word.isdigit() or not word.translate(_LEET).isalpha():
                continue  # not a number, or one that is not all leet ("12" is never "i2")
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(out)]
            beside_words = [out[j].isalpha() and len(out[j]) > 1 for j in near]
            # ... and so is one between two whole words ("end 17 all"): a number there is
            # rarely an answer, and a phrase still has to match for it to matter.
            between_words = len(near) == 2 and all(beside_words)
            if (
                between_words
                or (written_in_leet and any(beside_words))
                or any(leety[j] or (len(out[j]) == 1 and out[j].isalpha()) for j in near)
            ):
                out[i] = word.translate(_LEET)
                leety[i] = changed = True
    return out


def _squeeze(word: str) -> str:
    """Repeated letters count once ("killl", "kil" and "kill" are one spelling)."""
    return _RUN2.sub(r"\1", word)


def normalised_text(text: str, words: list[str] | None = None) -> str:
    """The text patterns are matched against: tokens joined by spaces, single letters typed
    apart joined back together ("d i e" -> "die"), runs of three or more letters cut to one.
    `words`: the text's tokens when the caller has them already (folded once per text)."""
    words = tokens(text) if words is None else words
    merged: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if len(run) >= 3:
            merged.append("".join(run))
        else:
            merged.extend(run)
        run = []
        if word:
            merged.append(word)
    return _RUN3.sub(r"\1", " ".join(merged))


# -- matching ------------------------------------------------------------------------------------


def allowed_edits(length: int) -> int:
    """Typos forgiven for a phrase of this many (squeezed, space-free) letters."""
    if length <= 6:
        return 0
    if length <= 11:
        return 1
    return 2


def within_distance(a: str, b: str, limit: int) -> bool:
    """Optimal-string-alignment distance (a swap of neighbours is one edit) is at most `limit`."""
    if a == b:
        return True
    if limit == 0 or abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, prev2[j - 2] + 1)
            cur[j] = value
        if min(cur) > limit:
            return False
        prev2, prev = prev, cur
    return prev[len(b)] <= limit


@dataclass(frozen=True)
class Match:
    category: str
    rule: str  # the phrase or pattern that matched, as configured
    excerpt: str  # the words of the text that matched, normalised


@dataclass(frozen=True)
class _Phrase:
    category: str
    text: str
    key: str  # squeezed letters with no spaces
    edits: int


@dataclass
class Matcher:
    """Checks a text against every category; build once, use for every inbound text."""

    rules: Mapping[str, CategoryRules]
    # Phrases by first letter, then by length: a window is compared only with phrases it could
    # be within reach of, which keeps a 1,600-character text quick.
    _phrases: dict[tuple[str, int], list[_Phrase]] = field(
        default_factory=dict, init=False, repr=False
    )
    _patterns: list[tuple[str, str, re.Pattern[str]]] = field(
        default_factory=list, init=False, repr=False
    )
    _longest: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        for category, rules in self.rules.items():
            for phrase in rules.phrases:
                key = _squeeze("".join(tokens(phrase)))
                if not key:
                    continue
                entry = _Phrase(category, phrase, key, allowed_edits(len(key)))
                for length in range(len(key) - entry.edits, len(key) + entry.edits + 1):
                    self._phrases.setdefault((key[0], length), []).append(entry)
                self._longest = max(self._longest, len(key) + entry.edits)
            for pattern in rules.patterns:
                self._patterns.append((category, pattern, re.compile(pattern)))

    def check(self, text: str) -> list[Match]:
        """Every category the text touches, with the first phrase or pattern that matched."""
        found: dict[str, Match] = {}
        words = tokens(text)
        for i in range(len(words)):
            joined = ""
            for j in range(i, len(words)):
                joined = _squeeze(joined + words[j])
                if len(joined) > self._longest:
                    break
                for phrase in self._phrases.get((joined[0], len(joined)), ()):
                    if phrase.category in found:
                        continue
                    if within_distance(joined, phrase.key, phrase.edits):
                        excerpt = " ".join(words[i : j + 1])
                        found[phrase.category] = Match(phrase.category, phrase.text, excerpt)
        if len(found) < len(self.rules):
            plain = normalised_text(text, words)
            for category, source, compiled in self._patterns:
                if category in found:
                    continue
                hit = compiled.search(plain)
                if hit:
                    found[category] = Match(category, source, hit.group(0))
        order = {c: n for n, c in enumerate(self.rules)}
        return sorted(found.values(), key=lambda m: order.get(m.category, len(order)))


class RulesError(ValueError):
    """A phrase file that cannot be used, with the reason."""


def parse_rules(data: Any) -> tuple[dict[str, CategoryRules], bool]:
    """Read a phrase file's contents (decoded YAML or JSON) into rules; also says whether it
    replaces the defaults (`replace_defaults: true`) or adds to them (the default).

    Shape: {replace_defaults: false, categories: {self-harm: {phrases: [...], patterns: [...]}}}
    """
    if not isinstance(data, Mapping):
        raise RulesError("a phrase file is a mapping with a 'categories' key")
    replace = bool(data.get("replace_defaults", False))
    categories = data.get("categories")
    if not isinstance(categories, Mapping):
        raise RulesError("'categories' must map a category name to its phrases and patterns")
    rules: dict[str, CategoryRules] = {}
    for name, entry in categories.items():
        if not isinstance(entry, Mapping):
            raise RulesError(f"category {name!r}: expected phrases and/or patterns")
        phrases = _strings(entry.get("phrases", []), f"{name}.phrases")
        patterns = _strings(entry.get("patterns", []), f"{name}.patterns")
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RulesError(f"category {name!r}: bad pattern {pattern!r}: {exc}") from None
        rules[str(name)] = CategoryRules(tuple(phrases), tuple(patterns))
    return rules, replace


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RulesError(f"{where} must be a list of strings")
    return [v for v in value if v.strip()]


def merge_rules(
    base: Mapping[str, CategoryRules], extra: Mapping[str, CategoryRules], *, replace: bool
) -> dict[str, CategoryRules]:
    if replace:
        return dict(extra)
    merged = dict(base)
    for name, rules in extra.items():
        have = merged.get(name, CategoryRules())
        merged[name] = CategoryRules(
            have.phrases + tuple(p for p in rules.phrases if p not in have.phrases),
            have.patterns + tuple(p for p in rules.patterns if p not in have.patterns),
        )
    return merged


@lru_cache(maxsize=1)
def default_matcher() -> Matcher:
    return Matcher(DEFAULT_RULES)


def check(text: str, matcher: Matcher | None = None) -> list[Match]:
    return (matcher or default_matcher()).check(text)

"""Text folding for forgiving answer parsing: control characters, case, accents, emoji, punctuation."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Emoji modifiers that ride along with a base emoji (skin tones, variation selectors, joiner,
# keycap): removing them lets "👍🏽" read like "👍".
_MODIFIERS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0e\ufe0f\u200d\u20e3]")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = re.compile("['\u2019\u2018`\u00b4]")


def clean(text: str) -> str:
    """Drop control and format characters, normalise to NFC, trim and collapse whitespace."""
    if not isinstance(text, str):
        return ""
    if text.isascii() and text.isprintable():  # the common case: nothing to drop or normalise
        return _SPACES.sub(" ", text).strip()
    kept = []
    for ch in unicodedata.normalize("NFC", text):
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or ch.isspace():
            kept.append(" " if ch != "\n" else "\n")
        elif cat in ("Cc", "Cf", "Cs", "Co", "Cn") and ch != "\u200d":
            continue
        else:
            kept.append(ch)
    # A joiner only means something between emoji, so one at an edge is dropped like a space.
    lines = [_SPACES.sub(" ", line).strip(" \u200d") for line in "".join(kept).split("\n")]
    return "\n".join(line for line in lines if line)


def strip_accents(text: str) -> str:
    """ "Café Niño" -> "Cafe Nino": decompose and drop combining marks."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def is_symbol(ch: str) -> bool:
    """Emoji, pictographs and other symbols (not letters, digits, punctuation or spaces)."""
    return unicodedata.category(ch) in ("So", "Sk", "Sm", "Sc") or bool(_MODIFIERS.match(ch))


def symbols(text: str) -> str:
    """Only the emoji/symbol characters of `text`, modifiers removed ("👍🏽!" -> "👍")."""
    return "".join(ch for ch in _MODIFIERS.sub("", text) if is_symbol(ch))


@lru_cache(maxsize=4096)  # option labels are folded again for every reply
def fold(text: str) -> str:
    """Lower-case, accent-free words separated by single spaces; emoji and punctuation removed.

    Apostrophes vanish rather than split ("that's" -> "thats") so contractions stay one word.
    """
    text = strip_accents(_APOSTROPHES.sub("", clean(text))).casefold()
    out = [ch if ch.isalnum() else " " for ch in text]
    return _SPACES.sub(" ", "".join(out)).strip()


def shorten(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"

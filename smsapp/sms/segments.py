"""Count the SMS segments a text will be billed as, the way Twilio and the GSM network split it.

Pure: used for the cost shown before a launch and to charge the shared send rate limit.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet, in table order; ESC (0x1B) is left out because it only
# introduces an extension character and cannot be sent on its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + char, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7_ALL = GSM7_BASIC | GSM7_EXTENSION

GSM7 = "GSM-7"
UCS2 = "UCS-2"

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class SegmentInfo:
    """How a text is encoded and how many segments it takes."""

    encoding: str  # GSM7 or UCS2
    segments: int
    units: int  # septets for GSM-7 (extension chars count 2), UTF-16 code units for UCS-2
    per_segment: int  # 160/153 for GSM-7, 70/67 for UCS-2
    ucs2_chars: tuple[str, ...]  # distinct characters that force UCS-2, in order of appearance


def _gsm7_cost(char: str) -> int:
    return 2 if char in GSM7_EXTENSION else 1


def _utf16_cost(char: str) -> int:
    # Characters outside the BMP (emoji, regional indicators) are a surrogate pair.
    return 2 if ord(char) > 0xFFFF else 1


def _pack(costs: list[int], capacity: int) -> int:
    """Segments needed when no character (escape pair, surrogate pair) may straddle a boundary."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments += 1
            used = 0
        used += cost
    return segments


def count_segments(text: str) -> SegmentInfo:
    """Return the encoding and segment count Twilio would use for ``text``."""
    ucs2_chars = tuple(dict.fromkeys(c for c in text if c not in GSM7_ALL))
    if ucs2_chars:
        encoding, single, multi = UCS2, UCS2_SINGLE, UCS2_MULTI
        costs = [_utf16_cost(c) for c in text]
    else:
        encoding, single, multi = GSM7, GSM7_SINGLE, GSM7_MULTI
        costs = [_gsm7_cost(c) for c in text]
    units = sum(costs)
    if units <= single:
        # An empty text is still one (empty) message, as Twilio bills it.
        return SegmentInfo(encoding, 1, units, single, ucs2_chars)
    return SegmentInfo(encoding, _pack(costs, multi), units, multi, ucs2_chars)


def cost_of(segments: int, price_per_segment: float) -> float:
    """What so many segments cost, to the penny: the figure a facilitator confirms before
    anything is sent (a launch, results, a celebration)."""
    return round(segments * price_per_segment, 2)

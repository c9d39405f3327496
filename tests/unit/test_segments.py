"""Segment counting matches how Twilio splits and bills GSM-7 and UCS-2 texts."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.sms.segments import GSM7_BASIC, GSM7_EXTENSION, cost_of, count_segments

POLISH_L = "ł"  # one UTF-16 unit, not in the GSM alphabet
GRIN = "😀"  # outside the BMP: a surrogate pair, two units
FLAG_GB = "🇬🇧"  # two regional indicators, four units


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units", "per_segment"),
    [
        ("", "GSM-7", 1, 0, 160),
        ("a" * 70, "GSM-7", 1, 70, 160),
        ("a" * 71, "GSM-7", 1, 71, 160),
        ("a" * 153, "GSM-7", 1, 153, 160),
        ("a" * 160, "GSM-7", 1, 160, 160),
        ("a" * 161, "GSM-7", 2, 161, 153),
        ("a" * 306, "GSM-7", 2, 306, 153),
        ("a" * 307, "GSM-7", 3, 307, 153),
        ("a" * 1600, "GSM-7", 11, 1600, 153),
        (POLISH_L * 70, "UCS-2", 1, 70, 70),
        (POLISH_L * 71, "UCS-2", 2, 71, 67),
        (POLISH_L * 134, "UCS-2", 2, 134, 67),
        (POLISH_L * 135, "UCS-2", 3, 135, 67),
        (POLISH_L * 153, "UCS-2", 3, 153, 67),
        (POLISH_L * 160, "UCS-2", 3, 160, 67),
        (POLISH_L * 161, "UCS-2", 3, 161, 67),
        (POLISH_L * 306, "UCS-2", 5, 306, 67),
        (POLISH_L * 307, "UCS-2", 5, 307, 67),
        (POLISH_L * 1600, "UCS-2", 24, 1600, 67),
        # Extension characters cost two septets each.
        ("€" * 80, "GSM-7", 1, 160, 160),
        ("€" * 81, "GSM-7", 2, 162, 153),
        ("^" * 153, "GSM-7", 3, 306, 153),  # 76 per part: a pair never straddles
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3, 306, 153),  # naive ceil(306/153) says 2
        ("a" * 159 + "\f", "GSM-7", 2, 161, 153),
        ("{}[]~|\\", "GSM-7", 1, 14, 160),
        # Emoji are surrogate pairs, which never straddle a boundary either.
        (GRIN, "UCS-2", 1, 2, 70),
        ("a" * 68 + GRIN, "UCS-2", 1, 70, 70),
        ("a" * 69 + GRIN, "UCS-2", 2, 71, 67),
        ("a" * 66 + GRIN + "a" * 66, "UCS-2", 3, 134, 67),  # naive ceil(134/67) says 2
        (FLAG_GB, "UCS-2", 1, 4, 70),
        # Accents: é and Ç are in the GSM alphabet, ç is not.
        ("Café Ça", "GSM-7", 1, 7, 160),
        ("ça va", "UCS-2", 1, 5, 70),
    ],
)
def test_segment_table(text: str, encoding: str, segments: int, units: int, per_segment: int):
    info = count_segments(text)
    assert (info.encoding, info.segments, info.units, info.per_segment) == (
        encoding,
        segments,
        units,
        per_segment,
    )


@pytest.mark.parametrize("quote", ["\u2018", "\u2019", "\u201c", "\u201d"])
def test_curly_quotes_force_ucs2_and_are_named(quote: str):
    info = count_segments(f"Reply {quote}YES{quote} to join")
    assert info.encoding == "UCS-2"
    assert info.ucs2_chars == (quote,)


def test_straight_quotes_stay_gsm7():
    assert count_segments("Reply \"YES\" or 'NO'").encoding == "GSM-7"


def test_ucs2_chars_are_distinct_in_order_of_appearance():
    info = count_segments(f"“Hi” {POLISH_L}{GRIN}{POLISH_L} {FLAG_GB} “”")
    assert info.ucs2_chars == ("“", "”", POLISH_L, GRIN, "🇬", "🇧")


def test_gsm7_text_lists_no_ucs2_chars():
    assert count_segments("Hello £5 @ 3pm €").ucs2_chars == ()


def test_alphabet_sizes():
    # 128 code points in the basic table minus ESC; ten in the extension table.
    assert len(GSM7_BASIC) == 127
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@settings(max_examples=200)
@given(st.text(alphabet=sorted(GSM7_BASIC), max_size=700))
def test_basic_gsm7_segments_follow_the_simple_formula(text: str):
    info = count_segments(text)
    expected = 1 if len(text) <= 160 else math.ceil(len(text) / 153)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", len(text), expected)


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(min_codepoint=0x0100, max_codepoint=0x2FFF), max_size=400))
def test_bmp_ucs2_segments_follow_the_simple_formula(text: str):
    # The leading ł forces UCS-2; every character here is in the BMP, so one unit each.
    text = "ł" + text
    info = count_segments(text)
    expected = 1 if len(text) <= 70 else math.ceil(len(text) / 67)
    assert (info.encoding, info.units, info.segments) == ("UCS-2", len(text), expected)


@settings(max_examples=200)
@given(st.text(max_size=500))
def test_segments_hold_all_units_with_little_waste(text: str):
    info = count_segments(text)
    assert info.segments * info.per_segment >= info.units
    if info.segments > 1:
        # Each boundary can waste at most one unit (a pair pushed to the next part).
        assert (info.segments - 1) * (info.per_segment - 1) < info.units


@pytest.mark.parametrize(
    ("segments", "price", "cost"),
    [(0, 0.04, 0.0), (3, 0.0463, 0.14), (300, 0.0463, 13.89), (1, 0.0, 0.0), (7, 0.005, 0.04)],
)
def test_a_cost_is_what_the_segments_come_to_to_the_penny(segments, price, cost):
    # The one figure a launch, a results text and a celebration all show before sending.
    assert cost_of(segments, price) == cost

"""The one rule for numbers and e-mail addresses in free text (smsapp.privacy.redact): every
way a young person or Twilio writes a phone number goes, ordinary numbers stay, and matching
takes time in proportion to the text however the text is built."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp.privacy.redact import EMAIL_MARK, NUMBER_MARK, redact, redact_optional

# Words around a number never contain digits, so any digit left in the output came from it.
WORDS = st.text(
    alphabet=st.characters(blacklist_categories=("Nd", "Cs"), blacklist_characters="@+-=\t\r"),
    max_size=20,
)
SEPARATORS = st.sampled_from(
    [" ", "-", ".", "  ", " - ", "/", "(", ")", "\u00a0", "\u2013", ",", ", ", "_", "\uff0c"]
)
MOBILE = st.integers(min_value=0, max_value=999_999).map(lambda n: f"7911{n:06d}")


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _grouped(nsn: str, prefix: str, cuts: list[int], seps: list[str]) -> str:
    pieces, last = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(nsn[last:cut])
        last = cut
    pieces.append(nsn[last:])
    out = prefix
    for i, piece in enumerate(p for p in pieces if p):
        out += (seps[i % len(seps)] if i else "") + piece
    return out


@st.composite
def written_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """(how a young person might write a UK mobile, its 10 significant digits)."""
    nsn = draw(MOBILE)
    style = draw(st.sampled_from(["format", "grouped", "spaced"]))
    if style == "format":
        number = phonenumbers.parse("+44" + nsn)
        fmt = draw(
            st.sampled_from(
                [
                    phonenumbers.PhoneNumberFormat.E164,
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                    phonenumbers.PhoneNumberFormat.RFC3966,
                ]
            )
        )
        return phonenumbers.format_number(number, fmt), nsn
    prefix = draw(st.sampled_from(["0", "+44", "+44 ", "0044", "0044 ", "+44 (0)", "(0", ""]))
    if style == "spaced":
        return prefix + " ".join(nsn), nsn
    cuts = draw(st.lists(st.integers(min_value=1, max_value=9), max_size=4))
    seps = draw(st.lists(SEPARATORS, min_size=1, max_size=3))
    return _grouped(nsn, prefix, cuts, seps), nsn


@settings(max_examples=400, deadline=None)
@given(written_numbers(), WORDS, WORDS)
def test_no_phone_number_survives_in_any_format(written, before, after) -> None:
    number, nsn = written
    out = redact(f"{before}{number}{after}")
    assert nsn not in digits(out), (number, out)
    assert NUMBER_MARK in out


@pytest.mark.parametrize(
    "text",
    [
        "07 911 123 456",
        "07911 123456",
        "+44 7911 123456",
        "0044 7911 123456",
        "+44 (0) 7911 123 456",
        "(07911) 123-456",
        "07911.123.456",
        "0 7 9 1 1 1 2 3 4 5 6",
        "tel:+44-7911-123456",
        "\uff10\uff17\uff19\uff11\uff11\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
        "text me07911123456pls",
        "1234567890123",  # a bare 13-digit run
        "07911,123,456",
        "+44 7911-123.456",
        "\u0660\u0667\u0669\u0661\u0661\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic
        "07911\u2212123\u2212456",  # minus signs
    ],
)
def test_common_formats_are_redacted(text) -> None:
    out = redact(f"my mate's number is {text} ok")
    assert "[number]" in out
    assert len(digits(out)) < 10


@pytest.mark.parametrize(
    "text",
    [
        "I'm 13",
        "4/5",
        "3 of 5",
        "2026-03-02",
        "Year 9, room 101",
        "1 2 3",
        "£12.50 each",
        "votes: 12, 7, 3, 0",
        "error 21211",
        "21211 and 21614",
        "born 2012, in 2025",
        "02/03/2026",
        "1,2,3,4,5,6,7,8,9,10",  # a ranking, not a number
        "10,11,12,13,14,15",
        "Childline: 0800 1111",
        "closes 2026-03-02 10:15:00+00:00",  # a timestamp in a log line
        "2026-03-02 - 2026-03-09",
        "12,345,678 people",
    ],
)
def test_ordinary_numbers_are_kept(text) -> None:
    assert redact(text) == text


@settings(max_examples=300, deadline=None)
@given(
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}@[a-z0-9-]{1,10}(\.[a-z]{2,6}){1,2}", fullmatch=True),
    WORDS,
    WORDS,
)
def test_emails_are_redacted(email, before, after) -> None:
    out = redact(f"{before} {email} {after}")
    assert "@" not in out.replace(before, "").replace(after, "")
    assert EMAIL_MARK in out


@pytest.mark.parametrize(
    ("twilio_says", "kept"),
    [
        (
            "The 'To' number +447911123456 is not a valid phone number.",
            "The 'To' number [number] is not a valid phone number.",
        ),
        (
            "The 'To' phone number: +447911123456, is not currently reachable using the "
            "'From' phone number: +447700900001 via SMS.",
            "The 'To' phone number: [number], is not currently reachable using the "
            "'From' phone number: [number] via SMS.",
        ),
        (
            "To number: +447911123456, is not a mobile number",
            "To number: [number], is not a mobile number",
        ),
        (
            "send: HTTP 400 error: Unable to create record: The 'To' number 07911123456 is not",
            "send: HTTP 400 error: Unable to create record: The 'To' number [number] is not",
        ),
    ],
)
def test_twilios_error_texts_keep_their_words_and_lose_the_number(twilio_says, kept) -> None:
    assert redact(twilio_says) == kept


@pytest.mark.parametrize(
    "identifier",
    [
        "SM" + "9" * 32,  # a Twilio SID that happens to be all digits
        "SM1234567890abcdef1234567890abcdef",
        "1234567890abcdef1234567890abcdef",  # a request id
        "12345678-1234-4234-9234-123456789012",  # an RQ job id
    ],
)
def test_identifiers_in_log_lines_are_kept(identifier) -> None:
    line = f"inbound {identifier} failed"
    assert redact(line) == line


def test_a_number_next_to_a_date_or_an_identifier_still_goes() -> None:
    assert redact("2026-03-02 07911123456") == "2026-03-02 [number]"
    assert redact("SM" + "1" * 32 + " 07911 123456") == "SM[number]"


def test_none_passes_through() -> None:
    assert redact_optional(None) is None
    assert redact_optional("07911 123456") == NUMBER_MARK


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_redacting_twice_changes_nothing_more(text) -> None:
    once = redact(text)
    assert redact(once) == once


# Long texts made of what the pattern matches in pieces: digits, every kind of separator,
# commas, "@", dates and letters. A backtracking pattern would take quadratic or exponential
# time on these; the test would then not finish, which is how it fails.
PIECES = st.sampled_from(
    [
        "1",
        "07",
        "9",
        " ",
        "  ",
        "   ",
        "-",
        ",",
        ", ",
        "(",
        ".",
        "+",
        "@",
        "a",
        "a.",
        "2026-03-02",
        "x@",
    ]
)


@settings(max_examples=30, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=50), st.integers(min_value=1_000, max_value=4_000))
def test_long_texts_are_matched_in_linear_time(pieces, repeat) -> None:
    text = "".join(pieces) * repeat
    out = redact(text)
    assert redact(out) == out
    # Whatever was taken out, no run of ten digits that the rule calls a number is left.
    assert "@" not in out or re.search(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+", out) is None


@pytest.mark.parametrize(
    "text",
    [
        "1" * 200_000,
        "1 " * 100_000,
        "1   " * 50_000,
        "1,2," * 50_000,
        "a" * 200_000 + "@",
        "a@" * 100_000,
        "2026-03-02 " * 20_000,
        "SM" + "1" * 200_000,
    ],
)
def test_adversarial_texts_finish(text) -> None:
    assert redact(redact(text)) == redact(text)

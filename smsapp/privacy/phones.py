"""Normalise phone numbers (UK by default) and mask them for staff eyes.

`07911 123456`, `+44 7911 123456` and `447911123456` are one person. Landlines and invalid
numbers are refused with a reason a facilitator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

DEFAULT_REGION = "GB"

_MOBILE_TYPES = {
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.PAGER,  # UK 076 pagers cannot text back, but libphonenumber mislabels few
}


_TEXTABLE = _MOBILE_TYPES - {PhoneNumberType.PAGER}

_TOO_SHORT = {
    phonenumbers.ValidationResult.TOO_SHORT,
    phonenumbers.ValidationResult.INVALID_LENGTH,
    phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
}


class PhoneNumberError(ValueError):
    """A number that cannot be texted, with the reason in words."""


@dataclass(frozen=True)
class PhoneNumber:
    e164: str
    region: str | None


def _invalid_reason(parsed: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is not None:
        have, want = len(str(parsed.national_number)), len(str(example.national_number))
        if have < want:
            return f"not a valid phone number: too few digits ({have} after the area code, {want} expected)"
        if have > want:
            return f"not a valid phone number: too many digits ({have}, {want} expected)"
    return "not a valid phone number"


def normalise_phone(raw: str, region: str = DEFAULT_REGION) -> PhoneNumber:
    text = (raw or "").strip()
    if not text:
        raise PhoneNumberError("no phone number given")
    if len(text) > 40:
        raise PhoneNumberError("too long to be a phone number")
    digits = "".join(ch for ch in text if ch.isdigit())
    # "447911123456" is an international number written without its plus sign.
    if text[0].isdigit() and not text.startswith("0") and len(digits) > 10:
        text = "+" + digits
    elif text.startswith("00"):
        text = "+" + digits[2:]
    try:
        parsed = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        if exc.error_type in (NumberParseException.TOO_LONG, NumberParseException.TOO_SHORT_NSN):
            raise PhoneNumberError("wrong number of digits for a phone number") from None
        raise PhoneNumberError("not a phone number") from None
    kind = phonenumbers.number_type(parsed)
    if kind in _TEXTABLE:
        # A mobile is a valid number of a possible length: the checks below only say why
        # anything else is refused. (Half the CPU of asking each in turn, for every new
        # number a text comes from.)
        return PhoneNumber(
            e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
            region=phonenumbers.region_code_for_number(parsed),
        )
    reason = phonenumbers.is_possible_number_with_reason(parsed)
    if reason in _TOO_SHORT:
        raise PhoneNumberError("too few digits for a phone number")
    if reason == phonenumbers.ValidationResult.TOO_LONG:
        raise PhoneNumberError("too many digits for a phone number")
    if not phonenumbers.is_valid_number(parsed):
        raise PhoneNumberError(_invalid_reason(parsed))
    if kind == PhoneNumberType.PAGER:
        raise PhoneNumberError("a pager number, which cannot reply to texts")
    if kind == PhoneNumberType.FIXED_LINE:
        raise PhoneNumberError("a landline, which cannot receive texts")
    raise PhoneNumberError("not a mobile number")


@lru_cache(maxsize=4096)
def try_normalise(raw: str, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form, or None. Cached: every inbound text asks, the same senders text again
    and again, and parsing costs as much CPU as a database round trip. The cache is bounded
    and lives in the process's memory only, which holds the numbers of the texts it handles
    anyway; it is never logged or written anywhere."""
    try:
        return normalise_phone(raw, region).e164
    except PhoneNumberError:
        return None


def mask_phone(e164: str) -> str:
    """`+447911123456` → `+44 7••• •••456`: enough to tell two numbers apart, no more."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "•••"
    national = str(parsed.national_number)
    if len(national) < 5:
        return f"+{parsed.country_code} •••"
    head, tail = national[0], national[-3:]
    hidden = len(national) - 4
    first = min(3, hidden)
    return f"+{parsed.country_code} {head}{'•' * first} {'•' * (hidden - first)}{tail}"

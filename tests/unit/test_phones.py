"""Phone numbers: one person however the number is written; landlines refused with a reason."""

import pytest

from smsapp.privacy.phones import PhoneNumberError, mask_phone, normalise_phone


@pytest.mark.parametrize(
    "raw",
    [
        "07911 123456",
        "+44 7911 123456",
        "447911123456",
        "(07911) 123-456",
        "0044 7911 123456",
        " +447911123456 ",
    ],
)
def test_uk_mobile_written_any_way_is_one_number(raw: str) -> None:
    assert normalise_phone(raw).e164 == "+447911123456"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("020 7946 0000", "landline"),
        ("07700 900123", "not a valid"),  # Ofcom drama range: libphonenumber calls it invalid
        ("12345", "digits"),
        ("", "no phone number"),
        ("not a number", "not a phone number"),
        ("0791112345678901234", "digits"),
        ("07600 123456", "a pager number"),
        ("0800 123 4567", "not a mobile number"),
        ("07911 12345", "too few digits"),
        ("+44 7911 1234567", "too many digits"),
    ],
)
def test_bad_numbers_are_refused_with_a_reason(raw: str, reason: str) -> None:
    with pytest.raises(PhoneNumberError, match=reason):
        normalise_phone(raw)


def test_international_mobile_is_accepted() -> None:
    assert normalise_phone("+353 85 123 4567").e164 == "+353851234567"
    # North America does not tell mobiles from landlines by number: accepted.
    assert normalise_phone("+1 650 253 0000").region == "US"


def test_mask_shows_country_first_digit_and_last_three() -> None:
    assert mask_phone("+447911123456") == "+44 7••• •••456"

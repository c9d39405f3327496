"""Find a participant's phone number in any text (a database dump, log lines, a page) however
it is written: E.164, 0044, national with or without its 0, digits only, grouped with spaces,
dashes, dots, slashes, commas or brackets, in any script's digits.

Independent of smsapp's own redaction rule on purpose: a test that used the rule to look for
what the rule missed could never fail.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

# Any run of digits with up to three separators between two digits: "+44 (0)7911 123-401",
# "07911,123,401", "0 7 9 1 1 ...". Each repetition takes a digit, so a long dump scans fast.
_RUN = re.compile(r"\d(?:[\s.,()\-/_+\u2010-\u2015\u2212]{0,3}\d)*")


def national(e164: str) -> str:
    """The national significant number: +447911123401 -> 7911123401."""
    return str(phonenumbers.parse(e164, None).national_number)


def written_forms(e164: str) -> list[str]:
    """The common spellings, for messages that say which one was found."""
    nsn = national(e164)
    cc = str(phonenumbers.parse(e164, None).country_code)
    head, tail = nsn[:4], nsn[4:]
    return [
        e164,
        f"{cc}{nsn}",
        f"00{cc}{nsn}",
        f"0{nsn}",
        f"0{head} {tail}",
        f"0{head}-{tail[:3]}-{tail[3:]}",
        f"0{head},{tail[:3]},{tail[3:]}",
        f"+{cc} {head} {tail}",
        nsn,
    ]


def numbers_in(text: str, e164s: list[str]) -> list[tuple[str, str]]:
    """(number, the text it was found as) for each of `e164s` that `text` holds in any form."""
    wanted = {national(e164): e164 for e164 in e164s}
    found: dict[str, str] = {}
    for run in _RUN.finditer(text):
        digits = "".join(str(unicodedata.digit(ch)) for ch in run.group() if ch.isdecimal())
        if len(digits) < 10:
            continue
        for nsn, e164 in wanted.items():
            if nsn in digits and e164 not in found:
                found[e164] = run.group()
    return sorted(found.items())

"""Make a cell safe for a researcher's spreadsheet: no phone numbers or e-mail addresses in free
text (smsapp.privacy.redact, the rule every other place uses too), and no cell that Excel,
LibreOffice or Sheets would run as a formula (OWASP CSV injection).
"""

from __future__ import annotations

import re

from smsapp.privacy.redact import redact

# What makes a spreadsheet treat a cell as a formula or a command (OWASP), plus the fullwidth
# forms some locales accept as the same characters.
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def neutralise(cell: str) -> str:
    """Prefix a single quote to a cell a spreadsheet would read as a formula.

    A plain negative number ("-3", "-2.5") is left as it is: no spreadsheet runs it, and
    quoting it would turn a researcher's number into text.
    """
    if cell and cell[0] in FORMULA_STARTS and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def safe_text(text: str | None) -> str:
    """Free text as it may appear in an export: redacted, then neutralised."""
    if not text:
        return ""
    return neutralise(redact(text))


def count_cell(count: int | None, below: int) -> int | str:
    """A count as a cell: one privacy.suppression hid (None) reads "<below"."""
    return f"<{below}" if count is None else count

"""An export as an Excel workbook (.xlsx) beside each CSV, for staff who live in Excel.

The same header and rows as the CSV (writing.header and writing.export_rows: the same
pseudonyms, redaction, neutralised formula starts and suppressed counts), one sheet, written
row by row with XlsxWriter's constant-memory mode, so memory stays flat however long the poll.
Text is always written as text: nothing a young person typed can become a formula or a link.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy.orm import Session

from smsapp.models import Poll
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research.exports.request import ExportError, ExportRequest, check_request
from smsapp.services.research.exports.writing import PROGRESS_EVERY, export_rows, header

EXCEL_ROWS = 1_048_576  # Excel's limit, the header row included
MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOO_MANY = (
    "the export has more rows than Excel can open (1,048,575); take the CSV, or the ballots "
    "of one question"
)


def _write_cell(sheet: Any, row: int, col: int, value: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, col, value)
    elif isinstance(value, datetime | date):
        sheet.write_string(row, col, value.isoformat())
    else:
        sheet.write_string(row, col, str(value))


def write_xlsx(
    path: Path,
    session: Session,
    poll: Poll,
    request: ExportRequest,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write one export as a workbook at `path`; returns its data rows. ExportError (and no
    file) when it has more rows than Excel can hold."""
    if request.kind == "floip":
        raise ExportError("the FLOIP package is a zip of its own; XLSX is for the CSV exports")
    check_request(poll, request)
    head = header(request, load_definition(poll))
    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,  # each row goes to disk as it is written
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
            "tmpdir": str(path.parent),
        },
    )
    done = 0
    try:
        sheet = workbook.add_worksheet(request.label[:31])
        bold = workbook.add_format({"bold": True})
        sheet.freeze_panes(1, 0)
        for col, name in enumerate(head):
            sheet.write_string(0, col, name, bold)
        for done, row in enumerate(export_rows(session, poll, request), 1):
            if done >= EXCEL_ROWS:
                raise ExportError(TOO_MANY)
            for col, value in enumerate(row):
                _write_cell(sheet, done, col, value)
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
    except BaseException:
        workbook.close()
        path.unlink(missing_ok=True)
        raise
    workbook.close()
    if progress is not None:
        progress(done)
    return done

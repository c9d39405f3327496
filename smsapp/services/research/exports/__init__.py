"""Research exports: which file (request), its rows streamed from the database (responses and
responses_pg, tables, flow_results), the CSV text (writing), the same cells as a workbook (xlsx) and large files written by a job
(runs). The CLI, the web downloads and the export job use the names below."""

from smsapp.services.research.exports.flow_results import floip_rows, write_floip
from smsapp.services.research.exports.request import (
    KINDS,
    ExportError,
    ExportRequest,
    check_request,
    export_filename,
    record_download,
)
from smsapp.services.research.exports.runs import create_run, write_run
from smsapp.services.research.exports.writing import (
    count_answers,
    csv_chunks,
    csv_text,
    export_rows,
    header,
    write_csv,
)
from smsapp.services.research.exports.xlsx import MIME as XLSX_MIME
from smsapp.services.research.exports.xlsx import write_xlsx

__all__ = [
    "KINDS",
    "XLSX_MIME",
    "ExportError",
    "ExportRequest",
    "check_request",
    "count_answers",
    "create_run",
    "csv_chunks",
    "csv_text",
    "export_filename",
    "export_rows",
    "floip_rows",
    "header",
    "record_download",
    "write_csv",
    "write_floip",
    "write_run",
    "write_xlsx",
]

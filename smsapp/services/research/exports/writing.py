"""Writing a CSV export: its header, its rows, and the CSV text in chunks for a file or a
streamed download (the long responses through the PostgreSQL fast path when it can)."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinition
from smsapp.formats import columns
from smsapp.models import Answer, Poll
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research.answers import counted_answers, counted_ballots
from smsapp.services.research.exports.reading import Row
from smsapp.services.research.exports.request import ExportError, ExportRequest, check_request
from smsapp.services.research.exports.responses import response_rows, wide_rows
from smsapp.services.research.exports.responses_pg import response_lines
from smsapp.services.research.exports.tables import ballot_rows, codebook_rows, tally_rows

FLUSH_ROWS = 1000  # rows per chunk handed to a streamed HTTP response
PROGRESS_EVERY = 10_000
BOM = "\ufeff"

Progress = Callable[[int], None]


class TextSink(Protocol):
    """Where CSV text goes: an open text file, a StringIO, a counting sink."""

    def write(self, text: str, /) -> int: ...


def count_answers(session: Session, poll: Poll, request: ExportRequest) -> int:
    """How many rows the export will have (answers, or ballots); for progress and sizing."""
    if request.kind in ("tally", "codebook"):
        return 0
    counted = counted_ballots if request.kind == "ballots" else counted_answers
    stmt = counted(session, sa.func.count(), poll=poll.id)
    if request.question:
        stmt = stmt.where(Answer.question_key == request.question)
    return int(session.scalar(stmt) or 0)


def header(request: ExportRequest, defn: PollDefinition) -> list[str]:
    if request.kind == "responses":
        if request.wide:
            return columns.wide_columns([q.key for q in defn.questions])
        return [*columns.RESPONSES, *columns.RESPONSES_EXTRA]
    if request.kind == "ballots":
        return [*columns.BALLOTS, *columns.BALLOTS_EXTRA]
    if request.kind == "tally":
        return [*columns.TALLY, *columns.TALLY_EXTRA]
    if request.kind == "codebook":
        return [*columns.CODEBOOK, *columns.CODEBOOK_EXTRA]
    raise ExportError(f"{request.kind} is not a CSV export")


def export_rows(session: Session, poll: Poll, request: ExportRequest) -> Iterator[Row]:
    """The data rows of one CSV export, streamed (the portable path for every kind)."""
    check_request(poll, request)
    defn = load_definition(poll)
    if request.kind == "responses":
        return wide_rows(session, poll, defn) if request.wide else response_rows(session, poll)
    if request.kind == "ballots":
        return ballot_rows(session, poll, defn, request.question)
    if request.kind == "tally":
        return tally_rows(session, poll, defn, request.suppress_below)
    if request.kind == "codebook":
        return codebook_rows(poll, defn)
    raise ExportError(f"{request.kind} is not a CSV export")


def csv_chunks(
    head: list[str],
    rows: Iterable[Row],
    *,
    bom: bool = True,
    progress: Progress | None = None,
) -> Iterator[str]:
    """CSV text in chunks of FLUSH_ROWS rows, for a streamed response or a file."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if bom:
        buffer.write(BOM)
    writer.writerow(head)
    done = 0
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= FLUSH_ROWS:
            writer.writerows(batch)
            done += len(batch)
            batch.clear()
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if progress is not None and done % PROGRESS_EVERY == 0:
                progress(done)
    writer.writerows(batch)
    done += len(batch)
    yield buffer.getvalue()
    if progress is not None:
        progress(done)


def _line_chunks(
    head: list[str], lines: Iterator[str], bom: bool, progress: Progress | None
) -> Iterator[str]:
    """Finished CSV lines FLUSH_ROWS at a time, after the header, as csv_chunks does rows."""
    yield next(csv_chunks(head, (), bom=bom))
    done = 0
    while batch := list(itertools.islice(lines, FLUSH_ROWS)):
        yield "".join(batch)
        done += len(batch)
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    if progress is not None:
        progress(done)


def csv_text(
    session: Session,
    poll: Poll,
    request: ExportRequest,
    *,
    bom: bool = True,
    progress: Progress | None = None,
) -> Iterator[str]:
    """One CSV export as text chunks; `progress` hears the rows done, the total last of all.

    The long responses on PostgreSQL come as finished lines from responses_pg; every other
    export, and every export on another database, from export_rows through csv.writer.
    """
    check_request(poll, request)
    head = header(request, load_definition(poll))
    if (
        request.kind == "responses"
        and not request.wide
        and session.get_bind().dialect.name == "postgresql"
    ):
        return _line_chunks(head, response_lines(session, poll), bom, progress)
    return csv_chunks(head, export_rows(session, poll, request), bom=bom, progress=progress)


def write_csv(
    out: TextSink,
    session: Session,
    poll: Poll,
    request: ExportRequest,
    *,
    bom: bool = True,
    progress: Progress | None = None,
) -> int:
    """Write one CSV export to a text file opened with newline=""; returns its data rows."""
    written = [0]

    def counted(done: int) -> None:
        written[0] = done
        if progress is not None:
            progress(done)

    for chunk in csv_text(session, poll, request, bom=bom, progress=counted):
        out.write(chunk)
    return written[0]

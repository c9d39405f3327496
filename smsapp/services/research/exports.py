"""Research exports: rows streamed from the database for each file, CSV writers, file names and
the audit record. CLI, web downloads and the export job all go through these functions."""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation.definition import PollDefinition, Question
from smsapp.db import Database, utcnow
from smsapp.formats import cells, columns, floip
from smsapp.models import (
    Answer,
    AuditEvent,
    Conversation,
    ExportRun,
    ExportStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    Poll,
    TallyRun,
)
from smsapp.privacy.redact import redact
from smsapp.services import audit
from smsapp.services.polls.definitions import load_definition
from smsapp.services.safeguarding.flags import answer_is_flagged

KINDS = ("responses", "ballots", "tally", "codebook", "floip")
STREAM_BATCH = 2000  # rows fetched per round trip from the server-side cursor
FLUSH_ROWS = 1000  # rows per chunk handed to a streamed HTTP response
PROGRESS_EVERY = 10_000
CELL_CACHE = 4096  # distinct cells remembered per export: bounded, so memory stays flat
BOM = "\ufeff"

Row = list[Any]


class TextSink(Protocol):
    """Where CSV text goes: an open text file, a StringIO, a counting sink."""

    def write(self, text: str, /) -> int: ...


SelectT = TypeVar("SelectT", bound=sa.Select[*tuple[Any, ...]])


class ExportError(ValueError):
    """An export that cannot be made, with the reason in words."""


@dataclass(frozen=True)
class ExportRequest:
    """Which file: kind, the wide layout for responses, one ballot question, suppression."""

    kind: str
    wide: bool = False
    question: str | None = None
    suppress_below: int | None = None
    options: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ExportError(f"unknown export {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.wide and self.kind != "responses":
            raise ExportError("--wide applies to the responses export only")
        if self.suppress_below is not None:
            if self.kind != "tally":
                raise ExportError("small-cell suppression applies to the tally export only")
            if self.suppress_below < 2:
                raise ExportError("the suppression threshold must be at least 2")
        if self.question is not None and self.kind != "ballots":
            raise ExportError("choosing one question applies to the ballots export only")

    @property
    def label(self) -> str:
        return "responses-wide" if self.wide else self.kind

    @property
    def extension(self) -> str:
        return "zip" if self.kind == "floip" else "csv"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "wide": self.wide,
            "question": self.question,
            "suppress_below": self.suppress_below,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExportRequest:
        return cls(
            kind=data["kind"],
            wide=bool(data.get("wide")),
            question=data.get("question"),
            suppress_below=data.get("suppress_below"),
        )


def export_filename(slug: str, request: ExportRequest, day: date) -> str:
    """`{poll}-{export}-{YYYY-MM-DD}.csv`: says which poll and when, sorts by poll then date."""
    question = f"-{request.question}" if request.question else ""
    return f"{slug}-{request.label}{question}-{day.isoformat()}.{request.extension}"


def record_download(
    session: Session,
    actor: str,
    poll: Poll,
    request: ExportRequest,
    *,
    via: str,
    rows: int | None = None,
) -> AuditEvent:
    """Who took which file of which poll, and how; the caller commits."""
    details: dict[str, Any] = {"export": request.label, "via": via, **request.to_json()}
    if rows is not None:
        details["rows"] = rows
    return audit.record(session, actor, "export.download", f"poll:{poll.slug}", **details)


# ---------------------------------------------------------------------------------------------
# Queries


def _stream(session: Session, stmt: sa.Executable) -> Iterator[Any]:
    """Rows as they are read: a server-side cursor on PostgreSQL, a lazy cursor on SQLite."""
    result = session.connection().execute(
        stmt, execution_options={"stream_results": True, "yield_per": STREAM_BATCH}
    )
    return iter(result)


def _kept_answers(poll_id: int) -> list[sa.ColumnElement[bool]]:
    """Answers a researcher may see: current, from real people, not from a flagged text
    (safeguarding.answer_is_flagged decides that, for results and tallies too)."""
    return [
        Answer.poll_id == poll_id,
        Answer.superseded.is_(False),
        Participant.simulated.is_(False),
        sa.not_(answer_is_flagged()),
    ]


def _answers_from(stmt: SelectT) -> SelectT:
    return stmt.join(Participant, Participant.id == Answer.participant_id)


def count_answers(session: Session, poll: Poll, request: ExportRequest) -> int:
    """How many rows the export will have (answers, or ballots); for progress and sizing."""
    stmt = _answers_from(sa.select(sa.func.count()).select_from(Answer)).where(
        *_kept_answers(poll.id)
    )
    if request.kind == "ballots":
        stmt = stmt.where(Answer.kind.in_(columns.BALLOT_KINDS), Answer.skipped.is_(False))
        if request.question:
            stmt = stmt.where(Answer.question_key == request.question)
    elif request.kind in ("tally", "codebook"):
        return 0
    return int(session.scalar(stmt) or 0)


def _iso(moment: datetime | None) -> str:
    """ISO 8601 in UTC with a Z; a naive time (SQLite, read raw) is already UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    text = moment.isoformat()
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _raw_time(column: Any) -> sa.ColumnElement[datetime]:
    """A UTC column read without the UTCDateTime decorator's per-row conversion.

    On a million rows that conversion costs more than the rest of a row; _iso and the
    paradata below accept the driver's value directly (PostgreSQL sends it in UTC because
    _utc_session sets the zone; SQLite gives naive UTC).
    """
    return sa.type_coerce(column, sa.DateTime(timezone=True))


def _utc_session(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))


# ---------------------------------------------------------------------------------------------
# Responses


def _reminder_times(session: Session, poll: Poll) -> Iterator[tuple[int, datetime]]:
    """(conversation id, when) of every reminder of the poll, in conversation order."""
    stmt = (
        sa.select(OutboundMessage.conversation_id, _raw_time(OutboundMessage.created_at))
        .where(
            OutboundMessage.poll_id == poll.id,
            OutboundMessage.kind == "reminder",
            OutboundMessage.status != OutboundStatus.CANCELLED,
            OutboundMessage.conversation_id.is_not(None),
        )
        .order_by(OutboundMessage.conversation_id, OutboundMessage.created_at)
    )
    has_any = session.scalar(sa.select(sa.exists(stmt.with_only_columns(OutboundMessage.id))))
    if has_any:
        yield from _stream(session, stmt)


def _by_conversation(
    reminders: Iterator[tuple[int, datetime]],
) -> Callable[[int], list[datetime]]:
    """Merge-join helper: ask for conversations in ascending order, get their reminder times.

    Both streams are sorted by conversation, so only one conversation's reminders are ever
    held: memory stays constant however large the poll.
    """
    pending: list[tuple[int, datetime] | None] = [next(reminders, None)]

    def times(conversation_id: int) -> list[datetime]:
        found: list[datetime] = []
        head = pending[0]
        while head is not None and head[0] <= conversation_id:
            if head[0] == conversation_id:
                found.append(head[1])
            head = next(reminders, None)
        pending[0] = head
        return found

    return times


@dataclass
class _Paradata:
    """Per-conversation state while streaming: when the current question was sent."""

    conversation_id: int = -1
    asked_at: datetime | None = None
    reminders: list[datetime] = field(default_factory=list)


def _value_json() -> sa.ColumnElement[str]:
    """The stored JSON as text: repeated answers then share one cached cell."""
    return sa.cast(Answer.value, sa.Text).label("value_json")


def _answer_cells() -> Callable[[str, str | None], str]:
    """kind + stored JSON -> the safe answer cell, cached for this export only.

    Most answers repeat (option codes, yes/no, small numbers), so a small bounded cache skips
    the JSON parse and the redaction for nearly every row; it is dropped with the export.
    """

    @functools.lru_cache(maxsize=CELL_CACHE)
    def cell(kind: str, value_json: str | None) -> str:
        value = json.loads(value_json) if value_json is not None else None
        return cells.safe_text(columns.answer_text(kind, value))

    return cell


def _copied_rows(session: Session, stmt: sa.Select[Any]) -> Iterator[tuple[Any, ...]]:
    """PostgreSQL: the rows of `COPY (stmt) TO STDOUT` on the raw psycopg connection.

    COPY streams: the server keeps producing rows (on its own core) while this process writes
    them, and only a socket's worth is ever buffered, so memory stays flat. Every column must
    already be text (or NULL): psycopg's C text loader is then the only work per value, with
    none of SQLAlchemy's per-row result processing. COPY takes no bind parameters, so the
    statement is compiled with its values inline; callers pass only numbers, booleans and fixed
    words, never user input. The connection is busy until the rows are all read (or dropped).
    """
    raw = session.connection().connection.driver_connection
    assert raw is not None
    dialect = session.get_bind().dialect
    query = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    width = len(stmt.selected_columns)
    # A savepoint: a reader that stops early (a download the browser dropped) cancels the
    # COPY, which would otherwise leave the caller's transaction aborted.
    # The params mapping makes psycopg read the compiler's escaped %% back as %.
    statement = f"COPY ({query}) TO STDOUT"
    with raw.transaction(), raw.cursor() as cursor, cursor.copy(statement, {}) as copy:
        copy.set_types(["text"] * width)
        yield from copy.rows()


def _pg_iso(column: Any) -> sa.ColumnElement[str]:
    """_iso in SQL: ISO 8601 in UTC with a Z, microseconds only when there are some."""
    moment = sa.func.timezone("UTC", column)
    text = sa.func.to_char(moment, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    return sa.func.replace(text, ".000000Z", "Z")


def _pg_seconds(later: Any, earlier: Any) -> sa.ColumnElement[Any]:
    """round((later - earlier).total_seconds()) as Python computes it.

    date_part gives the nearest double to the exact difference, as total_seconds() does, and
    round() of a double is rint(): half to even, like Python's round().
    """
    waited = sa.func.date_part("epoch", later - earlier, type_=sa.Float)
    return sa.cast(sa.func.round(waited), sa.BigInteger)


def _pg_responses(session: Session, poll: Poll, *, joined_tail: bool) -> sa.Select[Any]:
    """The long responses as text columns, times, paradata and flags computed by the server.

    Same cells as the portable path, byte for byte (tests/integration/test_export_bytes.py):
    the asked-at time is the previous kept answer of the conversation (a window over the same
    order as the rows), else the invitation, else the start; reminders are counted per answer
    only when the poll has any. Answers and free text are left for cells in Python. With
    joined_tail the six paradata cells come as one `a,b,c,d,e,f` text: none of them can hold
    a comma, quote or line break, so CSV would write them unquoted anyway.
    """
    previous = sa.func.lag(Answer.answered_at).over(
        partition_by=Answer.conversation_id, order_by=(Answer.answered_at, Answer.id)
    )
    inner = (
        _answers_from(
            sa.select(
                Answer.id,
                Answer.conversation_id,
                Participant.pseudonym,
                Answer.question_key,
                Answer.kind,
                sa.case((Answer.skipped, None), else_=sa.cast(Answer.value, sa.Text)).label(
                    "value_json"
                ),
                sa.case((Answer.skipped, None), else_=Answer.label).label("label"),
                Answer.raw_text,
                Answer.answered_at,
                Answer.attempts,
                Answer.skipped,
                Conversation.invited_at,
                sa.func.coalesce(previous, Conversation.invited_at, Conversation.created_at).label(
                    "asked_at"
                ),
            ).select_from(Answer)
        )
        .join(Conversation, Conversation.id == Answer.conversation_id)
        .where(*_kept_answers(poll.id))
        .subquery("kept")
    )
    sent_reminder = (
        OutboundMessage.poll_id == poll.id,
        OutboundMessage.kind == "reminder",
        OutboundMessage.status != OutboundStatus.CANCELLED,
    )
    nudges: sa.ColumnElement[Any] = sa.literal("0")
    has_any = sa.exists().where(*sent_reminder, OutboundMessage.conversation_id.is_not(None))
    if session.scalar(sa.select(has_any)):
        at = _raw_time(OutboundMessage.created_at)
        nudges = sa.cast(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .where(
                *sent_reminder,
                OutboundMessage.conversation_id == inner.c.conversation_id,
                sa.or_(
                    inner.c.asked_at.is_(None),
                    sa.and_(at > inner.c.asked_at, at <= inner.c.answered_at),
                ),
            )
            .correlate(inner)
            .scalar_subquery(),
            sa.Text,
        )
    tail = [
        _pg_iso(inner.c.answered_at),
        sa.cast(inner.c.attempts, sa.Text),
        _pg_iso(inner.c.invited_at),
        nudges,
        sa.cast(_pg_seconds(inner.c.answered_at, inner.c.asked_at), sa.Text),
        sa.case((inner.c.skipped, "1"), else_="0"),
    ]
    if joined_tail:
        blank = [sa.func.coalesce(cell, "") for cell in tail]
        tail = [functools.reduce(lambda text, cell: text + "," + cell, blank)]
    return sa.select(
        inner.c.pseudonym,
        inner.c.question_key,
        inner.c.kind,
        inner.c.value_json,
        inner.c.label,
        inner.c.raw_text,
        *tail,
    ).order_by(inner.c.conversation_id, inner.c.answered_at, inner.c.id)


def _pg_response_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """response_rows on PostgreSQL: the server's text columns, answers and free text made safe."""
    stmt = _pg_responses(session, poll, joined_tail=False)
    slug = poll.slug
    answer_cell = _answer_cells()
    text_cell = functools.lru_cache(maxsize=CELL_CACHE)(cells.safe_text)
    for (
        pseudonym,
        key,
        kind,
        value_json,
        label,
        raw_text,
        answered,
        attempts,
        invited,
        reminded,
        seconds,
        skipped,
    ) in _copied_rows(session, stmt):
        # None is written as an empty cell, as the portable path writes "".
        yield [
            pseudonym,
            slug,
            key,
            kind,
            answer_cell(kind, value_json),
            text_cell(label),
            text_cell(raw_text),
            answered,
            attempts,
            invited,
            reminded,
            seconds,
            skipped,
        ]


def _csv_field() -> Callable[[str], str]:
    """One cell as csv.writer writes it inside a row (quoted only when it must be)."""
    buffer = io.StringIO()
    # The same line ending as the file: csv quotes a cell holding any of its characters.
    writer = csv.writer(buffer, lineterminator="\r\n")

    def field(text: str) -> str:
        # A second, empty cell: csv quotes a lone empty cell, never one among others.
        writer.writerow((text, ""))
        encoded = buffer.getvalue()[:-3]
        buffer.seek(0)
        buffer.truncate()
        return encoded

    return field


def _pg_response_lines(session: Session, poll: Poll) -> Iterator[str]:
    """The long responses as finished CSV lines (write_csv's fast path on PostgreSQL).

    Every cell that repeats is cached already CSV-encoded (answers per kind and JSON, labels,
    free text, question and kind), the paradata arrive as one ready-made text, so a row costs
    a few cache look-ups and one string join: no csv.writer call and no cell list per row.
    """
    field = _csv_field()
    answer_cell = _answer_cells()

    @functools.lru_cache(maxsize=CELL_CACHE)
    def answer_field(kind: str, value_json: str | None) -> str:
        return field(answer_cell(kind, value_json))

    @functools.lru_cache(maxsize=CELL_CACHE)
    def text_field(text: str | None) -> str:
        return field(cells.safe_text(text))

    @functools.lru_cache(maxsize=CELL_CACHE)
    def question_fields(key: str, kind: str) -> str:
        return f"{field(key)},{field(kind)}"

    slug = field(poll.slug)
    last: str | None = None
    who = ""
    stmt = _pg_responses(session, poll, joined_tail=True)
    for pseudonym, key, kind, value_json, label, raw_text, tail in _copied_rows(session, stmt):
        if pseudonym != last:  # rows come a conversation at a time
            last, who = pseudonym, f"{field(pseudonym or '')},{slug}"
        yield (
            f"{who},{question_fields(key, kind)},{answer_field(kind, value_json)},"
            f"{text_field(label)},{text_field(raw_text)},{tail}\r\n"
        )


def response_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """Long responses: the contract's columns then the paradata, one row per kept answer."""
    if session.get_bind().dialect.name == "postgresql":
        return _pg_response_rows(session, poll)
    return _portable_response_rows(session, poll)


def _portable_response_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """response_rows through SQLAlchemy Core, for SQLite (development) or any other backend."""
    stmt = (
        _answers_from(
            sa.select(
                Answer.conversation_id,
                Participant.pseudonym,
                Answer.question_key,
                Answer.kind,
                _value_json(),
                Answer.label,
                Answer.raw_text,
                _raw_time(Answer.answered_at),
                Answer.attempts,
                Answer.skipped,
                _raw_time(Conversation.invited_at),
                _raw_time(Conversation.created_at),
            ).select_from(Answer)
        )
        .join(Conversation, Conversation.id == Answer.conversation_id)
        .where(*_kept_answers(poll.id))
        .order_by(Answer.conversation_id, Answer.answered_at, Answer.id)
    )
    _utc_session(session)
    reminders_of = _by_conversation(_reminder_times(session, poll))
    state = _Paradata()
    slug = poll.slug
    answer_cell = _answer_cells()
    text_cell = functools.lru_cache(maxsize=CELL_CACHE)(cells.safe_text)
    invited = ""
    for (
        conversation_id,
        pseudonym,
        key,
        kind,
        value_json,
        label,
        raw_text,
        answered_at,
        attempts,
        skipped,
        invited_at,
        started_at,
    ) in _stream(session, stmt):
        if conversation_id != state.conversation_id:
            reminders = reminders_of(conversation_id)
            state = _Paradata(conversation_id, invited_at or started_at, reminders)
            invited = _iso(invited_at)
        asked_at = state.asked_at
        nudges = 0
        if state.reminders:
            nudges = sum(
                1 for at in state.reminders if asked_at is None or asked_at < at <= answered_at
            )
        seconds = round((answered_at - asked_at).total_seconds()) if asked_at else ""
        state.asked_at = answered_at
        yield [
            pseudonym,
            slug,
            key,
            kind,
            "" if skipped else answer_cell(kind, value_json),
            "" if skipped else text_cell(label),
            text_cell(raw_text),
            _iso(answered_at),
            attempts,
            invited,
            nudges,
            seconds,
            1 if skipped else 0,
        ]


def wide_rows(session: Session, poll: Poll, defn: PollDefinition) -> Iterator[Row]:
    """One row per participant, one column per question (in the poll's order)."""
    keys = [q.key for q in defn.questions]
    at = {key: i for i, key in enumerate(keys, start=1)}
    stmt = (
        _answers_from(
            sa.select(
                Answer.conversation_id,
                Participant.pseudonym,
                Answer.question_key,
                Answer.kind,
                _value_json(),
                Answer.skipped,
            ).select_from(Answer)
        )
        .where(*_kept_answers(poll.id))
        .order_by(Answer.conversation_id, Answer.answered_at, Answer.id)
    )
    answer_cell = _answer_cells()
    current: int | None = None
    row: Row = []
    for conversation_id, pseudonym, key, kind, value_json, skipped in _stream(session, stmt):
        if conversation_id != current:
            if current is not None:
                yield row
            current = conversation_id
            row = [pseudonym] + [""] * len(keys)
        if key in at and not skipped:
            row[at[key]] = answer_cell(kind, value_json)
    if current is not None:
        yield row


# ---------------------------------------------------------------------------------------------
# Ballots, tally, codebook


def ballot_rows(session: Session, poll: Poll, question: str | None = None) -> Iterator[Row]:
    """One row per current ballot: ranking = codes best first, as `smsapp tally` reads them."""
    stmt = (
        _answers_from(
            sa.select(
                Participant.pseudonym,
                Answer.question_key,
                Answer.kind,
                Answer.value,
                Answer.answered_at,
            ).select_from(Answer)
        )
        .where(
            *_kept_answers(poll.id),
            Answer.kind.in_(columns.BALLOT_KINDS),
            Answer.skipped.is_(False),
        )
        .order_by(Answer.question_key, Answer.id)
    )
    if question is not None:
        stmt = stmt.where(Answer.question_key == question)
    if poll.closed_at is not None:
        # Exactly the ballots the final count took, so `smsapp tally` on this file recreates it.
        stmt = stmt.where(Answer.answered_at <= poll.closed_at)
    for pseudonym, key, kind, value, cast_at in _stream(session, stmt):
        found = columns.ballot_cells(kind, value)
        if found is None:
            continue
        ranking, points = found
        yield [
            pseudonym,
            poll.slug,
            key,
            cells.neutralise(ranking),
            _iso(cast_at),
            kind,
            points,
        ]


def latest_tally_runs(session: Session, poll: Poll) -> list[TallyRun]:
    """The count to report for each (question, method): the final one, else the newest."""
    runs = session.scalars(
        sa.select(TallyRun)
        .where(TallyRun.poll_id == poll.id)
        .order_by(
            TallyRun.question_key,
            TallyRun.method,
            TallyRun.provisional,
            TallyRun.created_at.desc(),
            TallyRun.id.desc(),
        )
    ).all()
    chosen: dict[tuple[str, str], TallyRun] = {}
    for run in runs:
        chosen.setdefault((run.question_key, run.method), run)
    return list(chosen.values())


def _labels(defn: PollDefinition, key: str) -> dict[str, str]:
    try:
        question = defn.question(key)
    except KeyError:
        return {}
    return {o.code: o.label for o in question.options}


def tally_rows(
    session: Session, poll: Poll, defn: PollDefinition, suppress_below: int | None = None
) -> Iterator[Row]:
    """Every round of every method counted, from the stored TallyRun rows."""
    suppress = cells.suppress
    for run in latest_tally_runs(session, poll):
        for item in columns.tally_rows(run.result, _labels(defn, run.question_key)):
            exhausted = item["exhausted"]
            yield [
                poll.slug,
                run.question_key,
                run.method,
                item["round"],
                cells.neutralise(item["option"]),
                cells.safe_text(item["label"]),
                suppress(item["votes"], suppress_below),
                item["status"],
                cells.safe_text(item["note"]),
                item["place"],
                suppress(run.ballots, suppress_below),
                suppress(exhausted, suppress_below) if exhausted != "" else "",
                0 if run.provisional else 1,
                run.input_sha256,
            ]


def _when(question: Question) -> str:
    return "; ".join(f"{key} in {' '.join(values)}" for key, values in question.when)


def codebook_rows(poll: Poll, defn: PollDefinition) -> Iterator[Row]:
    """One row per option (or scale point) per question; one row for a question without."""
    for question in defn.questions:
        if question.kind == "yesno":
            codes = [("Y", "Yes"), ("N", "No")]
        elif question.options:
            codes = [(o.code, o.label) for o in question.options]
        elif question.kind == "scale" and (question.max or 5) - question.low < (
            columns.SCALE_ROWS_LIMIT
        ):
            high = question.max or 5
            ends = dict(zip((question.low, high), question.labels or (), strict=False))
            codes = [(str(n), ends.get(n, str(n))) for n in range(question.low, high + 1)]
        else:
            codes = [("", "")]
        extra = [
            1 if question.optional else 0,
            "" if question.min is None else question.min,
            "" if question.max is None else question.max,
            question.tally_method or "",
            cells.safe_text(_when(question)),
        ]
        for code, label in codes:
            yield [
                poll.slug,
                question.key,
                question.kind,
                cells.safe_text(question.prompt),
                cells.neutralise(code),
                cells.safe_text(label),
                *extra,
            ]


# ---------------------------------------------------------------------------------------------
# Writing


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


def check_request(poll: Poll, request: ExportRequest) -> None:
    """Raise ExportError for a request this poll cannot answer (before any byte is written)."""
    if request.question is None:
        return
    try:
        kind = load_definition(poll).question(request.question).kind
    except KeyError:
        raise ExportError(f"poll {poll.slug} has no question {request.question!r}") from None
    if kind not in columns.BALLOT_KINDS:
        raise ExportError(f"question {request.question!r} is a {kind} question, not a ballot")


def export_rows(session: Session, poll: Poll, request: ExportRequest) -> Iterator[Row]:
    """The data rows of one CSV export, streamed."""
    check_request(poll, request)
    defn = load_definition(poll)
    if request.kind == "responses":
        return wide_rows(session, poll, defn) if request.wide else response_rows(session, poll)
    if request.kind == "ballots":
        return ballot_rows(session, poll, request.question)
    if request.kind == "tally":
        return tally_rows(session, poll, defn, request.suppress_below)
    if request.kind == "codebook":
        return codebook_rows(poll, defn)
    raise ExportError(f"{request.kind} is not a CSV export")


class CountedRows(Iterator[Row]):
    """Rows passed through, counted on the way (the writers report how many they wrote)."""

    def __init__(self, rows: Iterator[Row]) -> None:
        self._rows = rows
        self.count = 0

    def __next__(self) -> Row:
        row = next(self._rows)
        self.count += 1
        return row

    def __iter__(self) -> CountedRows:
        return self


def csv_chunks(
    head: list[str],
    rows: Iterable[Row],
    *,
    bom: bool = True,
    progress: Callable[[int], None] | None = None,
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


def write_csv(
    out: TextSink,
    session: Session,
    poll: Poll,
    request: ExportRequest,
    *,
    bom: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write one CSV export to a text file opened with newline=""; returns its data rows."""
    head = header(request, load_definition(poll))
    if (
        request.kind == "responses"
        and not request.wide
        and session.get_bind().dialect.name == "postgresql"
    ):
        return _write_lines(out, head, _pg_response_lines(session, poll), bom, progress)
    rows = CountedRows(export_rows(session, poll, request))
    for chunk in csv_chunks(head, rows, bom=bom, progress=progress):
        out.write(chunk)
    return rows.count


def _write_lines(
    out: TextSink,
    head: list[str],
    lines: Iterator[str],
    bom: bool,
    progress: Callable[[int], None] | None,
) -> int:
    """Write finished CSV lines FLUSH_ROWS at a time, as csv_chunks does with rows."""
    out.write(next(csv_chunks(head, (), bom=bom)))
    done = 0
    while batch := list(itertools.islice(lines, FLUSH_ROWS)):
        out.write("".join(batch))
        done += len(batch)
        if progress is not None and done % PROGRESS_EVERY == 0:
            progress(done)
    if progress is not None:
        progress(done)
    return done


def floip_rows(session: Session, poll: Poll) -> Iterator[Row]:
    """Flow Results response rows: one per kept answer, the text redacted like every export."""
    stmt = (
        _answers_from(
            sa.select(
                Answer.id,
                Answer.conversation_id,
                Participant.pseudonym,
                Answer.question_key,
                Answer.kind,
                Answer.value,
                Answer.label,
                Answer.answered_at,
                Answer.attempts,
                Answer.skipped,
            ).select_from(Answer)
        )
        .where(*_kept_answers(poll.id))
        .order_by(Answer.id)
    )
    for (
        answer_id,
        conversation_id,
        pseudonym,
        key,
        kind,
        value,
        label,
        answered_at,
        attempts,
        skipped,
    ) in _stream(session, stmt):
        response = "" if skipped else floip.response_cell(kind, value)
        if isinstance(response, str):
            response = cells.safe_text(response)
        metadata = {"kind": kind, "attempts": attempts, "skipped": bool(skipped)}
        if label and not skipped:
            metadata["label"] = redact(label)
        yield [
            _iso(answered_at),
            answer_id,
            pseudonym,
            f"{poll.slug}-{conversation_id}",
            key,
            response,
            cells.neutralise(json.dumps(metadata, ensure_ascii=False)),
        ]


def write_floip(
    out: IO[bytes],
    session: Session,
    poll: Poll,
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """A zip holding datapackage.json and responses.csv; rows stream into the zip entry."""
    defn = load_definition(poll)
    package = floip.datapackage(
        defn,
        poll_id=poll.id,
        created=poll.created_at,
        modified=poll.closed_at or utcnow(),
    )
    done = 0
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("datapackage.json", floip.dump(package))
        with archive.open(floip.RESPONSES_PATH, "w") as entry:
            text = io.TextIOWrapper(entry, encoding="utf-8", newline="")
            counted = CountedRows(floip_rows(session, poll))
            for chunk in csv_chunks(list(floip.COLUMNS), counted, bom=False, progress=progress):
                text.write(chunk)
            text.flush()
            text.detach()
            done = counted.count
    return done


# ---------------------------------------------------------------------------------------------
# Large exports: written to a file by a job, with progress the page can show


def create_run(
    session: Session, poll: Poll, request: ExportRequest, actor: str, directory: Path
) -> ExportRun:
    """Record a large export to be written under `directory`; the caller commits and enqueues."""
    filename = export_filename(poll.slug, request, utcnow().date())
    run = ExportRun(
        kind=request.label,
        poll_id=poll.id,
        requested_by=actor,
        options=request.to_json(),
        status=ExportStatus.QUEUED,
        filename=filename,
    )
    session.add(run)
    session.flush()
    run.path = str(directory / f"{run.id}-{filename}")
    audit.record(session, actor, "export.requested", f"poll:{poll.slug}", export_id=run.id)
    return run


def write_run(db: Database, export_id: int, *, bom: bool = True) -> ExportRun | None:
    """Write the file of a queued ExportRun, updating its progress as rows go out.

    Progress is committed in its own short transactions so the page sees it while the long
    read goes on. A failure leaves no partial file and marks the run failed with the reason.
    """
    with db.transaction() as session:
        run = session.get(ExportRun, export_id)
        if run is None or run.status != ExportStatus.QUEUED or not run.path:
            return run
        poll = session.get(Poll, run.poll_id)
        if poll is None:
            run.status, run.error = ExportStatus.FAILED, "the poll no longer exists"
            return run
        request = ExportRequest.from_json(run.options)
        run.status = ExportStatus.RUNNING
        run.rows_total = count_answers(session, poll, request)
        path = Path(run.path)

    def progress(done: int) -> None:
        with db.transaction() as s:
            s.execute(sa.update(ExportRun).where(ExportRun.id == export_id).values(rows_done=done))

    partial = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with db.transaction() as session:
            poll = session.get(Poll, poll.id)
            assert poll is not None
            if request.kind == "floip":
                with partial.open("wb") as binary:
                    rows = write_floip(binary, session, poll, progress=progress)
            else:
                with partial.open("w", encoding="utf-8", newline="") as text:
                    rows = write_csv(text, session, poll, request, bom=bom, progress=progress)
        os.replace(partial, path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        with db.transaction() as session:
            failed = session.get(ExportRun, export_id)
            assert failed is not None
            # An exception may quote the data it choked on: a cell of free text.
            failed.status, failed.error = ExportStatus.FAILED, redact(str(error))[:500]
            failed.finished_at = utcnow()
        raise
    with db.transaction() as session:
        done = session.get(ExportRun, export_id)
        assert done is not None
        done.status, done.rows_done, done.finished_at = ExportStatus.DONE, rows, utcnow()
        done.rows_total = max(done.rows_total or 0, rows)
        return done

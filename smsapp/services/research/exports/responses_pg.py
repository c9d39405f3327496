"""The long responses export on PostgreSQL, as finished CSV lines: the server formats times and
computes the paradata, COPY streams the rows, and Python only makes the free text safe.

The same bytes as responses.response_rows written by csv.writer
(tests/integration/test_export_bytes.py), at several times the speed (bench/export.py).
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.formats import cells
from smsapp.models import Answer, Conversation, OutboundMessage, OutboundStatus, Participant, Poll
from smsapp.services.research.answers import counted_answers
from smsapp.services.research.exports.reading import (
    CELL_CACHE,
    answer_cells,
    raw_time,
)


def _copied_rows(session: Session, stmt: sa.Select[Any]) -> Iterator[tuple[Any, ...]]:
    """The rows of `COPY (stmt) TO STDOUT` on the raw psycopg connection.

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
    """reading.iso in SQL: ISO 8601 in UTC with a Z, microseconds only when there are some."""
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


def _responses(session: Session, poll: Poll) -> sa.Select[Any]:
    """The long responses as text columns, times, paradata and flags computed by the server.

    The asked-at time is the previous kept answer of the conversation (a window over the same
    order as the rows), else the invitation, else the start; reminders are counted per answer
    only when the poll has any. Answers and free text are left for cells in Python. The six
    paradata cells come as one `a,b,c,d,e,f` text: none of them can hold a comma, quote or
    line break, so CSV would write them unquoted anyway.
    """
    previous = sa.func.lag(Answer.answered_at).over(
        partition_by=Answer.conversation_id, order_by=(Answer.answered_at, Answer.id)
    )
    inner = (
        counted_answers(
            session,
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
            poll=poll.id,
        )
        .join(Conversation, Conversation.id == Answer.conversation_id)
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
        at = raw_time(OutboundMessage.created_at)
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
    blank: list[sa.ColumnElement[Any]] = [sa.func.coalesce(cell, "") for cell in tail]
    joined = functools.reduce(lambda text, cell: text + "," + cell, blank)
    return sa.select(
        inner.c.pseudonym,
        inner.c.question_key,
        inner.c.kind,
        inner.c.value_json,
        inner.c.label,
        inner.c.raw_text,
        joined,
    ).order_by(inner.c.conversation_id, inner.c.answered_at, inner.c.id)


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


def response_lines(session: Session, poll: Poll) -> Iterator[str]:
    """The long responses as finished CSV lines, each ending in CRLF.

    Every cell that repeats is cached already CSV-encoded (answers per kind and JSON, labels,
    free text, question and kind), the paradata arrive as one ready-made text, so a row costs
    a few cache look-ups and one string join: no csv.writer call and no cell list per row.
    """
    field = _csv_field()
    answer_cell = answer_cells()

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
    stmt = _responses(session, poll)
    for pseudonym, key, kind, value_json, label, raw_text, tail in _copied_rows(session, stmt):
        if pseudonym != last:  # rows come a conversation at a time
            last, who = pseudonym, f"{field(pseudonym or '')},{slug}"
        yield (
            f"{who},{question_fields(key, kind)},{answer_field(kind, value_json)},"
            f"{text_field(label)},{text_field(raw_text)},{tail}\r\n"
        )

"""How the exports read the database: rows streamed as they come, times in UTC without per-row
conversion, and the answer cell cached per export."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.formats import cells, columns
from smsapp.models import Answer

STREAM_BATCH = 2000  # rows fetched per round trip from the server-side cursor
CELL_CACHE = 4096  # distinct cells remembered per export: bounded, so memory stays flat

Row = list[Any]


def stream(session: Session, stmt: sa.Executable) -> Iterator[Any]:
    """Rows as they are read: a server-side cursor on PostgreSQL, a lazy cursor on SQLite.

    The cursor closes when the rows run out or the reader stops (closes the iterator, or drops
    it), so a reader that needs only the first rows leaves no cursor open.
    """
    result = session.connection().execute(
        stmt, execution_options={"stream_results": True, "yield_per": STREAM_BATCH}
    )
    with result:
        yield from result


def iso(moment: datetime | None) -> str:
    """ISO 8601 in UTC with a Z; a naive time (SQLite, read raw) is already UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    text = moment.isoformat()
    if text.endswith("+00:00"):
        return text[:-6] + "Z"
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def raw_time(column: Any) -> sa.ColumnElement[datetime]:
    """A UTC column read without the UTCDateTime decorator's per-row conversion.

    On a million rows that conversion costs more than the rest of a row; iso and the
    paradata accept the driver's value directly (PostgreSQL sends it in UTC because
    utc_session sets the zone; SQLite gives naive UTC).
    """
    return sa.type_coerce(column, sa.DateTime(timezone=True))


def utc_session(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))


def value_json() -> sa.ColumnElement[str]:
    """The stored JSON as text: repeated answers then share one cached cell."""
    return sa.cast(Answer.value, sa.Text).label("value_json")


def answer_cells() -> Callable[[str, str | None], str]:
    """kind + stored JSON -> the safe answer cell, cached for this export only.

    Most answers repeat (option codes, yes/no, small numbers), so a small bounded cache skips
    the JSON parse and the redaction for nearly every row; it is dropped with the export.
    """

    @functools.lru_cache(maxsize=CELL_CACHE)
    def cell(kind: str, value_json: str | None) -> str:
        value = json.loads(value_json) if value_json is not None else None
        return cells.safe_text(columns.answer_text(kind, value))

    return cell

"""PostgreSQL statements run directly on the driver's connection, for the hottest path.

The inbound lean path (services/inbox/lean.py) answers hundreds of texts a second. Through
SQLAlchemy's Connection each statement cost more CPU than the database spent on it. Here a Core
statement is compiled once (`Compiled`): its SQL, how each parameter is bound and how each
column is read are worked out then, exactly as SQLAlchemy would for the same types, and each
execution is one psycopg call. psycopg prepares a statement on the server after a few uses.
(psycopg's pipeline mode was measured too: it saved round trips but cost more CPU than it
saved, on the client and no less on the server, so statements go one at a time.)

`transaction(db)` lends a pooled connection and owns its transaction (`Transaction.commit`).
When the sessions are bound to one connection rather than the engine (the tests' rolled-back
outer transaction), it runs on that connection inside a session's SAVEPOINT instead, and the
session ends it.

A psycopg error comes out as SQLAlchemy's (an IntegrityError is an IntegrityError; a dropped
connection is a DBAPIError with ``connection_invalidated`` set, after the pool is replaced), so
callers handle both paths' failures the same way. Its text never lists the parameters (as the
engine's ``hide_parameters``); what the server itself says (a DETAIL) is in it as on the full
path, and the logs and stored errors redact numbers from both.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa

from smsapp.db import Database

Processor = Callable[[Any], Any]


class Compiled:
    """A Core statement compiled once for PostgreSQL + psycopg: ``run`` executes it with
    parameters and reads its rows back as named tuples, processed as SQLAlchemy would."""

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or "POSTCOMPILE" in str(compiled):
            raise ValueError("a direct statement binds named parameters, no expanding IN")
        self.sql = str(compiled)
        self.query = self.sql.encode()  # what psycopg sends (and keys its prepared ones by)
        # Literal values SQLAlchemy bound itself (a LIMIT, a false) and every parameter's name.
        self.defaults: dict[str, Any] = {}
        self.binds: dict[str, Processor] = {}
        for bind, name in compiled.bind_names.items():
            if not bind.required:
                self.defaults[name] = bind.effective_value
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.binds[name] = processor
        columns = list(getattr(statement, "exported_columns", ()))  # selected, or RETURNING
        self.row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]
        self.reads: list[tuple[int, Processor]] = []
        for i, column in enumerate(columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                self.reads.append((i, processor))

    def params(self, given: Mapping[str, Any]) -> dict[str, Any]:
        params = {**self.defaults, **given}
        for name, processor in self.binds.items():
            params[name] = processor(params[name])
        return params

    def run(self, cursor: psycopg.Cursor[Any], given: Mapping[str, Any]) -> list[Any]:
        """Execute with these parameters and return the rows it returns (every statement here
        selects or returns something), as named tuples."""
        cursor.execute(self.query, self.params(given), prepare=True)
        out = []
        for values in cursor.fetchall():
            if self.reads:
                values = list(values)
                for i, processor in self.reads:
                    values[i] = processor(values[i])
            out.append(self.row(*values) if self.row else values)
        return out


class Transaction:
    """One text's transaction on psycopg's connection: ``run`` a statement, ``commit()`` it
    (nothing when a session's SAVEPOINT holds the work: the session releases it)."""

    def __init__(self, conn: psycopg.Connection[Any], owned: bool) -> None:
        self.conn = conn
        self.owned = owned
        self.cursor = conn.cursor()  # one for the transaction's statements, one at a time

    def run(self, statement: Compiled, params: Mapping[str, Any]) -> list[Any]:
        return statement.run(self.cursor, params)

    def commit(self) -> None:
        if self.owned:
            self.conn.commit()


def _translated(exc: psycopg.Error, invalidated: bool) -> sa.exc.StatementError:
    return sa.exc.DBAPIError.instance(
        None,
        None,
        exc,
        psycopg.Error,
        hide_parameters=True,
        connection_invalidated=invalidated,
    )


@contextmanager
def transaction(db: Database) -> Iterator[Transaction]:
    bind = db.pooled_engine
    if bind is None:
        with db.transaction() as session:
            dbapi: psycopg.Connection[Any] = session.connection().connection.driver_connection  # type: ignore[assignment]
            try:
                yield Transaction(dbapi, owned=False)
            except psycopg.Error as exc:
                raise _translated(exc, False) from exc
        return
    raw = bind.raw_connection()
    conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
    try:
        yield Transaction(conn, owned=True)
    except psycopg.Error as exc:
        lost = conn.broken or conn.closed
        if lost:
            # The server went away (a restart): every pooled connection is as dead as this one.
            raw.invalidate(exc)
            bind.dispose()
        else:
            conn.rollback()
        raise _translated(exc, lost) from exc
    except BaseException:
        if not (conn.broken or conn.closed):
            conn.rollback()
        raise
    finally:
        raw.close()

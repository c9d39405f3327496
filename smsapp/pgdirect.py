"""PostgreSQL statements run directly on the driver's connection, for the hottest path.

The inbound lean path (services/inbox/lean.py) answers hundreds of texts a second. Through
SQLAlchemy's Connection each statement cost more CPU than the database spent on it. Here a Core
statement is compiled once (`Compiled`): its SQL, how each parameter is bound and how each
column is read are worked out then, exactly as SQLAlchemy would for the same types.

Round trips, not statements, are what a text pays for: each costs a write and a wake-up on
both sides of the socket. So a statement is a named server-side prepared statement (PREPARE,
once per connection, with the parameter types SQLAlchemy knows), and `Transaction.run_all`
sends several of them as ONE query: ``BEGIN;EXECUTE lock(...);EXECUTE load(...)`` and then
``EXECUTE write(...);COMMIT``, parameters bound client-side by psycopg's own quoting
(`psycopg.ClientCursor`, libpq's escaping). PostgreSQL still runs them one by one, each with a
snapshot of its own taken when it starts: a load after a lock in the same query sees what the
lock waited for. Measured in-process against one statement per round trip (BEGIN, lock, load,
write, COMMIT): client CPU 0.150 -> 0.069 ms and server CPU 0.179 -> 0.124 ms per text.
(psycopg's pipeline mode saved the round trips too but cost more client CPU than it saved.)

Prepared statements live as long as the server connection; each connection remembers which it
has (`_prepared`). psycopg itself must not prepare on these connections: after a ROLLBACK it
sends DEALLOCATE ALL, which would take ours too (db.py turns its automatic preparing off). If
one is gone anyway (SQLSTATE 26000), the record is dropped and the error is transient
(`db.is_transient`): the text is tried once more and prepares afresh. Not for PgBouncer in
transaction mode, which moves a client between server connections (docs/operations.md).

`transaction(db)` lends a pooled connection and owns its transaction (`Transaction.commit`).
When the sessions are bound to one connection rather than the engine (the tests' rolled-back
outer transaction), it runs on that connection inside a session's SAVEPOINT instead, sends no
BEGIN or COMMIT, and the session ends it.

A psycopg error comes out as SQLAlchemy's (an IntegrityError is an IntegrityError; a dropped
connection is a DBAPIError with ``connection_invalidated`` set, after the pool is replaced), so
callers handle both paths' failures the same way. Its text never lists the parameters (as the
engine's ``hide_parameters``); what the server itself says (a DETAIL) is in it as on the full
path, and the logs and stored errors redact numbers from both.
"""

from __future__ import annotations

import hashlib
import re
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import errors as pg_errors

from smsapp.db import Database

Processor = Callable[[Any], Any]
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s")  # psycopg's named style, as SQLAlchemy compiles it
NAMED: dict[str, str] = {}  # each prepared statement's SQL by its name (for logs and tests)


class Compiled:
    """A Core statement compiled once for PostgreSQL + psycopg: a named prepared statement
    (``prepare``), how to execute it (``execute`` and ``args``) and how to read its rows."""

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positional or "POSTCOMPILE" in str(compiled):
            raise ValueError("a direct statement binds named parameters, no expanding IN")
        self.sql = str(compiled)
        # Values SQLAlchemy bound itself (a status compared with, a LIMIT) are written into
        # the prepared SQL as constants: as parameters, PostgreSQL's generic plan could not use
        # a partial index (``WHERE status = 'open'``), and with the bench's 200 open
        # conversations the load read every one of them through the status index. Any other
        # such value stays a parameter, given its default.
        self.defaults: dict[str, Any] = {}
        self.binds: dict[str, Processor] = {}
        constants: dict[str, str] = {}
        types: dict[str, str] = {}
        for bind, name in compiled.bind_names.items():
            impl = bind.type.dialect_impl(dialect)
            if not bind.required:
                value = bind.effective_value
                literal = impl.literal_processor(dialect) if value is not None else None
                if literal is not None:
                    constants[name] = literal(value).replace("%", "%%")  # the query is %-formatted
                    continue
                self.defaults[name] = value
            processor = impl.bind_processor(dialect)
            if processor is not None:
                self.binds[name] = processor
            types[name] = (
                "unknown"  # PostgreSQL infers it where it is used
                if isinstance(bind.type, sa.types.NullType)
                else dialect.type_compiler_instance.process(impl)
            )
        # $1, $2... in order of first use; a name used twice is one parameter.
        self.order: list[str] = []

        def number(match: re.Match[str]) -> str:
            if match[1] in constants:
                return constants[match[1]]
            if match[1] not in self.order:
                self.order.append(match[1])
            return f"${self.order.index(match[1]) + 1}"

        numbered = _PLACEHOLDER.sub(number, self.sql)  # %% stays: run_all's query is %-formatted
        self.name = "smsapp_" + hashlib.sha1(self.sql.encode()).hexdigest()[:24]
        NAMED[self.name] = self.sql
        typed = f"({', '.join(types[n] for n in self.order)})" if self.order else ""
        self.prepare = f"PREPARE {self.name}{typed} AS {numbered}"
        self.execute = f"EXECUTE {self.name}" + (
            f"({', '.join(['%s'] * len(self.order))})" if self.order else ""
        )
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

    def args(self, given: Mapping[str, Any]) -> list[Any]:
        """The parameters in $n order, bound as SQLAlchemy binds them."""
        params = self.params(given)
        return [params[name] for name in self.order]

    def rows(self, fetched: list[Any]) -> list[Any]:
        """Rows as named tuples, each column read as SQLAlchemy reads it."""
        out = []
        for values in fetched:
            if self.reads:
                values = list(values)
                for i, processor in self.reads:
                    values[i] = processor(values[i])
            out.append(self.row(*values) if self.row else values)
        return out


# The statements each server connection has prepared, by name (it ends with the connection).
_prepared: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[str]] = (
    weakref.WeakKeyDictionary()
)


class Transaction:
    """One text's transaction on psycopg's connection: ``run_all`` sends statements together
    in one round trip (BEGIN first, COMMIT last if asked), ``commit()`` ends it. When a
    session's SAVEPOINT holds the work (not ``owned``), neither BEGIN nor COMMIT is sent."""

    def __init__(self, conn: psycopg.Connection[Any], owned: bool) -> None:
        self.conn = conn
        self.owned = owned
        self.begun = not owned
        self.cursor = psycopg.ClientCursor(conn)
        found = _prepared.get(conn)
        if found is None:
            found = _prepared[conn] = set()
        self.known = found

    def run(self, statement: Compiled, params: Mapping[str, Any]) -> list[Any]:
        """One statement's rows (every statement here selects or returns something)."""
        return self.run_all((statement, params))[0]

    def run_all(
        self, *steps: tuple[Compiled, Mapping[str, Any]], commit: bool = False
    ) -> list[list[Any]]:
        """Each statement's rows, all sent as one query; ``commit`` ends the transaction in
        the same round trip (when this transaction owns its connection)."""
        for statement, _ in steps:
            if statement.name not in self.known:
                self._prepare(statement)
        parts: list[str] = [] if self.begun else ["BEGIN"]
        args: list[Any] = []
        for statement, given in steps:
            parts.append(statement.execute)
            args.extend(statement.args(given))
        ends = commit and self.owned
        if ends:
            parts.append("COMMIT")
        cursor = self.cursor
        try:
            cursor.execute(";".join(parts), args)
        except pg_errors.InvalidSqlStatementName:
            self.known.clear()  # something deallocated them: prepare afresh next time
            raise
        self.begun = not ends
        # One result per part, in order; each EXECUTE's rows are its statement's.
        results: list[list[Any]] = []
        for i, part in enumerate(parts):
            if i:
                cursor.nextset()
            if part.startswith("EXECUTE "):
                results.append(steps[len(results)][0].rows(cursor.fetchall()))
        return results

    def _prepare(self, statement: Compiled) -> None:
        """PREPARE on this connection, a round trip of its own the first time only: once sent,
        a statement exists whatever becomes of the transaction around it."""
        try:
            self.cursor.execute(statement.prepare, [])  # [] so its %% reads as %
        except pg_errors.DuplicatePreparedStatement:
            self.known.add(statement.name)  # already there (and any transaction is aborted)
            raise
        self.known.add(statement.name)

    def commit(self) -> None:
        if self.owned and self.begun:
            self.conn.commit()
            self.begun = False


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
        # Our own BEGIN and COMMIT, each in a round trip with statements (psycopg's own BEGIN
        # would be one more); put back before the pool has it again.
        conn.autocommit = True
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
        if not (conn.broken or conn.closed):
            conn.autocommit = False
        raw.close()

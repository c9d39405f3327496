"""Engine, sessions and the declarative Base shared by every model.

The engine is fork-safe: RQ forks a work-horse per job, and a child must never reuse a pooled
connection that belongs to its parent.
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_all_after_fork() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_all_after_fork)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    # A failed statement's error text must not carry its values (a child's text or number)
    # into a log line, a traceback or a stored error.
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            os.makedirs(os.path.dirname(url[len("sqlite:///") :]) or ".", exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that BEGIN
            # IMMEDIATE below takes the write lock up front: writers queue instead of
            # deadlocking on a lock upgrade.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    else:
        # No pre-ping: it cost a round trip on every checkout (every text). A connection the
        # server dropped fails its first statement instead; SQLAlchemy then invalidates the
        # whole pool (every connection older than the failure is replaced on its next
        # checkout), and callers that can retry (`retry_disconnect`) do so once. pool_recycle
        # replaces connections before a firewall or pgbouncer idle timeout can drop them.
        kwargs.setdefault("pool_pre_ping", False)
        kwargs.setdefault("pool_recycle", 1800)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        # psycopg prepares nothing by itself: after any ROLLBACK it would send DEALLOCATE ALL,
        # which also drops the statements smsapp/pgdirect.py prepared by name on the same
        # connection (the inbound lean path's).
        connect_args = {"prepare_threshold": None, **kwargs.pop("connect_args", {})}
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
    _engines.add(engine)
    return engine


class Database:
    """One engine and its session factory; held by the app and by job processes."""

    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self.sessionmaker: sessionmaker[Session] = sessionmaker(
            bind=self.engine, expire_on_commit=False
        )

    @property
    def pooled_engine(self) -> Engine | None:
        """The engine sessions take pooled connections from; None when every session shares one
        connection instead (the tests' rolled-back outer transaction), so other ways of using
        the database (core_transaction, smsapp/pgdirect.py) must work on that connection too."""
        bind = self.sessionmaker.kw.get("bind")
        return bind if isinstance(bind, Engine) else None

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

    def session(self) -> Session:
        return self.sessionmaker()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


@contextmanager
def core_transaction(db: Database) -> Iterator[sa.Connection]:
    """A Core connection in a transaction that commits on success and rolls back on error, with
    no ORM Session around it (the inbound lean path and status callbacks). When the sessions
    are bound to one connection rather than the engine (the tests' rolled-back outer
    transaction), it is a session's connection, so both kinds of work share that transaction."""
    engine = db.pooled_engine
    if engine is not None:
        with engine.begin() as conn:
            yield conn
    else:
        with db.transaction() as session:
            yield session.connection()


def is_disconnect(exc: BaseException) -> bool:
    """True for an error that means the connection was lost (the server restarted or dropped
    it): SQLAlchemy has invalidated the pool's older connections, so one retry gets a new one."""
    return isinstance(exc, sa.exc.DBAPIError) and bool(exc.connection_invalidated)


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# whole, and the same work tried again normally succeeds. Also invalid_sql_statement_name: a
# statement smsapp/pgdirect.py prepared is gone from the connection, and it prepares it again.
_TRANSIENT_SQLSTATES = {"40P01", "40001", "26000"}


def is_transient(exc: BaseException) -> bool:
    """True when trying the whole transaction once more is safe and likely to work: a lost
    connection (`is_disconnect`), PostgreSQL ending it as a deadlock's victim, or a prepared
    statement the connection lost."""
    if is_disconnect(exc):
        return True
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES


def for_update(stmt: sa.Select[Any], session: Session, **kwargs: Any) -> sa.Select[Any]:
    """Add FOR UPDATE where the database has it (SQLite serialises writers anyway)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        return stmt.with_for_update(**kwargs)
    return stmt

"""smsapp/pgdirect.py: a Core statement compiled once and run on psycopg directly binds and reads
values exactly as SQLAlchemy does, and its failures come out as SQLAlchemy's, so the lean path
and the full path store and fail alike. PostgreSQL only (the module is PostgreSQL's)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp import pgdirect
from smsapp.db import Database, is_transient
from smsapp.models import InboundMessage

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only: psycopg's own connection"
)

SID = "SM" + "7" * 32


def _insert() -> sa.Insert:
    return (
        sa.insert(InboundMessage)
        .values(
            message_sid=sa.bindparam("sid"),
            body=sa.bindparam("body"),
            received_at=sa.bindparam("at", type_=InboundMessage.__table__.c.received_at.type),
            replies=sa.bindparam("replies", type_=InboundMessage.__table__.c.replies.type),
            flagged=False,
        )
        .returning(InboundMessage.id, InboundMessage.received_at, InboundMessage.replies)
    )


def test_values_go_in_and_come_back_as_sqlalchemy_binds_and_reads_them(engine, database_url):
    db = Database(database_url, engine=engine)
    statement = pgdirect.Compiled(_insert(), engine.dialect)
    # A UTC column given another zone is stored as the same instant; JSON goes in as JSON.
    at = datetime(2026, 12, 4, 15, 30, tzinfo=timezone(timedelta(hours=2)))
    with pgdirect.transaction(db) as tx:
        (row,) = tx.run(statement, {"sid": SID, "body": "hi", "at": at, "replies": ["a", "b"]})
        tx.commit()
    assert row.received_at == at and row.received_at.tzinfo == UTC
    assert row.replies == ["a", "b"]
    with db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage).where(InboundMessage.message_sid == SID))
        assert stored is not None and stored.replies == ["a", "b"] and stored.received_at == at
        s.delete(stored)


def test_a_naive_datetime_is_refused_as_the_orm_refuses_it(engine, database_url):
    statement = pgdirect.Compiled(_insert(), engine.dialect)
    with pytest.raises(ValueError, match="naive datetime"):
        statement.params({"sid": SID, "body": "x", "at": datetime(2026, 1, 1), "replies": []})


def test_a_repeated_sid_is_sqlalchemys_integrity_error_and_rolled_back(engine, database_url):
    db = Database(database_url, engine=engine)
    statement = pgdirect.Compiled(_insert(), engine.dialect)
    at = datetime.now(UTC)
    params = {"sid": SID, "body": "first", "at": at, "replies": []}
    with pgdirect.transaction(db) as tx:
        tx.run(statement, params)
        tx.commit()
    try:
        with pytest.raises(sa.exc.IntegrityError) as caught, pgdirect.transaction(db) as tx:
            tx.run(statement, {**params, "body": "second +447700900123"})
            tx.commit()
        assert not caught.value.connection_invalidated
        assert "+447700900123" not in str(caught.value)
        # The connection went back to the pool usable: the next transaction works.
        with pgdirect.transaction(db) as tx:
            assert tx.run(pgdirect.Compiled(sa.select(sa.literal(1)), engine.dialect), {})
            tx.commit()
    finally:
        with db.transaction() as s:
            s.execute(sa.delete(InboundMessage).where(InboundMessage.message_sid == SID))
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0


def test_an_expanding_in_cannot_be_compiled_for_it(engine):
    statement = sa.select(InboundMessage.id).where(
        InboundMessage.message_sid.in_(sa.bindparam("sids", expanding=True))
    )
    with pytest.raises(ValueError, match="no expanding IN"):
        pgdirect.Compiled(statement, engine.dialect)


def test_a_lost_connection_is_reported_invalidated_and_the_next_text_gets_a_fresh_one(
    engine, database_url
):
    """A server that drops the connection (a restart): the error says the connection was
    invalidated, so receive_text retries once, and that retry is on a live connection."""
    db = Database(database_url, engine=engine)
    backend = pgdirect.Compiled(sa.select(sa.func.pg_backend_pid()), engine.dialect)
    with pytest.raises(sa.exc.DBAPIError) as caught, pgdirect.transaction(db) as tx:
        ((pid,),) = tx.run(backend, {})
        with engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        tx.run(backend, {})
    assert caught.value.connection_invalidated
    with pgdirect.transaction(db) as tx:
        ((fresh,),) = tx.run(backend, {})
        tx.commit()
    assert fresh != pid


def test_text_with_quotes_backslashes_and_semicolons_is_stored_exactly(engine, database_url):
    """Parameters travel inside the query (bound client-side by psycopg's quoting): whatever a
    text says is a value, never SQL."""
    db = Database(database_url, engine=engine)
    statement = pgdirect.Compiled(_insert(), engine.dialect)
    body = "it's a \\'test\\'; DROP TABLE inbound_message; -- $1 %s %(x)s \"q\" 💥\n\t€"
    try:
        with pgdirect.transaction(db) as tx:
            (row,) = tx.run(
                statement,
                {"sid": SID, "body": body, "at": datetime.now(UTC), "replies": [body]},
            )
            tx.commit()
        assert row.replies == [body]
        with db.transaction() as s:
            stored = s.scalar(sa.select(InboundMessage).where(InboundMessage.message_sid == SID))
            assert stored is not None and stored.body == body and stored.replies == [body]
    finally:
        with db.transaction() as s:
            s.execute(sa.delete(InboundMessage).where(InboundMessage.message_sid == SID))


def test_a_statement_after_a_lock_in_the_same_round_trip_sees_what_the_lock_waited_for(
    engine, database_url
):
    """The lean path sends BEGIN, the participant's lock and their load as one query. The load
    must read what the text before it committed, not what was there when the query began."""
    import threading

    db = Database(database_url, engine=engine)
    inbound = InboundMessage.__table__
    lock = pgdirect.Compiled(
        sa.select(inbound.c.id)
        .where(inbound.c.message_sid == sa.bindparam("sid"))
        .with_for_update(),
        engine.dialect,
    )
    load = pgdirect.Compiled(
        sa.select(inbound.c.body).where(inbound.c.message_sid == sa.bindparam("sid")),
        engine.dialect,
    )
    at = datetime.now(UTC)
    with pgdirect.transaction(db) as tx:
        tx.run(
            pgdirect.Compiled(_insert(), engine.dialect),
            {"sid": SID, "body": "before", "at": at, "replies": []},
        )
        tx.commit()
    seen: list[Any] = []
    try:
        with engine.connect() as first:
            first.execute(
                sa.select(inbound.c.id).where(inbound.c.message_sid == SID).with_for_update()
            )
            first.execute(
                sa.update(inbound).where(inbound.c.message_sid == SID).values(body="after")
            )

            def second() -> None:
                with pgdirect.transaction(db) as tx:
                    seen.append(tx.run_all((lock, {"sid": SID}), (load, {"sid": SID})))
                    tx.commit()

            waiting = threading.Thread(target=second)
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive()  # held by the lock
            first.commit()
            waiting.join(10)
        (locked, loaded) = seen[0]
        assert len(locked) == 1 and loaded[0].body == "after"
    finally:
        with db.transaction() as s:
            s.execute(sa.delete(InboundMessage).where(InboundMessage.message_sid == SID))


def test_a_prepared_statement_the_connection_lost_is_transient_and_prepared_again(
    engine, database_url
):
    db = Database(database_url, engine=engine)
    one = pgdirect.Compiled(sa.select(sa.literal(7).label("n")), engine.dialect)
    with pytest.raises(sa.exc.DBAPIError) as caught, pgdirect.transaction(db) as tx:
        assert tx.run(one, {})[0].n == 7
        tx.commit()
        tx.cursor.execute("DEALLOCATE ALL")  # as a driver's own reset would
        tx.run(one, {})
    assert is_transient(caught.value)
    with pgdirect.transaction(db) as tx:  # tried again: prepared afresh, on any connection
        assert tx.run(one, {})[0].n == 7
        tx.commit()


def test_values_sqlalchemy_bound_itself_are_constants_of_the_prepared_statement(
    engine, database_url
):
    """A status compared with or a LIMIT is written into the prepared SQL, so PostgreSQL's
    generic plan can use a partial index on it (``WHERE status = 'open'``); only what the
    caller passes is a parameter."""
    statement = pgdirect.Compiled(
        sa.select(InboundMessage.id)
        .where(InboundMessage.route == "poll", InboundMessage.message_sid == sa.bindparam("sid"))
        .limit(1),
        engine.dialect,
    )
    assert statement.order == ["sid"]
    assert "'poll'" in statement.prepare and "LIMIT 1" in statement.prepare
    db = Database(database_url, engine=engine)
    with pgdirect.transaction(db) as tx:
        assert tx.run(statement, {"sid": SID}) == []
        tx.commit()

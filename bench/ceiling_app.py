"""Ceiling apps for bench/inbound.py: the least an inbound webhook can do, served by gunicorn.

``bare``: check the Twilio signature exactly as smsapp does and return fixed TwiML.
``commit``: the same, plus one durable INSERT + COMMIT per text (PostgreSQL defaults:
fsync and synchronous_commit on). smsapp cannot beat ``commit``: it is the real limit.

Serve with ``gunicorn 'ceiling_app:create_app("commit")'`` (bench/ on PYTHONPATH); settings come
from the same environment smsapp reads (TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL, DATABASE_URL).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from flask import Flask, Response, abort, request

from smsapp.sms.signatures import is_valid_twilio_request

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks!</Message></Response>'
TABLE_DDL = (
    "CREATE TABLE IF NOT EXISTS ceiling_text ("
    " id bigserial PRIMARY KEY, message_sid varchar(64) NOT NULL UNIQUE, body text NOT NULL,"
    " received_at timestamptz NOT NULL DEFAULT now())"
)
POOL_SIZE = 10  # per worker process, like smsapp's engine (pool_size=10)


class ConnectionPool:
    """A plain queue of psycopg connections, opened lazily, so threads or greenlets share a few
    connections the way smsapp's SQLAlchemy pool does (queue is gevent-patched when needed)."""

    def __init__(self, dsn: str, size: int) -> None:
        self.dsn = dsn
        self.free: queue.LifoQueue[psycopg.Connection[Any] | None] = queue.LifoQueue()
        for _ in range(size):
            self.free.put(None)  # a slot; the connection is made on first use

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self.free.get(timeout=30)
        try:
            if conn is None or conn.closed:
                conn = psycopg.connect(self.dsn)
            yield conn
        except BaseException:
            if conn is not None:
                conn.close()
                conn = None
            raise
        finally:
            self.free.put(conn)


def create_app(mode: str = "bare") -> Flask:
    if mode not in {"bare", "commit"}:
        raise ValueError("mode is 'bare' or 'commit'")
    token = os.environ["TWILIO_AUTH_TOKEN"]
    base = os.environ["PUBLIC_BASE_URL"].rstrip("/")
    app = Flask(__name__)
    pool: ConnectionPool | None = None
    if mode == "commit":
        dsn = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
        pool = ConnectionPool(dsn, POOL_SIZE)
        with pool.connection() as conn:
            # Every worker runs this at once; concurrent CREATE TABLE IF NOT EXISTS can still
            # collide in the catalogue, so take turns.
            conn.execute("SELECT pg_advisory_xact_lock(31415926)")
            conn.execute(TABLE_DDL)
            conn.commit()

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", content_type="text/plain")

    @app.post("/sms/inbound")
    def inbound() -> Response:
        if not is_valid_twilio_request(token, base + request.path, request.form, request.headers):
            abort(403)
        if pool is not None:
            with pool.connection() as conn:
                conn.execute(
                    "INSERT INTO ceiling_text (message_sid, body) VALUES (%s, %s)",
                    (request.form["MessageSid"], request.form.get("Body", "")),
                )
                conn.commit()
        return Response(TWIML, content_type="text/xml; charset=utf-8")

    return app

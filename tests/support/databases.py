"""Throwaway databases: a new, empty PostgreSQL database (or a SQLite file) that is dropped
afterwards, for tests and benchmarks whose processes must see committed data.

The one place that creates and drops them: the e2e and fault suites, the migration and dump
tests and bench/ all come here. Nothing here imports pytest, so bench/ can use it too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import sqlalchemy as sa

DRIVER = "postgresql+psycopg"
_in_use: set[tuple[str | None, int | None, str]] = set()


def postgres_server() -> str | None:
    """The PostgreSQL server TEST_DATABASE_URL points at, or None when the tests run on SQLite."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgres") else None


def admin_url(server: str) -> str:
    """The libpq URL (what psycopg takes) of the `postgres` database on `server`'s server."""
    url = sa.make_url(server).set(drivername="postgresql", database="postgres")
    return url.render_as_string(hide_password=False)


@contextmanager
def postgres_database(server: str, prefix: str, *, keep: bool = False) -> Iterator[str]:
    """Create an empty database named `<prefix>_<pid>` on the PostgreSQL server that `server`
    (any database URL on it) points at; yield its SQLAlchemy URL; drop it afterwards,
    connections and all, unless `keep`. One left by a killed run with the same pid is replaced.
    """
    name = f"{prefix}_{os.getpid()}"
    base = sa.make_url(server).set(drivername=DRIVER)
    admin = admin_url(server)
    key = (base.host, base.port, name)
    if key in _in_use:  # the pid makes it unique between processes, this within one
        raise RuntimeError(f"database {name} is already in use on that server")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    _in_use.add(key)
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _in_use.discard(key)
        if not keep:
            try:
                with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg.OperationalError:
                pass  # the server itself is gone (a private one, deleted with its directory)


@contextmanager
def throwaway_database(prefix: str, directory: Path) -> Iterator[str]:
    """An empty database of its own: beside TEST_DATABASE_URL's when that is PostgreSQL, else
    the SQLite file `<directory>/<prefix>.db`. Yields its SQLAlchemy URL."""
    server = postgres_server()
    if server is None:
        yield f"sqlite:///{directory / f'{prefix}.db'}"
        return
    with postgres_database(server, prefix) as url:
        yield url

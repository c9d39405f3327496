"""Fixtures of the fault suite: a throwaway migrated PostgreSQL database, the Twilio stand-in,
a Redis of each test's own, private Redis/PostgreSQL servers a test may kill, and process stacks
(tests/support/stack.py). Everything started here is stopped in teardown, even when a test fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest

from smsapp.migrate import upgrade
from tests.conftest import require_service
from tests.support.databases import admin_url, postgres_database, postgres_server
from tests.support.stack import (
    PrivatePostgres,
    PrivateRedis,
    Stack,
    own_redis_url,  # noqa: F401  (the redis_url fixture)
)
from tests.support.twilio_standin import TwilioStandin


@pytest.fixture
def pg_server() -> str:
    """The machine's PostgreSQL, from TEST_DATABASE_URL (the suite needs real processes on it)."""
    server = postgres_server()
    if server is None:
        pytest.skip("the fault suite runs on PostgreSQL (set TEST_DATABASE_URL); .ci/run does")
    try:
        psycopg.connect(admin_url(server), connect_timeout=3).close()
    except psycopg.Error:
        require_service("PostgreSQL at TEST_DATABASE_URL")
    return server


@pytest.fixture
def database(pg_server: str) -> Iterator[str]:
    """A committed, migrated database the processes share; dropped afterwards."""
    with postgres_database(pg_server, "smsapp_faults") as url:
        upgrade(url)
        yield url


@pytest.fixture
def private_database(private_postgres: PrivatePostgres) -> Iterator[str]:
    """A committed, migrated database on the private PostgreSQL server."""
    with postgres_database(private_postgres.admin, "smsapp_faults") as url:
        upgrade(url)
        yield url


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A second redis-server, for the test to kill and start again."""
    with PrivateRedis() as server:
        yield server


@pytest.fixture
def private_postgres(pg_server: str) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def stack_factory(
    standin: TwilioStandin, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Stack]:
    """make(database_url, redis_url, rate=...) -> Stack. Each stack is stopped before any
    fixture is torn down (the database, Redis and stand-in it stands on), and its processes'
    logs are printed when the test failed."""

    def stop(stack: Stack) -> None:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            print(
                stack.log_tail("web"), stack.log_tail("worker"), stack.log_tail("clock"), sep="\n"
            )
        stack.stop_all()

    def make(database_url: str, redis_url: str, rate: float = 1000.0) -> Stack:
        stack = Stack(database_url, redis_url, standin, rate=rate, logs=tmp_path)
        # Added during the test, so it runs first: finalizers run last-in, first-out.
        request.node.addfinalizer(partial(stop, stack))
        return stack

    return make


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
    return report

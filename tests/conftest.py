"""Fixtures: an app on a real database (SQLite by default, PostgreSQL with TEST_DATABASE_URL),
one transaction per test rolled back at the end, and Twilio-signed webhook requests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import sessionmaker

import smsapp.models  # noqa: F401  (registers the tables)
from smsapp import create_app
from smsapp.config import Settings
from smsapp.db import Base, Database, make_engine
from smsapp.runtime import Runtime, build_runtime, install_runtime
from tests.support.signing import signed_headers

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
DATA_KEY = "q5GQeJ0Qh0pYlG0mZ9Kx3c8n1p3V8bY3w6k2r7t9u1Y="
BASE_URL = "http://localhost"


def _test_database_url(tmp_root: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_root / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _test_database_url(tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(database_url)
    # Drop what the database holds, not what the models list: a table a migration removed
    # (free_text_moderation, 0005) would otherwise outlive its model and block the drop.
    found = sa.MetaData()
    found.reflect(eng)
    found.drop_all(eng)
    Base.metadata.create_all(eng)
    yield eng
    eng.dispose()


def make_test_settings(database_url: str, **overrides: Any) -> Settings:
    settings = Settings(
        database_url=database_url,
        redis_url=None,
        secret_key="test-secret-key",
        data_key=DATA_KEY,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number="+447700900001",
        sms_backend="outbox",
        # Jobs wait in runtime.pending_jobs until a test runs them (smsapp.queue.run_pending):
        # a background thread must never share the test's single connection.
        queue_mode="manual",
    )
    return settings.with_overrides(**overrides) if overrides else settings


@pytest.fixture
def runtime(engine: sa.Engine, database_url: str) -> Iterator[Runtime]:
    """A runtime whose every session joins one outer transaction, rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    db = Database(database_url, engine=engine)
    db.sessionmaker = sessionmaker(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    rt = build_runtime(make_test_settings(database_url), database=db)
    install_runtime(rt)  # jobs called by tests find this runtime through get_runtime()
    yield rt
    outer.rollback()
    connection.close()


@pytest.fixture
def app(runtime: Runtime, tmp_path: Path) -> Flask:
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class SmsappRunner:
    """Invokes the real `smsapp` command group against the test app."""

    def __init__(self, app: Flask) -> None:
        self._runner = app.test_cli_runner()

    def invoke(self, args: list[str], input: str | None = None) -> Any:
        from smsapp.cli import cli

        return self._runner.invoke(cli, args=args, input=input)


@pytest.fixture
def runner(app: Flask) -> SmsappRunner:
    return SmsappRunner(app)


class Phone:
    """Sends texts to the webhook exactly as Twilio would, signed with the SDK's validator."""

    def __init__(self, client: FlaskClient, number: str, token: str = AUTH_TOKEN) -> None:
        self.client = client
        self.number = number
        self.token = token
        self.count = 0

    def params(self, body: str, sid: str | None = None) -> dict[str, str]:
        self.count += 1
        return {
            "MessageSid": sid or f"SM{os.urandom(16).hex()}",
            "AccountSid": ACCOUNT_SID,
            "From": self.number,
            "To": "+447700900001",
            "Body": body,
            "NumSegments": "1",
        }

    def send(self, body: str, sid: str | None = None) -> Any:
        params = self.params(body, sid)
        return post_signed(self.client, "/sms/inbound", params, self.token)

    def replies(self, body: str, sid: str | None = None) -> list[str]:
        response = self.send(body, sid)
        assert response.status_code == 200, response.data
        return twiml_messages(response.data)


def post_signed(
    client: FlaskClient, path: str, params: dict[str, str], token: str = AUTH_TOKEN, **kw: Any
) -> Any:
    headers = signed_headers(BASE_URL + path, params, token, **kw)
    return client.post(path, data=params, headers=headers)


def twiml_messages(xml: bytes) -> list[str]:
    import xml.etree.ElementTree as ET

    root = ET.fromstring(xml)
    assert root.tag == "Response"
    return [m.text or "" for m in root.findall("Message")]


@pytest.fixture
def phone(client: FlaskClient) -> Any:
    def make(number: str) -> Phone:
        return Phone(client, number)

    return make


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", help="also run scenarios marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow scenario: run with --run-slow (.ci/run does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def require_service(what: str) -> None:
    """Skip on a laptop without the service; fail in CI, where it must be there."""
    if os.environ.get("SMSAPP_REQUIRE_SERVICES"):
        pytest.fail(f"{what} is required in CI but is not available")
    pytest.skip(f"{what} not available")


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        require_service(f"Redis at {url}")
    return url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def login(runtime: Runtime, client: FlaskClient) -> Any:
    """login(role="facilitator") logs the test client in and returns a CSRF token."""
    from tests.support.staff import log_in

    def as_role(role: str = "facilitator") -> str:
        return log_in(runtime, client, role)

    return as_role

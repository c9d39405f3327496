"""Log lines: JSON or text with a request id; every HTTP request gets one (kept from a proxy's
sane `X-Request-Id`, never Twilio's idempotency token), sent back and on every line it causes;
and a webhook's lines never hold the sender's number or the text."""

from __future__ import annotations

import io
import json
import logging
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from smsapp import create_app
from smsapp.logs import (
    JsonFormatter,
    StderrHandler,
    TextFormatter,
    configure_logging,
    current_request_id,
    request_context,
    sane_request_id,
)
from smsapp.models import InboundMessage
from smsapp.runtime import Runtime
from tests.support.factories import make_participant

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every record at DEBUG and above, as the production JSON lines, into a buffer."""
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def record(msg: str = "hello %s", args: tuple[Any, ...] = ("world",), **extra: Any) -> Any:
    rec = logging.LogRecord("smsapp.test", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_line_has_the_fields_and_extras() -> None:
    with request_context("req-1"):
        line = json.loads(JsonFormatter().format(record(poll_id=7, path=Path("/x"))))
    assert line["level"] == "WARNING" and line["logger"] == "smsapp.test"
    assert line["message"] == "hello world" and line["request_id"] == "req-1"
    assert line["poll_id"] == 7 and line["path"] == "/x"  # an extra JSON cannot hold: its text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"])
    assert json.loads(JsonFormatter().format(record()))["request_id"] is None


def test_json_line_carries_the_exception() -> None:
    try:
        raise RuntimeError("broken")
    except RuntimeError:
        import sys

        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(rec))
    assert line["exc"].splitlines()[-1] == "RuntimeError: broken"
    assert "\n" not in JsonFormatter().format(rec)  # still one line


def test_text_line_shows_the_id_and_leaves_the_record_alone() -> None:
    rec = record()
    with request_context("abc123"):
        text = TextFormatter().format(rec)
    assert text.endswith("WARNING smsapp.test [abc123] hello world")
    assert "request_id" not in rec.__dict__  # a JSON handler beside it still reads the context
    assert "[-] hello world" in TextFormatter().format(record())


def test_request_context_nests_and_resets() -> None:
    assert current_request_id() is None
    with request_context("outer"):
        with request_context("inner"):
            assert current_request_id() == "inner"
        assert current_request_id() == "outer"
    assert current_request_id() is None


@pytest.mark.parametrize(
    "value",
    ["3f2a9c1e-7b4d-4e8a-9c1f-2b3d4e5f6a7b", "abc123", "Root=1-67891233-abcdef012345678912345678"],
)
def test_sane_ids_are_kept(value: str) -> None:
    assert sane_request_id(value) == value


@pytest.mark.parametrize(
    "value", ["", " ", "a b", "x\nforged line", 'a"b', "{}", "a" * 129, "é", "-leading", None]
)
def test_other_ids_are_refused(value: str | None) -> None:
    assert sane_request_id(value) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_a_kept_id_is_always_a_short_plain_token(value: str) -> None:
    kept = sane_request_id(value)
    if kept is not None:
        assert 1 <= len(kept) <= 128
        assert set(kept) <= set(string.ascii_letters + string.digits + "._:@=+/-")


def test_configure_logging_leaves_a_hosts_set_up_alone_unless_forced() -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        root.handlers = [logging.NullHandler()]
        assert configure_logging("json", "DEBUG") is None
        assert root.level == saved[1] and len(root.handlers) == 1
        root.handlers = []
        first = configure_logging("json", "DEBUG")
        again = configure_logging("text", "WARNING")  # replaces itself, never stacks
        assert root.handlers == [again] and first is not again
        assert isinstance(again, StderrHandler) and isinstance(again.formatter, TextFormatter)
        assert root.level == logging.WARNING
        assert logging.getLogger("twilio.http_client").level == logging.WARNING
        with pytest.raises(ValueError):
            configure_logging("xml", force=True)
    finally:
        root.handlers, root.level = saved[0], saved[1]


def test_every_response_gets_a_fresh_id(client: Any) -> None:
    first = client.get("/login").headers["X-Request-Id"]
    second = client.get("/login").headers["X-Request-Id"]
    assert HEX32.fullmatch(first) and HEX32.fullmatch(second) and first != second


def test_a_sane_incoming_id_is_kept_and_an_unsafe_one_replaced(client: Any) -> None:
    kept = client.get("/login", headers={"X-Request-Id": "lb-7f3a.12"})
    assert kept.headers["X-Request-Id"] == "lb-7f3a.12"
    replaced = client.get("/login", headers={"X-Request-Id": "x" * 300})
    assert HEX32.fullmatch(replaced.headers["X-Request-Id"])


def test_twilios_idempotency_token_is_not_reused(client: Any) -> None:
    token = "0e7a1c5b9d2f4e6a8b0c1d2e3f4a5b6c"
    response = client.get("/login", headers={"I-Twilio-Idempotency-Token": token})
    assert response.headers["X-Request-Id"] != token


def test_every_line_during_a_request_carries_its_id(
    runtime: Runtime, tmp_path: Path, captured: io.StringIO
) -> None:
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})

    @app.get("/log-twice")
    def log_twice() -> str:
        logging.getLogger("somewhere.else").info("first")
        logging.getLogger("smsapp.other").warning("second", extra={"poll_id": 3})
        return "ok"

    captured.truncate(0)
    captured.seek(0)
    response = app.test_client().get("/log-twice", headers={"X-Request-Id": "trace-42"})
    assert response.headers["X-Request-Id"] == "trace-42"
    got = lines(captured)
    assert [line["message"] for line in got] == ["first", "second", "GET /log-twice 200"]
    assert {line["request_id"] for line in got} == {"trace-42"}
    assert got[1]["poll_id"] == 3
    assert got[2]["status"] == 200 and got[2]["path"] == "/log-twice"
    assert current_request_id() is None  # nothing leaks past the request


def test_webhook_log_lines_hold_neither_the_number_nor_the_text(
    app: Flask, runtime: Runtime, phone: Any, captured: io.StringIO
) -> None:
    make_participant(runtime, "07911 123456", nickname="Sam")
    body = "my secret answer is purple-elephant"
    known = phone("+447911123456").send(body)
    unknown = phone("+447700900123").send("who is this zebra-crossing")
    assert known.status_code == 200 and unknown.status_code == 200
    text = captured.getvalue()
    got = lines(captured)
    ids = {known.headers["X-Request-Id"], unknown.headers["X-Request-Id"]}
    assert {line["request_id"] for line in got if line["logger"] == "smsapp.request"} == ids
    for forbidden in ("7911123456", "7911 123456", "7700900123", "purple-elephant", "zebra"):
        assert forbidden not in text


def test_a_failed_statement_never_quotes_its_values(runtime) -> None:
    """SQLAlchemy puts a failed statement's parameters into the error's text, which reaches
    logs and the `error` kept on a text; the engine hides them."""
    secret = "i want to kill myself 07911 123456"
    with runtime.db.transaction() as s:
        s.add(InboundMessage(message_sid="SMdup", body="first"))
    with pytest.raises(sa.exc.IntegrityError) as caught, runtime.db.transaction() as s:
        s.add(InboundMessage(message_sid="SMdup", body=secret))
    assert "kill myself" not in str(caught.value) and "123456" not in str(caught.value)

"""TwilioTransport drives the real twilio SDK against the local stand-in of Twilio's API."""

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smsapp.sms.twilio_transport import SendError, TwilioTransport
from tests.support.twilio_standin import TwilioStandin

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "secret-token"
SENDER = "+447700900123"
MOBILE = "+447911123450"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin(auth_token=TOKEN) as server:
        yield server


def transport_for(standin: TwilioStandin, **kwargs) -> TwilioTransport:
    kwargs.setdefault("from_number", SENDER)
    return TwilioTransport(ACCOUNT, TOKEN, base_url=standin.base_url, **kwargs)


def test_send_reaches_the_standin_with_every_field(standin: TwilioStandin):
    sent = transport_for(standin).send(
        MOBILE,
        "Your poll is open",
        status_callback="https://example.org/sms/status",
        validity_period=3600,
    )
    [recorded] = standin.recorded()
    assert sent.sid == recorded["sid"] and sent.sid.startswith("SM") and len(sent.sid) == 34
    assert sent.status == "queued"
    assert sent.segments == 1
    assert (recorded["to"], recorded["from"], recorded["body"]) == (
        MOBILE,
        SENDER,
        "Your poll is open",
    )
    assert recorded["status_callback"] == "https://example.org/sms/status"
    assert recorded["validity_period"] == "3600"


def test_long_text_reports_its_segments(standin: TwilioStandin):
    assert transport_for(standin).send(MOBILE, "x" * 161).segments == 2


def test_messaging_service_sends_without_a_from_number(standin: TwilioStandin):
    service = "MG" + "f" * 32
    sent = transport_for(standin, from_number=None, messaging_service_sid=service).send(
        MOBILE, "hi"
    )
    [recorded] = standin.recorded()
    assert recorded["messaging_service_sid"] == service and recorded["from"] is None
    assert sent.status == "accepted"


def test_a_sender_is_required():
    with pytest.raises(ValueError):
        TwilioTransport(ACCOUNT, TOKEN)


@pytest.mark.parametrize(
    ("status", "code", "retryable", "opted_out", "invalid_number"),
    [
        (429, 20429, True, False, False),
        (500, 20500, True, False, False),
        (503, 20503, True, False, False),
        (400, 21610, False, True, False),
        (400, 21211, False, False, True),
        (400, 21612, False, False, True),
        (400, 21614, False, False, True),
    ],
)
def test_twilio_errors_are_classified(
    standin: TwilioStandin, status, code, retryable, opted_out, invalid_number
):
    standin.fail_next(1, status=status, code=code)
    with pytest.raises(SendError) as caught:
        transport_for(standin).send(MOBILE, "hello")
    error = caught.value
    assert (error.http_status, error.code) == (status, code)
    assert (error.retryable, error.opted_out, error.invalid_number) == (
        retryable,
        opted_out,
        invalid_number,
    )
    assert standin.recorded() == []
    # The fault was for one request only.
    assert transport_for(standin).send(MOBILE, "hello").status == "queued"


def test_opted_out_number_is_refused_every_time(standin: TwilioStandin):
    standin.number_errors["+447911123456"] = (400, 21610)
    transport = transport_for(standin)
    for _ in range(2):
        with pytest.raises(SendError) as caught:
            transport.send("+447911123456", "hello")
        assert caught.value.opted_out and not caught.value.retryable
    assert transport.send(MOBILE, "hello").sid


def test_malformed_number_is_invalid(standin: TwilioStandin):
    with pytest.raises(SendError) as caught:
        transport_for(standin).send("07700 900", "hello")
    assert caught.value.invalid_number and caught.value.code == 21211


def test_wrong_credentials_are_not_retryable(standin: TwilioStandin):
    transport = TwilioTransport(ACCOUNT, "wrong", from_number=SENDER, base_url=standin.base_url)
    with pytest.raises(SendError) as caught:
        transport.send(MOBILE, "hello")
    assert caught.value.http_status == 401 and not caught.value.retryable


def test_timeout_is_retryable(standin: TwilioStandin):
    standin.set_delay(1.0)
    started = time.monotonic()
    with pytest.raises(SendError) as caught:
        transport_for(standin, timeout=0.2).send(MOBILE, "hello")
    assert time.monotonic() - started < 0.9
    assert caught.value.retryable and caught.value.http_status is None


def test_unreachable_api_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = TwilioTransport(
        ACCOUNT, TOKEN, from_number=SENDER, base_url=f"http://127.0.0.1:{port}"
    )
    with pytest.raises(SendError) as caught:
        transport.send(MOBILE, "hello")
    assert caught.value.retryable and caught.value.code is None


def test_find_sent_recognises_a_message_already_sent(standin: TwilioStandin):
    transport = transport_for(standin)
    since = datetime.now(UTC)
    transport.send("+447911000001", "Question 1: how old are you?")
    original = transport.send(MOBILE, "Question 1: how old are you?")
    transport.send(MOBILE, "Question 2: pick three")
    found = transport.find_sent(MOBILE, "Question 1: how old are you?", since)
    assert found is not None and found.sid == original.sid
    assert transport.find_sent(MOBILE, "Question 3", since) is None
    assert transport.find_sent("+447911000002", "Question 1: how old are you?", since) is None


def test_find_sent_ignores_messages_from_before_since(standin: TwilioStandin):
    transport = transport_for(standin)
    transport.send(MOBILE, "Reminder")
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert transport.find_sent(MOBILE, "Reminder", later) is None


def test_find_sent_follows_pages(standin: TwilioStandin):
    transport = transport_for(standin)
    since = datetime.now(UTC)
    first = transport.send(MOBILE, "the first one")
    for number in range(120):  # more than one page of 100 after it
        transport.send(MOBILE, f"filler {number}")
    found = transport.find_sent(MOBILE, "the first one", since)
    assert found is not None and found.sid == first.sid
    assert standin.request_count > 121  # the list took more than one request


def _control(base: str, method: str, path: str):
    request = urllib.request.Request(
        base + path, method=method, data=b"" if method == "POST" else None
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_standin_runs_as_a_process_with_a_control_api():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.twilio_standin", "--port", str(port), "--quiet"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        transport = TwilioTransport(ACCOUNT, TOKEN, from_number=SENDER, base_url=base)
        sent = transport.send(MOBILE, "from the process")
        assert [m["sid"] for m in _control(base, "GET", "/_standin/messages")] == [sent.sid]
        _control(base, "POST", "/_standin/fail?n=1&status=503&code=20503")
        with pytest.raises(SendError) as caught:
            transport.send(MOBILE, "fails")
        assert caught.value.http_status == 503 and caught.value.retryable
        _control(base, "POST", "/_standin/reset")
        assert _control(base, "GET", "/_standin/messages") == []
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == 0


def test_the_sdk_log_lines_are_built_only_when_its_logger_wants_them(
    standin: TwilioStandin, caplog: pytest.LogCaptureFixture
):
    """The SDK formats its request lines before asking the logger: skipped while it is quiet."""
    transport = transport_for(standin)
    caplog.set_level(logging.WARNING, logger="twilio.http_client")
    transport.send(MOBILE, "quiet")
    assert not [r for r in caplog.records if r.name == "twilio.http_client"]
    caplog.set_level(logging.INFO, logger="twilio.http_client")
    transport.send(MOBILE, "loud")
    lines = [r.getMessage() for r in caplog.records if r.name == "twilio.http_client"]
    assert "-- BEGIN Twilio API Request --" in lines
    assert any(line.startswith("Response Status Code: 201") for line in lines)

"""Twilio's error texts quote the young person's number (21211 "The 'To' number +44… is not a
valid phone number."). Through the real SDK and the stand-in, which answers in Twilio's words:
the number is kept nowhere - not in outbound_message.error_message, not in a log line (pytest's
capture or the production JSON lines), not on the message log or the poll's status page - while
the error code and the rest of Twilio's words stay for whoever has to act on them."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from smsapp import create_app
from smsapp.logs import JsonFormatter
from smsapp.models import OutboundMessage, OutboundStatus, Participant
from smsapp.runtime import Runtime
from smsapp.services.outbox import sending
from smsapp.services.people.staff import create_user
from smsapp.services.people.withdrawal import find_by_pseudonym, withdraw
from tests.conftest import ACCOUNT_SID, post_signed
from tests.support.factories import NOON, launch, make_poll, people
from tests.support.leaks import numbers_in
from tests.support.twilio_standin import TwilioStandin

PASSWORD = "correct horse battery"
# What each code's text says besides the number: proof the message was kept, not dropped.
WORDS = {
    21211: "is not a valid phone number",
    21612: "is not currently reachable",
    21614: "is not a mobile number",
}


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record at DEBUG and above, as the production JSON lines."""
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


def twilio_app(runtime: Runtime, base_url: str, tmp_path: Any) -> tuple[Runtime, Flask]:
    settings = runtime.settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=base_url, twilio_timeout=2.0, send_rate=1000.0
    )
    rt = dataclasses.replace(runtime, settings=settings)
    return rt, create_app({"RUNTIME": rt, "INSTANCE_PATH": str(tmp_path), "TESTING": True})


def log_in(runtime: Runtime, client: FlaskClient, role: str) -> None:
    with runtime.db.transaction() as s:
        create_user(s, f"{role}@example.org", PASSWORD, role)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    data = {"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token.group(1)}
    assert client.post("/login", data=data).status_code == 302


def all_numbers(rt: Runtime) -> dict[int, str]:
    with rt.db.transaction() as s:
        rows = s.execute(sa.select(Participant.id, Participant.phone_ciphertext)).all()
    return {pid: rt.vault.decrypt(blob) for pid, blob in rows if blob}


@pytest.mark.parametrize("code", sorted(WORDS))
def test_a_refusal_quoting_the_number_leaves_it_nowhere(
    runtime: Runtime,
    standin: TwilioStandin,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
    json_lines: io.StringIO,
    code: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    rt, app = twilio_app(runtime, standin.base_url, tmp_path)
    make_poll(rt)
    refused, fine = people(rt, 2)
    numbers = all_numbers(rt)
    standin.number_errors[numbers[refused]] = (400, code)
    launch(rt)
    report = sending.send_due(rt, now=NOON, budget=20)
    assert report.sent == 1 and report.failed == 1

    with rt.db.transaction() as s:
        failed = s.scalar(
            sa.select(OutboundMessage).where(OutboundMessage.participant_id == refused)
        )
        assert failed is not None
        assert failed.status == OutboundStatus.FAILED and failed.error_code == code
        stored = failed.error_message or ""
    assert WORDS[code] in stored and "[number]" in stored, stored

    client = app.test_client()
    log_in(rt, client, "facilitator")
    pages = {
        path: client.get(path).get_data(as_text=True)
        for path in ("/admin/messages", "/admin/polls/name-our-group/status")
    }
    assert all(str(code) in page for page in pages.values())
    assert WORDS[code] in pages["/admin/messages"]

    everything = list(numbers.values())
    assert numbers_in(stored, everything) == []
    for path, page in pages.items():
        assert numbers_in(page, everything) == [], path
    assert any("refused" in r.getMessage() for r in caplog.records)  # the line is still there
    assert numbers_in("\n".join(r.getMessage() for r in caplog.records), everything) == []
    assert numbers_in(caplog.text, everything) == []
    assert numbers_in(json_lines.getvalue(), everything) == []


def test_a_status_callbacks_error_text_is_redacted(
    runtime: Runtime, standin: TwilioStandin, tmp_path: Any
) -> None:
    rt, app = twilio_app(runtime, standin.base_url, tmp_path)
    make_poll(rt)
    [pid] = people(rt, 1)
    number = all_numbers(rt)[pid]
    launch(rt)
    assert sending.send_due(rt, now=NOON, budget=20).sent == 1
    [sent] = standin.recorded()
    params = {
        "MessageSid": sent["sid"],
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "ErrorMessage": f"Unreachable destination handset {number}",
        "AccountSid": ACCOUNT_SID,
    }
    assert post_signed(app.test_client(), "/sms/status", params).status_code == 200
    with rt.db.transaction() as s:
        message = s.scalar(sa.select(OutboundMessage).where(OutboundMessage.participant_id == pid))
        assert message is not None and message.error_code == 30003
        assert numbers_in(message.error_message or "", [number]) == []


def test_a_failed_confirmation_on_withdrawal_keeps_no_number(
    runtime: Runtime, standin: TwilioStandin, tmp_path: Any, json_lines: io.StringIO
) -> None:
    """The button's confirmation is sent before erasure; Twilio may refuse it, quoting the number.
    What is kept of that failure, and of the earlier one, holds no number and no provider text."""
    rt, _ = twilio_app(runtime, standin.base_url, tmp_path)
    make_poll(rt)
    [pid] = people(rt, 1)
    number = all_numbers(rt)[pid]
    standin.number_errors[number] = (400, 21614)
    launch(rt)
    assert sending.send_due(rt, now=NOON, budget=20).failed == 1
    with rt.db.transaction() as s:
        participant = s.get(Participant, pid)
        assert participant is not None
        withdraw(rt, s, participant, via="button", actor="dsl@example.org")
        pseudonym = participant.pseudonym
    with rt.db.transaction() as s:
        assert find_by_pseudonym(s, pseudonym) is not None
        rows = s.execute(
            sa.select(
                OutboundMessage.kind, OutboundMessage.error_code, OutboundMessage.error_message
            )
            .where(OutboundMessage.participant_id == pid)
            .order_by(OutboundMessage.id)
        ).all()
    assert [(kind, code) for kind, code, _ in rows] == [
        ("invitation", 21614),
        ("withdrawal", 21614),
    ]
    # Erasure drops the provider's words and keeps the code, which is all the counts need.
    assert [text for _, _, text in rows] == [None, None]
    assert numbers_in(json_lines.getvalue(), [number]) == []
    assert json.loads(json_lines.getvalue().splitlines()[-1])  # the lines really are JSON

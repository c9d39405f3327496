"""/sms/* take what Twilio sends and no more: an oversized or many-field body gets 413 before
the form is parsed or any signature is computed (a forged 1,000,000-field body used to cost
8.5 s of CPU for a 403)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.formparser import FormDataParser

from smsapp.models import InboundMessage
from smsapp.web import webhooks
from smsapp.web.webhooks import MAX_WEBHOOK_BYTES, MAX_WEBHOOK_FIELDS
from tests.conftest import ACCOUNT_SID, post_signed, twiml_messages
from tests.support.factories import make_participant

KNOWN = "+447911123456"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def work(monkeypatch) -> dict[str, int]:
    """Counts of the two costly steps: parsing the form and checking a signature."""
    counts = {"parsed": 0, "signature": 0}
    parse, check = FormDataParser.parse, webhooks.is_valid_twilio_request

    def counting_parse(self: FormDataParser, *args: Any, **kwargs: Any) -> Any:
        counts["parsed"] += 1
        return parse(self, *args, **kwargs)

    def counting_check(*args: Any, **kwargs: Any) -> bool:
        counts["signature"] += 1
        return check(*args, **kwargs)

    monkeypatch.setattr(FormDataParser, "parse", counting_parse)
    monkeypatch.setattr(webhooks, "is_valid_twilio_request", counting_check)
    return counts


def _stored(runtime) -> int:
    with runtime.db.transaction() as s:
        return s.scalar(sa.select(sa.func.count(InboundMessage.id))) or 0


@pytest.mark.parametrize("path", ["/sms/inbound", "/sms/status"])
def test_a_body_over_the_cap_gets_413_unparsed(client, runtime, work, path) -> None:
    for size in (MAX_WEBHOOK_BYTES + 1, 4 * 1024 * 1024):
        body = b"Body=" + b"x" * (size - 5)
        response = client.post(path, data=body, headers=FORM)
        assert response.status_code == 413, size
        assert response.headers["Content-Type"].startswith("text/xml")
    assert work == {"parsed": 0, "signature": 0}
    assert _stored(runtime) == 0


def test_a_million_tiny_fields_get_413_unparsed(client, work) -> None:
    response = client.post("/sms/inbound", data=b"a=&" * 1_000_000, headers=FORM)
    assert response.status_code == 413
    assert work == {"parsed": 0, "signature": 0}


def test_too_many_fields_within_the_byte_cap_get_413_unparsed(client, work) -> None:
    body = "&".join(f"f{i}=1" for i in range(MAX_WEBHOOK_FIELDS + 1)).encode()
    assert len(body) < MAX_WEBHOOK_BYTES
    response = client.post("/sms/status", data=body, headers=FORM)
    assert response.status_code == 413
    assert work == {"parsed": 0, "signature": 0}


def test_a_chunked_body_without_a_length_is_cut_off_at_the_cap(client, work) -> None:
    # What gunicorn hands over for Transfer-Encoding: chunked: no Content-Length, and a stream
    # the server ends itself (wsgi.input_terminated).
    body = b"Body=" + b"x" * (2 * MAX_WEBHOOK_BYTES)
    response = client.post(
        "/sms/inbound",
        input_stream=io.BytesIO(body),
        headers={**FORM, "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.request.content_length is None
    assert response.status_code == 413
    assert work == {"parsed": 0, "signature": 0}


def twilio_inbound(sid: str, body: str) -> dict[str, str]:
    """The fullest inbound webhook Twilio sends: every documented field and ten media."""
    params = {
        "ToCountry": "GB",
        "ToState": "",
        "SmsMessageSid": sid,
        "NumMedia": "10",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "GB",
        "To": "+447700900001",
        "MessagingServiceSid": "MG" + "0" * 32,
        "ToZip": "",
        "NumSegments": "10",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": KNOWN,
        "ApiVersion": "2010-04-01",
        "OptOutType": "",
    }
    for i in range(10):
        params[f"MediaUrl{i}"] = (
            f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}/Media/"
            f"ME{i:032d}"
        )
        params[f"MediaContentType{i}"] = "image/jpeg"
    return params


def test_the_largest_text_twilio_sends_still_works(client, runtime, work) -> None:
    # 1,600 characters of three-byte UTF-8, each percent-encoded to nine bytes, plus every
    # field and ten media: the biggest genuine webhook, about 17 KB, well inside the cap.
    make_participant(runtime, KNOWN)
    sid = "SM" + "7" * 32
    params = twilio_inbound(sid, "あ" * 1600)
    response = post_signed(client, "/sms/inbound", params)
    assert response.status_code == 200, response.data
    assert twiml_messages(response.data)
    assert response.request.content_length > 15_000
    assert work["signature"] == 1
    with runtime.db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage.body).where(InboundMessage.message_sid == sid))
    assert stored == "あ" * 1600

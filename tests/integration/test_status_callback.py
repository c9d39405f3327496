"""POST /sms/status: forward only, duplicates and disorder harmless, 21610 opts out."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import OutboundMessage, Participant
from tests.conftest import ACCOUNT_SID, post_signed
from tests.support.factories import make_outbound, make_participant

SID = "SM" + "9" * 32


def _message(runtime, participant_id: int | None = None) -> int:
    return make_outbound(runtime, participant_id=participant_id, status="sent", twilio_sid=SID)


def _callback(client, status: str, code: str | None = None, sid: str = SID):
    params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
    if code:
        params["ErrorCode"] = code
    return post_signed(client, "/sms/status", params)


def _status(runtime, mid: int) -> tuple[str, int | None]:
    with runtime.db.transaction() as s:
        m = s.get(OutboundMessage, mid)
        assert m is not None
        return m.status, m.error_code


def test_status_moves_forward_and_never_back(runtime, client) -> None:
    mid = _message(runtime)
    assert _callback(client, "delivered").status_code == 200
    assert _callback(client, "sent").status_code == 200  # late, out of order
    assert _callback(client, "queued").status_code == 200
    assert _callback(client, "delivered").status_code == 200  # duplicate
    assert _status(runtime, mid) == ("delivered", None)


def test_undelivered_keeps_its_error_code(runtime, client) -> None:
    mid = _message(runtime)
    _callback(client, "undelivered", "30003")
    assert _status(runtime, mid) == ("undelivered", 30003)


def test_error_21610_marks_the_participant_opted_out(runtime, client) -> None:
    p = make_participant(runtime, "+447911123456")
    mid = _message(runtime, p.id)
    _callback(client, "failed", "21610")
    assert _status(runtime, mid) == ("failed", 21610)
    with runtime.db.transaction() as s:
        assert s.get(Participant, p.id).status == "opted-out"  # type: ignore[union-attr]


def test_unknown_sid_and_unsigned_callbacks(runtime, client) -> None:
    assert _callback(client, "delivered", sid="SM" + "0" * 32).status_code == 200
    unsigned = client.post("/sms/status", data={"MessageSid": SID, "MessageStatus": "delivered"})
    assert unsigned.status_code == 403
    assert _callback(client, "").status_code == 400
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(OutboundMessage.id))) == 0


def _participant_status(runtime, pid: int) -> str:
    with runtime.db.transaction() as s:
        participant = s.get(Participant, pid)
        assert participant is not None
        return participant.status


def test_a_repeated_21610_after_start_does_not_opt_out_again(runtime, client, phone) -> None:
    # Twilio repeats callbacks. The message is already failed; the participant has since
    # texted START. The late copy moves nothing forward and must change nothing.
    p = make_participant(runtime, "+447911123456")
    _message(runtime, p.id)
    _callback(client, "failed", "21610")
    assert _participant_status(runtime, p.id) == "opted-out"
    phone("+447911123456").replies("START")
    assert _participant_status(runtime, p.id) == "active"
    assert _callback(client, "failed", "21610").status_code == 200
    assert _participant_status(runtime, p.id) == "active"


def test_a_21610_for_a_text_sent_before_start_is_ignored(runtime, client, phone) -> None:
    # The callback moves the message forward (sent -> undelivered), but the text went out
    # before the participant texted START: Twilio's refusal is about the old opt-out.
    p = make_participant(runtime, "+447911123456")
    mid = _message(runtime, p.id)
    with runtime.db.transaction() as s:
        message = s.get(OutboundMessage, mid)
        assert message is not None
        message.sent_at = utcnow() - timedelta(minutes=5)
    phone("+447911123456").replies("STOP")
    phone("+447911123456").replies("START")
    assert _callback(client, "undelivered", "21610").status_code == 200
    assert _status(runtime, mid) == ("undelivered", 21610)
    assert _participant_status(runtime, p.id) == "active"


def test_a_21610_for_a_text_sent_after_start_still_opts_out(runtime, client, phone) -> None:
    p = make_participant(runtime, "+447911123456")
    phone("+447911123456").replies("START")
    mid = _message(runtime, p.id)
    with runtime.db.transaction() as s:
        message = s.get(OutboundMessage, mid)
        assert message is not None
        message.sent_at = utcnow() + timedelta(seconds=1)
    _callback(client, "failed", "21610")
    assert _participant_status(runtime, p.id) == "opted-out"


def test_an_invalid_number_code_only_counts_when_the_status_moves(runtime, client) -> None:
    p = make_participant(runtime, "+447911123456")
    _message(runtime, p.id)
    _callback(client, "delivered")
    _callback(client, "undelivered", "21211")  # late and contradicted: delivered stands
    with runtime.db.transaction() as s:
        participant = s.get(Participant, p.id)
        assert participant is not None and participant.number_status == "ok"


def test_an_error_code_that_is_not_a_plain_number_is_ignored(runtime, client) -> None:
    # "²".isdigit() is True but int("²") raises: that was a 500. A code too big for the column
    # was a PostgreSQL error. Either way the status still counts; the code is dropped.
    mid = _message(runtime)
    for code in ("²", "١٢", "99999999999", "-5", "21 610"):
        assert _callback(client, "sent", code).status_code == 200, code
    assert _callback(client, "failed", "²").status_code == 200
    assert _status(runtime, mid) == ("failed", None)


def test_nul_characters_in_a_callback_are_not_a_database_error(runtime, client) -> None:
    mid = _message(runtime)
    assert _callback(client, "sent", sid=SID + "\x00").status_code == 200  # not one of ours
    assert _callback(client, "deliv\x00ered").status_code in (200, 400)
    params = {
        "MessageSid": SID,
        "MessageStatus": "failed",
        "AccountSid": ACCOUNT_SID,
        "ErrorCode": "30008",
        "ErrorMessage": "Unknown\x00error",
    }
    assert post_signed(client, "/sms/status", params).status_code == 200
    with runtime.db.transaction() as s:
        message = s.get(OutboundMessage, mid)
        assert message is not None and message.status == "failed"
        assert message.error_message == "Unknown\ufffderror"

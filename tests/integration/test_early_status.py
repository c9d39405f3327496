"""A delivery callback that overtakes its own send is kept and applied, never lost.

Sends run on threads and a batch's outcomes (each with its Twilio SID) are written when the
batch ends, a moment after Twilio answered. A fast "sent" or "delivered" can arrive first; it
used to find no text with its SID and be dropped, leaving the text "sent" for ever.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import EarlyStatus, OutboundMessage, OutboundStatus, Participant
from smsapp.services.outbox import callbacks
from smsapp.services.outbox.outcomes import SendOutcome, record_outcomes
from tests.conftest import ACCOUNT_SID, post_signed
from tests.support.factories import make_outbound, make_participant

SID = "SM" + "e" * 32
NUMBER = "+447911123456"


def _sending(runtime, participant_id: int | None = None) -> int:
    """A text a send job has claimed and is sending: no SID stored yet."""
    return make_outbound(runtime, participant_id=participant_id, status=OutboundStatus.SENDING)


def _row(runtime, message_id: int) -> OutboundMessage:
    with runtime.db.transaction() as s:
        row = s.get(OutboundMessage, message_id)
        assert row is not None
        return row


def _kept(runtime) -> list[tuple[str, str]]:
    with runtime.db.transaction() as s:
        return [tuple(r) for r in s.execute(sa.select(EarlyStatus.message_sid, EarlyStatus.status))]


def test_a_delivered_callback_before_the_outcome_is_applied_when_the_sid_is_stored(
    runtime, client
) -> None:
    message_id = _sending(runtime)
    params = {"MessageSid": SID, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    assert post_signed(client, "/sms/status", params).status_code == 200
    assert _kept(runtime) == [(SID, "delivered")]
    assert _row(runtime, message_id).status == OutboundStatus.SENDING  # untouched meanwhile
    record_outcomes(runtime, [SendOutcome(message_id, None, OutboundStatus.SENT, sid=SID)])
    row = _row(runtime, message_id)
    assert row.twilio_sid == SID and row.status == "delivered"
    assert _kept(runtime) == []


def test_only_the_furthest_early_status_is_kept(runtime) -> None:
    message_id = _sending(runtime)
    assert callbacks.record_status(runtime, SID, "delivered", None) is False
    assert callbacks.record_status(runtime, SID, "sent", None) is False  # overtaken: ignored
    assert _kept(runtime) == [(SID, "delivered")]
    record_outcomes(runtime, [SendOutcome(message_id, None, OutboundStatus.SENT, sid=SID)])
    assert _row(runtime, message_id).status == "delivered"


def test_an_early_opt_out_error_still_stops_texting_the_number(runtime) -> None:
    participant = make_participant(runtime, NUMBER)
    message_id = _sending(runtime, participant.id)
    words = f"Attempt to send to unsubscribed recipient {NUMBER}"
    assert callbacks.record_status(runtime, SID, "undelivered", 21610, words) is False
    with runtime.db.transaction() as s:
        kept = s.get(EarlyStatus, SID)
        assert kept is not None and kept.error_code == 21610
        assert "7911" not in (kept.error_message or "")  # Twilio's words, number redacted
    record_outcomes(
        runtime, [SendOutcome(message_id, participant.id, OutboundStatus.SENT, sid=SID)]
    )
    row = _row(runtime, message_id)
    assert row.status == "undelivered" and row.error_code == 21610
    with runtime.db.transaction() as s:
        stored = s.get(Participant, participant.id)
        assert stored is not None and stored.status == "opted-out"


def test_a_repeat_for_a_stored_text_is_not_kept(runtime) -> None:
    message_id = _sending(runtime)
    record_outcomes(runtime, [SendOutcome(message_id, None, OutboundStatus.SENT, sid=SID)])
    assert callbacks.record_status(runtime, SID, "delivered", None) is True
    assert callbacks.record_status(runtime, SID, "delivered", None) is False
    assert callbacks.record_status(runtime, SID, "sent", None) is False
    assert _kept(runtime) == []


def test_an_outcome_written_while_the_callback_is_kept_is_still_caught(
    runtime, monkeypatch
) -> None:
    """The outcome lands between the callback's first look and its keeping (so the outcome
    saw nothing kept): the callback's second look applies it."""
    message_id = _sending(runtime)
    keep = callbacks._keep_early

    def outcome_meanwhile(*args, **kwargs):
        record_outcomes(runtime, [SendOutcome(message_id, None, OutboundStatus.SENT, sid=SID)])
        return keep(*args, **kwargs)

    monkeypatch.setattr(callbacks, "_keep_early", outcome_meanwhile)
    assert callbacks.record_status(runtime, SID, "delivered", None) is True
    assert _row(runtime, message_id).status == "delivered"
    assert _kept(runtime) == []


def test_pruning_applies_what_matches_now_and_drops_what_never_will(runtime) -> None:
    message_id = _sending(runtime)
    stranger = "SM" + "f" * 32
    callbacks.record_status(runtime, SID, "delivered", None)
    callbacks.record_status(runtime, stranger, "delivered", None)
    # The SID arrives some other way (reconciling a crashed send finds it at Twilio).
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(OutboundMessage)
            .where(OutboundMessage.id == message_id)
            .values(twilio_sid=SID, status=OutboundStatus.SENT)
        )
    assert callbacks.prune_early(runtime) == 0  # nothing a day old yet
    assert _row(runtime, message_id).status == "delivered"
    assert _kept(runtime) == [(stranger, "delivered")]
    assert callbacks.prune_early(runtime, now=utcnow() + timedelta(days=1, minutes=1)) == 1
    assert _kept(runtime) == []

"""Delivery status callbacks: move a sent message forward, never back."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp.db import core_transaction, for_update, utcnow
from smsapp.models import OutboundMessage, OutboundStatus, Participant
from smsapp.privacy.redact import redact_optional
from smsapp.runtime import Runtime
from smsapp.services.people.optout import apply_error_to_participant
from smsapp.sms.ids import is_message_sid


def record_status(
    runtime: Runtime,
    sid: str,
    status: str,
    error_code: int | None,
    error_message: str | None = None,
) -> bool:
    """Apply one callback. True when it moved one of our messages forward; False when the SID
    is not ours, or the callback is a repeat or overtaken by a later status (nothing changes).

    Without an error code (nearly every callback) this is one UPDATE, guarded by the statuses
    the new one moves forward from (`OutboundStatus.RANK`, the one order). With one, the row is
    locked and read, and the participant's number may be marked (`apply_error_to_participant`).
    """
    status = status.strip().lower()
    if status not in OutboundStatus.RANK or not is_message_sid(sid):
        return False
    if not error_code:
        rank = OutboundStatus.RANK[status]
        earlier = sorted(s for s, r in OutboundStatus.RANK.items() if r < rank)
        with core_transaction(runtime.db) as conn:
            result = conn.execute(
                sa.update(OutboundMessage)
                .where(OutboundMessage.twilio_sid == sid, OutboundMessage.status.in_(earlier))
                .values(status=status, updated_at=utcnow())
            )
            return bool(result.rowcount)
    if error_message is not None:
        # PostgreSQL cannot store NUL; the rest of Twilio's words are kept.
        error_message = error_message.replace("\x00", "\ufffd")
    with runtime.db.transaction() as session:
        stmt = for_update(
            sa.select(OutboundMessage).where(OutboundMessage.twilio_sid == sid), session
        )
        message = session.scalar(stmt)
        if message is None:
            return False
        current = OutboundStatus.RANK.get(message.status, 0)
        if OutboundStatus.RANK[status] <= current:
            # A repeat, or overtaken by a later status: it says nothing new about the number.
            return False
        message.status = status
        message.updated_at = utcnow()
        message.error_code = error_code
        # Twilio's ErrorMessage is its free text, which may quote the number.
        message.error_message = redact_optional(error_message)
        if message.participant_id is not None:
            participant = session.get(Participant, message.participant_id)
            if participant is not None:
                sent_at = message.sent_at or message.created_at
                apply_error_to_participant(session, participant, error_code, sent_at=sent_at)
        return True

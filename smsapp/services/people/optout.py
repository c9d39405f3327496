"""Opting out and back in: STOP everywhere at once, START, and Twilio's own word on a number.

One place decides what an opt-out does (cancel queued texts, end conversations, audit), whether
it came as STOP, a WITHDRAW, or a refusal from Twilio (21610 on a send or a status callback).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    NumberStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
)
from smsapp.services import audit
from smsapp.sms.codes import INVALID_NUMBER_CODES, OPTED_OUT_CODES


def opt_out(session: Session, participant: Participant, *, reason: str) -> None:
    """STOP, everywhere at once: no queued text goes out and open conversations end."""
    now = utcnow()
    if participant.status == ParticipantStatus.ACTIVE:
        participant.status = ParticipantStatus.OPTED_OUT
        participant.opted_out_at = now
    session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.participant_id == participant.id,
            OutboundMessage.status == OutboundStatus.QUEUED,
        )
        .values(
            status=OutboundStatus.CANCELLED, error_message=f"cancelled: {reason}", updated_at=now
        )
    )
    session.execute(
        sa.update(Conversation)
        .where(
            Conversation.participant_id == participant.id,
            Conversation.status.in_([ConversationStatus.OPEN, ConversationStatus.WAITING]),
        )
        .values(status=ConversationStatus.STOPPED, finished_at=now, next_reminder_at=None)
    )
    audit.record(
        session, participant.pseudonym, "participant.opt_out", participant.pseudonym, reason=reason
    )


def opt_in(session: Session, participant: Participant) -> None:
    """START or UNSTOP: texts may go again; a later Twilio refusal about an earlier text is
    ignored (apply_error_to_participant compares with this time)."""
    participant.opted_in_at = utcnow()
    if participant.status == ParticipantStatus.OPTED_OUT:
        participant.status = ParticipantStatus.ACTIVE
        participant.opted_out_at = None
        audit.record(session, participant.pseudonym, "participant.opt_in", participant.pseudonym)


def apply_error_to_participant(
    session: Session, participant: Participant, code: int, *, sent_at: datetime
) -> None:
    """Twilio's word on a number outranks ours: an opted-out or invalid number is not texted.

    Unless the text it is about (`sent_at`) went before the participant's last START: a
    callback carries no time of its own and may come late, and the refusal was about then.
    """
    if participant.opted_in_at is not None and sent_at <= participant.opted_in_at:
        return
    if code in OPTED_OUT_CODES:
        opt_out(session, participant, reason="Twilio error 21610 (recipient replied STOP)")
    elif code in INVALID_NUMBER_CODES:
        participant.number_status = NumberStatus.INVALID
        participant.number_error = code

"""Answers stored the way a conversation stores them (polls.conversations.record_answers),
one call each: a second answer to a question replaces the first, which stays, superseded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from smsapp.conversation.engine import RecordedAnswer
from smsapp.models import Conversation, InboundMessage
from smsapp.runtime import Runtime
from smsapp.services.polls.conversations import record_answers


def record_answer(
    runtime: Runtime,
    poll_id: int,
    participant_id: int,
    key: str,
    kind: str,
    value: Any,
    at: datetime,
    *,
    skipped: bool = False,
    flagged: bool = False,
) -> None:
    """Store one answer at `at` (a finished conversation is made for a participant without
    one); `flagged`: it came in a text the safeguarding screen flagged."""
    with runtime.db.transaction() as s:
        conv = s.scalar(
            sa.select(Conversation).where(
                Conversation.poll_id == poll_id, Conversation.participant_id == participant_id
            )
        )
        if conv is None:
            conv = Conversation(
                poll_id=poll_id,
                participant_id=participant_id,
                status="finished",
                started_by="launch",
                created_at=at,
                invited_at=at,
            )
            s.add(conv)
            s.flush()
        inbound_id = None
        if flagged:
            inbound = InboundMessage(
                message_sid=f"SM{participant_id:016d}{key[:16]:0>16}", body="flagged", flagged=True
            )
            s.add(inbound)
            s.flush()
            inbound_id = inbound.id
        answer = RecordedAnswer(
            key,
            kind,
            None if skipped else value,
            None,
            "",
            1,
            skipped,
            "optional" if skipped else None,
        )
        record_answers(s, conv, (answer,), inbound_id=inbound_id, now=at, replaces=True)

"""Claim due texts for one send job, and decide at the last moment whether each may still go.

A claim moves rows from ``queued`` to ``sending`` in one statement, so two jobs never take the
same row; a claim older than stuck_after() means the worker died (outbox/reconcile.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    ConversationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
)
from smsapp.runtime import Runtime
from smsapp.services.outbox.rows import CONVERSATION_BOUND_KINDS
from smsapp.services.people.consent import Textability, awaiting_assent, text_gate

SENDABLE_BACKENDS = ("twilio", "outbox")
# Where a row remembers an ambiguous attempt (no answer from Twilio): the next attempt asks
# Twilio for the text first, from that moment on.
VERIFY_KEY = "verify_since"
# A worker gives back what it claimed but has not started sending after this long, so that a
# row in ``sending`` older than stuck_after() (default three minutes) really means "the worker
# died, maybe mid-call".
CLAIM_HOLD = timedelta(seconds=60)


def stuck_after(runtime: Runtime) -> timedelta:
    """How old a claim must be before reconciling it (SMSAPP_STUCK_SEND_SECONDS)."""
    return timedelta(seconds=runtime.settings.stuck_send_seconds)


def claim_hold(runtime: Runtime) -> timedelta:
    return min(CLAIM_HOLD, stuck_after(runtime) / 3)


@dataclass(frozen=True)
class Claimed:
    """One claimed row and what sending it needs (the phone stays encrypted until the call)."""

    id: int
    participant_id: int | None
    kind: str
    body: str
    segments: int
    backend: str
    attempts: int
    valid_until: datetime | None
    phone_ciphertext: bytes | None
    participant_status: str | None
    number_status: str | None
    conversation_status: str | None
    extra: dict[str, Any] | None = None
    simulated: bool = False
    has_consent: bool = False
    needs_assent: bool = False

    @property
    def verify_since(self) -> datetime | None:
        """Set after an ambiguous failure (timeout): Twilio may have the text already."""
        value = (self.extra or {}).get(VERIFY_KEY)
        return datetime.fromisoformat(value) if value else None


def due_rows(now: datetime) -> sa.Select[Any]:
    """Queued rows whose time has come, on a backend the send jobs send through."""
    return sa.select(OutboundMessage.id).where(
        OutboundMessage.status == OutboundStatus.QUEUED,
        OutboundMessage.send_after <= now,
        OutboundMessage.backend.in_(SENDABLE_BACKENDS),
    )


def claim_due(runtime: Runtime, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Atomically move up to ``limit`` due rows from queued to sending and return them.

    PostgreSQL: one statement claims and reads the batch (an UPDATE of the rows picked FOR
    UPDATE SKIP LOCKED, joined to their participant and conversation), so concurrent workers
    take disjoint batches. SQLite: the transaction starts with BEGIN IMMEDIATE (db.py), so
    claims run one at a time; the UPDATE returns the ids and a second statement reads them.
    Then one query for the batch asks who still owes a group their assent.
    """
    now = now or utcnow()
    with runtime.db.transaction() as session:
        # Oldest due first; the (status, send_after) index gives this order without a sort.
        due = due_rows(now).order_by(OutboundMessage.send_after).limit(limit)
        postgres = session.get_bind().dialect.name == "postgresql"
        if postgres:
            due = due.with_for_update(skip_locked=True)
        claim = (
            sa.update(OutboundMessage)
            .where(OutboundMessage.id.in_(due.scalar_subquery()))
            .values(
                status=OutboundStatus.SENDING,
                claimed_at=now,
                attempts=OutboundMessage.attempts + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if postgres:
            claimed = claim.returning(*_MESSAGE_COLUMNS).cte("claimed")
            rows = session.execute(_details(claimed, claimed.c)).all()
        else:
            ids = list(session.scalars(claim.returning(OutboundMessage.id)))
            if not ids:
                return []
            picked = sa.select(*_MESSAGE_COLUMNS).where(OutboundMessage.id.in_(ids)).subquery()
            rows = session.execute(_details(picked, picked.c)).all()
        if not rows:
            return []
        # One query for the batch: who still owes assent to a group that asks for it by text.
        owing = awaiting_assent(
            session, {r.participant_id for r in rows if r.participant_id and r.assent_at is None}
        )
    build: Any = Claimed  # the first 13 columns are Claimed's fields, in order
    return [
        build(
            *row[:13],
            simulated=bool(row[13]),
            has_consent=bool(row[14]),
            needs_assent=row.participant_id in owing,
        )
        for row in rows
    ]


_MESSAGE_COLUMNS = (
    OutboundMessage.id,
    OutboundMessage.participant_id,
    OutboundMessage.conversation_id,
    OutboundMessage.kind,
    OutboundMessage.body,
    OutboundMessage.segments,
    OutboundMessage.backend,
    OutboundMessage.attempts,
    OutboundMessage.valid_until,
    OutboundMessage.extra,
    OutboundMessage.send_after,
)


def _details(claimed: Any, m: Any) -> sa.Select[Any]:
    """The claimed rows (``m``: their columns) with what deciding and sending each needs."""
    return (
        sa.select(
            m.id,
            m.participant_id,
            m.kind,
            m.body,
            m.segments,
            m.backend,
            m.attempts,
            m.valid_until,
            Participant.phone_ciphertext,
            Participant.status,
            Participant.number_status,
            Conversation.status,
            m.extra,
            Participant.simulated,
            Participant.consent_at.is_not(None),
            Participant.assent_at,
        )
        .select_from(claimed)
        .outerjoin(Participant, Participant.id == m.participant_id)
        .outerjoin(Conversation, Conversation.id == m.conversation_id)
        .order_by(m.send_after, m.id)
    )


def has_due(runtime: Runtime, now: datetime | None = None) -> bool:
    """Whether any text is due now (the clock's cheap question before it starts send jobs)."""
    with runtime.db.transaction() as session:
        found = session.scalar(due_rows(now or utcnow()).limit(1))
    return found is not None


def why_not_send(message: Claimed, now: datetime) -> str | None:
    """A reason to cancel instead of sending, checked at the last moment; None to send.

    Consent, assent, opt-outs and invalid numbers go through consent.text_gate, the same rule
    the pages and the launch use, so no path can text a child the rule forbids.
    """
    if message.participant_id is None:
        return "no participant"
    gate = text_gate(
        Textability(
            simulated=message.simulated,
            status=message.participant_status,
            has_phone=message.phone_ciphertext is not None,
            number_status=message.number_status,
            has_consent=message.has_consent,
            needs_assent=message.needs_assent,
        ),
        message.kind,
    )
    if gate is not None:
        return gate
    if message.valid_until is not None and message.valid_until <= now:
        return "poll closed before it could be sent"
    if message.kind in CONVERSATION_BOUND_KINDS and message.conversation_status not in (
        None,
        ConversationStatus.OPEN,
    ):
        return f"conversation {message.conversation_status}"
    return None

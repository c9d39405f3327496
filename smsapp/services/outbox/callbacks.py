"""Delivery status callbacks: move a sent message forward, never back.

A callback can overtake its own send: the send's outcome (with the Twilio SID) is written when
its batch ends, a moment after Twilio answered, and a fast "sent" may arrive first. Such a
callback is kept (`EarlyStatus`) and applied when the outcome is written (`apply_early`, called
by `outcomes.record_outcomes`); `prune_early` applies what matches later (a SID found by
reconciling) and drops, after a day, what never will (a SID that is not ours).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from smsapp.db import core_transaction, for_update, utcnow
from smsapp.models import EarlyStatus, OutboundMessage, OutboundStatus, Participant
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
    if error_message is not None:
        # PostgreSQL cannot store NUL; the rest of Twilio's words are kept.
        error_message = error_message.replace("\x00", "\ufffd")
    moved = _apply(runtime, sid, status, error_code, error_message)
    if moved is not None:
        return moved
    # No text has this SID yet: keep the callback for the outcome that will bring it. Then
    # look once more, in case that outcome was written (and found nothing kept) meanwhile.
    _keep_early(runtime, sid, status, error_code, error_message)
    moved = _apply(runtime, sid, status, error_code, error_message)
    if moved is not None:
        _forget_early(runtime, [sid])
    return bool(moved)


def _apply(
    runtime: Runtime, sid: str, status: str, error_code: int | None, error_message: str | None
) -> bool | None:
    """True: moved forward; False: a repeat or overtaken; None: no text has this SID."""
    if not error_code:
        rank = OutboundStatus.RANK[status]
        earlier = sorted(s for s, r in OutboundStatus.RANK.items() if r < rank)
        with core_transaction(runtime.db) as conn:
            result = conn.execute(
                sa.update(OutboundMessage)
                .where(OutboundMessage.twilio_sid == sid, OutboundMessage.status.in_(earlier))
                .values(status=status, updated_at=utcnow())
            )
            if result.rowcount:
                return True
            known = sa.select(OutboundMessage.id).where(OutboundMessage.twilio_sid == sid)
            return False if conn.execute(known.limit(1)).first() else None
    with runtime.db.transaction() as session:
        stmt = for_update(
            sa.select(OutboundMessage).where(OutboundMessage.twilio_sid == sid), session
        )
        message = session.scalar(stmt)
        if message is None:
            return None
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


EARLY_KEPT = timedelta(days=1)  # a callback whose SID never turns up is not ours


def _keep_early(
    runtime: Runtime, sid: str, status: str, error_code: int | None, error_message: str | None
) -> None:
    """Keep (or move forward) an early callback; Twilio's words are redacted first."""
    rank = OutboundStatus.RANK[status]
    with runtime.db.transaction() as session:
        kept = session.get(EarlyStatus, sid, with_for_update=True)
        if kept is None:
            session.add(
                EarlyStatus(
                    message_sid=sid,
                    status=status,
                    error_code=error_code,
                    error_message=redact_optional(error_message),
                    received_at=utcnow(),
                )
            )
        elif rank > OutboundStatus.RANK.get(kept.status, 0):
            kept.status = status
            if error_code:
                kept.error_code = error_code
                kept.error_message = redact_optional(error_message)


def _forget_early(runtime: Runtime, sids: Iterable[str]) -> None:
    with core_transaction(runtime.db) as conn:
        conn.execute(sa.delete(EarlyStatus).where(EarlyStatus.message_sid.in_(list(sids))))


def apply_early(runtime: Runtime, sids: Iterable[str]) -> int:
    """Apply the kept callbacks of texts whose SIDs were just stored; how many there were."""
    wanted = [sid for sid in sids if sid]
    if not wanted:
        return 0
    with runtime.db.transaction() as session:
        kept = session.scalars(
            sa.select(EarlyStatus).where(EarlyStatus.message_sid.in_(wanted))
        ).all()
        found = [(k.message_sid, k.status, k.error_code, k.error_message) for k in kept]
    applied = []
    for sid, status, error_code, error_message in found:
        if _apply(runtime, sid, status, error_code, error_message) is not None:
            applied.append(sid)
    if applied:
        _forget_early(runtime, applied)
    return len(applied)


def prune_early(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Apply kept callbacks whose SIDs are stored by now; drop those kept over a day. Returns
    how many were dropped."""
    now = now or utcnow()
    with runtime.db.transaction() as session:
        sids = session.scalars(sa.select(EarlyStatus.message_sid)).all()
    apply_early(runtime, sids)
    with core_transaction(runtime.db) as conn:
        result = conn.execute(
            sa.delete(EarlyStatus).where(EarlyStatus.received_at < now - EARLY_KEPT)
        )
        return int(result.rowcount or 0)

"""Stuck sends: rows a dead worker left in ``sending`` are looked up at Twilio, then recorded
as sent or queued again, so a crash never texts a young person twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import OutboundMessage, OutboundStatus, Participant
from smsapp.runtime import Runtime
from smsapp.services.outbox.claims import stuck_after
from smsapp.services.outbox.provider import transport_for
from smsapp.sms.twilio_transport import SendError, SentMessage

log = logging.getLogger(__name__)


@dataclass
class ReconcileReport:
    found_sent: int = 0
    requeued: int = 0
    errors: int = 0


def reconcile_stuck(
    runtime: Runtime, *, now: datetime | None = None, limit: int = 200
) -> ReconcileReport:
    """Rows left in ``sending`` by a dead worker: found at Twilio → sent; otherwise queued again."""
    now = now or utcnow()
    cutoff = now - stuck_after(runtime)
    report = ReconcileReport()
    with runtime.db.transaction() as session:
        stmt = (
            sa.select(
                OutboundMessage.id,
                OutboundMessage.backend,
                OutboundMessage.body,
                OutboundMessage.claimed_at,
                Participant.phone_ciphertext,
            )
            .outerjoin(Participant, Participant.id == OutboundMessage.participant_id)
            .where(
                OutboundMessage.status == OutboundStatus.SENDING,
                OutboundMessage.twilio_sid.is_(None),
                OutboundMessage.claimed_at < cutoff,
            )
            .order_by(OutboundMessage.id)
            .limit(limit)
        )
        stuck = session.execute(stmt).all()
    if not stuck:
        return report
    transport = transport_for(runtime)
    for message_id, backend, body, claimed_at, ciphertext in stuck:
        found: SentMessage | None = None
        if backend == "twilio" and ciphertext is not None:
            if transport is None:
                continue  # cannot ask: leave it rather than risk a second text
            try:
                # The claim came before any call the dead worker made with it.
                found = transport.find_sent(
                    runtime.vault.decrypt(ciphertext), body, claimed_at or cutoff
                )
            except SendError as exc:
                log.warning("cannot check stuck message %s at Twilio: %r", message_id, exc)
                report.errors += 1
                continue
        with runtime.db.transaction() as session:
            guard = sa.update(OutboundMessage).where(
                OutboundMessage.id == message_id,
                OutboundMessage.status == OutboundStatus.SENDING,
                OutboundMessage.claimed_at == claimed_at,
            )
            if found is not None:
                session.execute(
                    guard.values(
                        status=OutboundStatus.SENT,
                        twilio_sid=found.sid,
                        sent_at=now,
                        updated_at=now,
                        error_message="recovered after a worker stopped mid-send",
                    )
                )
                report.found_sent += 1
            else:
                session.execute(
                    guard.values(status=OutboundStatus.QUEUED, send_after=now, updated_at=now)
                )
                report.requeued += 1
    log.info("stuck sends: %d found at Twilio, %d queued again", report.found_sent, report.requeued)
    return report

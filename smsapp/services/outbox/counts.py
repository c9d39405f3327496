"""What the poll's status page shows about its texts: counts by status and kind, and why any
failed. A read model only: nothing here changes a row."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.models import OutboundMessage, OutboundStatus


@dataclass
class DeliveryCounts:
    by_status: dict[str, int]
    failures: dict[str, int]  # "21610: Attempt to send to unsubscribed recipient" -> n
    by_kind: dict[str, dict[str, int]]

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def delivery_counts(session: Session, poll_id: int) -> DeliveryCounts:
    """Texts of one poll by status (queued, sending, sent, delivered, failed …) and why failed."""
    rows = session.execute(
        sa.select(OutboundMessage.kind, OutboundMessage.status, sa.func.count())
        .where(OutboundMessage.poll_id == poll_id, OutboundMessage.backend != "twiml")
        .group_by(OutboundMessage.kind, OutboundMessage.status)
    ).all()
    by_status: dict[str, int] = {}
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_kind.setdefault(kind, {})[status] = n
    failed = session.execute(
        sa.select(OutboundMessage.error_code, OutboundMessage.error_message, sa.func.count())
        .where(
            OutboundMessage.poll_id == poll_id,
            OutboundMessage.status.in_(
                [OutboundStatus.FAILED, OutboundStatus.UNDELIVERED, OutboundStatus.CANCELLED]
            ),
        )
        .group_by(OutboundMessage.error_code, OutboundMessage.error_message)
    ).all()
    failures: dict[str, int] = {}
    for code, text, n in failed:
        # Erasure drops the provider's text and keeps its code (services/people/withdrawal.py).
        label = (f"{code}: {text}" if text else str(code)) if code else (text or "unknown")
        failures[label] = failures.get(label, 0) + n
    return DeliveryCounts(by_status, failures, by_kind)

"""Append to the audit log. Callers commit with the change they describe."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from smsapp.models import AuditEvent


def record(
    session: Session, actor: str, action: str, subject: str | None = None, **details: Any
) -> AuditEvent:
    event = AuditEvent(actor=actor, action=action, subject=subject, details=details)
    session.add(event)
    return event

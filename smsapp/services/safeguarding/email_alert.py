"""The e-mail alert to the safeguarding lead about a flag.

The e-mail names no child and quotes no text: it says a flag is waiting and links to the inbox,
where the lead reads it after logging in.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session

from smsapp.config import Settings
from smsapp.db import utcnow
from smsapp.models import SafeguardingFlag
from smsapp.safeguarding.phrases import LABELS

EMAIL_JOB = "jobs.safeguarding.email_flag"


def email_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.safeguarding_email)


def flag_email(settings: Settings, flag: SafeguardingFlag, inbox_url: str | None) -> EmailMessage:
    """A notice with no child's name, number or words in it: those stay behind the log-in."""
    message = EmailMessage()
    message["Subject"] = f"[{settings.service_name}] Safeguarding flag #{flag.id} needs attention"
    message["From"] = settings.smtp_from or f"{settings.service_name}@localhost"
    message["To"] = settings.safeguarding_email or ""
    labels = ", ".join(LABELS.get(c, c) for c in flag.categories or [])
    where = inbox_url or "the safeguarding inbox (/admin/safeguarding/)"
    message.set_content(
        f"A text received at {flag.created_at:%Y-%m-%d %H:%M} UTC matched: {labels}.\n\n"
        f"Please read it and acknowledge it by {flag.due_at:%Y-%m-%d %H:%M} UTC in {where}.\n\n"
        "This e-mail does not include the message or who sent it.\n"
    )
    return message


def send_flag_email(
    settings: Settings,
    flag: SafeguardingFlag,
    *,
    smtp_factory: Callable[..., Any] = smtplib.SMTP,
) -> None:
    inbox = f"{settings.public_base_url}/admin/safeguarding/" if settings.public_base_url else None
    message = flag_email(settings, flag, inbox)
    assert settings.smtp_host
    with smtp_factory(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password or "")
        smtp.send_message(message)


def email_flag_once(
    settings: Settings,
    session: Session,
    flag_id: int,
    *,
    smtp_factory: Callable[..., Any] = smtplib.SMTP,
) -> bool:
    """E-mail the lead about one flag unless it was e-mailed already; True when sent.

    `emailed_at` is set in the caller's transaction after the send, so a send that fails (or a
    transaction that does not commit) leaves the flag to be e-mailed by the job's retry: the
    lead may get a second e-mail, never none. Nothing is sent when e-mail is not configured.
    The flag's row is locked first, so two workers running the job at once send it once.
    """
    flag = session.get(SafeguardingFlag, flag_id, with_for_update=True)
    if flag is None or flag.emailed_at is not None or not email_configured(settings):
        return False
    send_flag_email(settings, flag, smtp_factory=smtp_factory)
    flag.emailed_at = utcnow()
    return True

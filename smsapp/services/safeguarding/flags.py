"""Safeguarding flags: check every inbound text, flag a match to the safeguarding lead (inbox,
dashboard badge, optional e-mail), send the young person a supportive reply, and keep flagged
texts out of everything shown to the group.

The e-mail names no child and quotes no text: it says a flag is waiting and links to the inbox,
where the lead reads it after logging in.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from smsapp.config import Settings
from smsapp.db import utcnow
from smsapp.models import (
    Answer,
    InboundMessage,
    Nomination,
    NominationStatus,
    Participant,
    SafeguardingFlag,
)
from smsapp.runtime import Runtime
from smsapp.safeguarding.phrases import (
    DEFAULT_RULES,
    LABELS,
    Match,
    Matcher,
    default_matcher,
    merge_rules,
    parse_rules,
)
from smsapp.services import audit

log = logging.getLogger(__name__)

EMAIL_JOB = "jobs.safeguarding.email_flag"


@lru_cache(maxsize=8)
def _matcher_from_file(path: str, mtime: float) -> Matcher:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    extra, replace = parse_rules(data)
    return Matcher(merge_rules(DEFAULT_RULES, extra, replace=replace))


def matcher_for(settings: Settings) -> Matcher:
    """The default lists, plus (or replaced by) SMSAPP_SAFEGUARDING_PHRASES when set."""
    path = settings.safeguarding_phrases
    if not path:
        return default_matcher()
    # A broken file must not silence safeguarding: fall back to the defaults, loudly.
    try:
        return _matcher_from_file(path, Path(path).stat().st_mtime)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        log.error("safeguarding phrase file %s unusable (%s); using the defaults", path, exc)
        return default_matcher()


def ack_deadline(settings: Settings, now: datetime) -> datetime:
    return now + timedelta(hours=settings.flag_ack_hours)


def support_reply(settings: Settings) -> str:
    return settings.support_reply


def check_inbound(
    runtime: Runtime, session: Session, inbound: InboundMessage, participant: Participant | None
) -> SafeguardingFlag | None:
    """Flag this text if it matches a phrase or pattern; None when it does not."""
    matches = matcher_for(runtime.settings).check(inbound.body or "")
    if not matches:
        return None
    return raise_flag(runtime, session, inbound, participant, matches)


def raise_flag(
    runtime: Runtime,
    session: Session,
    inbound: InboundMessage,
    participant: Participant | None,
    matches: list[Match],
) -> SafeguardingFlag:
    now = utcnow()
    inbound.flagged = True
    flag = SafeguardingFlag(
        inbound_message_id=inbound.id,
        participant_id=participant.id if participant else None,
        categories=[m.category for m in matches],
        matched=[{"category": m.category, "rule": m.rule, "excerpt": m.excerpt} for m in matches],
        created_at=now,
        due_at=ack_deadline(runtime.settings, now),
    )
    session.add(flag)
    session.flush()
    audit.record(
        session,
        "system",
        "safeguarding.flag",
        participant.pseudonym if participant else None,
        flag_id=flag.id,
        categories=flag.categories,
    )
    if email_configured(runtime.settings):
        flag_id = flag.id

        def _after_commit(_session: Session) -> None:
            from smsapp import queue

            try:
                queue.enqueue(runtime, EMAIL_JOB, flag_id)
            except Exception:  # the inbox still shows it; a lost e-mail must not lose the text
                log.exception("could not queue the e-mail for safeguarding flag %s", flag_id)

        sa.event.listen(session, "after_commit", _after_commit, once=True)
    return flag


def exclude_flagged_answers(session: Session, inbound: InboundMessage) -> int:
    """Answers and nominations that came from a flagged text never reach the group.

    Results skip them by their inbound message (answer_is_flagged); a nomination is also stored
    as rejected, so every filter on status leaves it out. Staff see it as "held", and no
    moderation step accepts it (services/votes/nominations.py, held_ids).
    """
    answer_ids = sa.select(Answer.id).where(Answer.inbound_message_id == inbound.id)
    result = session.execute(
        sa.update(Nomination)
        .where(
            Nomination.answer_id.in_(answer_ids),
            Nomination.status == NominationStatus.PENDING,
        )
        .values(
            status=NominationStatus.REJECTED, moderated_by="safeguarding", moderated_at=utcnow()
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def screen_answers(runtime: Runtime, session: Session, inbound: InboundMessage) -> bool:
    """True (and the text marked flagged) when an answer this text completed carries flagged
    words gathered from earlier texts, e.g. a nomination typed over several texts then DONE.

    The earlier text already raised its own flag for the lead; this only keeps the finished
    answer out of results.
    """
    session.flush()
    rows = session.execute(
        sa.select(Answer.value, Answer.label, Answer.raw_text).where(
            Answer.inbound_message_id == inbound.id
        )
    ).all()
    matcher = matcher_for(runtime.settings)
    for value, label, raw in rows:
        parts = value if isinstance(value, list) else [value]
        text = "\n".join(str(p) for p in [*parts, label, raw] if p is not None)
        if matcher.check(text):
            inbound.flagged = True
            return True
    return False


def flagged_inbound_ids() -> sa.Select[Any]:
    """A subquery of flagged texts' ids, for results and exports to leave out."""
    return sa.select(InboundMessage.id).where(InboundMessage.flagged.is_(True))


def answer_is_flagged() -> sa.ColumnElement[bool]:
    """True for an answer that came in a flagged text: it never counts, in results or tallies."""
    return sa.and_(
        Answer.inbound_message_id.is_not(None),
        Answer.inbound_message_id.in_(flagged_inbound_ids()),
    )


# -- the inbox -----------------------------------------------------------------------------------


@dataclass
class FlagView:
    id: int
    categories: list[str]
    labels: list[str]
    matched: list[dict[str, str]]
    body: str
    pseudonym: str | None
    participant_id: int | None
    created_at: datetime
    due_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    overdue: bool

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None


def list_flags(
    session: Session, *, open_only: bool = False, now: datetime | None = None, limit: int = 200
) -> list[FlagView]:
    """Newest first; open ones before acknowledged ones."""
    now = now or utcnow()
    stmt = (
        sa.select(SafeguardingFlag, InboundMessage.body, Participant.pseudonym)
        .join(InboundMessage, InboundMessage.id == SafeguardingFlag.inbound_message_id)
        .outerjoin(Participant, Participant.id == SafeguardingFlag.participant_id)
        .order_by(
            SafeguardingFlag.acknowledged_at.is_not(None),
            SafeguardingFlag.created_at.desc(),
            SafeguardingFlag.id.desc(),
        )
        .limit(limit)
    )
    if open_only:
        stmt = stmt.where(SafeguardingFlag.acknowledged_at.is_(None))
    views = []
    for flag, body, pseudonym in session.execute(stmt).all():
        views.append(
            FlagView(
                id=flag.id,
                categories=list(flag.categories or []),
                labels=[LABELS.get(c, c) for c in flag.categories or []],
                matched=list(flag.matched or []),
                body=body or "",
                pseudonym=pseudonym,
                participant_id=flag.participant_id,
                created_at=flag.created_at,
                due_at=flag.due_at,
                acknowledged_by=flag.acknowledged_by,
                acknowledged_at=flag.acknowledged_at,
                note=flag.note,
                overdue=flag.acknowledged_at is None and flag.due_at <= now,
            )
        )
    return views


def open_flag_counts(session: Session, now: datetime | None = None) -> tuple[int, int]:
    """(open, overdue) for the dashboard badge."""
    now = now or utcnow()
    row = session.execute(
        sa.select(
            sa.func.count(SafeguardingFlag.id),
            sa.func.count(SafeguardingFlag.id).filter(SafeguardingFlag.due_at <= now),
        ).where(SafeguardingFlag.acknowledged_at.is_(None))
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


class FlagError(ValueError):
    pass


def acknowledge(session: Session, flag_id: int, *, by: str, note: str) -> SafeguardingFlag:
    """The lead has seen it and says what was done; the note is required and kept."""
    note = note.strip()
    if not note:
        raise FlagError("write a short note: what you did or decided")
    flag = session.get(SafeguardingFlag, flag_id)
    if flag is None:
        raise FlagError("no such flag")
    if flag.acknowledged_at is not None:
        raise FlagError(f"already acknowledged by {flag.acknowledged_by}")
    now = utcnow()
    flag.acknowledged_at = now
    flag.acknowledged_by = by
    flag.note = note[:4000]
    audit.record(session, by, "safeguarding.acknowledge", str(flag.id), late=flag.due_at <= now)
    return flag


# -- e-mail --------------------------------------------------------------------------------------


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

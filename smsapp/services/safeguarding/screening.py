"""Screening every inbound text: flag a match for the safeguarding lead (the inbox, the
dashboard badge, the e-mail alert), give the young person the supportive reply, and keep
flagged texts out of everything counted or shown (answer_is_flagged)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
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
    Match,
    Matcher,
    default_matcher,
    merge_rules,
    parse_rules,
)
from smsapp.services import audit
from smsapp.services.safeguarding.email_alert import EMAIL_JOB, email_configured

log = logging.getLogger(__name__)


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


def screen_text(settings: Settings, body: str | None) -> list[Match]:
    """The screen every inbound text goes through: what it matches (empty when nothing).
    check_inbound raises the flag; the inbound lean path asks first and leaves a text that
    matches to the full path, which flags it."""
    return matcher_for(settings).check(body or "")


def check_inbound(
    runtime: Runtime, session: Session, inbound: InboundMessage, participant: Participant | None
) -> SafeguardingFlag | None:
    """Flag this text if it matches a phrase or pattern; None when it does not."""
    matches = screen_text(runtime.settings, inbound.body)
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

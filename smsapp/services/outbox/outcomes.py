"""What became of each claimed text, and writing a batch of those outcomes back in one statement.

Only rows still in ``sending`` change, so a claim is never stolen: an outcome for a row that
was reconciled or cancelled meanwhile writes nothing and changes nobody.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from smsapp.db import utcnow
from smsapp.models import EarlyStatus, OutboundMessage, OutboundStatus, Participant
from smsapp.privacy.redact import redact_optional
from smsapp.runtime import Runtime
from smsapp.services.outbox.callbacks import apply_early
from smsapp.services.outbox.claims import VERIFY_KEY, Claimed
from smsapp.services.people.optout import apply_error_to_participant
from smsapp.sms.twilio_transport import SendError

MAX_SEND_ATTEMPTS = 6
BACKOFF_BASE = timedelta(seconds=2)
BACKOFF_CAP = timedelta(minutes=5)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff with jitter: about 2 s, 4 s, 8 s … capped at five minutes."""
    uniform = rng.uniform if rng is not None else random.uniform
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))
    return ceiling * uniform(0.5, 1.0)


@dataclass
class SendOutcome:
    """What happened to one claimed row, written back in a batch."""

    id: int
    participant_id: int | None
    status: str
    sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    send_after: datetime | None = None
    attempts_delta: int = 0
    at: datetime = field(default_factory=utcnow)
    extra: dict[str, Any] | None = None


def outcome_of_error(
    message: Claimed, exc: SendError, now: datetime, *, attempted_at: datetime | None = None
) -> SendOutcome:
    """Map a refused send to its outcome: retry later, or fail keeping Twilio's code.

    ``attempted_at``: when the failed call began (the text cannot be at Twilio from before).
    """
    if exc.retryable and message.attempts < MAX_SEND_ATTEMPTS:
        extra = dict(message.extra or {})
        if exc.http_status is None and message.verify_since is None:
            # No answer at all (timeout, connection lost): the text may have reached Twilio.
            # The next attempt asks Twilio first, from the first ambiguous try onwards; the
            # transport's find_sent allows for Twilio's clock.
            extra[VERIFY_KEY] = (attempted_at or now).isoformat()
        return SendOutcome(
            message.id,
            message.participant_id,
            OutboundStatus.QUEUED,
            error_code=exc.code,
            error_message=f"retrying: {exc.message}"[:500],
            send_after=now + backoff(message.attempts),
            at=now,
            extra=extra,
        )
    return SendOutcome(
        message.id,
        message.participant_id,
        OutboundStatus.FAILED,
        error_code=exc.code,
        error_message=exc.message[:500],
        at=now,
    )


# -- the one statement ---------------------------------------------------------------------

# The batch travels as one JSON parameter: one statement text whatever the batch size, so the
# database plans it once. set_error / set_extra say whether those columns change at all.
_FIELDS: tuple[tuple[str, Any], ...] = (
    ("id", sa.BigInteger),
    ("status", sa.Text),
    ("sid", sa.Text),
    ("error_code", sa.Integer),
    ("error_message", sa.Text),
    ("set_error", sa.Integer),
    ("send_after", sa.DateTime(timezone=True)),
    ("attempts_delta", sa.Integer),
    ("at", sa.DateTime(timezone=True)),
    ("extra", sa.JSON),
    ("set_extra", sa.Integer),
)


def _batch_rows(dialect: str) -> Any:
    """The outcomes parameter as a table ``v`` with _FIELDS' columns, on either database."""
    doc = sa.bindparam("outcomes", type_=sa.Text)
    if dialect == "postgresql":
        columns = [sa.column(name, type_) for name, type_ in _FIELDS]
        return (
            sa.func.json_to_recordset(sa.cast(doc, postgresql.JSON))
            .table_valued(*columns)
            .render_derived(name="v", with_types=True)
        )
    each = sa.func.json_each(doc).table_valued("value")
    return sa.select(
        *[
            sa.type_coerce(sa.func.json_extract(each.c.value, f"$.{name}"), type_).label(name)
            for name, type_ in _FIELDS
        ]
    ).subquery("v")


def _overtaken(sid: Any) -> Any:
    return sa.exists().where(EarlyStatus.message_sid == sid).label("overtaken")


def _update_statement(dialect: str) -> Any:
    v = _batch_rows(dialect)
    m = OutboundMessage
    return (
        sa.update(m)
        .where(m.id == v.c.id, m.status == OutboundStatus.SENDING)
        .values(
            status=v.c.status,
            updated_at=v.c.at,
            twilio_sid=sa.func.coalesce(v.c.sid, m.twilio_sid),
            sent_at=sa.case((v.c.sid.is_not(None), v.c.at), else_=m.sent_at),
            error_code=sa.case((v.c.set_error == 1, v.c.error_code), else_=m.error_code),
            error_message=sa.case((v.c.set_error == 1, v.c.error_message), else_=m.error_message),
            send_after=sa.func.coalesce(v.c.send_after, m.send_after),
            attempts=m.attempts + v.c.attempts_delta,
            extra=sa.case((v.c.set_extra == 1, v.c.extra), else_=m.extra),
        )
        # And whether a delivery callback overtook this outcome (callbacks.apply_early).
        .returning(m.id, m.twilio_sid, _overtaken(m.twilio_sid))
        .execution_options(synchronize_session=False)
    )


_statements: dict[str, Any] = {}


def _as_json(outcomes: list[SendOutcome], moment: Any) -> str:
    rows = []
    for o in outcomes:
        has_error = o.error_code is not None or o.error_message is not None
        rows.append(
            {
                "id": o.id,
                "status": o.status,
                "sid": o.sid,
                "error_code": o.error_code,
                # The one write of a send's error: whatever made the text, no number is kept.
                "error_message": redact_optional(o.error_message) if has_error else None,
                "set_error": int(has_error),
                "send_after": moment(o.send_after),
                "attempts_delta": o.attempts_delta,
                "at": moment(o.at),
                "extra": o.extra,
                "set_extra": int(o.extra is not None),
            }
        )
    return json.dumps(rows)


def _moment_writer(dialect: Any) -> Any:
    """A datetime as the column stores it (SQLite keeps text in SQLAlchemy's format)."""
    column_type = OutboundMessage.__table__.c.sent_at.type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)

    def moment(value: datetime | None) -> Any:
        if value is None:
            return None
        stored = process(value) if process is not None else value
        return stored.isoformat() if isinstance(stored, datetime) else stored

    return moment


def record_outcomes(runtime: Runtime, outcomes: list[SendOutcome]) -> None:
    """Write a batch of outcomes back in one UPDATE; then the participants they concern.

    The participant follows the row: only outcomes the UPDATE really wrote (RETURNING) act
    on a participant (21610 opts out, 21211/21612/21614 mark the number invalid).
    """
    if not outcomes:
        return
    overtaken: list[str] = []
    with runtime.db.transaction() as session:
        dialect = session.get_bind().dialect
        statement = _statements.get(dialect.name)
        if statement is None:
            statement = _statements[dialect.name] = _update_statement(dialect.name)
        doc = _as_json(outcomes, _moment_writer(dialect))
        rows = session.execute(statement, {"outcomes": doc}).all()
        written = {row.id for row in rows}
        overtaken = [row.twilio_sid for row in rows if row.overtaken]
        _participant_effects(session, outcomes, written)
    if overtaken:  # once the SIDs are committed, so the callbacks find their texts
        apply_early(runtime, overtaken)


def _participant_effects(session: Any, outcomes: list[SendOutcome], written: set[int]) -> None:
    effects = [
        o
        for o in outcomes
        if o.id in written and o.error_code is not None and o.participant_id is not None
    ]
    if effects:
        people = {
            p.id: p
            for p in session.scalars(
                sa.select(Participant).where(
                    Participant.id.in_({o.participant_id for o in effects})
                )
            )
        }
        for o in effects:
            participant = people.get(o.participant_id or 0)
            if participant is not None and o.error_code is not None:
                apply_error_to_participant(session, participant, o.error_code, sent_at=o.at)

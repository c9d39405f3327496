"""scrub contact text: numbers and e-mail addresses kept in free text before it was redacted

Twilio's error texts quote the number, and the send path stored them as they were; withdrawal
and the retention sweep left some free text behind. This applies today's rules to what is
already stored, with the same function the code now calls on every write
(smsapp.privacy.redact), in batches, on SQLite and PostgreSQL alike. No schema change.

- Every row: outbound_message.error_message, inbound_message.error, export_run.error and the
  reason of each participant.reveal_number audit event are redacted.
- Participants already erased (erased_at set, by withdrawal or the sweep) get what erasure now
  does without needing their number: the provider's text of their failed texts goes (the code
  stays), their texts lose their words (except one a safeguarding flag keeps) and stored
  errors, their conversations' state is emptied, the guardian's name goes, and their kept
  answers and nominations are redacted. A text that failed before it was matched to them was
  found only by the number's index, which erasure removed: it can no longer be tied to them,
  and only its error is redacted, with every other row's.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04 06:00:00
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from smsapp.privacy.redact import redact

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BATCH = 500

outbound = sa.table(
    "outbound_message",
    sa.column("id", sa.Integer),
    sa.column("participant_id", sa.Integer),
    sa.column("error_code", sa.Integer),
    sa.column("error_message", sa.Text),
)
inbound = sa.table(
    "inbound_message",
    sa.column("id", sa.Integer),
    sa.column("participant_id", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("replies", sa.JSON),
    sa.column("error", sa.Text),
)
export_run = sa.table("export_run", sa.column("id", sa.Integer), sa.column("error", sa.Text))
audit_event = sa.table(
    "audit_event",
    sa.column("id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("details", sa.JSON),
)
participant = sa.table(
    "participant",
    sa.column("id", sa.Integer),
    sa.column("erased_at", sa.DateTime),
    sa.column("consent_by", sa.String),
)
conversation = sa.table(
    "conversation",
    sa.column("id", sa.Integer),
    sa.column("participant_id", sa.Integer),
    sa.column("state", sa.JSON),
)
answer = sa.table(
    "answer",
    sa.column("id", sa.Integer),
    sa.column("participant_id", sa.Integer),
    sa.column("value", sa.JSON),
    sa.column("label", sa.Text),
    sa.column("raw_text", sa.Text),
)
nomination = sa.table(
    "nomination",
    sa.column("id", sa.Integer),
    sa.column("participant_id", sa.Integer),
    sa.column("text", sa.String),
)
safeguarding_flag = sa.table("safeguarding_flag", sa.column("inbound_message_id", sa.Integer))


def _batches(conn: sa.Connection, table: Any, columns: list[str], *where: Any) -> Iterator[Any]:
    """Rows in id order, BATCH at a time (keyset paging: each batch is one indexed range)."""
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, *(table.c[name] for name in columns))
            .where(table.c.id > last, *where)
            .order_by(table.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _redact_column(conn: sa.Connection, table: Any, column: str, *where: Any) -> None:
    for row_id, text in _batches(conn, table, [column], table.c[column].is_not(None), *where):
        clean = redact(text)
        if clean != text:
            conn.execute(sa.update(table).where(table.c.id == row_id).values({column: clean}))


def _optional(text: str | None) -> str | None:
    return None if text is None else redact(text)


def _redact_rows(
    conn: sa.Connection, table: Any, columns: list[str], scrub: Callable[..., tuple[Any, ...]]
) -> None:
    erased = sa.select(participant.c.id).where(participant.c.erased_at.is_not(None))
    for row_id, *values in _batches(conn, table, columns, table.c.participant_id.in_(erased)):
        clean = scrub(*values)
        if list(clean) != values:
            conn.execute(
                sa.update(table)
                .where(table.c.id == row_id)
                .values(dict(zip(columns, clean, strict=True)))
            )


def upgrade() -> None:
    conn = op.get_bind()
    _redact_column(conn, outbound, "error_message")
    _redact_column(conn, inbound, "error")
    _redact_column(conn, export_run, "error")
    reveals = audit_event.c.action == "participant.reveal_number"
    for event_id, details in _batches(conn, audit_event, ["details"], reveals):
        reason = (details or {}).get("reason")
        if isinstance(reason, str) and redact(reason) != reason:
            conn.execute(
                sa.update(audit_event)
                .where(audit_event.c.id == event_id)
                .values(details={**details, "reason": redact(reason)})
            )

    erased = sa.select(participant.c.id).where(participant.c.erased_at.is_not(None))
    conn.execute(
        sa.update(outbound)
        .where(outbound.c.participant_id.in_(erased), outbound.c.error_code.is_not(None))
        .values(error_message=None)
    )
    flagged = sa.select(safeguarding_flag.c.inbound_message_id)
    conn.execute(
        sa.update(inbound)
        .where(inbound.c.participant_id.in_(erased), inbound.c.id.not_in(flagged))
        .values(body="", replies=[])
    )
    conn.execute(sa.update(inbound).where(inbound.c.participant_id.in_(erased)).values(error=None))
    conn.execute(
        sa.update(conversation).where(conversation.c.participant_id.in_(erased)).values(state={})
    )
    conn.execute(
        sa.update(participant).where(participant.c.erased_at.is_not(None)).values(consent_by=None)
    )
    _redact_rows(
        conn,
        answer,
        ["value", "label", "raw_text"],
        lambda value, label, raw: (
            redact(value) if isinstance(value, str) else value,
            _optional(label),
            _optional(raw),
        ),
    )
    _redact_rows(conn, nomination, ["text"], lambda text: (redact(text)[:200],))


def downgrade() -> None:
    # Nothing to undo: redacted text cannot be put back, and the schema did not change.
    pass

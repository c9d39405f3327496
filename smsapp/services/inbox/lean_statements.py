"""The lean path's statements (lean.py), built once per process and dialect: the load, the lock,
the one-statement writes on PostgreSQL (compiled for psycopg, smsapp/pgdirect.py), and the
separate writes SQLite needs. Column lists come from the one row builders
(`outbox/rows.outbound_row`, `polls/conversations.answer_row`).
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from smsapp import pgdirect
from smsapp.conversation import engine
from smsapp.models import (
    Answer,
    Conversation,
    ConversationStatus,
    Group,
    GroupMembership,
    InboundMessage,
    OutboundMessage,
    Participant,
    Poll,
    PollStatus,
)
from smsapp.services.inbox.texts import claim_statement
from smsapp.services.outbox.rows import outbound_row
from smsapp.services.people.participants import with_phone
from smsapp.services.polls.conversations import answer_row

_AnyConversation = sa.orm.aliased(Conversation)
_KeywordPoll = sa.orm.aliased(Poll)


def _param(column: Any, name: str | None = None) -> Any:
    """A bound parameter typed as its column (JSON, UTC datetimes), named after it."""
    return sa.bindparam(name or column.key, type_=column.type)


class Statements:
    """The lean path's statements for one dialect, built once per process (building a
    statement costs more CPU than the round trip it makes), executed with parameters."""

    def __init__(self, dialect: sa.Dialect) -> None:
        pg = dialect.name == "postgresql"
        columns = (
            Participant.id,
            Participant.status,
            Participant.consent_at,
            Participant.assent_at,
            Participant.simulated,
            Participant.nickname,
            Conversation.id.label("conversation_id"),
            Conversation.poll_id,
            Conversation.state,
            Conversation.last_activity_at,
            Poll.status.label("poll_status"),
            Poll.updated_at.label("poll_updated_at"),
            # Only asked when nothing is open, through ix_conversation_participant (a LIMIT
            # keeps it one index probe: an EXISTS here may be planned as a whole-table hash).
            sa.case(
                (
                    Conversation.id.is_(None),
                    sa.select(_AnyConversation.id)
                    .where(_AnyConversation.participant_id == Participant.id)
                    .limit(1)
                    .scalar_subquery()
                    .is_not(None),
                ),
                else_=sa.false(),
            ).label("any_conversation"),
            Group.settings.label("group_settings"),
        )
        keyword_poll = (
            sa.select(_KeywordPoll.id)
            .where(
                _KeywordPoll.keyword == sa.bindparam("keyword"),
                _KeywordPoll.status == PollStatus.OPEN,
            )
            .limit(1)
            .scalar_subquery()
        )

        # One statement: the participant, their open conversation and its poll's version,
        # whether they ever had a conversation, an open poll with this text as its keyword,
        # and one row per group they are in.
        def load(keyword: bool, keys: int | None) -> Any:
            kw: Any = keyword_poll if keyword else sa.null()
            return (
                sa.select(*columns, kw.label("keyword_poll_id"))
                .select_from(Participant)
                .outerjoin(
                    Conversation,
                    sa.and_(
                        Conversation.participant_id == Participant.id,
                        Conversation.status == ConversationStatus.OPEN,
                    ),
                )
                .outerjoin(Poll, Poll.id == Conversation.poll_id)
                .outerjoin(GroupMembership, GroupMembership.participant_id == Participant.id)
                .outerjoin(Group, Group.id == GroupMembership.group_id)
                .where(with_phone(keys=keys))
            )

        self.load = {keyword: load(keyword, None) for keyword in (False, True)}

        # PostgreSQL: the participant's row lock is a statement of its own, BEFORE the load.
        # A statement reads one snapshot, taken before it waits for a lock: locking in the
        # load itself would hand the second of two texts from one person the conversation
        # state as it was before the first committed, and both would answer one question
        # (tests/faults/test_webhook_faults.py). SQLite's BEGIN IMMEDIATE serialises writers.
        def lock(keys: int) -> Any:
            return sa.select(Participant.id).where(with_phone(keys=keys)).with_for_update()

        self.definition = sa.select(Poll.definition).where(Poll.id == sa.bindparam("poll_id"))
        inbound = InboundMessage.__table__.c
        insert = (postgresql.insert if pg else sqlite.insert)(InboundMessage).values(
            # Named i_<column>: an execution parameter named as a column would also be SET by
            # the UPDATE in the one-statement write.
            {key: _param(inbound[key], f"i_{key}") for key in INBOUND_KEYS}
        )
        self.inbound = insert.on_conflict_do_nothing(
            index_elements=[InboundMessage.message_sid]
        ).returning(InboundMessage.id)
        conversation = Conversation.__table__.c
        self.save_state = (
            sa.update(Conversation)
            .where(Conversation.id == sa.bindparam("s_conversation_id"))
            .values(
                state=_param(conversation.state, "s_state"),
                last_activity_at=_param(conversation.last_activity_at, "s_now"),
            )
        )
        self.answer = sa.insert(Answer)
        self.outbound = sa.insert(OutboundMessage)
        self._writes: dict[tuple[int, int, bool], Any] = {}
        self.stored = sa.select(
            InboundMessage.replies, InboundMessage.route, InboundMessage.participant_id
        ).where(InboundMessage.message_sid == sa.bindparam("sid"))
        self.dialect = dialect
        if pg:  # compiled once, run on psycopg's own connection (smsapp/pgdirect.py)
            # Per number of phone keys (one; more while `smsapp keys rotate` runs), so each
            # is plain equality to the planner, which then keeps one plan for it.
            self.pg_lock = {n: pgdirect.Compiled(lock(n), dialect) for n in KEYS}
            self.pg_load = {
                (kw, n): pgdirect.Compiled(load(kw, n), dialect)
                for kw in (False, True)
                for n in KEYS
            }
            self.pg_definition = pgdirect.Compiled(self.definition, dialect)

    def write(self, replies: int, answers: int, state: bool) -> pgdirect.Compiled:
        """PostgreSQL: every write of one text in ONE statement. The inbound INSERT (nothing
        on a repeated MessageSid) is a CTE the others select its id from: the replies, the
        answers and the conversation state (params ``r0_body``, ``a0_value``, ``s_state``...).
        A repeat returns no row and writes nothing at all."""
        key = (replies, answers, state)
        if key not in self._writes:
            inbound = self.inbound.cte("inbound")
            stmt = self._replies(sa.select(inbound.c.id), inbound, replies)
            answer = Answer.__table__.c
            keys = [k for k in ANSWER_KEYS if k != BY_INBOUND]
            for j in range(answers):
                values = [sa.cast(_param(answer[k], f"a{j}_{k}"), answer[k].type) for k in keys]
                row = sa.insert(Answer).from_select(
                    [*keys, BY_INBOUND], sa.select(*values, inbound.c.id)
                )
                stmt = stmt.add_cte(row.cte(f"answer{j}"))
            if state:
                saved = self.save_state.where(sa.select(inbound.c.id).exists())
                stmt = stmt.add_cte(saved.cte("saved"))
            self._writes[key] = pgdirect.Compiled(stmt, self.dialect)
        return self._writes[key]

    def _replies(self, stmt: Any, inbound: Any, replies: int, *, when: Any = None) -> Any:
        """``stmt`` with the logged replies as CTEs selecting the inbound row's id (``when``:
        only if that holds too)."""
        out = OutboundMessage.__table__.c
        for j in range(replies):
            values = [sa.cast(_param(out[k], f"r{j}_{k}"), out[k].type) for k in OUTBOUND_KEYS]
            rows = sa.select(*values, inbound.c.id)
            if when is not None:
                rows = rows.where(when)
            reply = sa.insert(OutboundMessage).from_select([*OUTBOUND_KEYS, "in_reply_to_id"], rows)
            stmt = stmt.add_cte(reply.cte(f"reply{j}"))
        return stmt

    @cached_property
    def write_unknown(self) -> pgdirect.Compiled:
        """PostgreSQL: an unknown number's text in ONE statement. The daily claim
        (`inbox/texts.claim_statement`) is a CTE; the text stores the reply (``i_replies``) or
        none (``i_silent``) as it says, and the reply is logged only if it claimed. Returns
        the text's id and whether it claimed; nothing on a repeated MessageSid (whose claim,
        a day after the first delivery at the earliest, is used up: harmless)."""
        claim = claim_statement("postgresql").cte("claim")
        claimed = sa.select(claim.c.sender_index).exists()
        columns = InboundMessage.__table__.c
        values = {k: _param(columns[k], f"i_{k}") for k in INBOUND_KEYS}
        values["replies"] = sa.case(
            (claimed, _param(columns.replies, "i_replies")),
            else_=_param(columns.replies, "i_silent"),
        )
        inbound = (
            postgresql.insert(InboundMessage)
            .values(values)
            .on_conflict_do_nothing(index_elements=[InboundMessage.message_sid])
            .returning(InboundMessage.id)
            .cte("inbound")
        )
        stmt = sa.select(inbound.c.id, claimed.label("claimed")).add_cte(claim)
        return pgdirect.Compiled(self._replies(stmt, inbound, 1, when=claimed), self.dialect)


# What the lean path writes on an inbound row: everything the full path fills in by the end.
INBOUND_KEYS = (
    "message_sid",
    "participant_id",
    "sender_index",
    "body",
    "received_at",
    "handled_at",
    "route",
    "replies",
    "conversation_id",
    "flagged",
)
# The answer columns, as the one answer builder (conversations.answer_row) fills them.
ANSWER_KEYS = tuple(
    answer_row(
        engine.RecordedAnswer("", "", None, None, "", 1, False, None),
        poll_id=0,
        conversation_id=0,
        participant_id=0,
        inbound_id=None,
        now=datetime.min,
    )
)


# The outbound columns, as the one outbound-row builder (outbox/rows.outbound_row) fills them.
OUTBOUND_KEYS = tuple(
    k
    for k in outbound_row(participant_id=None, kind="", body="", backend="")
    if k != "in_reply_to_id"
)
BY_INBOUND = "inbound_message_id"  # what an answer came in: the id the write statement returns
TO_INBOUND = "in_reply_to_id"  # what a reply answers: that id too
MAX_ONE_STATEMENT = (4, 2)  # replies, answers: more (rare) go to the full path
KEYS = range(1, 5)  # phone keys a look-up may carry: the current one, and old ones mid-rotation


_statements: dict[str, Statements] = {}


def statements(dialect: sa.Dialect) -> Statements:
    """The statements for this dialect, built on first use (the same SQL for every engine)."""
    found = _statements.get(dialect.name)
    if found is None:
        found = _statements[dialect.name] = Statements(dialect)
    return found

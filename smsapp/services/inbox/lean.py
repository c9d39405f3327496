"""The lean path for the texts that arrive by the hundred: Core statements, no ORM unit of work.

Three kinds of text are handled here: an unknown number (the one reply a day), a known
participant with nothing open and no poll ever (the friendly reply), and an answer to the
current question of an open conversation. On PostgreSQL the statements are compiled once,
prepared on the server and sent together (smsapp/pgdirect.py), and a text takes two round
trips: BEGIN, lock the participant's row (one text at a time per person), and load them with
their open conversation, its poll's version and their groups' settings; then write everything
in one statement (the text with its route and replies, as a CTE whose id the logged reply, the
answer and the conversation state select, so a repeated MessageSid writes nothing) and COMMIT.
An unknown number's lock and load find nobody, and its one write also claims the day's reply.
SQLite (no INSERT in a CTE; BEGIN IMMEDIATE serialises writers, so no lock) takes a statement
per write, through SQLAlchemy.

Every decision is the one the full path (receive.py) makes, by the same functions: the
safeguarding screen (`screening.screen_text`), reserved words (`command_word`), poll keywords
(`keyword_of`), assent (`consent.assent_outstanding`), the pure engine (`engine.step`), the
answer and outbound row builders, the unknown number's daily claim. Anything else - any
reserved word (STOP, HELP, JOIN, LEAVE, SKIP, WITHDRAW, YES..., ASK or SEND with their words), a
keyword of an open poll, a text the screen matches, an opted-out or not-yet-assented
participant, a poll that closed or a conversation that expired, an answer that finishes a
conversation or gathers a nomination, a late text after a poll - is not this path's: it ends
what it read (nothing was written) and the full path handles the text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from smsapp import pgdirect
from smsapp.conversation import engine
from smsapp.conversation.keywords import agenda_command, command_word
from smsapp.db import core_transaction, utcnow
from smsapp.models import (
    ParticipantStatus,
    PollStatus,
)
from smsapp.runtime import Runtime
from smsapp.services.inbox.lean_statements import (
    BY_INBOUND,
    KEYS,
    MAX_ONE_STATEMENT,
    TO_INBOUND,
    Statements,
    statements,
)
from smsapp.services.inbox.texts import (
    MAX_BODY,
    UNKNOWN_REPLY,
    InboundText,
    Received,
    claim_params,
    claim_unknown_reply,
)
from smsapp.services.outbox.rows import outbound_row
from smsapp.services.people.consent import assent_outstanding
from smsapp.services.people.participants import phone_params
from smsapp.services.polls.conversations import Turn, answer_row, nothing_open_reply
from smsapp.services.polls.definitions import cached_definition, keyword_of
from smsapp.services.safeguarding.screening import screen_text


class NotLean(Exception):
    """This text is the full path's; nothing was written."""


class Duplicate(Exception):
    """The MessageSid is stored already; roll back whatever this attempt did."""


def _participant_turn(
    runtime: Runtime,
    stored_definition: Callable[[int], dict[str, Any]],
    rows: list[Any],
    body: str,
    now: datetime,
) -> tuple[Turn, list[engine.RecordedAnswer], dict[str, Any] | None]:
    """The turn for a known participant, or NotLean. Also the answers and the new conversation
    state to store (none for the friendly reply)."""
    me = rows[0]
    if len({row.id for row in rows}) > 1 or me.status != ParticipantStatus.ACTIVE:
        raise NotLean
    if me.consent_at is not None and assent_outstanding(
        assent_at=me.assent_at,
        simulated=me.simulated,
        group_settings=(row.group_settings for row in rows),
    ):
        raise NotLean  # the JOIN invitation
    if me.keyword_poll_id is not None:
        raise NotLean  # a poll keyword: start, refuse or "busy"
    if me.conversation_id is None:
        if me.any_conversation:
            raise NotLean  # a changed ballot, or "that poll has closed"
        return Turn("nothing-open", [nothing_open_reply(me.nickname)]), [], None
    timeout = timedelta(hours=runtime.settings.conversation_timeout_hours)
    if me.poll_status in (None, PollStatus.CLOSED) or engine.is_expired(
        me.last_activity_at, now, timeout
    ):
        raise NotLean  # the conversation ends first
    poll_id = me.poll_id
    result = engine.step(
        cached_definition(poll_id, me.poll_updated_at, lambda: stored_definition(poll_id)),
        engine.ConversationState.from_dict(me.state),
        body,
        nickname=me.nickname,
        max_attempts=runtime.settings.max_attempts,
        flagged=False,  # a text the screen matches never comes this way
    )
    if result.finished or any(a.kind == "nominate" for a in result.answers):
        raise NotLean  # the next waiting poll starts; a gathered nomination is screened again
    kinds = tuple(a.kind for a in result.answers)
    turn = Turn("poll", list(result.replies), me.conversation_id, me.poll_id, kinds)
    return turn, list(result.answers), result.state.to_dict()


def receive(runtime: Runtime, text: InboundText, e164: str, sender_index: str) -> Received:
    """Handle one text in a transaction of its own, or raise NotLean having written nothing
    (Duplicate: the MessageSid is stored already)."""
    body = text.body
    word = command_word(body)
    if text.participant_id is not None or word is not None or agenda_command(body) is not None:
        raise NotLean  # a reserved word, or ASK/SEND with words after it (the agenda's)
    if screen_text(runtime.settings, body):
        raise NotLean  # the full path raises the flag and sends the supportive reply
    keyword = keyword_of(body)
    params: dict[str, Any] = phone_params(runtime.vault, e164)
    if len(params["phone_indexes"]) not in KEYS:
        raise NotLean  # (a rotation left many keys unfinished) the full path looks them up
    if keyword is not None:
        params["keyword"] = keyword
    lean = _Lean(runtime, text, sender_index, utcnow())
    if runtime.db.engine.dialect.name == "postgresql":
        return _receive_pg(lean, params, keyword is not None)
    with core_transaction(runtime.db) as conn:
        return _receive_sqlite(lean, conn, params, keyword is not None)


class _Lean:
    """One text on the lean path: what it decides, whichever database stores it."""

    def __init__(self, runtime: Runtime, text: InboundText, sender_index: str, now: datetime):
        self.runtime, self.text, self.sender_index, self.now = runtime, text, sender_index, now
        self.answers: list[engine.RecordedAnswer] = []
        self.state: dict[str, Any] | None = None
        self.participant_id: int | None = None
        self.turn = Turn("unknown", [])
        self.replies: list[str] = []

    def decide(self, rows: list[Any], stored_definition: Callable[[int], dict[str, Any]]) -> None:
        """A known participant's turn (or NotLean); call `unknown` instead when rows is empty."""
        self.turn, self.answers, self.state = _participant_turn(
            self.runtime, stored_definition, rows, self.text.body, self.now
        )
        self.participant_id = rows[0].id
        self.replies = [r[:MAX_BODY] for r in self.turn.replies if r]

    def unknown(self, claimed: bool) -> None:
        self.turn = Turn("unknown", [UNKNOWN_REPLY] if claimed else [])
        self.replies = list(self.turn.replies)

    def received(self) -> Received:
        return Received(self.replies, self.turn.route, False, self.participant_id)

    def inbound(self) -> dict[str, Any]:
        """The text, with what was done already filled in (params named i_<column>)."""
        return {
            "i_message_sid": self.text.message_sid,
            "i_participant_id": self.participant_id,
            "i_sender_index": self.sender_index,
            "i_body": self.text.body,
            "i_received_at": self.now,
            "i_handled_at": self.now,
            "i_route": self.turn.route,
            "i_replies": self.replies,
            "i_conversation_id": self.turn.conversation_id,
            "i_flagged": False,
        }

    def reply_rows(self, inbound_id: int | None) -> list[dict[str, Any]]:
        return [
            outbound_row(
                participant_id=self.participant_id,
                poll_id=self.turn.poll_id,
                conversation_id=self.turn.conversation_id,
                in_reply_to_id=inbound_id,
                kind="reply",
                body=reply,
                backend="twiml",
                sent=True,
                now=self.now,
            )
            for reply in self.replies
        ]

    def answer_rows(self, inbound_id: int | None) -> list[dict[str, Any]]:
        turn = self.turn
        assert turn.conversation_id is not None and turn.poll_id is not None
        assert self.participant_id is not None
        return [
            answer_row(
                a,
                poll_id=turn.poll_id,
                conversation_id=turn.conversation_id,
                participant_id=self.participant_id,
                inbound_id=inbound_id,
                now=self.now,
            )
            for a in self.answers
        ]

    def saved_state(self) -> dict[str, Any]:
        return {
            "s_conversation_id": self.turn.conversation_id,
            "s_state": self.state,
            "s_now": self.now,
        }


def _receive_pg(lean: _Lean, params: dict[str, Any], keyword: bool) -> Received:
    """PostgreSQL: two round trips, each statement compiled once and prepared on the server
    (smsapp/pgdirect.py): ``BEGIN; lock; load``, then ``write; COMMIT``.

    The participant's row lock is a statement of its own, BEFORE the load: a statement reads
    one snapshot, taken before it waits for a lock, so locking in the load itself would hand
    the second of two texts from one person the conversation state as it was before the first
    committed, and both would answer one question (tests/faults/test_webhook_faults.py). The
    load, a statement after it in the same query, takes its snapshot once the lock is held."""
    runtime = lean.runtime
    sql = statements(runtime.db.engine.dialect)
    with pgdirect.transaction(runtime.db) as tx:
        try:
            return _pg_turn(lean, tx, sql, params, keyword)
        except NotLean:
            tx.commit()  # nothing was written: end the read cleanly
            raise


def _pg_turn(
    lean: _Lean, tx: pgdirect.Transaction, sql: Statements, params: dict[str, Any], keyword: bool
) -> Received:
    keys = len(params["phone_indexes"])
    locked, rows = tx.run_all((sql.pg_lock[keys], params), (sql.pg_load[keyword, keys], params))
    if not locked:
        return _pg_unknown(lean, tx, sql)

    def stored(poll_id: int) -> dict[str, Any]:
        found = tx.run(sql.pg_definition, {"poll_id": poll_id})
        return dict(found[0].definition or {}) if found else {}

    lean.decide(rows, stored)
    answers = len(lean.answers) if lean.state is not None else 0
    if (len(lean.replies), answers) > MAX_ONE_STATEMENT:
        raise NotLean  # (rare) more than one statement holds; the full path writes it
    params = lean.inbound()
    for j, row in enumerate(lean.reply_rows(None)):
        params.update({f"r{j}_{k}": v for k, v in row.items() if k != TO_INBOUND})
    if lean.state is not None:
        for j, row in enumerate(lean.answer_rows(None)):
            params.update({f"a{j}_{k}": v for k, v in row.items() if k != BY_INBOUND})
        params.update(lean.saved_state())
    write = sql.write(len(lean.replies), answers, lean.state is not None)
    (written,) = tx.run_all((write, params), commit=True)
    if not written:
        raise Duplicate
    return lean.received()


def _pg_unknown(lean: _Lean, tx: pgdirect.Transaction, sql: Statements) -> Received:
    """An unknown number: claim the day's reply and store the text in one statement."""
    lean.unknown(claimed=True)  # the rows as if it claims; the statement keeps them if so
    params = {**lean.inbound(), **claim_params(lean.sender_index, lean.now), "i_silent": []}
    params.update({f"r0_{k}": v for k, v in lean.reply_rows(None)[0].items() if k != TO_INBOUND})
    (written,) = tx.run_all((sql.write_unknown, params), commit=True)
    if not written:
        raise Duplicate
    lean.unknown(claimed=bool(written[0].claimed))
    return lean.received()


def _receive_sqlite(
    lean: _Lean, conn: Connection, params: dict[str, Any], keyword: bool
) -> Received:
    """SQLite: no INSERT inside a CTE, so a statement per write; BEGIN IMMEDIATE serialises
    writers, so no lock."""
    sql = statements(conn.dialect)
    rows = list(conn.execute(sql.load[keyword], params).all())
    if rows:

        def stored(poll_id: int) -> dict[str, Any]:
            return dict(conn.scalar(sql.definition, {"poll_id": poll_id}) or {})

        lean.decide(rows, stored)
    else:
        lean.unknown(claim_unknown_reply(conn, lean.sender_index, lean.now))
    inbound_id = conn.scalar(sql.inbound, lean.inbound())
    if inbound_id is None:
        raise Duplicate
    if lean.state is not None:
        if lean.answers:
            conn.execute(sql.answer, lean.answer_rows(inbound_id))
        conn.execute(sql.save_state, lean.saved_state())
    if lean.replies:
        conn.execute(sql.outbound, lean.reply_rows(inbound_id))
    return lean.received()


def stored_answer(conn: Connection, sid: str) -> Received | None:
    """How a stored text was answered (for a repeated MessageSid)."""
    row = conn.execute(statements(conn.dialect).stored, {"sid": sid}).first()
    if row is None:
        return None
    return Received(list(row.replies or []), row.route or "", True, row.participant_id)

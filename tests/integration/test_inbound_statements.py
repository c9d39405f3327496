"""SQL statements per text, counted where they leave for the database, for each scenario the
inbound benchmark measures: a regression in round trips fails here without timing anything.

The bounds are the lean path's (services/inbox/lean.py, issue 14). On PostgreSQL a text is
one statement to lock the participant, one to load them with their open conversation, and one
to write everything (the text, the answer, the conversation state and the logged reply, as
CTEs); an unknown number's lock finds nobody, so it skips the load, and its one write also
claims its one reply a day. Those statements run on psycopg's own connection (smsapp/pgdirect.py), not through
SQLAlchemy, so on PostgreSQL every statement is counted at psycopg's Cursor.execute, whoever
sends it; on SQLite at SQLAlchemy's before_cursor_execute. SQLite has no INSERT inside a CTE,
so each write is a statement of its own there, and needs no lock. A status callback is one
UPDATE. BEGIN/COMMIT and the test's own SAVEPOINTs are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import Answer, InboundMessage, OutboundMessage, UnknownSenderReply
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.conftest import ACCOUNT_SID, post_signed
from tests.support.factories import make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"
STRANGER = "+447911123999"
# (PostgreSQL, SQLite) upper bounds
KNOWN, UNKNOWN, CONVERSATION = (3, 3), (2, 4), (3, 5)
NOT_COUNTED = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


@pytest.fixture
def statements(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[], Any]], list[str]]]:
    """statements(action) runs action and returns the SQL statements it sent."""
    seen: list[str] = []

    def note(statement: Any) -> None:
        text = statement.decode() if isinstance(statement, bytes) else str(statement)
        if not text.lstrip().upper().startswith(NOT_COUNTED):
            seen.append(" ".join(text.split()))

    def count(action: Callable[[], Any]) -> list[str]:
        seen.clear()
        action()
        return list(seen)

    if engine.dialect.name == "postgresql":
        import psycopg

        execute = psycopg.Cursor.execute

        def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            note(query)
            return execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Cursor, "execute", counted)
        yield count
        return

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        note(statement)

    sa.event.listen(engine, "before_cursor_execute", before)
    yield count
    sa.event.remove(engine, "before_cursor_execute", before)


def _bound(runtime, bounds: tuple[int, int]) -> int:
    return bounds[0] if runtime.db.engine.dialect.name == "postgresql" else bounds[1]


def _within(sent: list[str], bound: int) -> bool:
    """At most `bound` statements, one of which stored the text (so the counter saw them)."""
    return 0 < len(sent) <= bound and any("INSERT INTO inbound_message" in s for s in sent)


def _count(runtime, model: Any) -> int:
    with runtime.db.transaction() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def test_a_known_participant_with_nothing_open(runtime, phone, statements) -> None:
    make_participant(runtime, SAM, nickname="Sam")
    replies: list[list[str]] = []
    sent = statements(lambda: replies.append(phone(SAM).replies("hello")))
    assert replies == [[replies[0][0]]] and replies[0][0].startswith("Hi Sam! There's nothing")
    assert _within(sent, _bound(runtime, KNOWN)), sent
    assert _count(runtime, InboundMessage) == 1 and _count(runtime, OutboundMessage) == 1


def test_an_unknown_number(runtime, phone, statements) -> None:
    first: list[list[str]] = []
    sent = statements(lambda: first.append(phone(STRANGER).replies("hello")))
    assert len(first[0]) == 1 and "isn't linked to a group" in first[0][0]
    assert _within(sent, _bound(runtime, UNKNOWN)), sent
    # The second text of the day gets no reply, in no more statements.
    again = statements(lambda: first.append(phone(STRANGER).replies("hello?")))
    assert first[1] == [] and _within(again, _bound(runtime, UNKNOWN)), again
    assert _count(runtime, UnknownSenderReply) == 1 and _count(runtime, InboundMessage) == 2


def test_an_answer_in_an_open_conversation(runtime, phone, statements) -> None:
    make_participant(runtime, SAM, nickname="Sam")
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
    sam = phone(SAM)
    sam.replies("all")  # the keyword starts the conversation (the full path)
    replies: list[list[str]] = []
    sent = statements(lambda: replies.append(sam.replies("a")))
    assert "Why red?" in replies[0][0]
    bound = _bound(runtime, CONVERSATION)
    assert _within(sent, bound), sent
    with runtime.db.transaction() as s:
        answer = s.scalar(sa.select(Answer))
        assert answer is not None and answer.question_key == "colour" and answer.label == "Red"
        inbound = s.scalar(sa.select(InboundMessage).where(InboundMessage.body == "a"))
        assert (
            inbound is not None
            and inbound.route == "poll"
            and answer.inbound_message_id == (inbound.id)
        )
    # A re-prompt (no answer recorded) takes no more.
    sent = statements(lambda: replies.append(sam.replies("purple!!")))
    assert _within(sent, bound), sent


def test_a_status_callback_in_one(runtime, client, statements) -> None:
    sid = "SM" + "9" * 32
    with runtime.db.transaction() as s:
        s.add(
            OutboundMessage(
                kind="invitation", body="Q?", backend="twilio", status="sent", twilio_sid=sid
            )
        )
    params = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID}
    sent = statements(lambda: post_signed(client, "/sms/status", params))
    assert len(sent) <= 1, sent
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(OutboundMessage.status)) == "delivered"

"""Round trips and SQL statements per text, counted where they leave for the database, for each
scenario the inbound benchmark measures: a regression fails here without timing anything.

The bounds are the lean path's (services/inbox/lean.py, issue 14). On PostgreSQL a text is two
round trips: BEGIN, lock the participant and load them with their open conversation; then one
statement that writes everything (the text, the answer, the conversation state and the logged
reply, as CTEs), and COMMIT. An unknown number's lock and load find nobody, and its one write
also claims its one reply a day. Those statements are prepared by name and executed together
on psycopg's own connection (smsapp/pgdirect.py), so on PostgreSQL each psycopg
Cursor.execute is a round trip and the statements in it are counted, an EXECUTE by the SQL it
was prepared from; PREPARE itself (once per connection and statement) is not counted. On SQLite
each statement is a round trip, counted at SQLAlchemy's before_cursor_execute; it has no INSERT
inside a CTE, so each write is a statement of its own there, and needs no lock. A status
callback is one UPDATE. BEGIN/COMMIT and the test's own SAVEPOINTs are not counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp import pgdirect
from smsapp.models import Answer, InboundMessage, OutboundMessage, UnknownSenderReply
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.conftest import ACCOUNT_SID, post_signed
from tests.support.factories import make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"
STRANGER = "+447911123999"
# Upper bounds, (round trips, statements): (PostgreSQL, SQLite)
KNOWN = (2, 3), (3, 3)
UNKNOWN = (2, 3), (4, 4)
CONVERSATION = (2, 3), (5, 5)
NOT_COUNTED = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


Trips = list[list[str]]  # the round trips, each the statements it carried


@pytest.fixture
def statements(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Callable[[], Any]], Trips]]:
    """statements(action) runs action and returns the round trips it made, each a list of the
    SQL statements it sent (an EXECUTE as the SQL it was prepared from)."""
    seen: Trips = []

    def note(query: Any) -> None:
        text = query.decode() if isinstance(query, bytes) else str(query)
        counted = []
        for statement in text.split(";"):  # our queries' own text: parameters are not in it
            statement = " ".join(statement.split())
            if statement.upper().startswith(NOT_COUNTED + ("PREPARE",)) or not statement:
                continue
            if statement.startswith("EXECUTE "):
                statement = pgdirect.NAMED[statement.split()[1].split("(")[0]]
            counted.append(statement)
        if counted:
            seen.append(counted)

    def count(action: Callable[[], Any]) -> Trips:
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


def _bound(runtime, bounds: tuple[tuple[int, int], tuple[int, int]]) -> tuple[int, int]:
    return bounds[0] if runtime.db.engine.dialect.name == "postgresql" else bounds[1]


def _within(trips: Trips, bound: tuple[int, int]) -> bool:
    """At most so many round trips and statements, one of which stored the text (so the
    counter saw them)."""
    sent = [statement for trip in trips for statement in trip]
    return (
        0 < len(trips) <= bound[0]
        and len(sent) <= bound[1]
        and any("INSERT INTO inbound_message" in s for s in sent)
    )


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
    assert len(sent) <= 1 and all(len(trip) == 1 for trip in sent), sent
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(OutboundMessage.status)) == "delivered"


def test_the_load_reads_only_the_texters_own_open_conversation(runtime) -> None:
    """A launch to a whole year group leaves hundreds of conversations open at once; each text's
    load must find its sender's by the one-open-per-participant index, not read them all. This
    is the plan PostgreSQL keeps for a prepared statement (generic, not for one value)."""
    if runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's plans")
    from smsapp.models import Conversation, Participant
    from smsapp.services.inbox.lean_statements import statements as lean_statements
    from smsapp.services.people.participants import new_participant, phone_params

    count = 2000
    phones = [f"+4474009{i:05d}" for i in range(count)]
    make_participant(runtime, SAM)  # and the group the poll is for
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
        taken: set[str] = set()
        for number in phones:
            new_participant(s, runtime.vault, number, taken=taken)
        s.flush()
        ids = s.scalars(sa.select(Participant.id)).all()
        s.execute(
            sa.insert(Conversation),
            [
                {"poll_id": result.poll.id, "participant_id": pid, "status": "open"}
                | {"state": {}, "started_by": "launch"}
                for pid in ids
            ],
        )
        s.execute(sa.text("ANALYZE conversation"))
    load = lean_statements(runtime.db.engine.dialect).pg_load[False, 1]
    params = phone_params(runtime.vault, phones[count // 2])
    with pgdirect.transaction(runtime.db) as tx:
        tx.cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        tx.run(load, params)  # prepared, and run once
        tx.cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + load.execute, load.args(params))
        (plan,) = tx.cursor.fetchone()

    def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    read = [n for n in nodes(plan[0]["Plan"]) if n.get("Relation Name") == "conversation"]
    assert read and all(n["Actual Rows"] <= 1 for n in read), [
        (n["Node Type"], n.get("Index Name"), n["Actual Rows"]) for n in read
    ]

"""The fast export paths write exactly the bytes of a plain reference: ORM objects read one by
one, cells built with the documented rules, csv.writer. Runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL (where the server formats times and paradata)."""

from __future__ import annotations

import csv
import io
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from smsapp.formats import cells, columns
from smsapp.models import Answer, Conversation, InboundMessage, OutboundMessage, Participant, Poll
from smsapp.runtime import Runtime
from smsapp.services.polls.definitions import load_definition
from smsapp.services.research import exports
from tests.support.every_kind import (
    SAM_ANSWERS,
    T0,
    add_conversation,
    add_people,
    build_every_kind,
    open_every_kind,
)
from tests.support.factories import make_participant

BALLOT_KEYS = ("name", "topics", "colour", "budget")


def iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def reference_responses(session: Any, poll: Poll) -> str:
    """The long responses file computed the obvious way, one ORM object at a time."""
    kept = []
    for answer in session.scalars(sa.select(Answer).where(Answer.poll_id == poll.id)):
        person = session.get(Participant, answer.participant_id)
        inbound = (
            session.get(InboundMessage, answer.inbound_message_id)
            if answer.inbound_message_id
            else None
        )
        if answer.superseded or person.simulated or (inbound is not None and inbound.flagged):
            continue
        kept.append((answer, person))
    kept.sort(key=lambda pair: (pair[0].conversation_id, pair[0].answered_at, pair[0].id))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    out.write("\ufeff")
    writer.writerow([*columns.RESPONSES, *columns.RESPONSES_EXTRA])
    asked: dict[int, datetime] = {}
    for answer, person in kept:
        conv = session.get(Conversation, answer.conversation_id)
        start = asked.get(conv.id, conv.invited_at or conv.created_at)
        reminders = session.scalars(
            sa.select(OutboundMessage.created_at).where(
                OutboundMessage.conversation_id == conv.id,
                OutboundMessage.poll_id == poll.id,
                OutboundMessage.kind == "reminder",
                OutboundMessage.status != "cancelled",
            )
        ).all()
        nudges = sum(1 for at in reminders if start < at <= answer.answered_at)
        seconds = round((answer.answered_at - start).total_seconds())
        asked[conv.id] = answer.answered_at
        skipped = answer.skipped
        writer.writerow(
            [
                person.pseudonym,
                poll.slug,
                answer.question_key,
                answer.kind,
                "" if skipped else cells.safe_text(columns.answer_text(answer.kind, answer.value)),
                "" if skipped else cells.safe_text(answer.label),
                cells.safe_text(answer.raw_text),
                iso(answer.answered_at),
                answer.attempts,
                iso(conv.invited_at),
                nudges,
                seconds,
                1 if skipped else 0,
            ]
        )
    return out.getvalue()


def exported(
    runtime: Runtime, poll_id: int, request: exports.ExportRequest
) -> tuple[str, str, str]:
    """(the file write_csv makes, the text a streamed download sends, the portable rows through
    csv.writer) for one export: on PostgreSQL the first two take the fast path."""
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        file = io.StringIO()
        exports.write_csv(file, s, poll, request)
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        streamed = "".join(exports.csv_text(s, poll, request, bom=True))
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        head = exports.header(request, load_definition(poll))
        rows = exports.export_rows(s, poll, request)
        portable = "".join(exports.csv_chunks(head, rows, bom=True))
    return file.getvalue(), streamed, portable


def reference(runtime: Runtime, poll_id: int) -> str:
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        return reference_responses(s, poll)


FREE_TEXT: dict[str, tuple[Any, str | None, str]] = {
    **SAM_ANSWERS,
    "why_red": (
        '+44 7911 123456 or me@example.org, -3 and -x, @SUM(A1), \t tab, "quoted", a,b\nline',
        None,
        "=1+1 text 07911-123-456 now",
    ),
    "ideas": (["Call 0044 7911 123 457", "=cmd|' /C calc'!A0"], "ideas, two", "-2.5"),
}


def build_rich_poll(runtime: Runtime) -> int:
    """Every question kind, skips, a flagged text, a simulated phone, free text with numbers,
    e-mails and formulas, odd timings (microseconds, half seconds), reminders (one cancelled)
    and superseded answers."""
    built = build_every_kind(runtime)
    poll_id = built.poll_id
    people = [make_participant(runtime, f"+4479111235{n:02d}") for n in range(3)]
    timings = (timedelta(seconds=2.5), timedelta(microseconds=1_500_000), timedelta(hours=30))
    convs = []
    for person, step in zip(people, timings, strict=True):
        convs.append(
            add_conversation(
                runtime,
                poll_id,
                person.id,
                FREE_TEXT,
                start=T0 + timedelta(microseconds=123_456),
                step=step,
                skipped=("siblings",),
            )
        )
    with runtime.db.transaction() as s:
        for hours, status in ((24, "sent"), (25, "cancelled"), (48, "delivered"), (54, "sent")):
            s.add(
                OutboundMessage(
                    participant_id=people[2].id,
                    poll_id=poll_id,
                    conversation_id=convs[2],
                    kind="reminder",
                    body="reminder",
                    backend="outbox",
                    status=status,
                    created_at=T0 + timedelta(hours=hours),
                )
            )
        s.add(
            OutboundMessage(
                participant_id=people[1].id,
                poll_id=poll_id,
                conversation_id=None,
                kind="reminder",
                body="reminder",
                backend="outbox",
                status="sent",
                created_at=T0 + timedelta(seconds=1),
            )
        )
        # A changed ballot: the first is kept for audit but must not be exported.
        first = s.scalars(
            sa.select(Answer).where(
                Answer.conversation_id == convs[0], Answer.question_key == "name"
            )
        ).one()
        first.superseded = True
        s.add(
            Answer(
                poll_id=poll_id,
                conversation_id=convs[0],
                participant_id=people[0].id,
                question_key="name",
                kind="rank",
                value=["A", "B"],
                label="changed",
                raw_text="a b",
                answered_at=T0 + timedelta(minutes=3),
            )
        )
    return poll_id


def test_long_responses_match_the_reference_byte_for_byte(runtime) -> None:
    poll_id = build_rich_poll(runtime)
    expected = reference(runtime, poll_id)
    file, streamed, portable = exported(runtime, poll_id, exports.ExportRequest("responses"))
    assert file == expected
    assert streamed == expected
    assert portable == expected
    assert "[number]" in expected and "[email]" in expected and "'=1+1" in expected
    # 2.5 s and 1.5 s waits both round to 2, half to even as Python's round() does
    assert ",2,0\r\n" in expected and ",3,0\r\n" not in expected


def test_a_dropped_download_leaves_the_session_usable(runtime) -> None:
    # Thousands of rows, more than the socket holds: PostgreSQL is still sending when the reader
    # stops, so its COPY is cancelled part way.
    poll_id = open_every_kind(runtime)
    add_people(runtime, poll_id, 0, 500)
    request = exports.ExportRequest("responses")
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        whole = io.StringIO()
        exports.write_csv(whole, s, poll, request)
        chunks = exports.csv_text(s, poll, request)
        assert isinstance(chunks, Generator)
        first = next(chunks) + next(chunks)  # the header, then the first rows
        chunks.close()  # the browser went away after them
        again = io.StringIO()
        assert exports.write_csv(again, s, poll, request) == 5000
    assert whole.getvalue().startswith(first) and len(first) < len(whole.getvalue())
    assert again.getvalue() == whole.getvalue()


def test_empty_poll_is_just_the_header(runtime) -> None:
    with runtime.db.transaction() as s:
        poll_id = s.scalars(sa.select(Poll.id)).first()
    poll_id = poll_id or build_rich_poll(runtime)
    with runtime.db.transaction() as s:
        s.execute(sa.delete(Answer).where(Answer.poll_id == poll_id))
    expected = reference(runtime, poll_id)
    assert expected.count("\r\n") == 1
    assert exported(runtime, poll_id, exports.ExportRequest("responses")) == (
        expected,
        expected,
        expected,
    )


text = st.text(
    alphabet=st.sampled_from(list("0123456789 +-=@.,\"'\t\r\n()/abcé😀\uff1d\u0663")), max_size=30
)


# No shrinking: every example re-exports the whole poll, so shrinking would take minutes; the
# failing example is printed as found.
@settings(
    max_examples=40,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    free=text,
    label=st.none() | text,
    raw=st.none() | text,
    micros=st.integers(min_value=0, max_value=10**8),
    skipped=st.booleans(),
)
def test_any_free_text_and_timing_match_the_reference(
    runtime, free: str, label: str | None, raw: str | None, micros: int, skipped: bool
) -> None:
    # Examples pile up in one poll (the fixture is shared), so later ones also check mixtures.
    with runtime.db.transaction() as s:
        poll_id = s.scalars(sa.select(Poll.id).where(Poll.slug == "every-kind")).first()
    if poll_id is None:
        poll_id = build_rich_poll(runtime)
    with runtime.db.transaction() as s:
        count = s.scalar(sa.select(sa.func.count()).select_from(Participant)) or 0
    person = make_participant(runtime, f"+4479111{20000 + count:05d}")
    answers = {"why_red": (free, label, raw or ""), "siblings": (micros % 7 - 3, "n", "n")}
    add_conversation(
        runtime,
        poll_id,
        person.id,
        answers,
        start=T0 + timedelta(microseconds=micros),
        step=timedelta(microseconds=micros + 500_000),
        skipped=("why_red",) if skipped else (),
    )
    expected = reference(runtime, poll_id)
    assert exported(runtime, poll_id, exports.ExportRequest("responses")) == (
        expected,
        expected,
        expected,
    )

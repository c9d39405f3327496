"""The poll with every kind of question (tests/data/every_kind.yaml), opened, and the
conversations and answers the export tests read back: Sam's, Ali's and a simulated phone's, or
thousands of people's inserted in bulk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from smsapp.models import Answer, Conversation, InboundMessage, Participant, Poll
from smsapp.runtime import Runtime
from smsapp.services.polls.definitions import import_poll, load_definition, open_poll
from tests.support.factories import make_group, make_participant

DATA = Path(__file__).parent.parent / "data"
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
SEED = "seed-for-export-tests"

# Everyone's answers to tests/data/every_kind.yaml, in the stored shape (value, label, raw).
SAM_ANSWERS: dict[str, tuple[Any, str | None, str]] = {
    "colour": ("A", "Red", "a"),
    "why_red": ('=HYPERLINK("http://x","win")', None, '=HYPERLINK("http://x","win")'),
    "snacks": (["A", "C"], "Crisps, Biscuits", "a and c"),
    "mood": (4, "4 out of 5", "4/5"),
    "again": (True, "Yes", "yeah"),
    "siblings": (2, "2", "two"),
    "ideas": (["Health Voices"], "Health Voices", "Health Voices"),
    "name": (["C", "A", "B"], "1 Team Spark, 2 Young Researchers, 3 Health Voices", "c, a, b"),
    "topics": (["A", "C"], "Sleep, Screens", "AC"),
    "budget": ({"A": 3, "C": 2}, "Museum 3, Beach 2", "A3 C2"),
}


@dataclass
class Built:
    poll_id: int
    slug: str
    pseudonyms: dict[str, str]  # name -> pseudonym
    numbers: dict[str, str]  # name -> phone


def open_every_kind(runtime: Runtime) -> int:
    make_group(runtime)
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        result.poll.tie_seed = SEED
        open_poll(s, result.poll)
        return result.poll.id


def add_conversation(
    runtime: Runtime,
    poll_id: int,
    participant_id: int,
    answers: dict[str, tuple[Any, str | None, str]],
    *,
    start: datetime = T0,
    step: timedelta = timedelta(seconds=30),
    skipped: tuple[str, ...] = (),
    flagged: tuple[str, ...] = (),
    attempts: dict[str, int] | None = None,
) -> int:
    """A finished conversation with these answers, one every `step` after the invitation."""
    with runtime.db.transaction() as s:
        conv = Conversation(
            poll_id=poll_id,
            participant_id=participant_id,
            status="finished",
            started_by="launch",
            created_at=start,
            invited_at=start,
            last_activity_at=start,
        )
        s.add(conv)
        s.flush()
        moment = start
        for key, (value, label, raw) in answers.items():
            moment += step
            inbound_id = None
            if key in flagged:
                inbound = InboundMessage(
                    message_sid=f"SM{participant_id}{key}", body=raw, flagged=True
                )
                s.add(inbound)
                s.flush()
                inbound_id = inbound.id
            s.add(
                Answer(
                    poll_id=poll_id,
                    conversation_id=conv.id,
                    participant_id=participant_id,
                    question_key=key,
                    kind=load_kind(s, poll_id, key),
                    value=None if key in skipped else value,
                    label=None if key in skipped else label,
                    raw_text=raw,
                    attempts=(attempts or {}).get(key, 1),
                    skipped=key in skipped,
                    answered_at=moment,
                    inbound_message_id=inbound_id,
                )
            )
        return conv.id


def load_kind(session: Any, poll_id: int, key: str) -> str:
    poll = session.get(Poll, poll_id)
    return load_definition(poll).question(key).kind


def build_every_kind(runtime: Runtime) -> Built:
    """Sam answers everything; Ali skips some; a simulated phone and a flagged text are hidden."""
    numbers = {"sam": "+447911123456", "ali": "+447911123457", "sim": "+447911123458"}
    people = {name: make_participant(runtime, number) for name, number in numbers.items()}
    poll_id = open_every_kind(runtime)
    with runtime.db.transaction() as s:
        s.get(Participant, people["sim"].id).simulated = True  # type: ignore[union-attr]
    add_conversation(runtime, poll_id, people["sam"].id, SAM_ANSWERS, attempts={"snacks": 2})
    ali: dict[str, tuple[Any, str | None, str]] = {
        "colour": ("B", "Green", "green"),
        "snacks": (["B"], "Fruit", "fruit"),
        "mood": (2, "2 out of 5", "2"),
        "again": (False, "No", "nah"),
        "siblings": (0, "0", "none"),
        "ideas": (["Call 07911 123 457 or ali@example.com"], "x", "Call 07911 123 457"),
        "name": (["B", "C"], "1 Health Voices, 2 Team Spark", "b c"),
        "topics": (["B"], "Sport", "b"),
        "budget": ({"B": 5}, "Zoo 5", "B5"),
    }
    add_conversation(
        runtime,
        poll_id,
        people["ali"].id,
        ali,
        start=T0 + timedelta(minutes=5),
        skipped=("mood",),
        flagged=("again",),
    )
    add_conversation(runtime, poll_id, people["sim"].id, SAM_ANSWERS)
    pseudonyms = {name: p.pseudonym for name, p in people.items()}
    return Built(poll_id, "every-kind", pseudonyms, numbers)


KIND_OF = {  # question key -> kind, in every_kind.yaml's order
    key: kind
    for key, kind in zip(
        SAM_ANSWERS,
        (
            "choice",
            "text",
            "multi",
            "scale",
            "yesno",
            "number",
            "nominate",
            "rank",
            "approve",
            "points",
        ),
        strict=True,
    )
}


def add_people(runtime: Runtime, poll_id: int, first: int, count: int) -> None:
    """`count` participants who each answered all ten questions, inserted in bulk."""
    with runtime.db.transaction() as s:
        s.execute(
            sa.insert(Participant),
            [{"pseudonym": f"P-M{first + i:07d}"} for i in range(count)],
        )
        ids = list(
            s.scalars(
                sa.select(Participant.id)
                .where(Participant.pseudonym >= f"P-M{first:07d}")
                .where(Participant.pseudonym < f"P-M{first + count:07d}")
            )
        )
        s.execute(
            sa.insert(Conversation),
            [
                {
                    "poll_id": poll_id,
                    "participant_id": pid,
                    "status": "finished",
                    "started_by": "launch",
                    "invited_at": T0,
                }
                for pid in ids
            ],
        )
        convs = s.execute(
            sa.select(Conversation.id, Conversation.participant_id).where(
                Conversation.participant_id.in_(ids)
            )
        ).all()
        rows: list[dict[str, Any]] = []
        for conv_id, pid in convs:
            for n, (key, (value, label, raw)) in enumerate(SAM_ANSWERS.items(), start=1):
                rows.append(
                    {
                        "poll_id": poll_id,
                        "conversation_id": conv_id,
                        "participant_id": pid,
                        "question_key": key,
                        "kind": KIND_OF[key],
                        "value": value,
                        "label": label,
                        "raw_text": f"{raw} (text me on 07911 123 {n:03d})",
                        "answered_at": T0 + timedelta(seconds=30 * n),
                    }
                )
        s.execute(sa.insert(Answer), rows)

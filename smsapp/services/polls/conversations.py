"""Run conversations: start one, step it with a text, end it, and start the next waiting one.

The decisions are the pure engine's (smsapp.conversation.engine); this module loads and saves.
A participant has at most one open conversation (a partial unique index says so too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.conversation import engine
from smsapp.conversation.parsers import parse_answer
from smsapp.db import utcnow
from smsapp.models import (
    Answer,
    Conversation,
    ConversationStatus,
    Group,
    GroupMembership,
    InboundMessage,
    Participant,
    Poll,
    PollStatus,
)
from smsapp.runtime import Runtime
from smsapp.services.polls.definitions import load_definition, open_poll_by_keyword
from smsapp.services.polls.reminders import first_reminder_at
from smsapp.services.votes import nominations


@dataclass
class Turn:
    """What handling one text did: the replies to send and the route taken."""

    route: str
    replies: list[str] = field(default_factory=list)
    conversation_id: int | None = None
    poll_id: int | None = None
    # Kinds of the answers this text completed: a nomination can gather several texts, so
    # safeguarding screens the finished answer again (only then: it costs a query).
    recorded_kinds: tuple[str, ...] = ()


def open_conversation(session: Session, participant_id: int) -> Conversation | None:
    return session.scalar(
        sa.select(Conversation).where(
            Conversation.participant_id == participant_id,
            Conversation.status == ConversationStatus.OPEN,
        )
    )


def record_answers(
    session: Session,
    conversation: Conversation,
    answers: tuple[engine.RecordedAnswer, ...],
    *,
    inbound_id: int | None,
    now: datetime,
    replaces: bool = False,
) -> None:
    """Store answers. `replaces`: the question was answered before (a changed ballot)."""
    for a in answers:
        # One ballot per participant per question: a newer one supersedes, both are kept.
        # (The engine only moves forward, so a first answer has nothing to supersede.)
        if replaces:
            session.execute(
                sa.update(Answer)
                .where(
                    Answer.conversation_id == conversation.id,
                    Answer.question_key == a.question_key,
                    Answer.superseded.is_(False),
                )
                .values(superseded=True)
            )
        row = Answer(
            **answer_row(
                a,
                poll_id=conversation.poll_id,
                conversation_id=conversation.id,
                participant_id=conversation.participant_id,
                inbound_id=inbound_id,
                now=now,
            )
        )
        session.add(row)
        if a.kind == "nominate" and not a.skipped:
            session.flush()  # the nominations point at the answer they came from
            nominations.collect(session, row)


def answer_row(
    a: engine.RecordedAnswer,
    *,
    poll_id: int,
    conversation_id: int,
    participant_id: int,
    inbound_id: int | None,
    now: datetime,
) -> dict[str, Any]:
    """The column values of one stored answer: for `Answer(**row)` here and for the inbound
    lean path's INSERT (services/inbox/lean.py), so both store an answer alike."""
    return {
        "poll_id": poll_id,
        "conversation_id": conversation_id,
        "participant_id": participant_id,
        "question_key": a.question_key,
        "kind": a.kind,
        "value": a.value,
        "label": a.label,
        "raw_text": a.raw_text,
        "attempts": a.attempts,
        "skipped": a.skipped,
        "skip_reason": a.skip_reason,
        "superseded": False,
        "answered_at": now,
        "inbound_message_id": inbound_id,
    }


def end_conversation(conversation: Conversation, status: str, now: datetime) -> None:
    conversation.status = status
    conversation.finished_at = now
    conversation.next_reminder_at = None


def start_conversation(
    runtime: Runtime,
    session: Session,
    poll: Poll,
    participant: Participant,
    *,
    started_by: str,
    now: datetime | None = None,
) -> Turn:
    """Open a conversation on `poll` and return its first texts (intro and first question)."""
    now = now or utcnow()
    defn = load_definition(poll)
    first = engine.start(
        defn, nickname=participant.nickname, max_attempts=runtime.settings.max_attempts
    )
    conversation = Conversation(
        poll_id=poll.id,
        participant_id=participant.id,
        status=ConversationStatus.FINISHED if first.finished else ConversationStatus.OPEN,
        state=first.state.to_dict(),
        started_by=started_by,
        invited_at=now,
        last_activity_at=now,
        finished_at=now if first.finished else None,
        # Texting a keyword is the invitation going out: reminders count from now, as for a
        # launch. A facilitator trying a poll in the simulator is never nudged.
        next_reminder_at=None
        if started_by == "simulator"
        else first_reminder_at(defn, now, first.finished),
    )
    session.add(conversation)
    session.flush()
    return Turn("poll-start", list(first.replies), conversation.id, poll.id)


def activate_next_waiting(
    runtime: Runtime, session: Session, participant: Participant, now: datetime
) -> Turn | None:
    """After a conversation ends, the oldest waiting invitation (on a still-open poll) begins."""
    waiting = session.scalars(
        sa.select(Conversation)
        .join(Poll, Poll.id == Conversation.poll_id)
        .where(
            Conversation.participant_id == participant.id,
            Conversation.status == ConversationStatus.WAITING,
        )
        .order_by(Conversation.created_at, Conversation.id)
    ).all()
    for conversation in waiting:
        poll = session.get(Poll, conversation.poll_id)
        if poll is None or poll.status != PollStatus.OPEN:
            end_conversation(conversation, ConversationStatus.CLOSED, now)
            continue
        defn = load_definition(poll)
        first = engine.start(
            defn, nickname=participant.nickname, max_attempts=runtime.settings.max_attempts
        )
        conversation.status = ConversationStatus.OPEN
        conversation.state = first.state.to_dict()
        conversation.invited_at = now
        conversation.last_activity_at = now
        # Reminders count from when this invitation really went out, not from the launch.
        conversation.reminders_sent = 0
        conversation.next_reminder_at = first_reminder_at(defn, now, first.finished)
        if first.finished:
            end_conversation(conversation, ConversationStatus.FINISHED, now)
        session.flush()
        return Turn("poll-start", list(first.replies), conversation.id, poll.id)
    return None


def _may_take_part(session: Session, poll: Poll, participant: Participant) -> str | None:
    """Why this participant cannot start this poll, or None when they can."""
    if not participant.simulated and participant.consent_at is None:
        return (
            "Sorry, we need a parent or carer's consent before you can take part. "
            "Please ask your group leader."
        )
    if poll.group_id is not None and not participant.simulated:
        member = session.scalar(
            sa.select(GroupMembership.id).where(
                GroupMembership.group_id == poll.group_id,
                GroupMembership.participant_id == participant.id,
            )
        )
        if member is None:
            group_name = session.scalar(sa.select(Group.name).where(Group.id == poll.group_id))
            return f"Sorry, that poll is only for {group_name or 'another group'}."
    return None


def handle_text(
    runtime: Runtime,
    session: Session,
    inbound: InboundMessage,
    participant: Participant,
    word: str | None,
) -> Turn:
    """Route an active participant's text: LEAVE, a keyword, the open conversation, or none."""
    now = utcnow()
    current = open_conversation(session, participant.id)
    closed_title = None
    if current is not None:
        poll_of_current = session.get(Poll, current.poll_id)
        current = _still_running(runtime, session, current, now)
        if current is None and poll_of_current and poll_of_current.status == PollStatus.CLOSED:
            closed_title = poll_of_current.title

    if word == "LEAVE":
        if current is None:
            return Turn(
                "leave-none", ["You're not in a poll right now, so there's nothing to leave."]
            )
        poll = session.get(Poll, current.poll_id)
        end_conversation(current, ConversationStatus.LEFT, now)
        session.flush()
        title = poll.title if poll else "the poll"
        turn = Turn(
            "leave",
            [f"OK, you've left \u201c{title}\u201d. You won't get more questions from it."],
            current.id,
            current.poll_id,
        )
        following = activate_next_waiting(runtime, session, participant, now)
        if following:
            turn.replies += following.replies
        return turn

    keyword_poll = open_poll_by_keyword(session, inbound.body)
    if keyword_poll is not None and (current is None or current.poll_id != keyword_poll.id):
        if current is not None:
            poll = session.get(Poll, current.poll_id)
            title = poll.title if poll else "another poll"
            return Turn(
                "keyword-busy",
                [
                    f"You're in the middle of \u201c{title}\u201d. Answer the last question to "
                    "finish it, or reply LEAVE to leave it, then text "
                    f"{keyword_poll.keyword} again."
                ],
                current.id,
                current.poll_id,
            )
        refusal = _may_take_part(session, keyword_poll, participant)
        if refusal:
            return Turn("keyword-refused", [refusal], None, keyword_poll.id)
        done_before = session.scalar(
            sa.select(Conversation).where(
                Conversation.poll_id == keyword_poll.id,
                Conversation.participant_id == participant.id,
            )
        )
        if done_before is not None:
            return Turn(
                "keyword-again",
                [f"You've already done \u201c{keyword_poll.title}\u201d. Thanks for taking part!"],
                done_before.id,
                keyword_poll.id,
            )
        return start_conversation(
            runtime, session, keyword_poll, participant, started_by="keyword", now=now
        )

    if current is None:
        if inbound.flagged:
            # Only the supportive reply. A flagged text is never a new vote: it would replace
            # their real ballot and then, being flagged, count for nothing.
            return Turn("flagged")
        if closed_title is not None:
            return Turn("poll-closed", [closed_reply(closed_title)])
        revote = change_ballot(session, participant, inbound, now)
        if revote is not None:
            return revote
        late = closed_poll_reply(session, participant.id, now=now)
        if late is not None:
            return Turn("poll-closed", [late])
        return Turn("nothing-open", [nothing_open_reply(participant.nickname)])
    return step_conversation(runtime, session, current, participant, inbound, now)


def closed_reply(title: str) -> str:
    return f"Sorry, \u201c{title}\u201d has closed. Thanks for taking part!"


def change_ballot(
    session: Session, participant: Participant, inbound: InboundMessage, now: datetime
) -> Turn | None:
    """A text that reads as a ballot for the participant's latest finished, still-open poll
    replaces their ballot (the old one is kept, superseded); None when it is not one."""
    latest = session.scalar(
        sa.select(Conversation)
        .where(
            Conversation.participant_id == participant.id,
            Conversation.status == ConversationStatus.FINISHED,
        )
        .order_by(Conversation.finished_at.desc(), Conversation.id.desc())
        .limit(1)
    )
    poll = session.get(Poll, latest.poll_id) if latest is not None else None
    if latest is None or poll is None or poll.status != PollStatus.OPEN:
        return None
    voted = set(
        session.scalars(
            sa.select(Answer.question_key).where(
                Answer.conversation_id == latest.id,
                Answer.superseded.is_(False),
                Answer.skipped.is_(False),
            )
        )
    )
    # the last ballot question they answered: a poll rarely has more than one
    question = next(
        (q for q in reversed(load_definition(poll).ballot_questions()) if q.key in voted), None
    )
    if question is None:
        return None
    parsed = parse_answer(question, inbound.body)
    if not parsed.ok:
        return None
    recorded = engine.RecordedAnswer(
        question.key, question.kind, parsed.value, parsed.label, inbound.body, 1, False, None
    )
    record_answers(session, latest, (recorded,), inbound_id=inbound.id, now=now, replaces=True)
    what = "order" if question.kind == "rank" else "vote"
    said = " ".join([f"Got it: {parsed.label}.", *parsed.notes, f"Send a new {what} to change it."])
    return Turn("ballot-changed", [said], latest.id, poll.id)


def _still_running(
    runtime: Runtime, session: Session, conversation: Conversation, now: datetime
) -> Conversation | None:
    """End a conversation whose poll closed or which timed out; None if it ended."""
    poll = session.get(Poll, conversation.poll_id)
    if poll is None or poll.status == PollStatus.CLOSED:
        end_conversation(conversation, ConversationStatus.CLOSED, now)
        return None
    timeout = timedelta(hours=runtime.settings.conversation_timeout_hours)
    if engine.is_expired(conversation.last_activity_at, now, timeout):
        end_conversation(conversation, ConversationStatus.EXPIRED, now)
        return None
    return conversation


def step_conversation(
    runtime: Runtime,
    session: Session,
    conversation: Conversation,
    participant: Participant,
    inbound: InboundMessage,
    now: datetime,
) -> Turn:
    poll = session.get(Poll, conversation.poll_id)
    assert poll is not None
    defn = load_definition(poll)
    state = engine.ConversationState.from_dict(conversation.state)
    result = engine.step(
        defn,
        state,
        inbound.body,
        nickname=participant.nickname,
        max_attempts=runtime.settings.max_attempts,
        # The safeguarding screen ran before routing (services/inbox/receive.py) and marked the text;
        # the engine then reads nothing of it back.
        flagged=bool(inbound.flagged),
    )
    record_answers(session, conversation, result.answers, inbound_id=inbound.id, now=now)
    conversation.state = result.state.to_dict()
    conversation.last_activity_at = now
    turn = Turn(
        "poll",
        list(result.replies),
        conversation.id,
        poll.id,
        recorded_kinds=tuple(a.kind for a in result.answers),
    )
    if result.finished:
        end_conversation(conversation, ConversationStatus.FINISHED, now)
        session.flush()
        following = activate_next_waiting(runtime, session, participant, now)
        if following:
            turn.replies += following.replies
    return turn


def nothing_open_reply(nickname: str | None) -> str:
    name = nickname or "there"
    return (
        f"Hi {name}! There's nothing to answer right now. We'll text you when there's a new "
        "question. Reply HELP for help or STOP to stop texts."
    )


CLOSED_RECENTLY = timedelta(days=14)


def closed_poll_reply(
    session: Session, participant_id: int, *, now: datetime | None = None
) -> str | None:
    """For a late text: "this poll has closed" when the participant's latest poll closed recently."""
    now = now or utcnow()
    row = session.execute(
        sa.select(Poll.title, Poll.closed_at)
        .join(Conversation, Conversation.poll_id == Poll.id)
        .where(
            Conversation.participant_id == participant_id,
            Conversation.status == ConversationStatus.CLOSED,
            Poll.closed_at.is_not(None),
            Poll.closed_at >= now - CLOSED_RECENTLY,
        )
        .order_by(Poll.closed_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return (
        f"Thanks for your text! \u201c{row[0]}\u201d has now closed, so we can't take more "
        "answers. We'll text you when there's something new."
    )

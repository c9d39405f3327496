"""The phone simulator: the webhook's pipeline without Twilio, for the admin page and tests.

Each staff member gets one pretend participant (simulated=True: never texted, never counted).
Texts go through services.inbox.receive.receive_text exactly as a real one would.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.models import (
    Answer,
    Conversation,
    ConversationStatus,
    InboundMessage,
    OutboundMessage,
    Participant,
    Poll,
)
from smsapp.runtime import Runtime
from smsapp.services.inbox.receive import InboundText, log_reply, receive_text
from smsapp.services.polls.conversations import (
    end_conversation,
    open_conversation,
    start_conversation,
)


def _pseudonym(staff_id: int) -> str:
    return f"SIM-{staff_id}"


def simulator_participant(session: Session, staff_id: int, nickname: str = "Tester") -> Participant:
    participant = session.scalar(
        sa.select(Participant).where(Participant.pseudonym == _pseudonym(staff_id))
    )
    if participant is None:
        participant = Participant(
            pseudonym=_pseudonym(staff_id),
            nickname=nickname,
            simulated=True,
            consent_at=datetime.now(UTC),
            consent_method="simulator",
        )
        session.add(participant)
        session.flush()
    return participant


@dataclass
class SimulatedReply:
    replies: list[str]
    route: str


def send_text(runtime: Runtime, staff_id: int, body: str) -> SimulatedReply:
    with runtime.db.transaction() as session:
        participant_id = simulator_participant(session, staff_id).id
    outcome = receive_text(
        runtime,
        InboundText(
            message_sid=f"SIM{uuid.uuid4().hex}",
            sender="simulator",
            body=body,
            participant_id=participant_id,
        ),
    )
    return SimulatedReply(outcome.replies, outcome.route)


def try_poll(runtime: Runtime, staff_id: int, poll_id: int) -> SimulatedReply:
    """Start `poll` afresh on the pretend phone, drafts included; earlier tries are cleared."""
    with runtime.db.transaction() as session:
        participant = simulator_participant(session, staff_id)
        poll = session.get(Poll, poll_id)
        if poll is None:
            return SimulatedReply([], "no-poll")
        current = open_conversation(session, participant.id)
        now = datetime.now(UTC)
        if current is not None:
            end_conversation(current, ConversationStatus.LEFT, now)
            session.flush()
        old = sa.select(Conversation.id).where(
            Conversation.poll_id == poll.id, Conversation.participant_id == participant.id
        )
        session.execute(sa.delete(Answer).where(Answer.conversation_id.in_(old)))
        session.execute(
            sa.delete(Conversation).where(
                Conversation.poll_id == poll.id, Conversation.participant_id == participant.id
            )
        )
        turn = start_conversation(runtime, session, poll, participant, started_by="simulator")
        # Logged like any reply so the pretend phone's history reads in order.
        marker = InboundMessage(
            message_sid=f"SIM{uuid.uuid4().hex}",
            participant_id=participant.id,
            body=f"(started {poll.slug} in the simulator)",
            route="simulator-start",
            handled_at=now,
            replies=turn.replies,
        )
        session.add(marker)
        session.flush()
        for reply in turn.replies:
            log_reply(
                session,
                participant,
                reply,
                inbound=marker,
                conversation_id=turn.conversation_id,
                poll_id=poll.id,
            )
        return SimulatedReply(turn.replies, turn.route)


@dataclass
class PhoneLine:
    at: datetime
    direction: str  # "in" (typed on the pretend phone) or "out" (what the service sent)
    body: str
    via: str  # twiml, outbox, …


def history(session: Session, staff_id: int, limit: int = 200) -> list[PhoneLine]:
    """The pretend phone's conversation, oldest first: texts typed and every text sent to it."""
    participant = simulator_participant(session, staff_id)
    inbound = session.scalars(
        sa.select(InboundMessage)
        .where(InboundMessage.participant_id == participant.id)
        .order_by(InboundMessage.id.desc())
        .limit(limit)
    ).all()
    outbound = session.scalars(
        sa.select(OutboundMessage)
        .where(OutboundMessage.participant_id == participant.id)
        .order_by(OutboundMessage.id.desc())
        .limit(limit)
    ).all()
    lines = [
        PhoneLine(m.received_at, "in", m.body, "sms")
        for m in inbound
        if m.route != "simulator-start"
    ]
    lines += [PhoneLine(m.created_at, "out", m.body, m.backend) for m in outbound]
    lines.sort(key=lambda line: (line.at, 0 if line.direction == "in" else 1))
    return lines[-limit:]

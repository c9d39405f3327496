"""A young person's agenda texts, routed here by the inbox: ASK (propose a question), SEND and
SEND RESULTS (youth leads). None for any other text."""

from __future__ import annotations

from sqlalchemy.orm import Session

from smsapp.conversation.keywords import SEND_RESULTS, agenda_command
from smsapp.models import InboundMessage, Participant
from smsapp.runtime import Runtime
from smsapp.services.agenda import proposals, youth_leads
from smsapp.services.polls.conversations import Turn


def handle_text(
    runtime: Runtime, session: Session, inbound: InboundMessage, participant: Participant
) -> Turn | None:
    command = agenda_command(inbound.body)
    if command is None:
        return None
    word, question = command
    if word == "ASK":
        return Turn("ask", proposals.propose(session, inbound, participant, question))
    if word == SEND_RESULTS:
        return Turn("send-results", youth_leads.results(runtime, session, participant))
    return Turn("send", youth_leads.send(runtime, session, participant))

"""Receive one text: store it, route it, and return the replies to send inline as TwiML.

Everything for one text happens in one transaction: the inbound row, the participant's state,
the answer and the logged replies. A repeated MessageSid finds the stored row and gets the same
replies back, changing nothing. Two texts from one person are handled one after the other
(a row lock on the participant on PostgreSQL; SQLite serialises writers).
"""

from __future__ import annotations

import logging
import re
import unicodedata

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from smsapp.conversation.keywords import HELP, OPT_IN, OPT_OUT, command_word
from smsapp.db import core_transaction, is_transient, utcnow
from smsapp.models import (
    InboundMessage,
    OutboundMessage,
    Participant,
    ParticipantStatus,
)
from smsapp.privacy.phones import try_normalise
from smsapp.privacy.redact import redact
from smsapp.runtime import Runtime
from smsapp.services.agenda import texts as agenda_texts
from smsapp.services.inbox import lean
from smsapp.services.inbox.texts import (
    MAX_BODY,
    UNKNOWN_REPLY,
    InboundText,
    Received,
    claim_unknown_reply,
)
from smsapp.services.outbox.rows import outbound_row
from smsapp.services.people import consent, optout, withdrawal
from smsapp.services.people.participants import phone_params, with_phone
from smsapp.services.polls import conversations
from smsapp.services.polls.conversations import Turn
from smsapp.services.safeguarding import screening
from smsapp.sms.ids import is_message_sid

log = logging.getLogger(__name__)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BadInbound(ValueError):
    """A webhook request that is not a usable text (missing fields); nothing is stored."""


def clean_body(body: str) -> str:
    """Drop control characters (PostgreSQL cannot store NUL) and cap at Twilio's length."""
    body = unicodedata.normalize("NFC", body.replace("\r\n", "\n"))
    return _CONTROL.sub("", body)[:MAX_BODY]


def validate(form: dict[str, str]) -> InboundText:
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    sender = (form.get("From") or "").strip()
    missing = [name for name, value in (("MessageSid", sid), ("From", sender)) if not value]
    if missing:
        raise BadInbound(f"missing form field(s): {', '.join(missing)}")
    if not is_message_sid(sid):
        raise BadInbound("MessageSid is not a Twilio message id")
    return InboundText(
        message_sid=sid,
        sender=sender[:64],
        body=clean_body(form.get("Body") or ""),
        to=(form.get("To") or None),
    )


def log_reply(
    session: Session,
    participant: Participant | None,
    body: str,
    *,
    inbound: InboundMessage,
    kind: str = "reply",
    conversation_id: int | None = None,
    poll_id: int | None = None,
) -> OutboundMessage:
    """Record a reply that goes back inline in the TwiML response."""
    message = OutboundMessage(
        **outbound_row(
            participant_id=participant.id if participant else None,
            poll_id=poll_id,
            conversation_id=conversation_id,
            in_reply_to_id=inbound.id,
            kind=kind,
            body=body,
            backend="twiml",
            sent=True,
        )
    )
    session.add(message)
    return message


def _help_text(runtime: Runtime) -> str:
    return runtime.settings.help_text.format(service=runtime.settings.service_name)


def _route(
    runtime: Runtime, session: Session, inbound: InboundMessage, participant: Participant | None
) -> Turn:
    # Safeguarding first, on every text from anyone; the text is then routed as usual, and
    # anything it answered is kept out of results and away from the group.
    flag = screening.check_inbound(runtime, session, inbound, participant)
    turn = _route_text(runtime, session, inbound, participant)
    gathered = "nominate" in turn.recorded_kinds  # an answer built from earlier texts too
    if flag is not None or (gathered and screening.screen_answers(runtime, session, inbound)):
        screening.exclude_flagged_answers(session, inbound)
    if flag is not None:
        turn.replies = [*_support(runtime, participant), *turn.replies]
    return turn


def _support(runtime: Runtime, participant: Participant | None) -> list[str]:
    """The supportive reply to a flagged text, unless the number cannot be texted."""
    # An opted-out number cannot be texted (Twilio refuses, 21610); the lead still sees it.
    if participant is not None and participant.status == ParticipantStatus.OPTED_OUT:
        return []
    return [screening.support_reply(runtime.settings)]


def _screen_unhandled(runtime: Runtime, text: InboundText, failure: str) -> list[str]:
    """Screen a text whose handling failed, and return the replies to send.

    The failure rolled the safeguarding check back with everything else, so a disclosure in it
    would reach nobody. Screened here, it still raises its flag and gets the supportive reply.
    Its stored error keeps only the kind of failure: the details may quote the text.
    """
    try:
        with runtime.db.transaction() as session:
            inbound = _stored(session, text.message_sid)
            if inbound is None or inbound.route != "error" or inbound.flagged:
                return []
            if text.participant_id is not None:
                participant = session.get(Participant, text.participant_id)
            elif inbound.sender_index is not None:
                participant = session.scalar(
                    sa.select(Participant).where(Participant.phone_index == inbound.sender_index)
                )
            else:
                participant = None
            if screening.check_inbound(runtime, session, inbound, participant) is None:
                return []
            inbound.error = f"{failure} (details in the log)"
            replies = _support(runtime, participant)
            for reply in replies:
                log_reply(session, participant, reply, inbound=inbound)
            inbound.replies = replies
            return replies
    except Exception:
        log.exception("could not screen inbound %s after its failure", text.message_sid)
        return []


def _route_text(
    runtime: Runtime, session: Session, inbound: InboundMessage, participant: Participant | None
) -> Turn:
    word = command_word(inbound.body)
    if participant is None:
        if word in OPT_OUT:
            return Turn("stop-unknown")
        if word == "WITHDRAW":
            # Already erased, or never known: nothing to remove, and we say so (once a day).
            if _unknown_sender_reply(session, inbound):
                return Turn("withdraw-unknown", [WITHDRAW_UNKNOWN_REPLY])
            return Turn("withdraw-unknown")
        return Turn("unknown", _unknown_sender_reply(session, inbound))

    if word in OPT_OUT:
        optout.opt_out(session, participant, reason=f"texted {word}")
        return Turn("stop")  # Twilio sends its own opt-out confirmation; we add nothing
    if word == "WITHDRAW":
        result = withdrawal.withdraw(
            runtime, session, participant, via="text", actor=participant.pseudonym
        )
        inbound.participant_id = participant.id
        return Turn("withdraw", [result.confirmation] if result.confirmation else [])
    if word in OPT_IN:
        optout.opt_in(session, participant)
        return Turn(
            "start", ["You're back! You'll get texts from your group again. Reply STOP to stop."]
        )
    if word in HELP:
        return Turn("help", [_help_text(runtime)])
    if participant.status != ParticipantStatus.ACTIVE:
        # Opted out: Twilio would refuse a reply anyway (21610); stay silent until START.
        return Turn("ignored-opted-out")
    if word == "JOIN":
        consent.record_assent(
            session, participant, method=consent.ASSENT_BY_TEXT, actor=participant.pseudonym
        )
        turn = Turn("join", [consent.joined_reply(participant)])
        if participant.consent_at is not None and not conversations.open_conversation(
            session, participant.id
        ):
            # A poll launched while they had not yet joined was kept waiting for them.
            following = conversations.activate_next_waiting(runtime, session, participant, utcnow())
            if following:
                turn.replies += following.replies
                turn.conversation_id, turn.poll_id = following.conversation_id, following.poll_id
        return turn
    if participant.consent_at is not None and consent.needs_assent(session, participant):
        # No poll text before assent: whatever they sent, the answer is the JOIN invitation.
        group = consent.groups_requiring_assent(session, participant.id)[0]
        return Turn("join-invite", [consent.join_invitation_text(group)])
    # ASK (a proposed question), SEND and SEND RESULTS (youth leads): reserved words, so they
    # come before the poll; STOP and the rest were handled above and always win.
    agenda_turn = agenda_texts.handle_text(runtime, session, inbound, participant)
    if agenda_turn is not None:
        return agenda_turn
    return conversations.handle_text(runtime, session, inbound, participant, word)


WITHDRAW_UNKNOWN_REPLY = (
    "We don't hold this number, so there's nothing to remove. If you think that's wrong, "
    "please ask your group leader."
)


def _unknown_sender_reply(session: Session, inbound: InboundMessage) -> list[str]:
    if inbound.sender_index is None:
        return []
    return [UNKNOWN_REPLY] if claim_unknown_reply(session, inbound.sender_index, utcnow()) else []


def receive_text(runtime: Runtime, text: InboundText) -> Received:
    """Store, route and answer one inbound text. Safe to call twice with the same MessageSid.

    The lean path (lean.py) takes the texts that come by the hundred; every other text, and
    any the lean path declines, takes the full path below. Whatever `db.is_transient` calls
    safe to try again (a connection the database dropped, a deadlock's victim, a prepared
    statement the connection lost) is retried once before the text counts as failed.
    """
    e164 = try_normalise(text.sender)
    sender_index = runtime.vault.index(e164) if e164 else None
    try:
        for attempt in (1, 2):
            try:
                if e164 is not None and sender_index is not None:
                    quick = _receive_lean(runtime, text, e164, sender_index)
                    if quick is not None:
                        return quick
                with runtime.db.transaction() as session:
                    return _receive(runtime, session, text, e164, sender_index)
            except Exception as exc:
                if attempt == 1 and is_transient(exc):
                    # Nothing was kept (db.is_transient says why it may work now): once more.
                    log.warning(
                        "inbound %s: %s; retrying",
                        text.message_sid,
                        type(getattr(exc, "orig", exc)).__name__,
                    )
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover
    except Exception as exc:
        if isinstance(exc, IntegrityError):
            # Usually a repeat of a MessageSid (Twilio's retry, maybe concurrent) whose first
            # delivery committed: answer exactly as that one did.
            with runtime.db.transaction() as session:
                stored = _stored(session, text.message_sid)
                if stored is not None:
                    return Received(
                        list(stored.replies or []), stored.route or "", True, stored.participant_id
                    )
        # Never lose a text: keep it, marked with the error, and answer nothing.
        log.exception("inbound %s failed; storing it unhandled", text.message_sid)
        with runtime.db.transaction() as session:
            if _stored(session, text.message_sid) is None:
                session.add(
                    InboundMessage(
                        message_sid=text.message_sid,
                        sender_index=sender_index,
                        body=text.body,
                        route="error",
                        # An exception may quote the text it failed on, numbers and all.
                        error=redact(f"{type(exc).__name__}: {exc}")[:2000],
                    )
                )
        return Received(_screen_unhandled(runtime, text, type(exc).__name__), "error")


def _receive_lean(
    runtime: Runtime, text: InboundText, e164: str, sender_index: str
) -> Received | None:
    """The lean path's answer, or None when the text is the full path's."""
    try:
        return lean.receive(runtime, text, e164, sender_index)
    except lean.NotLean:
        return None
    except lean.Duplicate:
        with core_transaction(runtime.db) as conn:
            return lean.stored_answer(conn, text.message_sid)


def _stored(session: Session, sid: str) -> InboundMessage | None:
    return session.scalar(sa.select(InboundMessage).where(InboundMessage.message_sid == sid))


def _receive(
    runtime: Runtime,
    session: Session,
    text: InboundText,
    e164: str | None,
    sender_index: str | None,
) -> Received:
    participant, stmt, params = None, None, {}
    if text.participant_id is not None:
        stmt = sa.select(Participant).where(Participant.id == text.participant_id)
    elif e164 is not None:
        stmt = sa.select(Participant).where(with_phone())
        params = phone_params(runtime.vault, e164)
    if stmt is not None:
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()  # one text at a time per person
        participant = session.scalar(stmt, params)
    # No look-up of the MessageSid first: the unique index answers that in the INSERT below, and
    # receive_text turns the IntegrityError of a repeat into the stored answer. One round trip
    # fewer for every text; Twilio's retries are the rare case.
    inbound = InboundMessage(
        message_sid=text.message_sid,
        participant_id=participant.id if participant else None,
        sender_index=sender_index,
        body=text.body,
        received_at=utcnow(),
    )
    session.add(inbound)
    session.flush()  # a duplicate MessageSid raises here, before anything else changes

    turn = _route(runtime, session, inbound, participant)
    route = turn.route
    replies = [r[:MAX_BODY] for r in turn.replies if r]
    inbound.conversation_id = turn.conversation_id
    for reply in replies:
        log_reply(
            session,
            participant,
            reply,
            inbound=inbound,
            conversation_id=turn.conversation_id,
            poll_id=turn.poll_id,
        )
    inbound.route = route
    inbound.replies = replies
    inbound.handled_at = utcnow()
    return Received(replies, route, False, participant.id if participant else None)

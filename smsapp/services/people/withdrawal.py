"""Withdrawal and erasure: WITHDRAW by text, a staff button, `smsapp participants erase`, and the
retention sweep that erases numbers a set number of days after a group ends.

Withdrawal stops every text at once, erases the number, nickname and other personal details,
and keeps the answers only where every group of the participant allows it
(Group.settings["keep_answers_on_withdrawal"]); kept answers move to a fresh random pseudonym,
so not even someone holding the data key and the old number can find them again.

Both withdrawal and the sweep erase every column that can hold contact data (the list, column
by column, is in docs/safeguarding.md): `_erase_contact` and `_scrub_kept_text`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import (
    Answer,
    AuditEvent,
    Conversation,
    Group,
    GroupMembership,
    InboundMessage,
    Nomination,
    NominationStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    Proposal,
    ProposalStatus,
    SafeguardingFlag,
    UnknownSenderReply,
    YouthLead,
)
from smsapp.privacy.redact import redact, redact_optional
from smsapp.privacy.vault import PSEUDONYM_ALPHABET, PSEUDONYM_LENGTH, VaultError
from smsapp.runtime import Runtime
from smsapp.services import audit
from smsapp.services.outbox.provider import transport_for
from smsapp.services.outbox.rows import outbound_row
from smsapp.services.people.optout import opt_out
from smsapp.services.people.participants import phone_indexes
from smsapp.sms.twilio_transport import SendError

log = logging.getLogger(__name__)

ERASED_TEXT = ""  # what an erased message body becomes
VIAS = ("text", "button", "cli")


@dataclass
class WithdrawalResult:
    pseudonym: str  # the participant's pseudonym now (a fresh one when answers were kept)
    answers_kept: int = 0
    answers_erased: int = 0
    confirmation: str = ""
    confirmation_status: str = ""  # inline (by text), sent, failed, or "" when nothing was sent
    already: bool = False


def keeps_answers(session: Session, participant: Participant) -> bool:
    """Anonymised answers are kept only when every group the participant is in allows it."""
    groups = session.scalars(
        sa.select(Group)
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.participant_id == participant.id)
    ).all()
    return bool(groups) and all(
        (g.settings or {}).get("keep_answers_on_withdrawal") is True for g in groups
    )


def confirmation_text(answers_kept: bool) -> str:
    kept = (
        "Your answers are kept without your name or number, as your consent form said."
        if answers_kept
        else "Your answers have been deleted too."
    )
    return (
        "You've withdrawn. We've deleted your phone number and nickname and you won't get any "
        f"more texts from us. {kept} Thank you for taking part."
    )


def _fresh_pseudonym(session: Session) -> str:
    for _ in range(50):
        candidate = "P-" + "".join(
            secrets.choice(PSEUDONYM_ALPHABET) for _ in range(PSEUDONYM_LENGTH)
        )
        if session.scalar(sa.select(Participant.id).where(Participant.pseudonym == candidate)):
            continue
        return candidate
    raise RuntimeError("could not find a free pseudonym")


def _indexes_of(runtime: Runtime, participant: Participant) -> tuple[str | None, list[str]]:
    """The number (if it can be read) and every look-up index it may be stored under."""
    indexes = [participant.phone_index] if participant.phone_index else []
    e164 = None
    if participant.phone_ciphertext is not None:
        try:
            e164 = runtime.vault.decrypt(participant.phone_ciphertext)
        except (VaultError, ValueError):
            log.warning("participant %s: number unreadable; erasing it anyway", participant.id)
    if e164:
        indexes += phone_indexes(runtime.vault, e164)
    return e164, sorted(set(indexes))


def _erase_contact(
    runtime: Runtime, session: Session, participant: Participant, now: datetime
) -> str | None:
    """Remove the number, its look-up indexes everywhere, the nickname and the guardian's name,
    and every text to or from them that could hold any of these."""
    e164, indexes = _indexes_of(runtime, participant)
    theirs = InboundMessage.participant_id == participant.id
    if indexes:
        # A text that failed before it was matched to them is found by its sender's index.
        theirs = sa.or_(theirs, InboundMessage.sender_index.in_(indexes))
        session.execute(
            sa.delete(UnknownSenderReply).where(UnknownSenderReply.sender_index.in_(indexes))
        )
    # What they texted goes, except a text a safeguarding lead must keep as a record; an error
    # kept with a text may quote it.
    flagged = sa.select(SafeguardingFlag.inbound_message_id)
    session.execute(
        sa.update(InboundMessage)
        .where(theirs, InboundMessage.id.not_in(flagged))
        .values(body=ERASED_TEXT, replies=[])
    )
    session.execute(sa.update(InboundMessage).where(theirs).values(sender_index=None, error=None))
    # Texts we sent greet them by nickname ("Hi Sam!"): their bodies go with it. Twilio's text
    # of an error quotes the number; the error code stays, which is all the counts need.
    session.execute(
        sa.update(OutboundMessage)
        .where(OutboundMessage.participant_id == participant.id)
        .values(body=ERASED_TEXT, extra={})
    )
    session.execute(
        sa.update(OutboundMessage)
        .where(
            OutboundMessage.participant_id == participant.id,
            OutboundMessage.error_code.is_not(None),
        )
        .values(error_message=None)
    )
    # Where a conversation was (the answers so far, texts typed towards a nomination).
    session.execute(
        sa.update(Conversation)
        .where(Conversation.participant_id == participant.id)
        .values(state={})
    )
    participant.phone_ciphertext = None
    participant.phone_index = None
    participant.phone_masked = None
    participant.nickname = None
    participant.consent_by = None  # a guardian's name; the date and method stay as the record
    participant.erased_at = now
    return e164


def _scrub_kept_text(session: Session, participant: Participant) -> None:
    """Answers and nominations that stay are the study's, but free text in them may give a
    number or an e-mail address: those are taken out by the one redaction rule."""
    for answer in session.scalars(sa.select(Answer).where(Answer.participant_id == participant.id)):
        answer.raw_text = redact_optional(answer.raw_text)
        answer.label = redact_optional(answer.label)
        if isinstance(answer.value, str):
            answer.value = redact(answer.value)
    for nomination in session.scalars(
        sa.select(Nomination).where(Nomination.participant_id == participant.id)
    ):
        nomination.text = redact(nomination.text)[:200]


def _end_agenda(session: Session, participant: Participant, now: datetime) -> None:
    """Questions they proposed (ASK) are theirs: gone, unless approved, when the group's poll
    keeps the words (scrubbed by the one redaction rule) but no longer knows who asked. A youth
    lead role ends (the row stays revoked, for the record)."""
    session.execute(
        sa.delete(Proposal).where(
            Proposal.participant_id == participant.id,
            Proposal.status != ProposalStatus.APPROVED,
        )
    )
    for proposal in session.scalars(
        sa.select(Proposal).where(Proposal.participant_id == participant.id)
    ):
        proposal.text = redact_optional(proposal.text)
        proposal.participant_id = None
        proposal.inbound_message_id = None
    session.execute(
        sa.update(YouthLead)
        .where(YouthLead.participant_id == participant.id, YouthLead.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by="withdrawal", can_send=False)
    )


def _send_confirmation_now(
    runtime: Runtime, session: Session, participant: Participant, e164: str, body: str
) -> str:
    """Send before the number is erased: afterwards nobody could. Returns sent or failed."""

    message = OutboundMessage(
        **outbound_row(
            participant_id=participant.id,
            kind="withdrawal",
            body=body,
            backend="outbox" if runtime.settings.sms_backend == "outbox" else "twilio",
            sent=True,
        )
    )
    if message.backend == "twilio":
        transport = transport_for(runtime)
        try:
            if transport is None:
                raise SendError("no Twilio credentials or sender configured")
            sent = transport.send(e164, body)
            message.twilio_sid = sent.sid
        except SendError as exc:
            # Erasure still goes ahead: the request to be forgotten outranks the receipt.
            message.status = OutboundStatus.FAILED
            message.sent_at = None
            message.error_code = exc.code
            message.error_message = redact(str(exc))[:500]
    session.add(message)
    return message.status


def withdraw(
    runtime: Runtime, session: Session, participant: Participant, *, via: str, actor: str
) -> WithdrawalResult:
    """Stop all texts and erase the participant's personal data; the caller commits.

    By text the confirmation goes back inline (the caller sends `result.confirmation`); by the
    button or the CLI it is sent here, before the number is erased.
    """

    if via not in VIAS:
        raise ValueError(f"via must be one of {VIAS}")
    if participant.status == ParticipantStatus.WITHDRAWN:
        return WithdrawalResult(participant.pseudonym, already=True)
    now = utcnow()
    keep = keeps_answers(session, participant)
    opt_out(session, participant, reason=f"withdrawn by {via}")
    body = confirmation_text(keep)
    result = WithdrawalResult(participant.pseudonym, confirmation=body)

    e164, _ = _indexes_of(runtime, participant)
    if via == "text":
        result.confirmation_status = "inline"
    elif e164 is not None and not participant.simulated:
        result.confirmation_status = _send_confirmation_now(
            runtime, session, participant, e164, body
        )
    _erase_contact(runtime, session, participant, now)

    answers = sa.select(Answer.id).where(Answer.participant_id == participant.id)
    count = session.scalar(sa.select(sa.func.count()).select_from(answers.subquery())) or 0
    # Before anything is unlinked: an approved nomination stays, and its text is scrubbed.
    _scrub_kept_text(session, participant)
    if keep:
        result.answers_kept = count
    else:
        result.answers_erased = count
        # A nomination already approved for a ballot is the group's now: it stays, unlinked.
        session.execute(
            sa.delete(Nomination).where(
                Nomination.participant_id == participant.id,
                Nomination.status.in_([NominationStatus.PENDING, NominationStatus.REJECTED]),
            )
        )
        session.execute(
            sa.update(Nomination)
            .where(Nomination.participant_id == participant.id)
            .values(participant_id=None, answer_id=None)
        )
        session.execute(sa.delete(Answer).where(Answer.participant_id == participant.id))
        session.execute(
            sa.delete(Conversation).where(Conversation.participant_id == participant.id)
        )
    _end_agenda(session, participant, now)
    participant.age_band = None
    participant.language = None
    participant.status = ParticipantStatus.WITHDRAWN
    participant.withdrawn_at = now

    old = participant.pseudonym
    if keep:
        new = _fresh_pseudonym(session)
        participant.pseudonym = new
        # The audit trail stays whole, under the new name only.
        session.execute(sa.update(AuditEvent).where(AuditEvent.actor == old).values(actor=new))
        session.execute(sa.update(AuditEvent).where(AuditEvent.subject == old).values(subject=new))
        result.pseudonym = new
        if actor == old:
            actor = new
    audit.record(
        session,
        actor,
        "participant.withdraw",
        participant.pseudonym,
        via=via,
        answers_kept=result.answers_kept,
        answers_erased=result.answers_erased,
        confirmation=result.confirmation_status or "none",
    )
    return result


def find_by_pseudonym(session: Session, pseudonym: str) -> Participant | None:
    return session.scalar(
        sa.select(Participant).where(Participant.pseudonym == pseudonym.strip().upper())
    )


def retention_days(group: Group, default: int) -> int:
    value = (group.settings or {}).get("retention_days")
    return value if isinstance(value, int) and value >= 0 else default


@dataclass
class SweepReport:
    erased: list[str]  # pseudonyms whose numbers were erased
    groups: list[str]  # slugs past their retention date


def retention_sweep(
    runtime: Runtime, session: Session, *, now: datetime | None = None, dry_run: bool = False
) -> SweepReport:
    """Erase the numbers of everyone whose every group ended more than its retention days ago.

    Answers are kept under the same pseudonym: this ends contact, not the study.
    """
    now = now or utcnow()
    default = runtime.settings.retention_days
    groups = session.scalars(sa.select(Group)).all()
    expired = {
        g.id
        for g in groups
        if g.ended_at is not None and g.ended_at + timedelta(days=retention_days(g, default)) <= now
    }
    report = SweepReport([], sorted(g.slug for g in groups if g.id in expired))
    if not expired:
        return report
    live = sa.select(GroupMembership.participant_id).where(GroupMembership.group_id.not_in(expired))
    candidates = session.scalars(
        sa.select(Participant)
        .join(GroupMembership, GroupMembership.participant_id == Participant.id)
        .where(
            GroupMembership.group_id.in_(expired),
            Participant.phone_ciphertext.is_not(None),
            Participant.id.not_in(live),
        )
        .distinct()
        .order_by(Participant.id)
    ).all()
    for participant in candidates:
        report.erased.append(participant.pseudonym)
        if dry_run:
            continue
        session.execute(
            sa.update(OutboundMessage)
            .where(
                OutboundMessage.participant_id == participant.id,
                OutboundMessage.status == OutboundStatus.QUEUED,
            )
            .values(status=OutboundStatus.CANCELLED, error_message="cancelled: number erased")
        )
        _erase_contact(runtime, session, participant, now)
        _scrub_kept_text(session, participant)
        if participant.status == ParticipantStatus.ACTIVE:
            participant.status = ParticipantStatus.ERASED
    if report.erased and not dry_run:
        audit.record(
            session,
            "system",
            "retention.sweep",
            ",".join(report.groups)[:200],
            erased=len(report.erased),
        )
    return report

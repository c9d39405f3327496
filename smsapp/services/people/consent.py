"""Consent and assent: who agreed, when and how, and whether a text may go to a participant.

A guardian's consent is needed before any text. Where a group asks for the young person's own
assent by text (Group.settings["assent_by_text"]), they are first invited to reply JOIN (not
YES, a carrier keyword) and get nothing else until they do; assent given in person and recorded
by a facilitator counts too. `textable_reason` is the one rule the sending path checks.

A guardian's consent is recorded by `record_consent` alone, whoever records it: the participant
form on the admin page and the participant CSV import.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from smsapp.db import utcnow
from smsapp.models import Group, GroupMembership, NumberStatus, Participant, ParticipantStatus
from smsapp.services import audit

JOIN_INVITATION = "join-invitation"  # the one kind of text that may precede assent
ASSENT_IN_PERSON = "in-person"
ASSENT_BY_TEXT = "text"
# How a guardian's consent reached the project: the one list `record_consent` accepts. A school
# gets it on a paper form, an online form, by e-mail, or by word of mouth (a phone call or at a
# parents' evening: "verbal", with who said it in consent_by). "import" marks consent from the
# participant CSV, whose consent column holds only a date or yes; staff do not pick it.
IMPORTED = "import"
CONSENT_METHODS = ("paper form", "online form", "e-mail", "verbal", IMPORTED)
FORM_METHODS = tuple(m for m in CONSENT_METHODS if m != IMPORTED)  # the participant form's
GIVEN_BY_LIMIT = 200  # participant.consent_by
# A consent date is a day without a time: it is kept as noon UTC, which is the same day in the
# UK whether or not summer time is on, so the date never shifts when shown.
CONSENT_HOUR = time(12, tzinfo=UTC)


class ConsentError(ValueError):
    """Consent or assent details that cannot be recorded. `field` names the part that is wrong
    (consent_by, consent_method, consent_date, assent_method), so a form shows it there."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def settings_require_assent(settings: dict[str, Any] | None) -> bool:
    """A group's settings ask for the young person's assent by text. Pure."""
    return bool((settings or {}).get("assent_by_text"))


def group_requires_assent(group: Group) -> bool:
    return settings_require_assent(group.settings)


def assent_outstanding(
    *, assent_at: datetime | None, simulated: bool, group_settings: Iterable[dict[str, Any] | None]
) -> bool:
    """The one rule behind `needs_assent`, on facts already loaded (the inbound lean path reads
    them in its one statement): no assent recorded, and a group of theirs asks for it. Pure."""
    if assent_at is not None or simulated:
        return False
    return any(settings_require_assent(s) for s in group_settings)


def groups_requiring_assent(session: Session, participant_id: int) -> list[Group]:
    groups = session.scalars(
        sa.select(Group)
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.participant_id == participant_id)
        .order_by(Group.id)
    ).all()
    return [g for g in groups if group_requires_assent(g)]


def needs_assent(session: Session, participant: Participant) -> bool:
    """True while a group of theirs asks for assent by text and none is recorded."""

    def settings() -> Iterator[dict[str, Any] | None]:  # queried only when it matters
        for group in groups_requiring_assent(session, participant.id):
            yield group.settings

    return assent_outstanding(
        assent_at=participant.assent_at, simulated=participant.simulated, group_settings=settings()
    )


@dataclass(frozen=True)
class Textability:
    """The facts about a participant that decide whether a text may go to them."""

    simulated: bool
    status: str | None
    has_phone: bool
    number_status: str | None
    has_consent: bool
    needs_assent: bool


def text_gate(facts: Textability, kind: str) -> str | None:
    """The one rule: why a text of this kind must NOT go, or None when it may. Pure."""
    if facts.simulated:
        return "simulated participant (the admin page's pretend phone)"
    if facts.status != ParticipantStatus.ACTIVE:
        return f"participant is {facts.status}"
    if not facts.has_phone:
        return "no phone number held"
    if facts.number_status == NumberStatus.INVALID:
        return "number cannot receive texts"
    if not facts.has_consent:
        return "no guardian consent recorded"
    if kind == JOIN_INVITATION:
        if not facts.needs_assent:
            return "no assent needed (already given, or not asked for by the group)"
        return None
    if facts.needs_assent:
        return "waiting for the young person's assent (reply JOIN)"
    return None


def textable_reason(session: Session, participant: Participant, *, kind: str) -> str | None:
    """Why a text of this kind must NOT go to this participant, or None when it may.

    The sending path applies the same `text_gate` to every claimed text, whatever queued it.
    """
    facts = Textability(
        simulated=participant.simulated,
        status=participant.status,
        has_phone=participant.phone_ciphertext is not None,
        number_status=participant.number_status,
        has_consent=participant.consent_at is not None,
        needs_assent=needs_assent(session, participant),
    )
    return text_gate(facts, kind)


@dataclass(frozen=True)
class MemberFacts:
    group_id: int
    participant_id: int
    facts: Textability


def member_textability(
    session: Session, group_ids: Collection[int] | None = None
) -> list[MemberFacts]:
    """Every member of these groups (all groups when None) with the facts `text_gate` decides
    on, the same facts `textable_reason` gathers for one participant. Two queries: the groups
    that ask for assent (few), then the members. Simulated members are included: the gate
    refuses them."""
    assent_groups = [g.id for g in session.scalars(sa.select(Group)) if group_requires_assent(g)]
    elsewhere = aliased(GroupMembership)
    owes_assent = (
        sa.exists()
        .where(
            elsewhere.participant_id == Participant.id,
            elsewhere.group_id.in_(assent_groups),
        )
        .correlate(Participant)
        if assent_groups
        else sa.false()
    )
    stmt = (
        sa.select(
            GroupMembership.group_id,
            Participant.id,
            Participant.simulated,
            Participant.status,
            Participant.phone_ciphertext.is_not(None),
            Participant.number_status,
            Participant.consent_at.is_not(None),
            sa.and_(Participant.assent_at.is_(None), Participant.simulated.is_(False), owes_assent),
        )
        .join(Participant, Participant.id == GroupMembership.participant_id)
        .order_by(GroupMembership.group_id, Participant.id)
    )
    if group_ids is not None:
        stmt = stmt.where(GroupMembership.group_id.in_(list(group_ids)))
    return [
        MemberFacts(
            group_id,
            participant_id,
            Textability(
                simulated=bool(simulated),
                status=status,
                has_phone=bool(has_phone),
                number_status=number_status,
                has_consent=bool(has_consent),
                needs_assent=bool(needs),
            ),
        )
        for (
            group_id,
            participant_id,
            simulated,
            status,
            has_phone,
            number_status,
            has_consent,
            needs,
        ) in session.execute(stmt)
    ]


@dataclass(frozen=True)
class GroupReach:
    """A group as the dashboard shows it: its real members, and how many may be texted now."""

    slug: str
    name: str
    members: int
    textable: int


def group_reach(session: Session) -> list[GroupReach]:
    """Every group by name, counting the members `text_gate` lets a poll text reach today: the
    rule the launch and the send path apply, so the dashboard promises what they will do."""
    counts: dict[int, list[int]] = {}
    for member in member_textability(session):
        if member.facts.simulated:
            continue  # the admin page's pretend phones are never counted
        seen = counts.setdefault(member.group_id, [0, 0])
        seen[0] += 1
        seen[1] += text_gate(member.facts, "invitation") is None
    groups = session.execute(sa.select(Group.id, Group.slug, Group.name).order_by(Group.name))
    return [
        GroupReach(slug, name, *counts.get(group_id, [0, 0])) for group_id, slug, name in groups
    ]


def awaiting_assent(session: Session, participant_ids: set[int]) -> set[int]:
    """Of these participants (without assent), the ones a group of theirs asks assent from."""
    if not participant_ids:
        return set()
    # The groups that ask, read first: their settings are parsed once per group rather than
    # once per membership (a send batch asks about hundreds of people in a few groups).
    asking = [
        group_id
        for group_id, settings in session.execute(sa.select(Group.id, Group.settings))
        if settings_require_assent(settings)
    ]
    if not asking:
        return set()
    ids = sorted(participant_ids)
    owing: set[int] = set()
    # In slices: a launch to a whole year passes 100,000 ids, and PostgreSQL takes at most
    # 65,535 parameters in one statement.
    for start in range(0, len(ids), ASSENT_QUERY_SLICE):
        owing.update(
            session.scalars(
                sa.select(GroupMembership.participant_id).where(
                    GroupMembership.participant_id.in_(ids[start : start + ASSENT_QUERY_SLICE]),
                    GroupMembership.group_id.in_(asking),
                )
            )
        )
    return owing


ASSENT_QUERY_SLICE = 20_000


def join_invitation_text(group: Group) -> str:
    """The first-contact text for a group that asks for assent by text."""
    custom = (group.settings or {}).get("join_invitation")
    if isinstance(custom, str) and "JOIN" in custom:
        return custom
    return (
        f"Hi! {group.name} would like to ask you some questions by text. Your parent or carer "
        "has said yes, but it's your choice too. Reply JOIN if you want to take part. If not, "
        "just ignore this or reply STOP."
    )


def joined_reply(participant: Participant) -> str:
    if participant.consent_at is None:
        return (
            "Thanks for replying JOIN! We still need a parent or carer's consent before we can "
            "text you questions. Please ask your group leader."
        )
    return (
        "Thanks, you've joined! We'll text you questions from your group. Reply LEAVE to leave a "
        "poll, STOP to stop texts, or WITHDRAW to remove your data."
    )


def consent_time(day: date | None, now: datetime, zone: str = "UTC") -> datetime:
    """When consent given on `day` is recorded as given: noon UTC that day, or `now` when no day
    is given or when noon today is still to come (a consent is never dated in the future).

    A day after today where the staff are (`zone`, the service's SMSAPP_TIMEZONE) is refused
    with ConsentError (field consent_date): at 00:30 in a British summer, today is already
    tomorrow in UTC's terms, and the facilitator's today must be accepted.
    """
    if day is None:
        return now
    if day > now.astimezone(ZoneInfo(zone)).date():
        raise ConsentError("the consent date is in the future", "consent_date")
    return min(datetime.combine(day, CONSENT_HOUR), now)


def checked_consent(
    given_by: str, method: str, at: datetime | None = None
) -> tuple[str, str, datetime]:
    """The one check of a consent record (a guardian's, or a youth lead's for the role): who
    gave it, how (one of CONSENT_METHODS) and when (now unless given). ConsentError, with the
    field it is about, when a part is missing or wrong."""
    given_by, method = given_by.strip(), method.strip()
    if not given_by:
        raise ConsentError("say who gave consent, e.g. 'Jo Smith, mother'", "consent_by")
    if len(given_by) > GIVEN_BY_LIMIT:
        raise ConsentError(f"who gave consent: at most {GIVEN_BY_LIMIT} characters", "consent_by")
    if method not in CONSENT_METHODS:
        raise ConsentError(
            f"how consent was given: one of {', '.join(FORM_METHODS)}", "consent_method"
        )
    now = utcnow()
    at = at or now
    if at.tzinfo is None:
        raise ValueError("consent time must be timezone-aware")  # a bug in the caller
    if at > now:
        raise ConsentError("the consent date is in the future", "consent_date")
    return given_by, method, at


def record_consent(
    session: Session,
    participant: Participant,
    *,
    given_by: str,
    method: str,
    actor: str,
    at: datetime | None = None,
) -> None:
    """Record a guardian's consent: who gave it (free text), how (one of CONSENT_METHODS), and
    when (now unless given; see consent_time for a date). Audited as participant.consent.

    ConsentError, with the field it is about, when a part is missing or wrong; then nothing
    changes.
    """
    given_by, method, at = checked_consent(given_by, method, at)
    participant.consent_at, participant.consent_by, participant.consent_method = (
        at,
        given_by,
        method,
    )
    audit.record(session, actor, "participant.consent", participant.pseudonym, method=method)


def record_assent(
    session: Session,
    participant: Participant,
    *,
    method: str,
    actor: str,
    at: datetime | None = None,
) -> bool:
    """The young person's own assent, in person (recorded by `actor`) or by text (JOIN).

    Returns False when assent was already recorded (the first record stands).
    """
    if method not in (ASSENT_IN_PERSON, ASSENT_BY_TEXT):
        raise ConsentError(
            f"assent is given {ASSENT_IN_PERSON!r} or by {ASSENT_BY_TEXT!r}", "assent_method"
        )
    if participant.assent_at is not None:
        return False
    participant.assent_at = at or utcnow()
    participant.assent_method = method
    participant.assent_by = actor[:254]
    audit.record(session, actor, "participant.assent", participant.pseudonym, method=method)
    return True

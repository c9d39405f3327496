"""Participants: create one (with a fresh pseudonym), find one by number, change a number.

The CSV import is in participant_import.py.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.models import Participant
from smsapp.privacy.phones import mask_phone
from smsapp.privacy.vault import PhoneVault
from smsapp.services import audit


def phone_indexes(vault: PhoneVault, e164: str) -> list[str]:
    """Every index a participant row with this number may carry: the current key's, and
    mid-rotation (`smsapp keys rotate` not finished) the old keys' too, so nobody seems
    unknown meanwhile."""
    return [vault.index(e164), *vault.old_indexes(e164)]


def with_phone(*, keys: int | None = None) -> sa.ColumnElement[bool]:
    """The one look-up of a participant by number (find_by_phone, both ways of receiving a
    text): execute with ``phone_params(vault, e164)``. A bound parameter, so a statement built
    once serves every number. ``keys``: that many parameters ``phone_index_0``... instead of
    one expanding list, for a statement compiled once for psycopg
    (smsapp/pgdirect.py); with one key PostgreSQL plans it as ``=``, and keeps that plan."""
    if keys is not None:
        return Participant.phone_index.in_([sa.bindparam(f"phone_index_{i}") for i in range(keys)])
    return Participant.phone_index.in_(sa.bindparam("phone_indexes", expanding=True))


def phone_params(vault: PhoneVault, e164: str) -> dict[str, Any]:
    """The parameters of `with_phone`, in both forms."""
    indexes = phone_indexes(vault, e164)
    return {"phone_indexes": indexes, **{f"phone_index_{i}": k for i, k in enumerate(indexes)}}


def find_by_phone(
    session: Session, vault: PhoneVault, e164: str, *, lock: bool = False
) -> Participant | None:
    stmt = sa.select(Participant).where(with_phone())
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return session.scalar(stmt, phone_params(vault, e164))


def _unused_pseudonym(
    session: Session, vault: PhoneVault, e164: str, taken: set[str] | None
) -> str:
    """The first free pseudonym for this number. `taken`, when given, is every pseudonym in use
    (a bulk import loads them once instead of asking the database for each row)."""
    for attempt in range(50):
        candidate = vault.pseudonym(e164, attempt)
        if taken is not None:
            if candidate in taken:
                continue
            taken.add(candidate)
            return candidate
        exists = sa.select(Participant.id).where(Participant.pseudonym == candidate)
        if session.scalar(exists) is None:
            return candidate
    raise RuntimeError("could not find a free pseudonym")  # 50 collisions: practically never


def new_participant(
    session: Session,
    vault: PhoneVault,
    e164: str,
    *,
    nickname: str | None = None,
    taken: set[str] | None = None,
) -> Participant:
    participant = Participant(
        pseudonym=_unused_pseudonym(session, vault, e164, taken),
        phone_ciphertext=vault.encrypt(e164),
        phone_index=vault.index(e164),
        phone_masked=mask_phone(e164),
        nickname=nickname,
    )
    session.add(participant)
    return participant


def column_length(column: str) -> int:
    """The participant column's length: longer text fails on PostgreSQL (SQLite ignores it)."""
    kind = Participant.__table__.c[column].type
    assert isinstance(kind, sa.String) and kind.length is not None
    return kind.length


class ParticipantError(ValueError):
    pass


def change_phone(
    session: Session, vault: PhoneVault, participant: Participant, e164: str, actor: str
) -> None:
    """Give a participant a new number; refused when another participant already has it."""
    index = vault.index(e164)
    if index == participant.phone_index:
        return
    if session.scalar(sa.select(Participant.id).where(Participant.phone_index == index)):
        raise ParticipantError("another participant already has this number")
    participant.phone_ciphertext = vault.encrypt(e164)
    participant.phone_index = index
    participant.phone_masked = mask_phone(e164)
    audit.record(session, actor, "participant.phone_change", participant.pseudonym)

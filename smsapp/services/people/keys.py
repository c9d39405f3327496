"""`smsapp keys rotate`: move every stored number and look-up index to the current data key.

Run it after making the new key SMSAPP_DATA_KEY and listing the old one in SMSAPP_OLD_DATA_KEYS.
Pseudonyms are not recomputed: they stay stable, so exports made before and after still agree.
An index made with a retired key cannot be recomputed without the number, so the few that
belong to no participant (strangers' texts, the unknown-sender reply log) are cleared.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from smsapp.db import utcnow
from smsapp.models import InboundMessage, Participant, UnknownSenderReply
from smsapp.runtime import Runtime
from smsapp.services import audit

BATCH = 500


@dataclass
class RotationReport:
    participants: int = 0  # numbers re-encrypted or re-indexed
    unchanged: int = 0
    inbound_rekeyed: int = 0
    inbound_cleared: int = 0
    unknown_rekeyed: int = 0
    unknown_cleared: int = 0
    remaining_old: int = 0  # numbers still under an old key afterwards (should be 0)

    def summary(self) -> str:
        return (
            f"{self.participants} numbers moved to the current key ({self.unchanged} already "
            f"were); {self.inbound_rekeyed} inbound texts re-indexed, {self.inbound_cleared} "
            f"strangers' indexes cleared; {self.unknown_rekeyed + self.unknown_cleared} "
            f"unknown-sender records updated. Numbers still under an old key: "
            f"{self.remaining_old}."
        )


def rotate(runtime: Runtime, *, actor: str = "cli", batch: int = BATCH) -> RotationReport:
    """Re-encrypt and re-index every number, one committed batch at a time (safe to re-run)."""
    vault = runtime.vault
    report = RotationReport()
    started = utcnow()
    last_id = 0
    while True:
        with runtime.db.transaction() as session:
            rows = session.scalars(
                sa.select(Participant)
                .where(Participant.id > last_id, Participant.phone_ciphertext.is_not(None))
                .order_by(Participant.id)
                .limit(batch)
            ).all()
            if not rows:
                break
            for participant in rows:
                last_id = participant.id
                assert participant.phone_ciphertext is not None
                e164 = vault.decrypt(participant.phone_ciphertext)
                new_index = vault.index(e164)
                stale = vault.needs_reencrypt(participant.phone_ciphertext)
                if not stale and participant.phone_index == new_index:
                    report.unchanged += 1
                    continue
                old = [i for i in {participant.phone_index, *vault.old_indexes(e164)} if i]
                old = [i for i in old if i != new_index]
                participant.phone_ciphertext = vault.encrypt(e164)
                participant.phone_index = new_index
                report.participants += 1
                if old:
                    moved = session.execute(
                        sa.update(InboundMessage)
                        .where(InboundMessage.sender_index.in_(old))
                        .values(sender_index=new_index)
                    )
                    report.inbound_rekeyed += int(getattr(moved, "rowcount", 0) or 0)
                    report.unknown_rekeyed += _rekey_unknown(session, old, new_index)
    with runtime.db.transaction() as session:
        # What is left under old keys belongs to no participant: it cannot be recomputed.
        # Rows written since the rotation began were made with the current key and stay.
        current = sa.select(Participant.phone_index).where(Participant.phone_index.is_not(None))
        cleared = session.execute(
            sa.update(InboundMessage)
            .where(
                InboundMessage.sender_index.is_not(None),
                InboundMessage.sender_index.not_in(current),
                InboundMessage.received_at < started,
            )
            .values(sender_index=None)
        )
        report.inbound_cleared = int(getattr(cleared, "rowcount", 0) or 0)
        unknown = session.execute(
            sa.delete(UnknownSenderReply).where(
                UnknownSenderReply.sender_index.not_in(current),
                UnknownSenderReply.last_replied_at < started,
            )
        )
        report.unknown_cleared = int(getattr(unknown, "rowcount", 0) or 0)
        for blob in session.scalars(
            sa.select(Participant.phone_ciphertext).where(Participant.phone_ciphertext.is_not(None))
        ):
            if blob is not None and vault.needs_reencrypt(blob):
                report.remaining_old += 1
        audit.record(
            session,
            actor,
            "keys.rotate",
            vault.key_id,
            participants=report.participants,
            remaining_old=report.remaining_old,
        )
    return report


def _rekey_unknown(session: sa.orm.Session, old: list[str], new_index: str) -> int:
    rows = session.scalars(
        sa.select(UnknownSenderReply).where(UnknownSenderReply.sender_index.in_(old))
    ).all()
    if not rows:
        return 0
    latest = max(r.last_replied_at for r in rows)
    for row in rows:
        session.delete(row)
    session.flush()
    existing = session.get(UnknownSenderReply, new_index)
    if existing is None:
        session.add(UnknownSenderReply(sender_index=new_index, last_replied_at=latest))
    return len(rows)

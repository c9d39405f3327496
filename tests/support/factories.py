"""Small builders for test data, going through the same services the product uses."""

from __future__ import annotations

from datetime import UTC, datetime

from smsapp.models import Group, GroupMembership, Participant
from smsapp.privacy.phones import normalise_phone
from smsapp.runtime import Runtime
from smsapp.services.participants import create_group, group_by_slug, new_participant


def make_group(
    runtime: Runtime, slug: str = "oakfield", name: str = "Oakfield Youth Panel"
) -> Group:
    with runtime.db.transaction() as s:
        group = group_by_slug(s, slug) or create_group(s, slug, name)
        s.flush()
        return group


def make_participant(
    runtime: Runtime,
    number: str,
    *,
    group: str | None = "oakfield",
    nickname: str | None = None,
    consent: bool = True,
    status: str | None = None,
) -> Participant:
    e164 = normalise_phone(number).e164
    with runtime.db.transaction() as s:
        p = new_participant(s, runtime.vault, e164, nickname=nickname)
        if consent:
            p.consent_at = datetime.now(UTC)
            p.consent_method = "test"
        if status:
            p.status = status
        s.flush()
        if group:
            g = group_by_slug(s, group) or create_group(s, group, group.title())
            s.flush()
            s.add(GroupMembership(group_id=g.id, participant_id=p.id))
        return p

"""Small builders for test data, going through the same services the product uses: groups,
participants, a two-question poll for them (name-our-group), and its launch and sending."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from smsapp.models import Group, GroupMembership, OutboundMessage, Participant
from smsapp.privacy.phones import normalise_phone
from smsapp.runtime import Runtime
from smsapp.services.outbox import sending
from smsapp.services.people.consent import record_consent
from smsapp.services.people.groups import create_group, group_by_slug
from smsapp.services.people.participants import new_participant
from smsapp.services.polls.definitions import import_poll
from smsapp.services.polls.launch import launch_poll


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
            record_consent(s, p, given_by="Test Guardian", method="paper form", actor="test")
        if status:
            p.status = status
        s.flush()
        if group:
            g = group_by_slug(s, group) or create_group(s, group, group.title())
            s.flush()
            s.add(GroupMembership(group_id=g.id, participant_id=p.id))
        return p


# A Tuesday at noon in London: outside every default quiet hour.
NOON = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)

POLL_YAML = """
slug: {slug}
title: Name our group
group: {group}
closes: 7d
intro: "Hi {{nickname}}! Help us name our group."
reminders: {{after: 24h, every: 24h, max: 2}}
questions:
  - key: name
    kind: choice
    prompt: "Which name do you like best?"
    options: ["Young Researchers", "Health Voices", "Team Spark"]
  - key: why
    kind: text
    prompt: "Why? Reply SKIP to skip"
    optional: true
"""


def make_poll(runtime: Runtime, slug: str = "name-our-group", group: str = "oakfield") -> int:
    make_group(runtime, group, group.title())
    with runtime.db.transaction() as s:
        return import_poll(s, POLL_YAML.format(slug=slug, group=group)).poll.id


def people(runtime: Runtime, n: int, *, start: int = 100, group: str = "oakfield") -> list[int]:
    """n consenting, active participants with distinct valid UK mobiles."""
    return [
        make_participant(
            runtime, f"+447911123{start + i:03d}", group=group, nickname=f"Kid{i % 3}"
        ).id
        for i in range(n)
    ]


def launch(runtime: Runtime, slug: str = "name-our-group", now: datetime = NOON) -> Any:
    with runtime.db.transaction() as s:
        return launch_poll(runtime, s, slug, now=now)


def make_outbound(runtime: Runtime, **fields: Any) -> int:
    """One invitation to Twilio (any column overridden by `fields`); returns its id."""
    values: dict[str, Any] = {"kind": "invitation", "body": "Q?", "backend": "twilio"}
    with runtime.db.transaction() as s:
        row = OutboundMessage(**{**values, **fields})
        s.add(row)
        s.flush()
        return row.id


def messages(runtime: Runtime, **where: Any) -> list[OutboundMessage]:
    with runtime.db.transaction() as s:
        stmt = sa.select(OutboundMessage).order_by(OutboundMessage.id)
        for name, value in where.items():
            stmt = stmt.where(getattr(OutboundMessage, name) == value)
        return list(s.scalars(stmt))


def send_all(runtime: Runtime, now: datetime) -> sending.SendReport:
    return sending.send_due(runtime, now=now, budget=20)


# A nomination poll and the ranked vote whose options come from its shortlist.
IDEAS = """
slug: ideas
title: Name ideas
group: oakfield
keyword: IDEAS
questions:
  - key: idea
    kind: nominate
    prompt: "Suggest a name for our group"
    max: 2
"""

VOTE = """
slug: vote
title: Name our group
group: oakfield
keyword: VOTE
questions:
  - key: name
    kind: rank
    prompt: "Rank up to 3, best first"
    options_from: ideas.idea
    max: 3
"""

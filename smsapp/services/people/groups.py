"""Groups of participants (a school's co-production group): create one, find it by slug, and
end it, which starts the retention clock for its members' numbers (withdrawal.retention_sweep).
"""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import utcnow
from smsapp.models import Group
from smsapp.services import audit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


class GroupError(ValueError):
    pass


def create_group(session: Session, slug: str, name: str, actor: str = "system") -> Group:
    slug = slug.strip()
    if not SLUG_RE.match(slug):
        raise GroupError("a group slug is lower-case letters, digits and hyphens, e.g. oakfield")
    if session.scalar(sa.select(Group.id).where(Group.slug == slug)) is not None:
        raise GroupError(f"a group called {slug!r} already exists")
    group = Group(slug=slug, name=name.strip() or slug, settings={})
    session.add(group)
    audit.record(session, actor, "group.create", slug, name=group.name)
    return group


def group_by_slug(session: Session, slug: str) -> Group | None:
    return session.scalar(sa.select(Group).where(Group.slug == slug))


def end_group(session: Session, group: Group, *, actor: str, at: datetime | None = None) -> None:
    """Mark a group as ended: its retention clock starts from `at` (now by default)."""
    group.ended_at = at or utcnow()
    audit.record(session, actor, "group.end", group.slug, ended_at=group.ended_at.isoformat())

"""The admin pages. Each view names the roles that may use it."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template
from flask.typing import ResponseReturnValue

from smsapp.models import Group, GroupMembership, Participant, ParticipantStatus
from smsapp.web import db_session
from smsapp.web.auth import roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

STAFF = ("admin", "facilitator", "researcher", "safeguarding")
PEOPLE = ("admin", "facilitator")


@bp.get("/")
@roles_required(*STAFF)
def dashboard() -> ResponseReturnValue:
    s = db_session()
    counts = (
        sa.select(
            Group.id,
            Group.slug,
            Group.name,
            sa.func.count(GroupMembership.id).label("members"),
            sa.func.count(GroupMembership.id)
            .filter(
                Participant.consent_at.is_not(None), Participant.status == ParticipantStatus.ACTIVE
            )
            .label("textable"),
        )
        .outerjoin(GroupMembership, GroupMembership.group_id == Group.id)
        .outerjoin(Participant, Participant.id == GroupMembership.participant_id)
        .group_by(Group.id, Group.slug, Group.name)
        .order_by(Group.name)
    )
    groups = s.execute(counts).all()
    return render_template("admin/dashboard.html", groups=groups)


@bp.get("/groups/<slug>")
@roles_required(*PEOPLE)
def group_detail(slug: str) -> ResponseReturnValue:
    s = db_session()
    group = s.scalar(sa.select(Group).where(Group.slug == slug))
    if group is None:
        abort(404)
    participants = s.scalars(
        sa.select(Participant)
        .join(GroupMembership, GroupMembership.participant_id == Participant.id)
        .where(GroupMembership.group_id == group.id)
        .order_by(Participant.pseudonym)
    ).all()
    return render_template("admin/group.html", group=group, participants=participants)

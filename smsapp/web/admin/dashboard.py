"""The dashboard every staff role sees: groups and how many can be texted (no numbers)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from flask.typing import ResponseReturnValue

from smsapp.models import Group, GroupMembership, Participant, ParticipantStatus, Poll
from smsapp.web import db_session
from smsapp.web.admin import STAFF, bp
from smsapp.web.auth import roles_required


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
    polls = s.execute(sa.select(Poll.status, sa.func.count(Poll.id)).group_by(Poll.status)).all()
    return render_template(
        "admin/dashboard.html", groups=groups, poll_counts={k: n for k, n in polls}
    )

"""The page's poll or group by its slug in the URL, or a 404: one look-up for every view."""

from __future__ import annotations

from flask import abort

from smsapp.models import Group, Poll
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.definitions import poll_by_slug
from smsapp.web import db_session


def poll_or_404(slug: str) -> Poll:
    poll = poll_by_slug(db_session(), slug)
    if poll is None:
        abort(404)
    return poll


def group_or_404(slug: str) -> Group:
    group = group_by_slug(db_session(), slug)
    if group is None:
        abort(404)
    return group

"""The group's record (every staff role may read and print it), the celebration text
(previewed, then queued for the send jobs), and the year review's tree of growth with the
facilitators' tags on its free-text answers."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.conversation.purposes import GROWTH_MEANING, GROWTH_PARTS
from smsapp.db import utcnow
from smsapp.models import Group, Poll
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.definitions import PollError, poll_by_slug
from smsapp.services.record import celebrate, growth
from smsapp.services.record.page import GroupRecord, group_record
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.admin import PEOPLE, STAFF, bp, release_request_session
from smsapp.web.admin.results import RESULTS_ROLES
from smsapp.web.auth import roles_required
from smsapp.web.lookups import group_or_404, poll_or_404


@bp.app_template_global()
def has_growth_tree(poll: Poll) -> bool:
    """Whether the poll's tabs offer its tree of growth (a year review)."""
    return growth.has_tree(poll)


def _record(group: Group) -> GroupRecord:
    settings = runtime().settings
    return group_record(db_session(), group, k=settings.small_count, timezone=settings.timezone)


def _today() -> date:
    return utcnow().astimezone(ZoneInfo(runtime().settings.timezone)).date()


@bp.get("/records")
@roles_required(*STAFF)
def records() -> ResponseReturnValue:
    groups = db_session().scalars(sa.select(Group).order_by(Group.name)).all()
    return render_template("admin/records.html", groups=groups)


@bp.get("/groups/<slug>/record")
@roles_required(*STAFF)
def group_record_page(slug: str) -> ResponseReturnValue:
    return render_template("admin/record.html", record=_record(group_or_404(slug)), today=_today())


@bp.get("/groups/<slug>/celebrate")
@roles_required(*PEOPLE)
def group_celebrate_preview(slug: str) -> ResponseReturnValue:
    group = group_or_404(slug)
    text = request.args.get("text")
    if text is None:
        text = celebrate.suggested_text(_record(group), _today())
    plan = celebrate.preview(runtime(), db_session(), group, text)
    zone = ZoneInfo(runtime().settings.timezone)
    local = plan.send_after.astimezone(zone) if plan.send_after else None
    return render_template(
        "admin/celebrate.html",
        group=group,
        plan=plan,
        send_after_local=f"{local:%H:%M on %A %-d %B}" if local else "",
    )


@bp.post("/groups/<slug>/celebrate")
@roles_required(*PEOPLE)
def group_celebrate(slug: str) -> ResponseReturnValue:
    group_or_404(slug)
    text = (request.form.get("text") or "").strip()
    if request.form.get("confirm") != "yes":
        flash("Tick the box to send the text. Nothing was sent.")
        return redirect(url_for("admin.group_celebrate_preview", slug=slug, text=text))
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            group = group_by_slug(s, slug)
            if group is None:
                abort(404)
            plan = celebrate.queue_celebration(runtime(), s, group, text, actor=actor)
    except PollError as exc:
        flash(f"Not sent: {exc}.")
        return redirect(url_for("admin.group_celebrate_preview", slug=slug, text=text))
    if not try_kick_senders(runtime()):
        flash("The texts are queued; the next send run will pick them up.")
    flash(f"The celebration text is queued to {len(plan.recipients)} people.")
    return redirect(url_for("admin.group_record_page", slug=slug))


@bp.get("/polls/<slug>/growth")
@roles_required(*RESULTS_ROLES)
def poll_growth(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    k = runtime().settings.small_count
    tree = growth.tree_of_growth(db_session(), poll, k) if growth.has_tree(poll) else None
    return render_template("admin/growth.html", poll=poll, tree=tree, k=k)


@bp.get("/polls/<slug>/growth/tags")
@roles_required(*PEOPLE)
def poll_growth_tags(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    answers = growth.taggable_answers(db_session(), poll) if growth.has_tree(poll) else None
    return render_template(
        "admin/growth_tags.html",
        poll=poll,
        answers=answers,
        parts=GROWTH_PARTS,
        meaning=GROWTH_MEANING,
    )


@bp.post("/polls/<slug>/growth/tags")
@roles_required(*PEOPLE)
def poll_growth_tag(slug: str) -> ResponseReturnValue:
    parts: dict[int, str | None] = {}
    for name, value in request.form.items():
        if name.startswith("tag-") and name[4:].isdigit():
            parts[int(name[4:])] = value or None
    try:
        with request_transaction() as s:
            poll = poll_by_slug(s, slug)
            if poll is None:
                abort(404)
            changed = growth.tag_answers(s, poll, parts, actor=current_user.email)
    except PollError as exc:
        flash(f"No tags saved: {exc}.")
        return redirect(url_for("admin.poll_growth_tags", slug=slug))
    flash(f"{changed} tag{'' if changed == 1 else 's'} saved.")
    return redirect(url_for("admin.poll_growth_tags", slug=slug))

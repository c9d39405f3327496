"""What facilitators expect from other polling tools: a new poll from a template, duplicating a
poll into a new draft, and scheduling a draft's launch. Each calls one use case in
services/polls (templates, duplicate, scheduling). Facilitators and admins only."""

from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.schedule.launch_time import local_input_value, local_text
from smsapp.services.polls.definitions import PollError, poll_by_slug
from smsapp.services.polls.duplicate import duplicate_poll
from smsapp.services.polls.scheduling import cancel_schedule, schedule_launch
from smsapp.services.polls.templates import list_templates
from smsapp.web import db_session, runtime
from smsapp.web.admin import PEOPLE, bp, release_request_session
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404


def suggested_slug(slug: str) -> str:
    """`<slug>-copy`, then -copy-2, -copy-3…: the first that is free."""
    base = f"{slug[:70]}-copy"
    candidate, n = base, 1
    while poll_by_slug(db_session(), candidate) is not None:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


@bp.get("/polls/templates")
@roles_required(*PEOPLE)
def poll_templates() -> ResponseReturnValue:
    return render_template("admin/poll_templates.html", templates=list_templates())


@bp.get("/polls/<slug>/duplicate")
@roles_required(*PEOPLE)
def poll_duplicate_form(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    return render_template(
        "admin/duplicate.html", poll=poll, new_slug=suggested_slug(slug), problem=None
    )


@bp.post("/polls/<slug>/duplicate")
@roles_required(*PEOPLE)
def poll_duplicate(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    new_slug = request.form.get("new_slug", "").strip()
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            done = duplicate_poll(s, slug, new_slug, actor=actor)
            notes = list(done.notes)
    except PollError as exc:
        return render_template(
            "admin/duplicate.html", poll=poll, new_slug=new_slug, problem=str(exc)
        ), 422
    flash(f"Made a new draft, {new_slug}, from {slug}: check it, then launch or schedule it.")
    for note in notes:
        flash(f"Note: {note}.")
    return redirect(url_for("admin.poll_edit", slug=new_slug))


@bp.post("/polls/<slug>/schedule")
@roles_required(*PEOPLE)
def poll_schedule(slug: str) -> ResponseReturnValue:
    poll_or_404(slug)
    at_text = request.form.get("launch_at", "")
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            done = schedule_launch(runtime(), s, slug, at_text, actor=actor)
    except PollError as exc:
        flash(f"Not scheduled: {exc}")
        return redirect(url_for("admin.poll_launch_preview", slug=slug))
    flash(f"Scheduled: the poll launches at {done.when}.")
    if done.plan is not None and done.plan.deferred:
        flash(
            f"That is in quiet hours: the texts go out from {done.plan.local(done.plan.send_after)}."
        )
    if done.warning:
        flash(
            f"Warning: a launch now would be refused ({done.warning}). The clock tries at the "
            "scheduled time and says here why if it still cannot."
        )
    return redirect(url_for("admin.poll_launch_preview", slug=slug))


@bp.post("/polls/<slug>/schedule/cancel")
@roles_required(*PEOPLE)
def poll_schedule_cancel(slug: str) -> ResponseReturnValue:
    poll_or_404(slug)
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            cancel_schedule(s, slug, actor=actor)
    except PollError as exc:
        flash(f"Nothing to cancel: {exc}")
    else:
        flash("The scheduled launch is cancelled. The poll stays a draft.")
    return redirect(url_for("admin.poll_launch_preview", slug=slug))


@bp.app_template_filter("local_time")
def local_time_filter(when: datetime | None) -> str:
    """A UTC time as the service's local time in words (schedule.launch_time.local_text)."""
    return "" if when is None else local_text(when, runtime().settings.timezone)


@bp.app_template_filter("local_input")
def local_input_filter(when: datetime | None) -> str:
    """A UTC time as the value of a datetime-local field, in the service's local time."""
    return "" if when is None else local_input_value(when, runtime().settings.timezone)


@bp.app_context_processor
def schedule_zone() -> dict[str, str]:
    """The zone the launch-time field is read in, named beside it."""
    return {"config_timezone": runtime().settings.timezone}

"""Launch, close, tally now, and send results to participants: each previewed on a page first,
and nothing is sent or changed without the confirming POST. Facilitators and admins only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import Poll, PollStatus
from smsapp.services.outbox.counts import delivery_counts
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.polls.closing import close_by_slug
from smsapp.services.polls.definitions import PollError, poll_by_slug
from smsapp.services.polls.launch import launch_poll, preview_launch
from smsapp.services.votes import announce
from smsapp.services.votes.tallying import tally_poll
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.admin import PEOPLE, bp, release_request_session
from smsapp.web.auth import roles_required

CONFIRM = "I have checked the recipients"


def _poll_or_404(slug: str) -> Poll:
    poll = poll_by_slug(db_session(), slug)
    if poll is None:
        abort(404)
    return poll


def _kick() -> None:
    """Start the send jobs now; if the queue is down the clock finds the queued rows anyway."""
    if not try_kick_senders(runtime()):
        flash("The texts are queued; the next send run will pick them up.")


@bp.get("/polls/<slug>/launch")
@roles_required(*PEOPLE)
def poll_launch_preview(slug: str) -> ResponseReturnValue:
    poll = _poll_or_404(slug)
    plan, problem = None, None
    try:
        plan = preview_launch(runtime(), db_session(), slug)
    except PollError as exc:
        problem = str(exc)
    return render_template(
        "admin/launch.html", poll=poll, plan=plan, problem=problem, confirm_label=CONFIRM
    )


@bp.post("/polls/<slug>/launch")
@roles_required(*PEOPLE)
def poll_launch(slug: str) -> ResponseReturnValue:
    _poll_or_404(slug)
    if request.form.get("confirm") != "yes":
        flash(f"Tick \u201c{CONFIRM}\u201d to launch. Nothing was sent.")
        return redirect(url_for("admin.poll_launch_preview", slug=slug))
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            result = launch_poll(runtime(), s, slug, actor=actor)
    except PollError as exc:
        flash(f"Not launched: {exc}")
        return redirect(url_for("admin.poll_launch_preview", slug=slug))
    _kick()
    flash(
        f"Launched: {result.messages} texts queued to {result.conversations - result.waiting} "
        "people" + (f", {result.waiting} waiting for another poll" if result.waiting else "") + "."
    )
    return redirect(url_for("admin.poll_status", slug=slug))


@bp.get("/polls/<slug>/status")
@roles_required(*PEOPLE)
def poll_status(slug: str) -> ResponseReturnValue:
    """A launched poll's control page: delivery counts and the close / tally / announce buttons."""
    poll = _poll_or_404(slug)
    return render_template(
        "admin/poll_status.html", poll=poll, delivery=delivery_counts(db_session(), poll.id)
    )


@bp.get("/polls/<slug>/close")
@roles_required(*PEOPLE)
def poll_close_confirm(slug: str) -> ResponseReturnValue:
    poll = _poll_or_404(slug)
    return render_template("admin/close.html", poll=poll)


@bp.post("/polls/<slug>/close")
@roles_required(*PEOPLE)
def poll_close(slug: str) -> ResponseReturnValue:
    _poll_or_404(slug)
    if request.form.get("confirm") != "yes":
        flash("Tick the box to close the poll. Nothing was changed.")
        return redirect(url_for("admin.poll_close_confirm", slug=slug))
    actor = current_user.email
    release_request_session()
    try:
        result = close_by_slug(runtime(), slug, actor=actor)
    except PollError as exc:
        flash(f"Not closed: {exc}")
        return redirect(url_for("admin.poll_status", slug=slug))
    flash(
        f"Closed: {result.ended} conversation(s) ended, {result.cancelled} unsent text(s) "
        "cancelled."
    )
    if result.queue_problem:
        flash(f"Note: {result.queue_problem}.")
    return redirect(url_for("admin.poll_results", slug=slug))


@bp.post("/polls/<slug>/tally")
@roles_required(*PEOPLE)
def poll_tally(slug: str) -> ResponseReturnValue:
    """Count now: final once closed, provisional while open (the service decides)."""
    actor = current_user.email
    try:
        with request_transaction() as s:
            poll = _poll_or_404(slug)
            runs = tally_poll(s, poll, actor=actor)
            final = poll.status == PollStatus.CLOSED
    except PollError as exc:
        flash(f"Not counted: {exc}")
        return redirect(url_for("admin.poll_results", slug=slug))
    kind = "final" if final else "provisional"
    flash(f"Counted: {len(runs)} {kind} count(s)." if runs else "No vote questions to count.")
    return redirect(url_for("admin.poll_results", slug=slug))


@bp.get("/polls/<slug>/announce")
@roles_required(*PEOPLE)
def poll_announce_preview(slug: str) -> ResponseReturnValue:
    poll = _poll_or_404(slug)
    plan, problem = None, None
    try:
        plan = announce.preview(runtime(), db_session(), poll)
    except PollError as exc:
        problem = str(exc)
    return render_template("admin/announce.html", poll=poll, plan=plan, problem=problem)


@bp.post("/polls/<slug>/announce")
@roles_required(*PEOPLE)
def poll_announce(slug: str) -> ResponseReturnValue:
    _poll_or_404(slug)
    if request.form.get("confirm") != "yes":
        flash("Tick the box to send the results. Nothing was sent.")
        return redirect(url_for("admin.poll_announce_preview", slug=slug))
    actor = current_user.email
    release_request_session()
    try:
        with runtime().db.transaction() as s:
            poll = poll_by_slug(s, slug)
            if poll is None:
                abort(404)
            plan = announce.queue_results(runtime(), s, poll, actor=actor)
    except PollError as exc:
        flash(f"Not sent: {exc}")
        return redirect(url_for("admin.poll_announce_preview", slug=slug))
    _kick()
    flash(f"Results queued to {len(plan.recipients)} people.")
    return redirect(url_for("admin.poll_status", slug=slug))

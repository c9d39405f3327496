"""Launch, close, tally now, and send results to participants: each previewed on a page first,
and nothing is sent or changed without the confirming POST. Facilitators and admins only."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import TallyRequestStatus
from smsapp.services.outbox.counts import delivery_counts
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.polls.closing import close_by_slug
from smsapp.services.polls.definitions import PollError, poll_by_slug
from smsapp.services.polls.launch import launch_poll, preview_launch
from smsapp.services.votes import announce, tally_requests
from smsapp.web import db_session, runtime
from smsapp.web.admin import PEOPLE, bp, release_request_session
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404

CONFIRM = "I have checked the recipients"


def _kick() -> None:
    """Start the send jobs now; if the queue is down the clock finds the queued rows anyway."""
    if not try_kick_senders(runtime()):
        flash("The texts are queued; the next send run will pick them up.")


@bp.get("/polls/<slug>/launch")
@roles_required(*PEOPLE)
def poll_launch_preview(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    plan, problem, scheduled = None, None, None
    try:
        plan = preview_launch(runtime(), db_session(), slug)
        if poll.launch_at is not None:  # what the scheduled launch would do at its time
            scheduled = preview_launch(runtime(), db_session(), slug, now=poll.launch_at)
    except PollError as exc:
        problem = str(exc)
    return render_template(
        "admin/launch.html",
        poll=poll,
        plan=plan,
        problem=problem,
        confirm_label=CONFIRM,
        scheduled=scheduled,
    )


@bp.post("/polls/<slug>/launch")
@roles_required(*PEOPLE)
def poll_launch(slug: str) -> ResponseReturnValue:
    poll_or_404(slug)
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
    poll = poll_or_404(slug)
    return render_template(
        "admin/poll_status.html", poll=poll, delivery=delivery_counts(db_session(), poll.id)
    )


@bp.get("/polls/<slug>/close")
@roles_required(*PEOPLE)
def poll_close_confirm(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    return render_template("admin/close.html", poll=poll)


@bp.post("/polls/<slug>/close")
@roles_required(*PEOPLE)
def poll_close(slug: str) -> ResponseReturnValue:
    poll_or_404(slug)
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
    """Ask the tally job for a count (final once closed, provisional while open), then show its
    progress: a count can take longer than a web request should."""
    poll_id = poll_or_404(slug).id
    actor = current_user.email
    release_request_session()
    try:
        request_id = tally_requests.request_tally(runtime(), poll_id, actor=actor).id
    except PollError as exc:
        flash(f"Not counted: {exc}")
        return redirect(url_for("admin.poll_results", slug=slug))
    return redirect(url_for("admin.poll_tally_progress", slug=slug, request_id=request_id))


@bp.get("/polls/<slug>/tally/<int:request_id>")
@roles_required(*PEOPLE)
def poll_tally_progress(slug: str, request_id: int) -> ResponseReturnValue:
    """Queued, running, done (with the way to the results) or failed; reloads until it ends."""
    poll = poll_or_404(slug)
    request_row = tally_requests.progress(db_session(), poll, request_id)
    if request_row is None:
        abort(404)
    page = render_template("admin/tally_progress.html", poll=poll, request_row=request_row)
    if request_row.status in (TallyRequestStatus.DONE, TallyRequestStatus.FAILED):
        return page
    # A Refresh header rather than a script: the CSP allows no inline scripts, and the page
    # needs nothing more than to reload until the count has finished.
    return page, 200, {"Refresh": "2", "Cache-Control": "no-store"}


@bp.get("/polls/<slug>/announce")
@roles_required(*PEOPLE)
def poll_announce_preview(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    plan, problem = None, None
    try:
        plan = announce.preview(runtime(), db_session(), poll)
    except PollError as exc:
        problem = str(exc)
    return render_template("admin/announce.html", poll=poll, plan=plan, problem=problem)


@bp.post("/polls/<slug>/announce")
@roles_required(*PEOPLE)
def poll_announce(slug: str) -> ResponseReturnValue:
    poll_or_404(slug)
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

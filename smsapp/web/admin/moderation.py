"""Nominations moderation: approve, reject, confirm suggested merges one at a time, then make the
kept nominations the options of a draft vote poll. Authors appear by pseudonym only."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import NominationStatus, Poll, PollStatus
from smsapp.services.polls.definitions import PollError, load_definition
from smsapp.services.votes import nominations
from smsapp.web import db_session, request_transaction
from smsapp.web.admin import PEOPLE, bp
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404

LIVE = (NominationStatus.PENDING, NominationStatus.APPROVED)


def vote_targets(poll: Poll) -> list[Poll]:
    """Draft polls with a question whose options come from this poll's nominations."""
    drafts = db_session().scalars(
        sa.select(Poll).where(Poll.status == PollStatus.DRAFT).order_by(Poll.title)
    )
    prefix = f"{poll.slug}."
    return [
        draft
        for draft in drafts
        if any((q.options_from or "").startswith(prefix) for q in load_definition(draft).questions)
    ]


def _back(slug: str) -> ResponseReturnValue:
    return redirect(url_for("admin.poll_nominations", slug=slug))


@bp.get("/polls/<slug>/nominations")
@roles_required(*PEOPLE)
def poll_nominations(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    s = db_session()
    lines = nominations.list_nominations(s, poll)
    texts = {line.code: line.text for line in lines}
    return render_template(
        "admin/nominations.html",
        poll=poll,
        lines=lines,
        texts=texts,
        suggestions=nominations.merge_suggestions(s, poll),
        targets=vote_targets(poll),
        live=LIVE,
        has_nominate=any(q.kind == "nominate" for q in load_definition(poll).questions),
    )


@bp.post("/polls/<slug>/nominations/moderate")
@roles_required(*PEOPLE)
def poll_nominations_moderate(slug: str) -> ResponseReturnValue:
    action = request.form.get("action")
    codes = request.form.getlist("code")
    if action not in ("approve", "reject") or not codes:
        flash("Choose a nomination and approve or reject it.")
        return _back(slug)
    try:
        with request_transaction() as s:
            poll = poll_or_404(slug)
            if action == "approve":
                nominations.approve(s, poll, codes, actor=current_user.email)
            else:
                reason = (request.form.get("reason") or "").strip() or None
                nominations.reject(s, poll, codes, actor=current_user.email, reason=reason)
    except PollError as exc:
        flash(str(exc))
        return _back(slug)
    flash(f"{', '.join(codes)} {'approved' if action == 'approve' else 'rejected'}.")
    return _back(slug)


@bp.post("/polls/<slug>/nominations/merge")
@roles_required(*PEOPLE)
def poll_nominations_merge(slug: str) -> ResponseReturnValue:
    duplicate = (request.form.get("duplicate") or "").strip()
    kept = (request.form.get("kept") or "").strip()
    if not duplicate or not kept:
        flash("Choose which nomination folds into which.")
        return _back(slug)
    try:
        with request_transaction() as s:
            nominations.merge(s, poll_or_404(slug), duplicate, kept, actor=current_user.email)
    except PollError as exc:
        flash(str(exc))
        return _back(slug)
    flash(f"{duplicate.upper()} merged into {kept.upper()}.")
    return _back(slug)


@bp.post("/polls/<slug>/nominations/shortlist")
@roles_required(*PEOPLE)
def poll_nominations_shortlist(slug: str) -> ResponseReturnValue:
    keep = request.form.getlist("keep")
    into = (request.form.get("into") or "").strip()
    if not keep or not into:
        flash("Tick the nominations to keep and choose the draft vote poll.")
        return _back(slug)
    poll_or_404(slug)
    try:
        with request_transaction() as s:
            done = nominations.shortlist(s, slug, keep=keep, into=into, actor=current_user.email)
    except PollError as exc:
        flash(f"No shortlist made: {exc}")
        return _back(slug)
    flash(
        f"{done.vote_slug} now offers "
        + ", ".join(f"{code}) {label}" for code, label, _ in done.options)
        + "."
    )
    return redirect(url_for("admin.poll_edit", slug=done.vote_slug))

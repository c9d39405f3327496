"""A group's young people's agenda: the questions they proposed by text (approve as is or
edited, then the usual launch preview; or leave it to a youth lead; or decline kindly), and its
youth leads (appoint with consent, allow SEND, revoke). Facilitators and admins only; a held
proposal shows its code and "held", never its words (those are in the safeguarding inbox)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.services.agenda import moderation, proposals, youth_leads
from smsapp.services.outbox.sending import try_kick_senders
from smsapp.services.people import consent
from smsapp.services.polls.definitions import PollError
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.admin import PEOPLE, bp
from smsapp.web.auth import roles_required
from smsapp.web.lookups import group_or_404


def _back(slug: str) -> ResponseReturnValue:
    return redirect(url_for("admin.group_proposals", slug=slug))


@bp.get("/groups/<slug>/proposals")
@roles_required(*PEOPLE)
def group_proposals(slug: str) -> ResponseReturnValue:
    group = group_or_404(slug)
    s = db_session()
    lines = proposals.list_proposals(s, slug)
    return render_template(
        "admin/proposals.html",
        group=group,
        waiting=[line for line in lines if line.status == "waiting"],
        others=[line for line in lines if line.status != "waiting"],
        limit=proposals.waiting_limit(group),
        leads=youth_leads.leads(s, group.id),
        members=youth_leads.candidates(s, group.id),
        methods=consent.FORM_METHODS,
        default_options=",".join(moderation.DEFAULT_OPTIONS),
    )


@bp.post("/groups/<slug>/proposals/<code>/approve")
@roles_required(*PEOPLE)
def group_proposal_approve(slug: str, code: str) -> ResponseReturnValue:
    group_or_404(slug)
    then = request.form.get("then", "launch")
    try:
        with request_transaction() as s:
            done = moderation.approve(
                runtime(),
                s,
                slug,
                code,
                actor=current_user.email,
                text=request.form.get("text"),
                options=request.form.get("options"),
            )
    except (proposals.ProposalError, PollError) as exc:
        flash(f"Not approved: {exc}")
        return _back(slug)
    try_kick_senders(runtime())
    told = " The proposer is told it was edited." if done.edited else ""
    if then == "lead":
        flash(f"{done.code} approved as {done.poll_slug}; a youth lead can send it.{told}")
        return _back(slug)
    flash(f"{done.code} approved as {done.poll_slug}.{told} Check the recipients and launch it.")
    return redirect(url_for("admin.poll_launch_preview", slug=done.poll_slug))


@bp.post("/groups/<slug>/proposals/<code>/decline")
@roles_required(*PEOPLE)
def group_proposal_decline(slug: str, code: str) -> ResponseReturnValue:
    group_or_404(slug)
    try:
        with request_transaction() as s:
            moderation.decline(
                runtime(),
                s,
                slug,
                code,
                actor=current_user.email,
                reason=request.form.get("reason"),
            )
    except proposals.ProposalError as exc:
        flash(f"Not declined: {exc}")
        return _back(slug)
    try_kick_senders(runtime())
    flash(f"{code.upper()} declined; the proposer gets a kind reply.")
    return _back(slug)


@bp.post("/groups/<slug>/proposals/limit")
@roles_required(*PEOPLE)
def group_proposal_limit(slug: str) -> ResponseReturnValue:
    group_or_404(slug)
    raw = (request.form.get("limit") or "").strip()
    try:
        with request_transaction() as s:
            limit = int(raw) if raw.isdigit() else 0
            proposals.set_waiting_limit(s, slug, limit, actor=current_user.email)
    except proposals.ProposalError as exc:
        flash(f"Not changed: {exc}")
        return _back(slug)
    flash(f"Each member can now have {limit} question{'' if limit == 1 else 's'} waiting.")
    return _back(slug)


@bp.post("/groups/<slug>/youth-leads")
@roles_required(*PEOPLE)
def group_youth_lead_appoint(slug: str) -> ResponseReturnValue:
    group_or_404(slug)
    pseudonym = request.form.get("pseudonym", "")
    try:
        with request_transaction() as s:
            youth_leads.appoint(
                s,
                slug,
                pseudonym,
                given_by=request.form.get("consent_by", ""),
                method=request.form.get("consent_method", ""),
                can_send=request.form.get("can_send") == "yes",
                actor=current_user.email,
            )
    except (youth_leads.YouthLeadError, consent.ConsentError) as exc:
        flash(f"Not made a youth lead: {exc}")
        return _back(slug)
    flash(f"{pseudonym} is now a youth lead of {slug}.")
    return _back(slug)


@bp.post("/groups/<slug>/youth-leads/<pseudonym>")
@roles_required(*PEOPLE)
def group_youth_lead_change(slug: str, pseudonym: str) -> ResponseReturnValue:
    group_or_404(slug)
    action = request.form.get("action")
    try:
        with request_transaction() as s:
            if action == "revoke":
                youth_leads.revoke(s, slug, pseudonym, actor=current_user.email)
            elif action in ("allow-send", "stop-send"):
                youth_leads.allow_send(
                    s, slug, pseudonym, action == "allow-send", actor=current_user.email
                )
            else:
                abort(400)
    except youth_leads.YouthLeadError as exc:
        flash(str(exc))
        return _back(slug)
    flash(
        {
            "revoke": f"{pseudonym} is no longer a youth lead.",
            "allow-send": f"{pseudonym} may now text SEND.",
            "stop-send": f"{pseudonym} may no longer text SEND.",
        }[action]
    )
    return _back(slug)

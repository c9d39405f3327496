"""The safeguarding lead's pages: the flag inbox, acknowledging a flag, a participant's consent
record, revealing a number (safeguarding role only, audited), and the withdraw button."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.db import utcnow
from smsapp.models import Group, GroupMembership, Participant
from smsapp.privacy.redact import redact
from smsapp.services import audit
from smsapp.services.people import consent, withdrawal
from smsapp.services.safeguarding import inbox as flag_inbox
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.auth import roles_required

bp = Blueprint("safeguarding", __name__, url_prefix="/admin/safeguarding")

LEADS = ("safeguarding", "admin")
# Who reads what a young person disclosed: the safeguarding role only (issue 12). An admin runs
# the service and sees how many flags are open or overdue on the dashboard, never their words;
# a school's designated safeguarding lead, not its IT admin, handles a disclosure.
DISCLOSURES = ("safeguarding",)
REVEAL = ("safeguarding",)  # only the safeguarding role ever sees a whole number
# Who may withdraw a participant and erase their data, on this page and on the participants
# page (web/admin/people.py); templates ask `may(...)`. Not facilitators: erasure cannot be
# undone, is the school's data-protection decision, and must not destroy a number the lead
# may still need for an open flag, which facilitators cannot see (docs/safeguarding.md).
ERASE = ("safeguarding", "admin")


def age(then: datetime, now: datetime) -> str:
    """ "5 min ago", "3 h ago", "2 days ago": how long a flag has waited."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 48 * 3600:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"


@bp.get("/")
@roles_required(*DISCLOSURES)
def inbox() -> ResponseReturnValue:
    s = db_session()
    now = utcnow()
    show_all = request.args.get("all") == "1"
    listed = flag_inbox.list_flags(s, open_only=not show_all, now=now)
    open_count, overdue = flag_inbox.open_flag_counts(s, now)
    return render_template(
        "safeguarding/inbox.html",
        flags=listed,
        open_count=open_count,
        overdue=overdue,
        show_all=show_all,
        now=now,
        age=age,
    )


@bp.post("/flags/<int:flag_id>/acknowledge")
@roles_required(*DISCLOSURES)
def acknowledge(flag_id: int) -> ResponseReturnValue:
    note = request.form.get("note") or ""
    try:
        with request_transaction() as s:
            flag_inbox.acknowledge(s, flag_id, by=current_user.email, note=note)
    except flag_inbox.FlagError as exc:
        flash(f"Flag #{flag_id} not acknowledged: {exc}.")
        return redirect(url_for("safeguarding.inbox"))
    flash(f"Flag #{flag_id} acknowledged.")
    return redirect(url_for("safeguarding.inbox"))


def _participant_or_404(pseudonym: str) -> Participant:
    participant = withdrawal.find_by_pseudonym(db_session(), pseudonym)
    if participant is None:
        abort(404)
    return participant


def _participant_page(participant: Participant, revealed: str | None = None) -> ResponseReturnValue:
    s = db_session()
    groups = s.scalars(
        sa.select(Group)
        .join(GroupMembership, GroupMembership.group_id == Group.id)
        .where(GroupMembership.participant_id == participant.id)
        .order_by(Group.name)
    ).all()
    response = make_response(
        render_template(
            "safeguarding/participant.html",
            p=participant,
            groups=groups,
            needs_assent=consent.needs_assent(s, participant),
            textable=consent.textable_reason(s, participant, kind="invitation"),
            revealed=revealed,
            can_reveal=current_user.role in REVEAL,
        )
    )
    # A page that may show a whole number must not be kept by the browser or a proxy.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/participants/<pseudonym>")
@roles_required(*LEADS)
def participant(pseudonym: str) -> ResponseReturnValue:
    return _participant_page(_participant_or_404(pseudonym))


@bp.post("/participants/<pseudonym>/reveal")
@roles_required(*REVEAL)
def reveal(pseudonym: str) -> ResponseReturnValue:
    reason = (request.form.get("reason") or "").strip()
    if not reason:
        flash("Say why you need the whole number; the reason is kept in the audit log.")
        return redirect(url_for("safeguarding.participant", pseudonym=pseudonym))
    with request_transaction() as s:
        p = _participant_or_404(pseudonym)
        if p.phone_ciphertext is None:
            flash("This participant's number has been erased.")
            return redirect(url_for("safeguarding.participant", pseudonym=p.pseudonym))
        number = runtime().vault.decrypt(p.phone_ciphertext)
        # The reason is typed just after seeing the number: it must not keep a copy of it.
        audit.record(
            s,
            current_user.email,
            "participant.reveal_number",
            p.pseudonym,
            reason=redact(reason)[:500],
        )
    return _participant_page(p, revealed=number)


@bp.post("/participants/<pseudonym>/assent")
@roles_required(*LEADS)
def record_assent(pseudonym: str) -> ResponseReturnValue:
    with request_transaction() as s:
        p = _participant_or_404(pseudonym)
        added = consent.record_assent(
            s, p, method=consent.ASSENT_IN_PERSON, actor=current_user.email
        )
    flash("Assent recorded (in person)." if added else "Assent was already recorded.")
    return redirect(url_for("safeguarding.participant", pseudonym=pseudonym))


@bp.post("/participants/<pseudonym>/withdraw")
@roles_required(*ERASE)
def withdraw(pseudonym: str) -> ResponseReturnValue:
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm: withdrawal erases personal data and cannot be undone.")
        return redirect(url_for("safeguarding.participant", pseudonym=pseudonym))
    with request_transaction() as s:
        p = _participant_or_404(pseudonym)
        result = withdrawal.withdraw(runtime(), s, p, via="button", actor=current_user.email)
    flash(
        f"Withdrawn: number and nickname erased; "
        f"{result.answers_kept} answers kept anonymised, {result.answers_erased} erased; "
        f"confirmation text {result.confirmation_status or 'not sent'}."
    )
    return redirect(url_for("safeguarding.participant", pseudonym=result.pseudonym))

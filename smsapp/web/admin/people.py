"""Groups and participants: list and search, add and edit, consent, CSV import with its report.

Staff see masked numbers only; simulated participants (the pretend phones) are never listed.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.db import utcnow
from smsapp.models import Group, GroupMembership, Participant
from smsapp.privacy.phones import PhoneNumberError, normalise_phone
from smsapp.services import audit
from smsapp.services.people import consent, withdrawal
from smsapp.services.people import participants as people
from smsapp.services.people.groups import GroupError, create_group
from smsapp.services.people.participant_import import ImportFileError, import_participants
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.admin import PEOPLE, bp
from smsapp.web.auth import roles_required
from smsapp.web.lookups import group_or_404
from smsapp.web.safeguarding import ERASE

PAGE_SIZE = 200


def _participant_or_404(pid: int) -> Participant:
    participant = db_session().get(Participant, pid)
    if participant is None or participant.simulated:
        abort(404)
    return participant


def _search(query: str, group: Group | None) -> list[Participant]:
    stmt = sa.select(Participant).where(Participant.simulated.is_(False))
    if group is not None:
        stmt = stmt.join(GroupMembership, GroupMembership.participant_id == Participant.id).where(
            GroupMembership.group_id == group.id
        )
    query = query.strip()
    if query:
        stmt = stmt.where(
            sa.or_(
                Participant.pseudonym.icontains(query, autoescape=True),
                Participant.nickname.icontains(query, autoescape=True),
            )
        )
    return list(db_session().scalars(stmt.order_by(Participant.pseudonym).limit(PAGE_SIZE)))


@bp.get("/groups")
@roles_required(*PEOPLE)
def groups() -> ResponseReturnValue:
    rows = db_session().scalars(sa.select(Group).order_by(Group.name)).all()
    return render_template("admin/groups.html", groups=rows, errors={}, values={})


@bp.post("/groups")
@roles_required(*PEOPLE)
def group_create() -> ResponseReturnValue:
    slug = (request.form.get("slug") or "").strip()
    name = (request.form.get("name") or "").strip()
    try:
        with request_transaction() as s:
            create_group(s, slug, name, actor=current_user.email)
    except GroupError as exc:
        rows = db_session().scalars(sa.select(Group).order_by(Group.name)).all()
        values = {"slug": slug, "name": name}
        return render_template(
            "admin/groups.html", groups=rows, errors={"slug": str(exc)}, values=values
        ), 422
    flash(f"Group {slug} created.")
    return redirect(url_for("admin.group_detail", slug=slug))


@bp.get("/groups/<slug>")
@roles_required(*PEOPLE)
def group_detail(slug: str) -> ResponseReturnValue:
    group = group_or_404(slug)
    query = request.args.get("q", "")
    return render_template(
        "admin/group.html", group=group, participants=_search(query, group), query=query
    )


@bp.get("/participants")
@roles_required(*PEOPLE)
def participants() -> ResponseReturnValue:
    query = request.args.get("q", "")
    return render_template(
        "admin/participants.html", participants=_search(query, None), query=query
    )


@bp.route("/groups/<slug>/import", methods=["GET", "POST"])
@roles_required(*PEOPLE)
def group_import(slug: str) -> ResponseReturnValue:
    group = group_or_404(slug)
    report = None
    error = None
    status = 200
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            error, status = "Choose a CSV file to import.", 422
        else:
            try:
                with request_transaction() as s:
                    report = import_participants(
                        s,
                        runtime().vault,
                        group,
                        upload.read(),
                        actor=current_user.email,
                        zone=runtime().settings.timezone,
                    )
            except ImportFileError as exc:
                error, status = str(exc), 422
    return render_template("admin/import.html", group=group, report=report, error=error), status


def _apply_consent(participant: Participant, errors: dict[str, str]) -> None:
    """Record the consent part of the form, unless it was left blank; errors by field."""
    by = (request.form.get("consent_by") or "").strip()
    day_text = (request.form.get("consent_date") or "").strip()
    method = (request.form.get("consent_method") or "").strip()
    if not (by or method):  # the date alone is prefilled with today
        return
    try:
        day = date.fromisoformat(day_text) if day_text else None
    except ValueError:
        errors["consent_date"] = "write the date as YYYY-MM-DD"
        return
    try:
        consent.record_consent(
            db_session(),
            participant,
            given_by=by,
            method=method,
            actor=current_user.email,
            at=consent.consent_time(day, utcnow(), runtime().settings.timezone),
        )
    except consent.ConsentError as exc:
        errors[exc.field] = str(exc)


def _details(participant: Participant, errors: dict[str, str]) -> None:
    for name in ("nickname", "age_band", "language"):
        value = (request.form.get(name) or "").strip()
        limit = people.column_length(name)
        if len(value) > limit:  # PostgreSQL refuses longer text (a DataError, a 500)
            errors[name] = f"at most {limit} characters"
            continue
        setattr(participant, name, value or None)


@bp.route("/groups/<slug>/participants/new", methods=["GET", "POST"])
@roles_required(*PEOPLE)
def participant_new(slug: str) -> ResponseReturnValue:
    group = group_or_404(slug)
    errors: dict[str, str] = {}
    if request.method == "GET":
        return _participant_form(None, group, errors)
    s = db_session()
    try:
        e164 = normalise_phone(request.form.get("phone") or "").e164
    except PhoneNumberError as exc:
        errors["phone"] = str(exc)
        return _participant_form(None, group, errors, 422)
    participant = people.find_by_phone(s, runtime().vault, e164)
    if participant is not None:
        errors["phone"] = (
            f"this number is already {participant.pseudonym}; edit that participant instead"
        )
        return _participant_form(None, group, errors, 422)
    try:
        participant = people.new_participant(s, runtime().vault, e164)
        _details(participant, errors)
        s.flush()
        s.add(GroupMembership(group_id=group.id, participant_id=participant.id))
        _apply_consent(participant, errors)
        if errors:
            s.rollback()
            return _participant_form(None, group, errors, 422)
        audit.record(s, current_user.email, "participant.add", participant.pseudonym)
        s.commit()
    except BaseException:
        s.rollback()
        raise
    flash(f"Added {participant.pseudonym} to {group.name}.")
    return redirect(url_for("admin.group_detail", slug=group.slug))


@bp.route("/participants/<int:pid>", methods=["GET", "POST"])
@roles_required(*PEOPLE)
def participant_edit(pid: int) -> ResponseReturnValue:
    participant = _participant_or_404(pid)
    errors: dict[str, str] = {}
    if request.method == "GET":
        return _participant_form(participant, None, errors)
    s = db_session()
    try:
        _details(participant, errors)
        phone = (request.form.get("phone") or "").strip()
        if phone:
            try:
                e164 = normalise_phone(phone).e164
                people.change_phone(s, runtime().vault, participant, e164, current_user.email)
            except (PhoneNumberError, people.ParticipantError) as exc:
                errors["phone"] = str(exc)
        _apply_consent(participant, errors)
        if errors:
            s.rollback()
            return _participant_form(_participant_or_404(pid), None, errors, 422)
        audit.record(s, current_user.email, "participant.edit", participant.pseudonym)
        s.commit()
    except BaseException:
        s.rollback()
        raise
    flash(f"Saved {participant.pseudonym}.")
    return redirect(url_for("admin.participant_edit", pid=pid))


def _participant_form(
    participant: Participant | None, group: Group | None, errors: dict[str, str], status: int = 200
) -> ResponseReturnValue:
    groups: list[Group] = []
    if participant is not None:
        groups = list(
            db_session().scalars(
                sa.select(Group)
                .join(GroupMembership, GroupMembership.group_id == Group.id)
                .where(GroupMembership.participant_id == participant.id)
                .order_by(Group.name)
            )
        )
    return render_template(
        "admin/participant.html",
        participant=participant,
        group=group,
        groups=groups,
        errors=errors,
        values=request.form if request.method == "POST" else {},
        methods=consent.FORM_METHODS,
        today=utcnow().date().isoformat(),  # consent_time's today
    ), status


@bp.post("/participants/<int:pid>/withdraw")
@roles_required(*ERASE)
def participant_withdraw(pid: int) -> ResponseReturnValue:
    """The withdraw button: stop all texts and erase the number and nickname (not undoable)."""
    if request.form.get("confirm") != "yes":
        flash("Tick the box to confirm: withdrawal erases personal data and cannot be undone.")
        return redirect(url_for("admin.participant_edit", pid=pid))
    with request_transaction() as s:
        participant = _participant_or_404(pid)
        result = withdrawal.withdraw(
            runtime(), s, participant, via="button", actor=current_user.email
        )
    flash(
        f"Withdrawn {result.pseudonym}: number and nickname erased; "
        f"{result.answers_kept} answer(s) kept anonymised, {result.answers_erased} erased."
    )
    return redirect(url_for("admin.participants"))

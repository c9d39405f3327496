"""Staff accounts (admins only): list, add, deactivate or reactivate, reset a password."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import ROLES, StaffUser
from smsapp.services.people import staff
from smsapp.web import db_session, request_transaction
from smsapp.web.admin import ADMINS, bp
from smsapp.web.auth import roles_required


def _page(
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    new_password: tuple[str, str] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    return render_template(
        "admin/users.html",
        users=staff.list_users(db_session()),
        roles=ROLES,
        errors=errors or {},
        values=values or {},
        new_password=new_password,
        min_password=staff.MIN_PASSWORD,
    ), status


def _user_or_404(uid: int) -> StaffUser:
    user = db_session().get(StaffUser, uid)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@roles_required(*ADMINS)
def users() -> ResponseReturnValue:
    return _page()


@bp.post("/users")
@roles_required(*ADMINS)
def user_create() -> ResponseReturnValue:
    values = {k: (request.form.get(k) or "") for k in ("email", "role")}
    try:
        with request_transaction() as s:
            user = staff.create_user(
                s,
                values["email"],
                request.form.get("password") or "",
                values["role"],
                actor=current_user.email,
            )
    except staff.StaffError as exc:
        text = str(exc)
        name = "password" if "password" in text else "role" if "role" in text else "email"
        return _page({name: text}, values, status=422)
    flash(f"Added {user.email} ({user.role}).")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:uid>/active")
@roles_required(*ADMINS)
def user_active(uid: int) -> ResponseReturnValue:
    user = _user_or_404(uid)
    try:
        with request_transaction() as s:
            if request.form.get("active") == "1":
                staff.reactivate_user(s, user, current_user)
                flash(f"{user.email} can log in again.")
            else:
                staff.deactivate_user(s, user, current_user)
                flash(f"{user.email} can no longer log in.")
    except staff.StaffError as exc:
        flash(str(exc))
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:uid>/password")
@roles_required(*ADMINS)
def user_password(uid: int) -> ResponseReturnValue:
    user = _user_or_404(uid)
    with request_transaction() as s:
        password = staff.reset_password(s, user, current_user)
    # Shown once on this page, never put in the session cookie or a URL.
    return _page(new_password=(user.email, password))

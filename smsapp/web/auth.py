"""Staff log-in: hashed passwords, throttling after repeated failures, role checks."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, current_user, login_required, login_user, logout_user

from smsapp.services.people import staff
from smsapp.web import db_session, request_transaction

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."


@login_manager.user_loader
def _load_user(token: str) -> Any:
    # "id:version" (StaffUser.get_id): a cookie made before the account's sessions were ended
    # (logout, password reset, deactivation) names an old version and is refused.
    user_id, _, version = token.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    return staff.session_user(db_session(), int(user_id), int(version))


def may(endpoint: str) -> bool:
    """Whether the current user may use this endpoint, by the roles its view names.

    Templates show a button only when `may` says its route would accept the press, so the
    route's roles_required is the one rule for both.
    """
    roles: tuple[str, ...] = getattr(current_app.view_functions.get(endpoint), "allowed_roles", ())
    return current_user.is_authenticated and current_user.role in roles


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.jinja_env.globals["may"] = may


def roles_required(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Only these roles may use the view; admins are not implicitly allowed."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        @login_required
        def checked(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        checked.allowed_roles = roles  # type: ignore[attr-defined]  # read by the role-matrix test
        return checked

    return decorate


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this site, or else the dashboard.

    Browsers drop tabs and newlines inside a URL and read a backslash as a slash, so a "/",
    a tab and "/evil.example" (`next=/%09/evil.example`), or "/" and a backslash, leave the
    site although urllib sees a path: anything but printable ASCII without a backslash is
    refused first. What is left must resolve, against this site, to this site.
    """
    dashboard = url_for("admin.dashboard")
    if not target or "\\" in target or not all("!" <= ch <= "~" for ch in target):
        return dashboard
    here = urlsplit(request.host_url)
    there = urlsplit(urljoin(request.host_url, target))
    if (there.scheme, there.netloc) != (here.scheme, here.netloc) or not target.startswith("/"):
        return dashboard
    return urlunsplit(("", "", there.path, there.query, there.fragment))


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated:
        return redirect(url_for("admin.dashboard"))
    error = None
    status = 200
    if request.method == "POST":
        email = (request.form.get("email") or "").strip().lower()
        password = request.form.get("password") or ""
        with request_transaction() as s:
            # The client address counts guesses per source: request.remote_addr, which is the
            # real client only once a reverse proxy's forwarding headers are trusted.
            result = staff.check_login(s, email, password, request.remote_addr or "unknown")
        if result.user is not None:
            session.permanent = True
            login_user(result.user)
            return redirect(_safe_next(request.args.get("next")))
        error = result.message
        status = 429 if result.locked else 401
    return render_template("login.html", error=error), status


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    # Ends every session of the account, not only this browser's: with signed-cookie sessions
    # that is the only way a copied cookie stops working too (docs/operations.md).
    with request_transaction() as s:
        staff.log_out(s, current_user._get_current_object())
    logout_user()
    flash("You have logged out, here and on every other device.")
    return redirect(url_for("auth.login"))

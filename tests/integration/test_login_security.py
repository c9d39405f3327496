"""Log-in hardening: a copied session cookie dies at logout, password reset and deactivation,
and `next` never leads off the site."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from smsapp.models import StaffUser
from smsapp.services import staff

PASSWORD = "correct horse battery"
LEAD = "lead@example.org"


def _user(runtime: Any, email: str = LEAD, role: str = "safeguarding") -> None:
    with runtime.db.transaction() as s:
        staff.create_user(s, email, PASSWORD, role)


def _token(client: FlaskClient, path: str, address: str = "127.0.0.1") -> str:
    page = client.get(path, environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


class Browser:
    """One person's browser, at one client address."""

    def __init__(self, app: Flask, address: str) -> None:
        self.client = app.test_client()
        self.address = address

    def login(self, email: str, password: str, query: str = "") -> Any:
        token = _token(self.client, "/login", self.address)
        return self.client.post(
            "/login" + query,
            data={"email": email, "password": password, "csrf_token": token},
            environ_base={"REMOTE_ADDR": self.address},
        )

    def get(self, path: str) -> Any:
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.address})


# ---------------------------------------------------------------------------------------------
# Sessions end


def _logged_in(app: Flask, runtime: Any, email: str, role: str) -> tuple[FlaskClient, FlaskClient]:
    """A logged-in browser, and a second one holding a copy of its session cookie."""
    _user(runtime, email, role)
    owner = Browser(app, "198.51.100.70")
    assert owner.login(email, PASSWORD).status_code == 302
    cookie = owner.client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/admin/").status_code == 200
    return owner.client, thief


def _refused(client: FlaskClient) -> bool:
    response = client.get("/admin/")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_copied_cookie_dies_at_logout(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    bye = owner.post("/logout", data={"csrf_token": _token(owner, "/admin/")})
    assert bye.status_code == 302
    assert _refused(thief) and _refused(owner)


def test_a_password_reset_ends_every_session_of_the_account(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    admin = Browser(app, "198.51.100.71")
    _user(runtime, "admin@example.org", "admin")
    admin.login("admin@example.org", PASSWORD)
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    token = _token(admin.client, "/admin/users")
    reset = admin.client.post(f"/admin/users/{uid}/password", data={"csrf_token": token})
    assert reset.status_code == 200
    assert _refused(thief) and _refused(owner)
    assert admin.get("/admin/users").status_code == 200  # the admin's own session goes on


def test_deactivation_ends_sessions_for_good(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    admin = Browser(app, "198.51.100.72")
    _user(runtime, "admin@example.org", "admin")
    admin.login("admin@example.org", PASSWORD)
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    token = _token(admin.client, "/admin/users")
    for active in ("0", "1"):  # switched off, then on again: the old cookies stay dead
        admin.client.post(
            f"/admin/users/{uid}/active", data={"csrf_token": token, "active": active}
        )
    assert _refused(thief) and _refused(owner)


def test_a_cookie_from_before_session_versions_is_refused(app, runtime) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    old = app.test_client()
    with old.session_transaction() as session:
        session["_user_id"] = str(uid)  # what a cookie held before the version was added
        session["_fresh"] = True
    assert _refused(old)


# ---------------------------------------------------------------------------------------------
# Where the log-in page sends you


OFF_SITE = [
    "/%09/evil.example",  # a tab, once decoded: browsers drop it and go to //evil.example
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "//evil",
    "http://evil",
    "https://evil.example/admin/",
    "/%09evil",
    "/admin/%0A/evil",  # a newline in Location used to be a 500
    "/%0D%0ASet-Cookie:%20x=1",
    "javascript:alert(1)",
    "%20//evil.example",
    "/%E2%80%8B/evil.example",
]


@pytest.mark.parametrize("raw", OFF_SITE)
def test_next_never_leaves_the_site(app, runtime, raw: str) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    response = Browser(app, "198.51.100.80").login("fac@example.org", PASSWORD, "?next=" + raw)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", ["/admin/polls?x=1", "/admin/participants?q=Sam#list"])
def test_next_within_the_site_is_kept(app, runtime, target: str) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    query = "?next=" + quote(target, safe="")
    response = Browser(app, "198.51.100.81").login("fac@example.org", PASSWORD, query)
    assert response.status_code == 302 and response.headers["Location"] == target

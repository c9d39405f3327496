"""Log-in, CSRF, throttling, the dashboard and masked numbers."""

from __future__ import annotations

import re

import pytest

from smsapp.services.people.staff import create_user
from tests.support.factories import make_participant

PASSWORD = "correct horse battery"


def _user(runtime, email: str = "fac@example.org", role: str = "facilitator") -> None:
    with runtime.db.transaction() as s:
        create_user(s, email, PASSWORD, role)


def _csrf(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def login(client, email: str = "fac@example.org", password: str = PASSWORD):
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": _csrf(client)}
    )


def test_login_page_is_served(client) -> None:
    page = client.get("/login")
    assert page.status_code == 200 and b"Log in" in page.data
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def test_admin_needs_login(client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_shows_groups_and_masked_numbers(runtime, client) -> None:
    _user(runtime)
    make_participant(runtime, "07911 123456", nickname="Sam")
    make_participant(runtime, "07911 123457", consent=False)
    response = login(client)
    assert response.status_code == 302
    dash = client.get("/admin/").get_data(as_text=True)
    assert "Oakfield" in dash
    assert re.search(r"<td>2</td>\s*<td>1</td>", dash), dash  # two members, one textable
    group = client.get("/admin/groups/oakfield").get_data(as_text=True)
    assert "+44 7••• •••456" in group and "7911123456" not in group and "Sam" in group


def test_login_without_csrf_token_is_refused(runtime, client) -> None:
    _user(runtime)
    response = client.post("/login", data={"email": "fac@example.org", "password": PASSWORD})
    assert response.status_code == 400


def test_wrong_password_then_throttled(runtime, client) -> None:
    _user(runtime)
    for _ in range(4):
        assert login(client, password="wrong password!").status_code == 401
    locked = login(client, password="wrong password!")
    assert locked.status_code == 429 and b"Too many failed attempts" in locked.data
    assert login(client).status_code == 429  # even the right password waits


def test_logout(runtime, client) -> None:
    _user(runtime)
    login(client)
    token = _csrf(client, "/admin/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("role", ["researcher", "safeguarding"])
def test_roles_without_people_access_cannot_see_participants(runtime, client, role) -> None:
    _user(runtime, f"{role}@example.org", role)
    make_participant(runtime, "07911 123456")
    login(client, f"{role}@example.org")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/groups/oakfield").status_code == 403


def test_open_redirect_is_refused(runtime, client) -> None:
    _user(runtime)
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "fac@example.org", "password": PASSWORD, "csrf_token": _csrf(client)},
    )
    assert response.headers["Location"].endswith("/admin/")


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"database": "ok", "queue": "ok"}


def test_healthz_names_a_down_queue(runtime, client) -> None:
    runtime.settings = runtime.settings.with_overrides(
        queue_mode="redis", redis_url="redis://127.0.0.1:1/0"
    )
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["database"] == "ok" and body["queue"].startswith("down")

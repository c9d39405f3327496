"""Log-in hardening: `next` never leads off the site."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

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

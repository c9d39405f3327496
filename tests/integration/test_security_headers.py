"""Hardening, checked on every page the app serves: CSP without inline script, no framing,
no sniffing, HSTS over HTTPS only; session cookies HttpOnly and SameSite; inbound texts capped
at Twilio's 1,600 characters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from smsapp import create_app
from smsapp.models import InboundMessage, SafeguardingFlag
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll
from tests.conftest import Phone
from tests.support.factories import make_participant

DATA = Path(__file__).parent.parent / "data"
PASSWORD = "correct horse battery"
ROLES = ("admin", "facilitator", "researcher", "safeguarding")


def _login(client, runtime, role: str):
    with runtime.db.transaction() as s:
        create_user(s, f"{role}@example.org", PASSWORD, role)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return client.post(
        "/login",
        data={"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
    )


def _every_get_url(app: Flask, values: dict[str, str]) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        args = {name: values.get(name, "1") for name in rule.arguments}
        built = rule.build(args, append_unknown=False)
        assert built is not None, rule.rule
        urls.append(built[1])
    return sorted(set(urls))


def _check_headers(response, url: str, *, https: bool) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, url
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, url
    assert "default-src 'self'" in csp, url
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    hsts = response.headers.get("Strict-Transport-Security")
    assert (hsts is not None and "max-age=" in hsts) if https else hsts is None, url


def _check_no_inline_code(html: str, url: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert "src=" in tag, f"inline script on {url}"
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), f"inline event handler on {url}"
    assert not re.search(r"\sstyle\s*=", html, re.I), f"inline style on {url}"


@pytest.fixture
def world(runtime, monkeypatch):
    # A GET that starts a background export would run it on a thread sharing the test's one
    # connection; the page itself (and its headers) is what is checked here, not the job.
    monkeypatch.setattr("smsapp.web.downloads.start_job", lambda *a, **k: None, raising=False)
    p = make_participant(runtime, "+447911123456", nickname="Sam")
    with runtime.db.transaction() as s:
        s.add(InboundMessage(message_sid="SM" + "1" * 32, participant_id=p.id, body="hi"))
        s.flush()
        inbound = s.scalar(sa.select(InboundMessage))
        assert inbound is not None
        s.add(
            SafeguardingFlag(
                inbound_message_id=inbound.id, participant_id=p.id, due_at=inbound.received_at
            )
        )
        # A poll with the group's slug, so every page taking a slug shows real content.
        source = (
            (DATA / "every_kind.yaml").read_text().replace("slug: every-kind", "slug: oakfield")
        )
        import_poll(s, source)
    return {
        "slug": "oakfield",
        "pseudonym": p.pseudonym,
        "filename": "app.css",
        "kind": "responses",
    }


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_page_has_the_security_headers(app, runtime, world, role) -> None:
    client = app.test_client()
    if role:
        _login(client, runtime, role)
    urls = _every_get_url(app, world)
    assert "/admin/safeguarding/" in urls and "/login" in urls and "/healthz" in urls
    for url in urls:
        for https in (False, True):
            base = "https://localhost" if https else "http://localhost"
            response = client.get(url, base_url=base)
            assert response.status_code < 500, (url, response.status_code)
            _check_headers(response, url, https=https)
            if response.mimetype == "text/html":
                _check_no_inline_code(response.get_data(as_text=True), url)
            response.close()  # static files are streamed from an open file


def test_webhook_and_form_posts_carry_the_headers_too(app, runtime, client) -> None:
    refused = client.post("/sms/inbound", data={"From": "+447911123456", "Body": "hi"})
    assert refused.status_code == 403
    _check_headers(refused, "/sms/inbound", https=False)
    answered = Phone(client, "+447911123999").send("hello")
    _check_headers(answered, "/sms/inbound", https=False)
    login = client.post("/login", data={"email": "x@example.org", "password": "nope"})
    _check_headers(login, "/login", https=False)


def test_session_cookie_is_httponly_and_samesite(runtime, client) -> None:
    response = _login(client, runtime, "admin")
    assert response.status_code == 302
    cookies = response.headers.getlist("Set-Cookie")
    session = [c for c in cookies if c.startswith("session=")]
    assert session, cookies
    assert "HttpOnly" in session[0] and "SameSite=Lax" in session[0]
    assert "Secure" not in session[0]  # plain HTTP in development


def test_session_cookie_is_secure_when_served_over_https(runtime, tmp_path: Path) -> None:
    object.__setattr__(runtime, "settings", runtime.settings.with_overrides(secure_cookies=True))
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    client = app.test_client()
    response = _login(client, runtime, "admin")
    session = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert session and "Secure" in session[0] and "HttpOnly" in session[0]


def test_an_inbound_text_is_capped_at_1600_characters(runtime, client) -> None:
    make_participant(runtime, "+447911123456")
    Phone(client, "+447911123456").replies("x" * 5000)
    with runtime.db.transaction() as s:
        body = s.scalar(sa.select(InboundMessage.body))
    assert body == "x" * 1600

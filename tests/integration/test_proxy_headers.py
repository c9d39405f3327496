"""Behind a TLS-terminating proxy: with SMSAPP_TRUSTED_PROXIES=1 the proxy's X-Forwarded-Proto
and X-Forwarded-For are believed (HSTS, Secure cookies, the https URL Twilio signed, the client's
address); with the default 0 anyone could send those headers, so they are ignored."""

from __future__ import annotations

import pytest
from flask import request

from smsapp import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.support.signing import signed_headers

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}


@pytest.fixture
def make_client(runtime, tmp_path):
    def make(hops: int):
        runtime.settings = runtime.settings.with_overrides(trusted_proxies=hops)
        app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
        app.add_url_rule("/test-remote-addr", "remote_addr", lambda: request.remote_addr or "")
        return app.test_client()

    return make


@pytest.mark.parametrize("hops", [0, 1])
def test_forwarded_headers_count_only_from_a_trusted_proxy(make_client, hops: int) -> None:
    client = make_client(hops)
    trusted = hops == 1
    page = client.get("/login", headers=PROXIED)
    assert page.status_code == 200
    assert ("Strict-Transport-Security" in page.headers) is trusted
    cookie = page.headers.get("Set-Cookie", "")
    assert cookie.startswith("session=")
    assert ("; Secure" in cookie) is trusted

    # Twilio signs the https URL it called; the app sees plain http from the proxy.
    params = {"MessageSid": "SM" + "5" * 32, "AccountSid": ACCOUNT_SID, "From": "+447911123456"}
    signed = signed_headers("https://localhost/sms/inbound", params, AUTH_TOKEN)
    response = client.post("/sms/inbound", data=params, headers={**signed, **PROXIED})
    assert response.status_code == (200 if trusted else 403)

    address = client.get("/test-remote-addr", headers=PROXIED).get_data(as_text=True)
    assert address == ("203.0.113.9" if trusted else "127.0.0.1")


def test_a_direct_https_request_gets_a_secure_cookie_without_the_setting(make_client) -> None:
    client = make_client(0)
    page = client.get("/login", base_url="https://localhost")
    assert "Strict-Transport-Security" in page.headers
    assert "; Secure" in page.headers.get("Set-Cookie", "")


def test_the_hop_count_must_be_a_whole_number(tmp_path) -> None:
    from smsapp.config import load_settings

    env = {"SMSAPP_QUEUE": "embedded", "SMSAPP_TRUSTED_PROXIES": "yes"}
    with pytest.raises(ValueError, match="SMSAPP_TRUSTED_PROXIES"):
        load_settings(tmp_path, env)
    assert load_settings(tmp_path, {**env, "SMSAPP_TRUSTED_PROXIES": "2"}).trusted_proxies == 2
    assert load_settings(tmp_path, {"SMSAPP_QUEUE": "embedded"}).trusted_proxies == 0

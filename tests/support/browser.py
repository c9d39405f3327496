"""What every browser journey shares: the phone and desktop viewports, logging in as the
facilitator the live server seeds, a participant's text posted to the live server signed exactly
as Twilio signs it, and screenshots at both widths (a page that scrolls sideways on a phone fails).

The live server, browser page and `shoot` fixtures stay in tests/e2e/conftest.py; the journeys'
step functions are in tests/support/journeys/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.support.signing import signed_headers

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
FACILITATOR = "fac@example.org"
STAFF_PASSWORD = "correct horse battery"
SERVICE_NUMBER = "+447700900001"

Shoot = Callable[[Any, str], Path]


def log_in(page: Any, base_url: str, email: str = FACILITATOR) -> None:
    """Log in through the login form (from wherever /admin/ sends a stranger); a page already
    logged in stays as it is. Leaves the browser on the dashboard at desktop width."""
    page.set_viewport_size(DESKTOP)
    page.goto(base_url + "/admin/")
    if "/login" in page.url:
        page.get_by_label("E-mail").fill(email)
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/admin/$"))


def text_in(base_url: str, number: str, body: str) -> requests.Response:
    """A participant's text, posted to the live server's webhook with Twilio's signature
    (RequestValidator, the account's auth token) and a MessageSid of its own."""
    url = base_url + "/sms/inbound"
    params = {
        "MessageSid": f"SM{uuid.uuid4().hex}",
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "To": SERVICE_NUMBER,
        "Body": body,
        "NumSegments": "1",
    }
    response = requests.post(
        url, data=params, headers=signed_headers(url, params, AUTH_TOKEN), timeout=10
    )
    assert response.status_code == 200, response.text
    return response


def fits_a_phone(page: Any, name: str = "") -> None:
    """At phone width the page never scrolls sideways."""
    page.set_viewport_size(PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{name}: {width}px wide on a {PHONE['width']}px phone"


def both_widths(page: Any, shoot: Shoot, name: str) -> None:
    """Screenshots `<name>-desktop` and `<name>-phone`; on the phone nothing may scroll
    sideways. Leaves the page at desktop width."""
    page.set_viewport_size(DESKTOP)
    shoot(page, f"{name}-desktop")
    fits_a_phone(page, name)
    shoot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


class PageErrors:
    """Every uncaught script error and console error a page reports, from now on."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.on("pageerror", lambda exc: self.seen.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.seen.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

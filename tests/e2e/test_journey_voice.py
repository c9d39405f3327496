"""Young people set the agenda, in a real browser: questions arrive by (signed) text, one of
them a disclosure; the facilitator finds the queue from the group page, sees the held one as
"held" only, edits and approves the other, launches it from the usual preview, declines nothing
by accident, and makes a member a youth lead with consent, allows SEND, then revokes it.

Written as step functions (`step_<what>(page, base_url, shoot)`) so the lead can compose one
journey; each step starts logged in as a facilitator and leaves the browser where it finished.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.e2e.conftest import STAFF_PASSWORD, LiveServer
from tests.support.factories import make_participant
from tests.support.signing import signed_headers

pytestmark = pytest.mark.browser

PROPOSER = "+447911123701"
WORRIED = "+447911123702"
MEMBERS = [PROPOSER, WORRIED, "+447911123703", "+447911123704"]
QUESTION = "can we go to the science museum"
EDITED = "Should we go to the science museum in the summer?"
DISCLOSURE = "ASK why does my dad hit me"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _text_in(base_url: str, number: str, body: str) -> None:
    url = base_url + "/sms/inbound"
    params = {
        "MessageSid": "SM"
        + re.sub(r"\D", "", number)[-8:].rjust(8, "0")
        + f"{abs(hash(body)):024x}"[:24],
        "AccountSid": ACCOUNT_SID,
        "From": number,
        "To": "+447700900001",
        "Body": body,
        "NumSegments": "1",
    }
    response = requests.post(
        url, data=params, headers=signed_headers(url, params, AUTH_TOKEN), timeout=10
    )
    assert response.status_code == 200, response.text


def _both_widths(page: Any, shoot: Any, name: str) -> None:
    """Screenshots at phone and desktop widths; the page never scrolls sideways on a phone."""
    page.set_viewport_size(PHONE)
    shoot(page, f"voice-{name}-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.set_viewport_size(DESKTOP)
    shoot(page, f"voice-{name}-desktop")


def step_log_in(page: Any, base_url: str, shoot: Any) -> None:
    page.goto(base_url + "/admin/")
    page.get_by_label("E-mail").fill("fac@example.org")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def step_questions_arrive_by_text(page: Any, base_url: str, shoot: Any) -> None:
    _text_in(base_url, PROPOSER, f"ASK {QUESTION}")
    _text_in(base_url, WORRIED, DISCLOSURE)


def step_moderate_a_proposal(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/groups/oakfield")
    page.get_by_role("link", name="Young people's questions and youth leads").click()
    expect(page.get_by_role("heading", name=re.compile("Waiting for you \\(1\\)"))).to_be_visible()
    held = page.locator("#row-Q2")
    expect(held).to_contain_text("held")
    assert "dad" not in page.content()  # the words are for the safeguarding lead only
    _both_widths(page, shoot, "01-queue")

    page.get_by_label("Question (edit it if it needs it)").fill(EDITED)
    page.get_by_role("button", name="Approve and preview the launch").click()
    page.wait_for_url(re.compile(r"/admin/polls/oakfield-q1/launch$"))
    expect(page.locator("[data-recipients]")).to_have_text(str(len(MEMBERS)))
    expect(page.locator("pre.sms").first).to_contain_text("A group member's question")
    _both_widths(page, shoot, "02-launch-preview")
    page.get_by_label("I have checked the recipients").check()
    page.get_by_role("button", name=re.compile("Launch and send")).click()
    page.wait_for_url(re.compile(r"/admin/polls/oakfield-q1/status$"))

    page.goto(base_url + "/admin/groups/oakfield/proposals")
    expect(page.locator("#row-Q1")).to_contain_text("asked")
    expect(page.locator("#row-Q1")).to_contain_text("(edited)")
    expect(page.get_by_role("heading", name=re.compile("Waiting for you \\(0\\)"))).to_be_visible()
    _both_widths(page, shoot, "03-after-approval")


def step_appoint_and_revoke_a_youth_lead(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/groups/oakfield/proposals")
    page.get_by_label("Member", exact=True).select_option(index=0)
    page.get_by_label("Who agreed to the role").fill("Ali and Jo Smith (mother)")
    page.get_by_label("How", exact=True).select_option("paper form")
    page.get_by_role("button", name="Make youth lead").click()
    expect(page.locator(".flash")).to_contain_text("is now a youth lead")
    page.get_by_role("button", name=re.compile("^Allow SEND")).click()
    expect(page.get_by_text("allowed", exact=True)).to_be_visible()
    _both_widths(page, shoot, "04-youth-lead")
    page.get_by_role("button", name=re.compile("^Revoke")).click()
    expect(page.get_by_text(re.compile("^revoked"))).to_be_visible()


def test_young_people_set_the_agenda(
    live_server: LiveServer, browser_page: Any, shoot: Any
) -> None:
    for i, number in enumerate(MEMBERS):
        make_participant(live_server.runtime, number, nickname=f"Ali{i}")
    errors: list[str] = []
    browser_page.on("pageerror", lambda exc: errors.append(str(exc)))
    base = live_server.url
    step_log_in(browser_page, base, shoot)
    step_questions_arrive_by_text(browser_page, base, shoot)
    step_moderate_a_proposal(browser_page, base, shoot)
    step_appoint_and_revoke_a_youth_lead(browser_page, base, shoot)
    assert errors == []

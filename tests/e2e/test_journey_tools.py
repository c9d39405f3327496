"""The facilitators' tools in a real browser: a new poll from a template, scheduling its launch
(the clock launches it), live results that update while the page stays open, the result chart
as a PNG and the responses as an Excel workbook, and duplicating the poll into a new draft.

Each step is a plain function `step_<what>(page, base_url, shoot)`, so the lead can compose one
journey from every helper's steps; the test below runs them in order. Screenshots are taken at
phone (390x844) and desktop (1280x900) widths.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa

from smsapp.models import Poll
from smsapp.services.polls import scheduling
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN
from tests.e2e.conftest import STAFF_PASSWORD, LiveServer
from tests.support.factories import make_participant
from tests.support.signing import signed_headers

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SLUG = "our-priorities"
NUMBERS = ["+447911123461", "+447911123462", "+447911123463"]
# Tomorrow at 18:00 in London: ahead of now, and outside quiet hours.
LAUNCH_AT = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).replace(
    hour=18, minute=0, second=0, microsecond=0
)


def both_widths(page: Any, shoot: Any, name: str) -> None:
    """Screenshots at desktop and phone widths; on the phone nothing may scroll sideways."""
    page.set_viewport_size(DESKTOP)
    shoot(page, f"{name}-desktop")
    page.set_viewport_size(PHONE)
    shoot(page, f"{name}-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
    page.set_viewport_size(DESKTOP)


def text_in(base_url: str, number: str, body: str) -> None:
    """A participant's text, posted to the server exactly as Twilio would sign it."""
    url = base_url + "/sms/inbound"
    params = {
        "MessageSid": f"SM{time.time_ns():032x}",
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


def step_log_in(page: Any, base_url: str, shoot: Any) -> None:
    page.set_viewport_size(DESKTOP)
    page.goto(base_url + "/admin/")
    if "/login" in page.url:
        page.get_by_label("E-mail").fill("fac@example.org")
        page.get_by_label("Password").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/admin/$"))


def step_new_poll_from_template(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/polls")
    page.get_by_role("link", name="New poll from a template").click()
    expect(page.get_by_role("heading", name="How was today's session?")).to_be_visible()
    expect(page.get_by_role("heading", name="What should we work on this year?")).to_be_visible()
    both_widths(page, shoot, "tools-01-templates")
    page.get_by_role("link", name=re.compile(r"Use this template.*What should we work on")).click()
    expect(page.get_by_label("Title")).to_have_value("What should we work on this year?")
    page.get_by_label("Slug").fill(SLUG)
    page.get_by_label("Group").select_option("oakfield")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(rf"/admin/polls/{SLUG}/edit$"))
    expect(page.locator(".flash")).to_contain_text("Saved What should we work on this year?")


def step_schedule_launch(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/launch")
    field = page.get_by_label(re.compile(r"Launch at"))
    # A time already past is refused, and says why.
    field.fill("2020-01-01T10:00")
    page.get_by_role("button", name="Schedule the launch").click()
    expect(page.locator(".flash")).to_contain_text("already passed")
    field = page.get_by_label(re.compile(r"Launch at"))
    field.fill(f"{LAUNCH_AT:%Y-%m-%dT%H:%M}")
    page.get_by_role("button", name="Schedule the launch").click()
    expect(page.locator(".flash").first).to_contain_text(
        f"launches at {LAUNCH_AT:%a %d %b %Y 18:00}"
    )
    expect(page.locator("[data-scheduled]")).to_contain_text("The clock launches this poll at")
    expect(page.get_by_role("button", name="Cancel the scheduled launch")).to_be_visible()
    both_widths(page, shoot, "tools-02-scheduled")
    page.goto(base_url + "/admin/polls")
    row = page.locator("tr").filter(has_text=SLUG)
    expect(row).to_contain_text(f"launches {LAUNCH_AT:%a %d %b %Y} 18:00")
    both_widths(page, shoot, "tools-02-polls-scheduled")


def step_scheduled_poll_is_open(page: Any, base_url: str, shoot: Any) -> None:
    """After the clock's job has run at the scheduled time, the poll is open and texting."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/polls")
    row = page.locator("tr").filter(has_text=SLUG)
    expect(row).to_contain_text("open")
    expect(row).not_to_contain_text("scheduled")
    page.goto(base_url + f"/admin/polls/{SLUG}/status")
    expect(page.locator("#delivery-h + table")).to_contain_text("queued")


def step_live_results(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/results")
    expect(page.locator("#live-status")).to_contain_text("update by themselves")
    topics = page.locator("section.question-result").filter(has_text="Rank up to 3 topics")
    expect(topics).to_contain_text("answered by 0 of 3")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    text_in(base_url, NUMBERS[0], "B A C")
    text_in(base_url, NUMBERS[1], "B C")
    expect(topics).to_contain_text("answered by 2 of 3", timeout=15_000)
    expect(topics.locator("svg.chart")).to_contain_text("B Safe places to meet")
    expect(page.locator("#live-status")).to_contain_text("updated at")
    assert page.evaluate("window.__stillHere") is True  # updated in place, never reloaded
    both_widths(page, shoot, "tools-03-live-results")


def step_downloads(page: Any, base_url: str, shoot: Any) -> None:
    page.goto(base_url + f"/admin/polls/{SLUG}/results")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Download this chart as a picture")).first.click()
    png = Path(info.value.path()).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert info.value.suggested_filename == f"{SLUG}-topics.png"
    page.goto(base_url + f"/admin/polls/{SLUG}/exports")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Excel.*responses, long")).click()
    workbook = Path(info.value.path()).read_bytes()
    assert workbook.startswith(b"PK")  # a zip: an Office Open XML workbook
    assert info.value.suggested_filename.endswith(".xlsx")
    both_widths(page, shoot, "tools-04-exports")


def step_duplicate_poll(page: Any, base_url: str, shoot: Any) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/status")
    page.get_by_role("link", name="Duplicate into a new draft…").click()
    expect(page.get_by_label("Slug of the new poll")).to_have_value(f"{SLUG}-copy")
    both_widths(page, shoot, "tools-05-duplicate")
    page.get_by_label("Slug of the new poll").fill("priorities-autumn")
    page.get_by_role("button", name="Make the new draft").click()
    page.wait_for_url(re.compile(r"/admin/polls/priorities-autumn/edit$"))
    expect(page.locator(".flash").first).to_contain_text("Made a new draft, priorities-autumn")
    expect(page.get_by_label("Title")).to_have_value("What should we work on this year?")
    shoot(page, "tools-06-duplicated-draft")


def test_tools_journey(live_server: LiveServer, browser_page: Any, shoot: Any) -> None:
    page, base_url = browser_page, live_server.url
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    for i, number in enumerate(NUMBERS):
        make_participant(live_server.runtime, number, nickname=f"Kid{i}")

    step_log_in(page, base_url, shoot)
    step_new_poll_from_template(page, base_url, shoot)
    step_schedule_launch(page, base_url, shoot)
    # The clock's job at the scheduled time (the e2e server runs no clock process).
    with live_server.runtime.db.transaction() as s:
        due = s.scalar(sa.select(Poll.launch_at).where(Poll.slug == SLUG))
    assert due is not None
    outcome = scheduling.launch_due_polls(live_server.runtime, now=due + timedelta(seconds=5))
    assert outcome["launched"] == 1
    step_scheduled_poll_is_open(page, base_url, shoot)
    step_live_results(page, base_url, shoot)
    step_downloads(page, base_url, shoot)
    step_duplicate_poll(page, base_url, shoot)
    assert errors == []

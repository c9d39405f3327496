"""What facilitators expect from Mentimeter or TextIt: a new poll from a template, scheduling its
launch (the clock launches it), live results that update while the page stays open, the chart as
a PNG and the responses as an Excel workbook, and duplicating the poll into a new draft."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from smsapp.models import Poll
from smsapp.runtime import Runtime
from smsapp.services.polls import scheduling
from tests.support.browser import Shoot, both_widths, text_in
from tests.support.factories import make_participant

SLUG = "our-priorities"
COPY = "priorities-autumn"
NEWCOMERS = ["+447911123461", "+447911123462", "+447911123463"]
# Tomorrow at 18:00 in London: ahead of now, and outside quiet hours.
LAUNCH_AT = (datetime.now(ZoneInfo("Europe/London")) + timedelta(days=1)).replace(
    hour=18, minute=0, second=0, microsecond=0
)


def seed_newcomers(runtime: Runtime) -> None:
    """Three who join Oakfield (consent recorded) after the members' own question went out, so
    the priorities poll is the first they are asked and their texts answer it."""
    for i, number in enumerate(NEWCOMERS):
        make_participant(runtime, number, nickname=f"Kid{i}")


def step_new_poll_from_template(page: Any, base_url: str, shoot: Shoot) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/polls")
    page.get_by_role("link", name="New poll from a template").click()
    expect(page.get_by_role("heading", name="How was today's session?")).to_be_visible()
    expect(page.get_by_role("heading", name="What should we work on this year?")).to_be_visible()
    both_widths(page, shoot, "journey-05-templates")
    page.get_by_role("link", name=re.compile(r"Use this template.*What should we work on")).click()
    expect(page.get_by_label("Title")).to_have_value("What should we work on this year?")
    page.get_by_label("Slug").fill(SLUG)
    page.get_by_label("Group").select_option("oakfield")
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(rf"/admin/polls/{SLUG}/edit$"))
    expect(page.locator(".flash")).to_contain_text("Saved What should we work on this year?")


def step_schedule_launch(page: Any, base_url: str, shoot: Shoot, *, busy: int) -> None:
    """Schedule the launch for tomorrow evening; the preview says that `busy` members are in
    the middle of another poll and are asked when that one ends."""
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/launch")
    expect(page.locator("[data-recipients]").locator("xpath=..")).to_contain_text(
        f"{busy} are in another poll"
    )
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
    both_widths(page, shoot, "journey-06-scheduled")
    page.goto(base_url + "/admin/polls")
    row = page.locator("tr").filter(has_text=SLUG)
    expect(row).to_contain_text(f"launches {LAUNCH_AT:%a %d %b %Y} 18:00")
    both_widths(page, shoot, "journey-07-polls-scheduled")


def clock_launches_due_polls(runtime: Runtime) -> None:
    """The clock's job just after the scheduled time (the e2e server runs no clock process):
    it launches the scheduled poll, and only that one."""
    with runtime.db.transaction() as s:
        due = s.scalar(sa.select(Poll.launch_at).where(Poll.slug == SLUG))
    assert due is not None
    early = scheduling.launch_due_polls(runtime, now=due - timedelta(minutes=5))
    assert early["launched"] == 0  # not before its time
    outcome = scheduling.launch_due_polls(runtime, now=due + timedelta(seconds=5))
    assert outcome["launched"] == 1


def step_scheduled_poll_is_open(page: Any, base_url: str, shoot: Shoot) -> None:
    """After the clock's job has run at the scheduled time, the poll is open and texting."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/polls")
    row = page.locator("tr").filter(has_text=SLUG)
    expect(row).to_contain_text("open")
    expect(row).not_to_contain_text("scheduled")
    page.goto(base_url + f"/admin/polls/{SLUG}/status")
    expect(page.locator("#delivery-h + table")).to_contain_text("queued")


def step_live_results(page: Any, base_url: str, shoot: Shoot, *, asked: int) -> None:
    """Two newcomers answer by text while the results page stays open: it updates in place.
    `asked`: how many have been sent the poll's first question so far (a member still in the
    middle of another poll is asked once that one ends)."""
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/results")
    expect(page.locator("#live-status")).to_contain_text("update by themselves")
    topics = page.locator("section.question-result").filter(has_text="Rank up to 3 topics")
    expect(topics).to_contain_text(f"answered by 0 of {asked}")
    page.evaluate("window.__stillHere = true")  # gone if the page reloads
    text_in(base_url, NEWCOMERS[0], "B A C")
    text_in(base_url, NEWCOMERS[1], "B C")
    expect(topics).to_contain_text(f"answered by 2 of {asked}", timeout=15_000)
    expect(topics.locator("svg.chart")).to_contain_text("B Safe places to meet")
    expect(page.locator("#live-status")).to_contain_text("updated at")
    assert page.evaluate("window.__stillHere") is True  # updated in place, never reloaded
    both_widths(page, shoot, "journey-08-live-results")


def step_downloads(page: Any, base_url: str, shoot: Shoot) -> None:
    page.goto(base_url + f"/admin/polls/{SLUG}/results")
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Download this chart as a picture")).first.click()
    png = Path(info.value.path()).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert info.value.suggested_filename == f"{SLUG}-topics.png"
    page.goto(base_url + f"/admin/polls/{SLUG}/exports")
    # No large export has run for this poll, so there is no empty "recent" card either.
    assert page.get_by_role("heading", name="Recent large exports").count() == 0
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"Excel.*responses, long")).click()
    workbook = Path(info.value.path()).read_bytes()
    assert workbook.startswith(b"PK")  # a zip: an Office Open XML workbook
    assert info.value.suggested_filename.endswith(".xlsx")
    both_widths(page, shoot, "journey-09-exports")


def step_duplicate_poll(page: Any, base_url: str, shoot: Shoot) -> None:
    from playwright.sync_api import expect

    page.goto(base_url + f"/admin/polls/{SLUG}/status")
    page.get_by_role("link", name="Duplicate into a new draft…").click()
    expect(page.get_by_label("Slug of the new poll")).to_have_value(f"{SLUG}-copy")
    both_widths(page, shoot, "journey-10-duplicate")
    page.get_by_label("Slug of the new poll").fill(COPY)
    page.get_by_role("button", name="Make the new draft").click()
    page.wait_for_url(re.compile(rf"/admin/polls/{COPY}/edit$"))
    expect(page.locator(".flash").first).to_contain_text(f"Made a new draft, {COPY}")
    expect(page.get_by_label("Title")).to_have_value("What should we work on this year?")
    both_widths(page, shoot, "journey-11-duplicated-draft")

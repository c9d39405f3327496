"""The main journeys in a real browser: log in, build a poll with three kinds of question in
the builder (form and YAML in step, live preview), try it on the simulator's pretend phone, then
launch it for real (outbox backend), answer by signed webhook, read the results and their charts,
and download a CSV.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp import queue
from smsapp.models import OutboundMessage, OutboundStatus
from smsapp.services.outbox.sending import send_due
from tests.e2e.conftest import LiveServer
from tests.support.browser import DESKTOP, PHONE, fits_a_phone, log_in, text_in
from tests.support.factories import make_participant

pytestmark = pytest.mark.browser


def _question(page: Any, n: int) -> Any:
    return page.locator("[data-question]").nth(n)


def test_build_a_poll_and_try_it_in_the_simulator(
    live_server: LiveServer, browser_page: Any, shoot: Any
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    started = time.monotonic()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(live_server.url + "/admin/")
    assert "/login" in page.url  # a stranger is sent to the login form
    log_in(page, live_server.url)
    shoot(page, "01-dashboard")

    page.get_by_role("link", name="Build a poll").click()
    page.get_by_label("Title").fill("Lunch club")
    page.get_by_label("Slug").fill("lunch-club")
    page.get_by_label("Group").select_option("oakfield")
    page.get_by_label("Introduction (optional)").fill("Hi {nickname}! Help plan lunch club 🍕")

    first = _question(page, 0)
    first.get_by_label("Key").fill("food")
    first.get_by_label("Kind").select_option("choice")
    first.get_by_label("Question text").fill("What should we eat?")
    first.get_by_label("Options, one per line").fill("Pizza\nPasta\nSalad")

    page.get_by_role("button", name="Add question").click()
    second = _question(page, 1)
    second.get_by_label("Key").fill("hungry")
    second.get_by_label("Kind").select_option("scale")
    second.get_by_label("Question text").fill("How hungry are you, 1 to 5?")
    expect(second.get_by_label("Max")).to_be_visible()  # the scale's own fields appear
    expect(second.get_by_label("Options, one per line")).to_be_hidden()
    second.get_by_label("Max").fill("5")

    page.get_by_role("button", name="Add question").click()
    third = _question(page, 2)
    third.get_by_label("Key").fill("again")
    third.get_by_label("Kind").select_option("yesno")
    third.get_by_label("Question text").fill("Come again next week?")

    # A mistake is shown next to its field while typing, then goes away when fixed.
    second.get_by_label("Max").fill("1")
    expect(second.locator("[data-errors-for='q-1-max']")).to_contain_text("must be more than")
    second.get_by_label("Max").fill("5")
    expect(second.locator("[data-errors-for='q-1-max']")).to_be_empty()

    # The live preview: every text, its segments, UCS-2 because of the emoji, and the cost.
    previews = page.locator("#previews")
    expect(previews).to_contain_text("Hi Sam! Help plan lunch club 🍕")
    expect(previews).to_contain_text("UCS-2")
    expect(previews).to_contain_text("U+1F355")  # the pizza emoji, named
    expect(previews).to_contain_text("Per recipient who answers everything")
    expect(previews).to_contain_text("Come again next week?")

    # The YAML view follows the form, and the form follows the YAML.
    page.get_by_text("YAML view").click()
    yaml_box = page.locator("#yaml")
    expect(yaml_box).to_have_value(re.compile(r"kind: scale"))
    expect(yaml_box).to_have_value(re.compile(r"- Pasta"))
    yaml_box.fill(yaml_box.input_value().replace("title: Lunch club", "title: Lunch club 2027"))
    expect(page.get_by_label("Title")).to_have_value("Lunch club 2027")
    expect(_question(page, 2).get_by_label("Key")).to_have_value("again")
    shoot(page, "02-builder")

    # Reorder with the buttons: the yes/no question moves up and back down.
    _question(page, 2).get_by_role("button", name=re.compile("Move up")).click()
    expect(_question(page, 1).get_by_label("Key")).to_have_value("again")
    _question(page, 1).get_by_role("button", name=re.compile("Move down")).click()
    expect(_question(page, 2).get_by_label("Key")).to_have_value("again")

    page.get_by_role("button", name="Save draft").click()
    page.wait_for_url(re.compile(r"/admin/polls/lunch-club/edit$"))
    expect(page.locator(".flash")).to_contain_text("Saved Lunch club 2027")
    expect(_question(page, 1).get_by_label("Max")).to_have_value("5")

    # On a phone-sized screen the builder is one readable column.
    page.set_viewport_size(PHONE)
    shoot(page, "03-builder-phone")
    fits_a_phone(page)
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="Try it in the simulator").click()
    expect(page.get_by_label("Poll to try")).to_have_value("lunch-club")
    page.get_by_role("button", name="Start / restart this poll").click()
    chat = page.locator("#chat")
    expect(chat).to_contain_text("What should we eat?")
    expect(chat).to_contain_text("A) Pizza")

    box = page.get_by_label("Type a text")
    box.fill("<script>window.hacked=1</script><b>B</b>")
    box.press("Enter")
    expect(chat).to_contain_text("<script>window.hacked=1</script><b>B</b>")  # shown as text
    assert page.evaluate("window.hacked") is None
    box.fill("pasta")
    box.press("Enter")
    expect(chat).to_contain_text("How hungry are you, 1 to 5?")
    box.fill("4")
    box.press("Enter")
    expect(chat).to_contain_text("Come again next week?")
    box.fill("yes")
    box.press("Enter")
    expect(chat).to_contain_text("Thanks, that's everything!")
    expect(page.locator("#outbox")).to_contain_text("twiml")
    shoot(page, "04-simulator")

    page.set_viewport_size(PHONE)
    page.reload()
    expect(chat).to_contain_text("Come again next week?")  # the history survives a reload
    shoot(page, "05-simulator-phone")
    fits_a_phone(page)

    assert errors == []  # no script errors, no CSP violations
    assert time.monotonic() - started < 45

    _launch_answer_and_read_results(page, live_server, shoot, errors)


XSS = "<script>alert(1)</script><b>x</b>"


def _launch_answer_and_read_results(
    page: Any, server: LiveServer, shoot: Any, errors: list[str]
) -> None:
    from playwright.sync_api import expect

    started = time.monotonic()

    def dialog_opened(dialog: Any) -> None:  # an alert() would mean a reply ran as script
        errors.append("dialog: " + dialog.message)
        dialog.dismiss()

    page.on("dialog", dialog_opened)
    page.set_viewport_size(DESKTOP)
    make_participant(server.runtime, "07911 123456", nickname="Sam")
    make_participant(server.runtime, "07911 123457", nickname="Alex")
    make_participant(server.runtime, "07911 123458", nickname="Kim", consent=False)

    page.goto(server.url + "/admin/polls")
    page.get_by_role("link", name="Launch Lunch club 2027").click()
    expect(page.locator("[data-recipients]")).to_have_text("2")
    expect(page.locator("#exclusions")).to_contain_text("no consent: 1")
    expect(page.get_by_text("Estimated cost")).to_be_visible()
    shoot(page, "06-launch-preview")
    launch = page.get_by_role("button", name=re.compile(r"Launch and send"))
    launch.click()  # the box is not ticked: the browser refuses, nothing is sent
    assert "/launch" in page.url
    page.get_by_label("I have checked the recipients").check()
    launch.click()
    page.wait_for_url(re.compile(r"/admin/polls/lunch-club/status$"))
    expect(page.locator(".flash")).to_contain_text("Launched: 2 texts queued to 2 people")

    # The send job the launch queued runs here (the test runtime collects jobs). At night the
    # group's quiet hours hold the invitations: send them as the morning's run would.
    queue.run_pending(server.runtime)
    with server.runtime.db.transaction() as s:
        held = s.scalar(
            sa.select(sa.func.max(OutboundMessage.send_after)).where(
                OutboundMessage.status == OutboundStatus.QUEUED
            )
        )
    if held is not None:
        send_due(server.runtime, now=held)
    page.reload()
    expect(page.locator("#delivery-h + table")).to_contain_text("sent")
    shoot(page, "07-sending")

    text_in(server.url, "+447911123456", XSS)  # not an option: asked again, shown as text
    for body in ["B", "4", "yes"]:
        text_in(server.url, "+447911123456", body)
    for body in ["pasta", "5", "no"]:
        text_in(server.url, "+447911123457", body)

    page.goto(server.url + "/admin/messages?direction=in")
    expect(page.locator("table.messages")).to_contain_text(XSS)
    shoot(page, "08-messages")
    page.set_viewport_size(PHONE)
    shoot(page, "08-messages-phone")
    fits_a_phone(page)
    page.set_viewport_size(DESKTOP)

    page.goto(server.url + "/admin/polls/lunch-club/results")
    food = page.locator("section.question-result").filter(has_text="What should we eat?")
    expect(food.locator("svg.chart")).to_be_visible()
    expect(food.locator("svg.chart")).to_contain_text("B Pasta")
    expect(page.locator("#over-time-t")).to_have_count(1)
    expect(page.get_by_text("answered by 2 of 2").first).to_be_visible()
    shoot(page, "09-results")
    page.set_viewport_size(PHONE)
    shoot(page, "10-results-phone")
    fits_a_phone(page)
    page.set_viewport_size(DESKTOP)

    # "Tally now" queues the count and shows its progress; the page reloads by itself (no
    # script: a Refresh header) and says when the count is done.
    page.get_by_role("button", name="Tally now").first.click()
    page.wait_for_url(re.compile(r"/admin/polls/lunch-club/tally/\d+$"))
    expect(page.get_by_role("status").first).to_contain_text("Queued")
    queue.run_pending(server.runtime)  # the tally job, as a worker would run it
    expect(page.get_by_role("status").first).to_contain_text(
        "Done. Counted: 1 provisional count(s)."
    )
    page.get_by_role("link", name="See the results").click()
    expect(page.get_by_text("Result by").first).to_be_visible()

    page.get_by_role("link", name="Download the data (exports)").click()
    with page.expect_download() as info:
        page.get_by_role("link", name="Responses (long)").click()
    data = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0][:9] == [  # the public interface's columns first (timing paradata may follow)
        "participant",
        "poll",
        "question",
        "kind",
        "answer",
        "answer_label",
        "raw_text",
        "answered_at",
        "attempts",
    ]
    assert sum(1 for row in rows[1:] if row[2] == "food") == 2
    assert "07911" not in data and "Sam" not in data

    assert errors == []
    assert time.monotonic() - started < 45

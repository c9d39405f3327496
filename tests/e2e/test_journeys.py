"""The main journeys in a real browser: log in, build a poll with three kinds of question in
the builder (form and YAML in step, live preview), then try it on the simulator's pretend phone.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import STAFF_PASSWORD, LiveServer

pytestmark = pytest.mark.browser


def _log_in(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/admin/")
    assert "/login" in page.url
    page.get_by_label("E-mail").fill("fac@example.org")
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


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
    _log_in(page, live_server)
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
    page.set_viewport_size({"width": 390, "height": 844})
    shoot(page, "03-builder-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 900})

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

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(chat).to_contain_text("Come again next week?")  # the history survives a reload
    shoot(page, "05-simulator-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    assert errors == []  # no script errors, no CSP violations
    assert time.monotonic() - started < 45

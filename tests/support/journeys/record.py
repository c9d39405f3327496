"""The group's record: a facilitator reads Oakfield's record (the name chosen, every poll's
result, the questions the members proposed, participation by month, the agreed terms), prints
it, drafts and sends the celebration text, then places the year review's written answers on the
tree of growth."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import smsapp
from smsapp.db import utcnow
from smsapp.models import Poll
from smsapp.runtime import Runtime
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import import_poll, open_poll
from smsapp.services.votes.tallying import tally_poll
from tests.support.answers import record_answer
from tests.support.browser import DESKTOP, Shoot, both_widths, fits_a_phone
from tests.support.factories import make_participant

TEMPLATES = Path(smsapp.__file__).parent / "poll_templates"
HISTORY = [f"+447911127{100 + i:03d}" for i in range(8)]
NAME = """
slug: name-us
title: Name our group
group: oakfield
purpose: name
questions:
  - {key: name, kind: rank, prompt: "Rank the names, best first", options: [Team Spark, Health Voices, Young Researchers], max: 3}
"""
STORIES = [
    "I learned how to ask a good question",
    "We got the school to change the lunch menu",
    "We listen to each other more now",
]


def _template(name: str) -> str:
    source = (TEMPLATES / f"{name}.yaml").read_text()
    return source.replace(f"slug: {name}\n", f"slug: {name}\ngroup: oakfield\n", 1)


def _open(runtime: Runtime, source: str) -> int:
    with runtime.db.transaction() as s:
        poll = import_poll(s, source).poll
        open_poll(s, poll)
        return poll.id


def _close(runtime: Runtime, poll_id: int, when: Any) -> None:
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        close_poll(runtime, s, poll, now=when)
        tally_poll(s, poll, final=True, now=when)


def seed_group_history(runtime: Runtime) -> None:
    """Oakfield's term so far, eight members: it named itself, agreed its terms of reference and
    is reviewing its year (answers stored as conversations store them)."""
    people = [make_participant(runtime, number).id for number in HISTORY]
    start = utcnow() - timedelta(days=70)
    name_id = _open(runtime, NAME)
    rankings = [["A", "B", "C"]] * 5 + [["B", "A", "C"]] * 2 + [["C", "B", "A"]]
    for pid, ranking in zip(people, rankings, strict=True):
        record_answer(runtime, name_id, pid, "name", "rank", ranking, start)
    _close(runtime, name_id, start + timedelta(days=2))

    terms_id = _open(runtime, _template("terms-of-reference"))
    later = start + timedelta(days=35)
    for n, pid in enumerate(people[:7]):
        for key in ("purpose", "respect", "decisions", "privacy", "leaving"):
            value = "B" if (key == "decisions" and n < 4) else "A"
            record_answer(runtime, terms_id, pid, key, "choice", value, later)
    _close(runtime, terms_id, later + timedelta(days=3))

    review_id = _open(runtime, _template("year-review"))
    recent = utcnow() - timedelta(days=2)
    picks = [["A", "C"], ["A", "E"], ["B", "C", "F"], ["A", "D"], ["A", "C", "E"], ["A", "C", "E"]]
    for pid, chosen in zip(people, picks, strict=False):
        record_answer(runtime, review_id, pid, "helped", "multi", chosen, recent)
        record_answer(runtime, review_id, pid, "worth", "scale", 4, recent)
    for pid, story in zip(people, STORIES, strict=False):
        record_answer(runtime, review_id, pid, "story", "text", story, recent)


def step_group_record(
    page: Any, base_url: str, shoot: Shoot, *, proposed: str, never_shown: str
) -> None:
    """Records -> Oakfield: what the group decided, in plain words, and printable; the question
    a member proposed is there, and a held proposal's words (`never_shown`) are not."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/")
    page.get_by_role("link", name="Records").click()
    page.get_by_role("link", name="Oakfield Youth Panel").click()
    expect(page.get_by_role("heading", name="The record of Oakfield Youth Panel")).to_be_visible()
    decided = page.get_by_role("region", name="What we decided")
    expect(decided.get_by_role("heading", name="The name we chose")).to_be_visible()
    expect(decided).to_contain_text("1 Team Spark")
    expect(page.locator("body")).to_contain_text(proposed)
    assert never_shown not in page.content()
    terms = page.get_by_role("region", name="Our terms of reference")
    expect(terms.locator("ol.terms li")).to_have_count(4)  # "decisions" drew 4 Change of 7
    expect(terms).to_contain_text("We make decisions by voting")  # listed as not agreed
    expect(page.locator("table.participation tbody tr")).not_to_have_count(0)
    both_widths(page, shoot, "journey-12-group-record")
    page.emulate_media(media="print")
    expect(page.locator("header.top")).to_be_hidden()
    expect(page.get_by_role("button", name="Print this record")).to_be_hidden()
    shoot(page, "journey-12-group-record-print")
    page.emulate_media(media="screen")


def step_celebrate(page: Any, base_url: str, shoot: Shoot, *, group_size: int) -> None:
    """Celebrate: the drafted text, edited, previewed, confirmed and queued to the group."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/groups/oakfield/record")
    page.get_by_role("link", name="Celebrate with the group").click()
    text = page.get_by_role("textbox", name="Your text to the group")
    expect(text).to_have_value(re.compile(r"chose your name: Team Spark"))
    text.fill("Well done Oakfield! You named the group and agreed your rules. Thank you!")
    page.get_by_role("button", name="Preview this text").click()
    expect(page.locator("#celebrate-text")).to_have_text(
        "Well done Oakfield! You named the group and agreed your rules. Thank you!"
    )
    both_widths(page, shoot, "journey-13-celebrate")
    page.get_by_label("I have checked the text and the recipients").check()
    page.get_by_role("button", name=re.compile(rf"^Send to {group_size} people$")).click()
    expect(page.locator(".flash", has_text=f"queued to {group_size} people")).to_be_visible()


def step_year_review_results(page: Any, base_url: str, shoot: Shoot) -> None:
    """The year review's tree of growth, and placing the written answers on it."""
    from playwright.sync_api import expect

    page.goto(base_url + "/admin/polls/year-review/results")
    page.get_by_role("link", name="Tree of growth").click()
    expect(page.get_by_role("heading", name="Our tree of growth")).to_be_visible()
    page.get_by_role("link", name=re.compile("Place the written answers")).click()
    rows = page.locator(".tag-row")
    expect(rows).to_have_count(3)
    rows.nth(0).get_by_label("Roots").check()
    rows.nth(1).get_by_label("Branches").check()
    rows.nth(2).get_by_label("Trunk").check()
    fits_a_phone(page, "growth tags")
    shoot(page, "journey-14-growth-tags-phone")
    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Save the tags").click()
    expect(page.locator(".flash", has_text="3 tags saved")).to_be_visible()
    page.get_by_role("link", name="Back to the tree of growth").click()
    expect(page.locator("#part-roots")).to_contain_text("Learning how research works: 5")
    expect(page.locator("#part-branches")).to_contain_text("Written answers placed here: fewer")
    both_widths(page, shoot, "journey-15-tree-of-growth")

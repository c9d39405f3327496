"""The group's record page, the agreed terms of reference and participation by month, read the
way a facilitator, a researcher or the safeguarding lead reads them: through the admin page.

Answers are stored as conversations store them; the counts go through the one counted-answers
rule (a flagged text never counts) and every small count is hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import Poll
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import import_poll, open_poll
from smsapp.services.votes.tallying import tally_poll
from tests.support.answers import record_answer
from tests.support.factories import make_group, make_participant

T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
NAME = """
slug: name-us
title: Name our group
group: oakfield
purpose: name
tie_seed: name-seed
questions:
  - {key: name, kind: choice, prompt: "Which name?", options: [Team Spark, Health Voices]}
"""
TERMS = """
slug: our-rules
title: Our terms of reference
group: oakfield
purpose: terms-of-reference
tie_seed: rules-seed
questions:
  - {key: respect, kind: choice, prompt: "We listen to each other.", options: [Agree, Change, Disagree]}
  - {key: phones, kind: choice, prompt: "Phones off in meetings.", options: [Agree, Change, Disagree]}
  - {key: snacks, kind: choice, prompt: "Snacks every week.", options: [Agree, Change, Disagree]}
"""
MOOD = """
slug: mood
title: How was today
group: oakfield
questions:
  - {key: fun, kind: yesno, prompt: "Was it fun?"}
"""


def _poll(runtime: Any, text: str) -> int:
    with runtime.db.transaction() as s:
        poll = import_poll(s, text).poll
        open_poll(s, poll)
        return poll.id


def _close_and_count(runtime: Any, poll_id: int, at: datetime) -> None:
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        close_poll(runtime, s, poll, now=at)
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        tally_poll(s, poll, final=True, now=at)


@pytest.fixture
def group_with_history(runtime: Any) -> dict[str, Any]:
    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    people = [make_participant(runtime, f"+447911123{100 + i:03d}").id for i in range(8)]
    name_id = _poll(runtime, NAME)
    # March: seven named "Team Spark", one "Health Voices" (a count below 5: hidden).
    for n, pid in enumerate(people):
        record_answer(runtime, name_id, pid, "name", "choice", "B" if n == 7 else "A", T0)
    _close_and_count(runtime, name_id, T0 + timedelta(days=1))

    terms_id = _poll(runtime, TERMS)
    april = T0 + timedelta(days=35)
    answers = {
        # respect: 6 agree, 1 change -> agreed
        "respect": ["A"] * 6 + ["B"],
        # phones: 3 agree, 2 change, 2 disagree -> 3 is not more than 4: not agreed
        "phones": ["A"] * 3 + ["B"] * 2 + ["C"] * 2,
        # snacks: only 3 answered (< 5) -> not agreed however they voted
        "snacks": ["A"] * 3,
    }
    for key, values in answers.items():
        for pid, value in zip(people, values, strict=False):
            record_answer(runtime, terms_id, pid, key, "choice", value, april)
    # A flagged text's answer never counts: it would have made "phones" pass.
    for pid in people[:2]:
        record_answer(
            runtime,
            terms_id,
            pid,
            "phones",
            "choice",
            "A",
            april + timedelta(minutes=1),
            flagged=True,
        )
    _close_and_count(runtime, terms_id, april + timedelta(days=1))

    # May: three people answer the mood poll (fewer than 5: hidden everywhere).
    mood_id = _poll(runtime, MOOD)
    for pid in people[:3]:
        record_answer(runtime, mood_id, pid, "fun", "yesno", True, T0 + timedelta(days=62))
    return {"people": people, "terms_closed": april + timedelta(days=1)}


@pytest.mark.parametrize("role", ["admin", "facilitator", "researcher", "safeguarding"])
def test_every_staff_role_reads_the_groups_record(client, login, group_with_history, role):
    login(role)
    page = client.get("/admin/groups/oakfield/record")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "The record of Oakfield Youth Panel" in html
    # The celebrate action is offered only to the roles its route accepts.
    assert ("Celebrate with the group" in html) == (role in ("admin", "facilitator"))
    # Links go only where the role may follow them (the safeguarding role reads no results).
    assert ("All the results of" in html) == (role != "safeguarding")
    # Reachable from the menu for every role.
    assert "/admin/records" in html
    assert client.get("/admin/records").status_code == 200


def test_the_record_says_what_was_decided_with_small_counts_hidden(
    client, login, group_with_history
):
    login("researcher")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    # The name chosen, in its own section, with its date, said as the results text says it:
    # the one "Health Voices" vote is hidden, and so is the 7 beside it (privacy.suppression's
    # secondary suppression: 8 voters minus 7 would give the hidden one away).
    assert "The name we chose" in html
    assert "Decided 3 March 2026" in html
    assert "Team Spark" in html
    assert "(1 votes)" not in html and "(1 vote)" not in html
    assert "1 Team Spark (fewer than 5), 2 Health Voices (fewer than 5)" in html
    # The open mood poll: three answered, so no result is shown, only that it is hidden.
    assert "Was it fun? fewer than 5 people answered" in html
    assert "still open" in html


def test_participation_by_month_counts_people_and_hides_small_months(
    client, login, group_with_history
):
    login("facilitator")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    assert "<td>March 2026</td><td>8</td>" in html
    # April: seven answered the terms (the flagged texts came from two of them).
    assert "<td>April 2026</td><td>7</td>" in html
    assert "<td>May 2026</td><td>fewer than 5</td>" in html


def test_agreed_terms_show_the_clauses_that_passed_and_the_date(client, login, group_with_history):
    login("facilitator")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    terms = html.split('id="terms-h"', 1)[1]
    assert "Agreed by text on <strong>7 April 2026</strong>" in terms
    agreed = terms.split('<ol class="terms">', 1)[1].split("</ol>", 1)[0]
    assert "We listen to each other." in agreed
    assert "Phones off" not in agreed  # 3 agree is not more than 2 change + 2 disagree
    assert "Snacks" not in agreed  # only three answered
    assert 'Phones off in meetings. <span class="muted">(not enough people agreed)' in terms
    assert "fewer than 5 people answered" in terms


def test_the_results_text_of_a_terms_vote_says_which_clauses_were_agreed(
    runtime, group_with_history
):
    """Young people hear what they agreed, not every clause's count."""
    from smsapp.services.votes import announce

    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "our-rules"))
        assert poll is not None
        text = announce.results_text(s, poll, 5)
    assert "We agreed 1 of 3 clauses:\n- We listen to each other." in text
    assert "Phones" not in text and "Snacks" not in text and "Agree" not in text


def test_terms_still_open_are_not_shown_as_agreed(client, login, runtime):
    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    people = [make_participant(runtime, f"+447911124{100 + i:03d}").id for i in range(6)]
    poll_id = _poll(runtime, TERMS)
    for pid in people:
        record_answer(runtime, poll_id, pid, "respect", "choice", "A", T0)
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        tally_poll(s, poll, now=T0)  # a provisional count while it is open
    login("facilitator")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    terms = html.split('id="terms-h"', 1)[1]
    assert "No terms of reference agreed yet." in terms
    assert "is open for answers" in terms
    assert '<ol class="terms">' not in terms


def test_the_record_prints_without_the_menu_or_buttons(client, login, group_with_history):
    login("facilitator")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    assert "data-print" in html and "print.js" in html
    response = client.get("/static/app.css")
    css = response.get_data(as_text=True)
    response.close()
    printing = css.split("@media print", 1)[1]
    assert ".top" in printing and ".no-print" in printing


def test_an_unknown_group_has_no_record(client, login, runtime):
    login("researcher")
    assert client.get("/admin/groups/nobody/record").status_code == 404


def test_proposed_questions_show_what_became_of_them_and_never_a_held_ones_words(
    client, login, runtime, phone, runner
):
    """Real proposals by text (agenda.proposals.for_record): one asked, one held, one declined."""
    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    for number in ("+447911123501", "+447911123502", "+447911123503"):
        make_participant(runtime, number)
    phone("+447911123501").replies("ASK trip to the science museum?")
    phone("+447911123502").replies("ASK why does he hit me")
    phone("+447911123503").replies("ASK more pizza?")
    assert runner.invoke(["proposals", "approve", "oakfield", "Q1", "--yes"]).exit_code == 0
    assert runner.invoke(["proposals", "decline", "oakfield", "Q3"]).exit_code == 0
    login("researcher")
    html = client.get("/admin/groups/oakfield/record").get_data(as_text=True)
    section = html.split('id="proposed-h"', 1)[1].split("</section>", 1)[0]
    assert "trip to the science museum?" in section and "asked" in section
    assert "held for the safeguarding lead (its words are not shown)" in section
    assert "hit me" not in html
    assert "more pizza?" in section and "declined" in section


def test_the_record_prints_in_the_terminal(runner, group_with_history):
    result = runner.invoke(["groups", "record", "oakfield"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("The record of Oakfield Youth Panel (oakfield)\n")
    assert "  Name our group (decided 3 March 2026)\n" in out
    assert "    The name we chose: Team Spark\n" in out
    assert "  May 2026: fewer than 5\n" in out
    assert "  Agreed by text on 7 April 2026:\n  1. We listen to each other.\n" in out
    missing = runner.invoke(["groups", "record", "nobody"])
    assert missing.exit_code != 0 and "no group called 'nobody'" in missing.output

"""The year review: the ready-made template, its tree of growth (roots, trunk, branches) from the
choice answers and the free-text answers a facilitator tags, and who sees what.

The free-text words appear only on the tagging page (facilitators), redacted, and never from a
flagged text or the simulated phone; the tree shows counts, with small ones hidden."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import smsapp
from smsapp.models import AuditEvent, GrowthTag, Participant, Poll
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.support.answers import record_answer
from tests.support.factories import make_group, make_participant

TEMPLATES = Path(smsapp.__file__).parent / "poll_templates"
T0 = datetime(2027, 6, 1, 15, 0, tzinfo=UTC)
# Each participant's picks of "what did being in the group help you with?"
# A, B: roots; C, D: trunk; E, F: branches (the template's growth: map).
PICKS = [["A", "C", "E"], ["A", "C"], ["A", "D", "E"], ["A", "C", "E"], ["A", "C", "F"], ["A", "B"]]
PICKS += [["C", "E"]]
SECRET = "text me on 07911 123999"


def _template(name: str) -> str:
    source = (TEMPLATES / f"{name}.yaml").read_text()
    return source.replace(f"slug: {name}\n", f"slug: {name}\ngroup: oakfield\n", 1)


@pytest.fixture
def review(runtime: Any) -> dict[str, Any]:
    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    with runtime.db.transaction() as s:
        poll = import_poll(s, _template("year-review")).poll
        open_poll(s, poll)
        poll_id = poll.id
    people = [make_participant(runtime, f"+447911125{100 + i:03d}").id for i in range(9)]
    for pid, picks in zip(people, PICKS, strict=False):
        record_answer(runtime, poll_id, pid, "helped", "multi", picks, T0)
    texts = {
        people[0]: f"I learned how research works, {SECRET}",
        people[1]: "We got the school to change the lunch menu",
        people[2]: "We argued less and listened more",
    }
    for pid, text in texts.items():
        record_answer(runtime, poll_id, pid, "story", "text", text, T0 + timedelta(minutes=1))
    record_answer(runtime, poll_id, people[3], "story", "text", None, T0, skipped=True)
    # A flagged text never counts: neither its picks nor its words.
    record_answer(runtime, poll_id, people[7], "helped", "multi", ["B", "D"], T0, flagged=True)
    record_answer(runtime, poll_id, people[7], "story", "text", "FLAGGED WORDS", T0, flagged=True)
    # The admin page's pretend phone is nobody.
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).where(Participant.id == people[8]).values(simulated=True))
    record_answer(runtime, poll_id, people[8], "story", "text", "PRETEND WORDS", T0)
    return {"poll_id": poll_id, "people": people}


def _answer_ids(html: str) -> dict[str, int]:
    """The tagging form's answers: the words shown -> the answer id its radio buttons name."""
    rows = re.findall(r"<blockquote>(.*?)</blockquote>.*?name=\"tag-(\d+)\"", html, re.S)
    return {text: int(answer_id) for text, answer_id in rows}


def test_the_template_declares_the_tree_and_imports(runtime, review):
    with runtime.db.transaction() as s:
        from smsapp.models import Poll
        from smsapp.services.polls.definitions import load_definition

        poll = s.get(Poll, review["poll_id"])
        assert poll is not None
        defn = load_definition(poll)
    assert defn.purpose == "year-review"
    helped = defn.question("helped")
    assert dict(helped.growth) == {
        "A": "roots",
        "B": "roots",
        "C": "trunk",
        "D": "trunk",
        "E": "branches",
        "F": "branches",
    }
    assert [q.kind for q in defn.questions] == ["multi", "text", "scale"]


def test_facilitators_tag_the_written_answers_and_the_tree_counts_them(
    client, login, runtime, review
):
    token = login("facilitator")
    slug = "year-review"
    page = client.get(f"/admin/polls/{slug}/growth/tags").get_data(as_text=True)
    shown = _answer_ids(page)
    # Only the counted free-text answers, redacted: no number, no flagged or pretend words.
    assert set(shown) == {
        "I learned how research works, text me on [number]",
        "We got the school to change the lunch menu",
        "We argued less and listened more",
    }
    assert "07911" not in page and "FLAGGED" not in page and "PRETEND" not in page
    ids = list(shown.values())
    learned, lunch, _ = ids
    response = client.post(
        f"/admin/polls/{slug}/growth/tags",
        data={"csrf_token": token, f"tag-{learned}": "roots", f"tag-{lunch}": "branches"},
    )
    assert response.status_code == 302
    with runtime.db.transaction() as s:
        tags = {t.answer_id: (t.part, t.tagged_by) for t in s.scalars(sa.select(GrowthTag))}
        audit = s.scalars(sa.select(AuditEvent).where(AuditEvent.action == "growth.tag")).all()
    assert tags == {
        learned: ("roots", "facilitator@example.org"),
        lunch: ("branches", "facilitator@example.org"),
    }
    assert len(audit) == 1 and audit[0].details == {"changed": 2}
    # The page shows the tags chosen; clearing one removes it.
    again = client.get(f"/admin/polls/{slug}/growth/tags").get_data(as_text=True)
    assert re.search(rf'name="tag-{lunch}" value="branches" checked', again)
    client.post(
        f"/admin/polls/{slug}/growth/tags",
        data={"csrf_token": token, f"tag-{lunch}": "", f"tag-{learned}": "roots"},
    )
    client.post(
        f"/admin/polls/{slug}/growth/tags", data={"csrf_token": token, f"tag-{lunch}": "branches"}
    )

    # The facilitator's tree says how many written answers are still to place.
    assert "Place the written answers on the tree (1 to do)" in client.get(
        f"/admin/polls/{slug}/growth"
    ).get_data(as_text=True)
    client.post("/logout", data={"csrf_token": token})
    login("researcher")
    tree = client.get(f"/admin/polls/{slug}/growth").get_data(as_text=True)
    # Seven people's answers count (the flagged one and the pretend phone do not).
    assert "7 people answered" in tree

    def part(name: str) -> str:
        return tree.split(f'id="part-{name}"', 1)[1].split("</div>", 1)[0]

    # roots: A 6 + B 1 + one tagged answer = 8; trunk: C 5 + D 1 = 6; branches: E 4 + F 1 + 1.
    assert '<p class="total">8 ' in part("roots")
    assert '<p class="total">6 ' in part("trunk")
    assert '<p class="total">6 ' in part("branches")
    assert "Learning how research works: 6" in part("roots")
    assert "Feeling more confident to speak up: fewer than 5" in part("roots")
    # trunk shows its total (6) beside C (5) and D (1): D alone hidden would be 6 - 5, so C
    # is hidden with it (secondary suppression, part by part)
    assert "Listening and working as a team: 5" not in part("trunk")
    assert part("trunk").count("fewer than 5") == 2
    # one tagged answer is a small count: hidden; none tagged is a zero: shown
    assert "Written answers placed here: fewer than 5" in part("roots")
    assert "Written answers placed here: 0" in part("trunk")
    # The researcher sees counts only: never the words, and no way to the tagging page.
    assert "lunch menu" not in tree and "/growth/tags" not in tree


def test_only_facilitators_see_or_set_the_tags(client, login, review):
    token = login("researcher")
    assert client.get("/admin/polls/year-review/growth/tags").status_code == 403
    response = client.post(
        "/admin/polls/year-review/growth/tags", data={"csrf_token": token, "tag-1": "roots"}
    )
    assert response.status_code == 403


def test_a_tag_on_an_answer_that_does_not_count_is_refused(client, login, runtime, review):
    token = login("facilitator")
    with runtime.db.transaction() as s:
        from smsapp.models import Answer

        flagged = s.scalar(
            sa.select(Answer.id).where(
                Answer.participant_id == review["people"][7], Answer.question_key == "story"
            )
        )
    response = client.post(
        "/admin/polls/year-review/growth/tags",
        data={"csrf_token": token, f"tag-{flagged}": "roots"},
        follow_redirects=True,
    )
    assert "No tags saved" in response.get_data(as_text=True)
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(GrowthTag)) == 0


def test_growth_maps_are_checked_on_import(runtime):
    from smsapp.conversation.definition import PollDefinitionError

    make_group(runtime, "oakfield", "Oakfield Youth Panel")
    bad = """
slug: bad-review
title: Bad
questions:
  - {key: helped, kind: multi, prompt: "What?", options: [X, Y], growth: {A: roots, Z: trunk}}
  - {key: more, kind: choice, prompt: "What?", options: [X, Y], growth: {B: leaves}}
"""
    with pytest.raises(PollDefinitionError) as caught, runtime.db.transaction() as s:
        import_poll(s, bad)
    problems = {p.field: p.message for p in caught.value.problems}
    assert problems == {
        "questions[0].growth.Z": "Z is not one of the options' codes",
        "questions[1].growth.B": "use one of roots, trunk, branches",
    }


def test_withdrawal_erases_a_tagged_answer_and_its_tag(runtime, review):
    from smsapp.models import Answer
    from smsapp.services.people.withdrawal import withdraw
    from smsapp.services.record import growth

    writer = review["people"][1]  # "We got the school to change the lunch menu"
    with runtime.db.transaction() as s:
        poll = s.get(Poll, review["poll_id"])
        assert poll is not None
        answer_id = s.scalar(
            sa.select(Answer.id).where(
                Answer.participant_id == writer, Answer.question_key == "story"
            )
        )
        assert answer_id is not None
        growth.tag_answers(s, poll, {answer_id: "branches"}, actor="test")
    with runtime.db.transaction() as s:
        person = s.get(Participant, writer)
        assert person is not None
        withdraw(runtime, s, person, via="button", actor="test")
    with runtime.db.transaction() as s:
        poll = s.get(Poll, review["poll_id"])
        assert poll is not None
        assert s.scalar(sa.select(sa.func.count()).select_from(GrowthTag)) == 0
        texts = [a.text for a in growth.taggable_answers(s, poll)]
    assert "We got the school to change the lunch menu" not in texts

"""Duplicating a poll into a new draft (closed polls too): same questions, options and settings;
never the answers, the tie-break seed, the schedule or the launch."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from smsapp import queue
from smsapp.models import Answer, AuditEvent, Conversation, OutboundMessage, Poll, PollStatus
from smsapp.runtime import Runtime
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import PollError, import_poll, load_definition, open_poll
from smsapp.services.polls.duplicate import duplicate_poll
from tests.integration.test_nominations import nominated  # noqa: F401  (a fixture)
from tests.support.answers import record_answer
from tests.support.factories import NOON, launch, make_group, make_poll, people

KEYWORD_POLL = """
slug: snacks
title: Snacks
group: oakfield
keyword: SNACK
closes: "2026-03-10T12:00:00+00:00"
reminders: {after: 12h, every: 24h, max: 1}
questions:
  - key: snack
    kind: rank
    prompt: "Rank the snacks, best first"
    options: ["Crisps", "Fruit", "Biscuits"]
    max: 2
    tally: {method: schulze}
"""


@pytest.fixture(autouse=True)
def no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "enqueue", lambda *a, **kw: None)


def poll_row(runtime: Runtime, slug: str) -> Poll:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
        assert poll is not None
        _ = poll.definition  # deferred: load it before the session closes
        return poll


def count(runtime: Runtime, model: Any, poll_id: int) -> int:
    with runtime.db.transaction() as s:
        return int(
            s.scalar(sa.select(sa.func.count()).select_from(model).where(model.poll_id == poll_id))
            or 0
        )


def test_a_closed_poll_becomes_a_fresh_draft_with_the_same_questions(runtime: Runtime) -> None:
    make_poll(runtime)
    ids = people(runtime, 2)
    launch(runtime)
    original = poll_row(runtime, "name-our-group")
    record_answer(runtime, original.id, ids[0], "name", "choice", "A", NOON)
    with runtime.db.transaction() as s:
        poll = s.get(Poll, original.id)
        assert poll is not None
        close_poll(runtime, s, poll, now=NOON)

    with runtime.db.transaction() as s:
        done = duplicate_poll(s, "name-our-group", "name-our-group-2", actor="fac@example.org")
    copy = poll_row(runtime, "name-our-group-2")
    assert copy.status == PollStatus.DRAFT and done.notes == []
    assert copy.group_id == original.group_id and copy.title == original.title
    same = {k: v for k, v in original.definition.items() if k not in ("slug", "tie_seed")}
    assert {k: v for k, v in copy.definition.items() if k != "slug"} == same
    assert copy.tie_seed and copy.tie_seed != original.tie_seed
    assert copy.launched_at is None and copy.closed_at is None and copy.launch_at is None
    assert count(runtime, Answer, copy.id) == 0
    assert count(runtime, Conversation, copy.id) == 0
    assert count(runtime, OutboundMessage, copy.id) == 0
    assert count(runtime, Answer, original.id) == 1  # the original is untouched
    with runtime.db.transaction() as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "poll.duplicate"))
        assert event is not None and event.details["source"] == "name-our-group"

    # The copy launches as any draft does.
    assert launch(runtime, "name-our-group-2").messages == 2


def test_a_keyword_still_in_use_and_a_passed_closing_time_are_left_off(runtime: Runtime) -> None:
    make_group(runtime)
    with runtime.db.transaction() as s:
        import_poll(s, KEYWORD_POLL)
    with runtime.db.transaction() as s:
        done = duplicate_poll(s, "snacks", "snacks-again", actor="t", now=NOON.replace(month=4))
    copy = poll_row(runtime, "snacks-again")
    assert copy.keyword is None and "keyword" not in copy.definition
    assert "closes" not in copy.definition
    assert copy.definition["reminders"] == {"after": "12h", "every": "1d", "max": 1}
    assert copy.definition["questions"][0]["tally"] == {"method": "schulze"}
    assert len(done.notes) == 2
    assert "SNACK still starts poll snacks" in done.notes[0]
    assert "has passed" in done.notes[1]


def test_a_taken_or_bad_slug_is_refused_and_nothing_is_copied(runtime: Runtime) -> None:
    make_poll(runtime)
    make_poll(runtime, "other")
    for new, reason in [
        ("other", "exists already"),
        ("Bad Slug", "not a slug"),
        ("", "not a slug"),
    ]:
        with pytest.raises(PollError, match=reason), runtime.db.transaction() as s:
            duplicate_poll(s, "name-our-group", new, actor="t")
    with pytest.raises(PollError, match="no poll called"), runtime.db.transaction() as s:
        duplicate_poll(s, "missing", "fresh", actor="t")
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Poll)) == 2


def test_cli_duplicate(runtime: Runtime, runner: Any) -> None:
    make_poll(runtime)
    done = runner.invoke(["polls", "duplicate", "name-our-group", "autumn-names"])
    assert done.exit_code == 0, done.output
    assert "Created draft poll autumn-names from name-our-group." in done.output
    assert poll_row(runtime, "autumn-names").status == PollStatus.DRAFT
    again = runner.invoke(["polls", "duplicate", "name-our-group", "autumn-names"])
    assert again.exit_code != 0
    assert "exists already" in again.output and "Nothing was copied" in again.output


def test_the_duplicate_button_makes_a_draft_and_opens_it(
    runtime: Runtime, client: Any, login: Any
) -> None:
    make_poll(runtime)
    people(runtime, 1)
    launch(runtime)
    token = login("facilitator")
    status = client.get("/admin/polls/name-our-group/status").get_data(as_text=True)
    assert "/admin/polls/name-our-group/duplicate" in status
    form = client.get("/admin/polls/name-our-group/duplicate").get_data(as_text=True)
    assert 'value="name-our-group-copy"' in form
    taken = client.post(
        "/admin/polls/name-our-group/duplicate",
        data={"csrf_token": token, "new_slug": "name-our-group"},
    )
    assert taken.status_code == 422 and "exists already" in taken.get_data(as_text=True)
    made = client.post(
        "/admin/polls/name-our-group/duplicate",
        data={"csrf_token": token, "new_slug": "name-our-group-copy"},
    )
    assert made.status_code == 302
    assert made.headers["Location"].endswith("/admin/polls/name-our-group-copy/edit")
    page = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "Made a new draft, name-our-group-copy, from name-our-group" in page
    assert "Which name do you like best?" in page
    suggestion = client.get("/admin/polls/name-our-group/duplicate").get_data(as_text=True)
    assert 'value="name-our-group-copy-2"' in suggestion


@pytest.mark.usefixtures("nominated")
def test_a_vote_filled_from_a_shortlist_copies_with_its_options(
    runtime: Runtime, runner: Any
) -> None:
    done = runner.invoke(
        ["nominations", "shortlist", "ideas", "--keep", "N5", "N1", "--into", "vote"]
    )
    assert done.exit_code == 0, done.output
    copied = runner.invoke(["polls", "duplicate", "vote", "vote-again"])
    assert copied.exit_code == 0, copied.output
    with runtime.db.transaction() as s:
        original = s.scalar(sa.select(Poll).where(Poll.slug == "vote"))
        copy = s.scalar(sa.select(Poll).where(Poll.slug == "vote-again"))
        assert original is not None and copy is not None
        [question] = load_definition(copy).questions
        assert [o.label for o in question.options] == ["Young Researchers", "Health Voices"]
        assert question.options_from == "ideas.idea"
        assert copy.keyword is None  # VOTE still starts the original draft
        open_poll(s, copy)  # its options are there: it can open at once

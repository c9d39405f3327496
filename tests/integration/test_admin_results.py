"""The admin pages after the builder: launch (previewed, confirmed), results with charts and the
vote's rounds, close, tally, send results, nominations moderation, the message and audit logs,
and the dashboard's attention list. Replies reach the app through the signed webhook."""

from __future__ import annotations

import functools
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

import jobs.tally
import smsapp.queue
from smsapp.db import utcnow
from smsapp.models import (
    AuditEvent,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    Poll,
    SafeguardingFlag,
    StaffUser,
    TallyRequest,
    TallyRun,
)
from smsapp.services.people import staff
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll, load_definition, open_poll
from smsapp.services.votes import tally_requests
from smsapp.web.admin import messages as messages_view
from tests.support.factories import make_participant

PASSWORD = "correct horse battery"
CHEAP = "pbkdf2:sha256:1000"
XSS = "<script>alert(1)</script><b>x</b>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;b&gt;x&lt;/b&gt;"
CLUB = """
slug: club
title: Club vote
group: oakfield
tie_seed: club-seed
questions:
  - {key: day, kind: choice, prompt: "Which day?", options: [Monday, Friday]}
  - key: name
    kind: rank
    prompt: "Rank the names, best first"
    options: [Apples, Bananas, Cherries]
    max: 3
    tally: {method: irv}
  - {key: why, kind: text, prompt: "Why?"}
"""
# Bananas beats each other option head to head (Schulze), but has the fewest first places, so
# instant run-off drops it first and Apples wins: the page must say the two disagree.
RANKINGS = ["A B C"] * 4 + ["C B A"] * 3 + ["B A C"] * 2
IDEAS = """
slug: ideas
title: Name ideas
group: oakfield
keyword: IDEAS
questions:
  - {key: idea, kind: nominate, prompt: "Suggest a name", max: 2}
"""
VOTE = """
slug: namevote
title: Name our group
group: oakfield
questions:
  - {key: name, kind: rank, prompt: "Rank them", options_from: ideas.idea, max: 3}
"""


def _csrf(client, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


@pytest.fixture
def login(runtime, client, monkeypatch):
    # A cheap hash keeps each log-in quick; log-in still checks it.
    monkeypatch.setattr(
        staff, "generate_password_hash", functools.partial(generate_password_hash, method=CHEAP)
    )

    def as_role(role: str = "facilitator") -> str:
        email = f"{role}@example.org"
        with runtime.db.transaction() as s:
            if s.scalar(sa.select(StaffUser).where(StaffUser.email == email)) is None:
                create_user(s, email, PASSWORD, role)
        if client.get("/login").status_code == 302:  # someone is logged in: log them out
            client.post("/logout", data={"csrf_token": _csrf(client, "/admin/")})
        token = _csrf(client, "/login")
        response = client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
        )
        assert response.status_code == 302
        return _csrf(client, "/admin/")

    return as_role


def _club(runtime, people: int = len(RANKINGS)) -> list[str]:
    numbers = [f"+4479111{i:05d}" for i in range(people)]
    for i, number in enumerate(numbers):
        make_participant(runtime, number, nickname=f"Kid{i}")
    make_participant(runtime, "+447911200001", nickname="NoConsent", consent=False)
    make_participant(runtime, "+447911200002", nickname="Gone", status="opted-out")
    with runtime.db.transaction() as s:
        import_poll(s, CLUB)
    return numbers


def _launch(client, token: str, slug: str = "club") -> Any:
    return client.post(f"/admin/polls/{slug}/launch", data={"csrf_token": token, "confirm": "yes"})


@pytest.fixture
def voted(runtime, client, login, phone) -> str:
    """The club poll launched from its page, and nine people answered every question."""
    numbers = _club(runtime)
    token = login()
    assert _launch(client, token).status_code == 302
    for number, ranking in zip(numbers, RANKINGS, strict=True):
        p = phone(number)
        p.replies("A" if ranking.startswith("A") else "B")
        p.replies(ranking)
        p.replies(XSS if number == numbers[0] else "because")
    return token


def _outbound(runtime) -> list[OutboundMessage]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(OutboundMessage).order_by(OutboundMessage.id)))


# ---------------------------------------------------------------------------------------------
# Launch, close, tally, announce


def test_launch_page_shows_the_plan_and_sends_nothing_until_confirmed(runtime, client, login):
    _club(runtime, people=3)
    token = login()
    page = client.get("/admin/polls/club/launch").get_data(as_text=True)
    assert re.search(r"data-recipients>3<", page), page
    assert re.search(r"no consent: <strong>1</strong>", page)
    assert re.search(r"opted out: <strong>1</strong>", page)
    assert "Segments" in page and "Estimated cost" in page and "GBP" in page
    assert "quiet hours" in page or "texts go out now" in page
    assert "I have checked the recipients" in page and "Which day?" in page  # the first text

    unticked = client.post("/admin/polls/club/launch", data={"csrf_token": token})
    assert unticked.status_code == 302 and unticked.headers["Location"].endswith("/launch")
    no_csrf = client.post("/admin/polls/club/launch", data={"confirm": "yes"})
    assert no_csrf.status_code == 400
    assert _outbound(runtime) == []
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Poll.status).where(Poll.slug == "club")) == "draft"

    launched = _launch(client, token)
    assert launched.status_code == 302 and launched.headers["Location"].endswith("/status")
    sent = _outbound(runtime)
    assert len(sent) == 3 and {m.kind for m in sent} == {"invitation"}
    status = client.get("/admin/polls/club/status").get_data(as_text=True)
    assert "Launched: 3 texts queued to 3 people" in status
    assert re.search(r">queued</a></td><td>3<", status)
    again = client.get("/admin/polls/club/launch").get_data(as_text=True)
    assert "already open" in again and "I have checked" not in again


def test_a_poll_nobody_can_receive_does_not_launch(runtime, client, login):
    make_participant(runtime, "+447911200001", consent=False)
    with runtime.db.transaction() as s:
        import_poll(s, CLUB)
    token = login()
    page = client.get("/admin/polls/club/launch").get_data(as_text=True)
    assert "nothing to launch" in page and "Launch and send" not in page
    refused = _launch(client, token)
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/launch")
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Poll.status).where(Poll.slug == "club")) == "draft"


def test_results_show_counts_charts_rounds_and_the_schulze_disagreement(runtime, client, voted):
    tallied = client.post("/admin/polls/club/tally", data={"csrf_token": voted})
    assert tallied.status_code == 302
    smsapp.queue.run_pending(runtime)  # the tally job the button queued
    response = client.get("/admin/polls/club/results")
    page = response.get_data(as_text=True)
    assert "live_results.js" in page  # open: the page updates itself (test_results_live.py)
    assert page.count('<svg class="chart"') >= 4  # over time, day, name scores/rounds, why: none
    # the choice question's bars: 4 Monday (A), 5 Friday (B), written beside the bars
    day = page.split("Which day?")[1].split("</section>")[0]
    assert ">A Monday</text>" in day and ">4</text>" in day and ">5</text>" in day
    name = page.split("Rank the names")[1].split("</section>")[0]
    assert "provisional" in name and "9 ballots" in name
    assert "Round 1 \u2014 B Bananas out" in name and "Round 2 \u2014 A Apples elected" in name
    assert "The Schulze consensus check disagrees" in name and "B Bananas" in name
    assert re.search(r"<strong>A Apples</strong> <span class=\"pill ok\">winner", name)
    why = page.split("Why?")[1].split("</section>")[0]
    assert "Free-text answers: <strong>9</strong>" in why
    assert "because" not in page and XSS not in page and "alert(1)" not in page
    assert "/admin/polls/club/exports" in page
    assert "9 of 9" in page or "answered by 9 of 9" in page


def test_tally_now_queues_the_count_and_shows_its_progress(runtime, client, voted):
    pressed = client.post("/admin/polls/club/tally", data={"csrf_token": voted})
    assert pressed.status_code == 302
    progress = pressed.headers["Location"]
    assert re.search(r"/admin/polls/club/tally/\d+$", progress), progress
    queued = client.get(progress)
    assert queued.headers["Refresh"] == "2"  # reloads itself until the count has finished
    assert "Queued: waiting for a worker" in queued.get_data(as_text=True)
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(TallyRun.id))) == 0  # not counted in the request
    # Pressed again while it waits: the same request answers, not a second count.
    again = client.post("/admin/polls/club/tally", data={"csrf_token": voted})
    assert again.headers["Location"] == progress

    assert "jobs.tally.count_requested" in smsapp.queue.run_pending(runtime)
    done = client.get(progress)
    assert "Refresh" not in done.headers
    page = done.get_data(as_text=True)
    assert "Done. Counted: 4 provisional count(s)." in page
    assert 'href="/admin/polls/club/results">See the results' in page
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(TallyRun.id))) == 4  # counted once
    results = client.get("/admin/polls/club/results").get_data(as_text=True)
    name = results.split("Rank the names")[1].split("</section>")[0]
    assert "Result by" in name and "provisional" in name and "9 ballots" in name


def test_a_count_whose_job_was_lost_or_died_is_finished_by_the_clock(runtime, client, voted):
    progress = client.post("/admin/polls/club/tally", data={"csrf_token": voted}).headers[
        "Location"
    ]
    request_id = int(progress.rsplit("/", 1)[1])
    runtime.pending_jobs.clear()  # the queue lost the job
    assert tally_requests.run_lost_requests(runtime) == 0  # just queued: its job may yet come
    # A worker took it and died mid-count: the page says it is running, and keeps reloading.
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(TallyRequest)
            .where(TallyRequest.id == request_id)
            .values(status="running", started_at=utcnow())
        )
    running = client.get(progress)
    assert "Running: the ballots are being counted" in running.get_data(as_text=True)
    assert running.headers["Refresh"] == "2"
    assert jobs.tally.count_requested(request_id) == "running"  # another worker leaves it be
    later = utcnow() + tally_requests.DEAD_AFTER + timedelta(minutes=1)
    assert tally_requests.run_lost_requests(runtime, now=later) == 1
    assert "Done. Counted: 4 provisional" in client.get(progress).get_data(as_text=True)
    assert jobs.tally.count_requested(request_id) == "done"  # a late duplicate job: no recount


def test_a_failed_count_says_why_and_offers_another_go(runtime, client, voted):
    progress = client.post("/admin/polls/club/tally", data={"csrf_token": voted}).headers[
        "Location"
    ]
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(TallyRequest).values(
                status="failed", error=tally_requests.FAILED_UNEXPECTEDLY
            )
        )
    failed = client.get(progress)
    assert "Refresh" not in failed.headers
    page = failed.get_data(as_text=True)
    assert "Not counted: the count stopped with an error" in page and "Try again" in page
    assert client.get(progress.rsplit("/", 1)[0] + "/987654").status_code == 404


def test_tie_breaks_are_explained_in_words(runtime, client, login, phone):
    numbers = _club(runtime, people=2)
    token = login()
    _launch(client, token)
    for number, ranking in zip(numbers, ["A B C", "B A C"], strict=True):
        p = phone(number)
        p.replies("A")
        p.replies(ranking)
    client.post("/admin/polls/club/tally", data={"csrf_token": token})
    smsapp.queue.run_pending(runtime)
    page = client.get("/admin/polls/club/results").get_data(as_text=True)
    name = page.split("Rank the names")[1].split("</section>")[0]
    assert "<h4>Tie-breaks</h4>" in name
    explanation = re.search(r'<ul class="tie-breaks"><li>([^<]+)</li>', name)
    assert explanation and len(explanation.group(1).split()) > 5, name


def test_close_then_send_results_each_need_their_tick(runtime, client, voted):
    unticked = client.post("/admin/polls/club/close", data={"csrf_token": voted})
    assert unticked.status_code == 302
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Poll.status).where(Poll.slug == "club")) == "open"
    assert "Close the poll" in client.get("/admin/polls/club/close").get_data(as_text=True)
    closed = client.post("/admin/polls/club/close", data={"csrf_token": voted, "confirm": "yes"})
    assert closed.status_code == 302 and closed.headers["Location"].endswith("/results")
    smsapp.queue.run_pending(runtime)  # the final tally the close asked for
    page = client.get("/admin/polls/club/results")
    assert "Refresh" not in page.headers
    assert "final" in page.get_data(as_text=True)

    preview = client.get("/admin/polls/club/announce").get_data(as_text=True)
    assert "Results of Club vote:" in preview and "Send to 9 people" in preview
    before = len(_outbound(runtime))
    client.post("/admin/polls/club/announce", data={"csrf_token": voted})
    assert len(_outbound(runtime)) == before
    sent = client.post("/admin/polls/club/announce", data={"csrf_token": voted, "confirm": "yes"})
    assert sent.status_code == 302
    results = [m for m in _outbound(runtime) if m.kind == "results"]
    assert len(results) == 9 and results[0].body.startswith("Results of Club vote:")


def test_researchers_see_results_without_numbers_or_nicknames(runtime, client, voted, login):
    login("researcher")
    page = client.get("/admin/polls/club/results").get_data(as_text=True)
    assert "Rank the names" in page
    assert "Kid" not in page and "•" not in page and "7911" not in page
    assert client.get("/admin/messages").status_code == 403
    assert client.get("/admin/polls/club/status").status_code == 403
    assert client.post("/admin/polls/club/tally").status_code in (400, 403)


# ---------------------------------------------------------------------------------------------
# Nominations


@pytest.fixture
def nominated(runtime, phone) -> None:
    for number in ("+447911123401", "+447911123402", "+447911123403"):
        make_participant(runtime, number)
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, IDEAS).poll)
        import_poll(s, VOTE)
    for number, entries in (
        ("+447911123401", ["Health Voices", XSS]),
        ("+447911123402", ["health voices!!"]),
        ("+447911123403", ["Team Spark"]),
    ):
        p = phone(number)
        p.replies("IDEAS")
        for entry in entries:
            p.replies(entry)
        if len(entries) < 2:
            p.replies("done")


def test_moderate_merge_and_shortlist_into_a_vote(runtime, client, login, nominated):
    token = login()
    page = client.get("/admin/polls/ideas/nominations").get_data(as_text=True)
    assert "P-" in page  # authors by pseudonym
    assert "Merge N3 into N1" in page  # "health voices!!" reads like "Health Voices"
    assert ESCAPED in page and XSS not in page
    assert '<option value="namevote">' in page

    client.post(
        "/admin/polls/ideas/nominations/merge",
        data={"csrf_token": token, "duplicate": "N3", "kept": "N1"},
    )
    client.post(
        "/admin/polls/ideas/nominations/moderate",
        data={"csrf_token": token, "code": "N2", "action": "reject"},
    )
    page = client.get("/admin/polls/ideas/nominations").get_data(as_text=True)
    assert "into N1" in page and "Merge N3 into N1" not in page
    assert re.search(r"N2</code>.*?pill bad\">rejected", page, re.S)

    refused = client.post(
        "/admin/polls/ideas/nominations/shortlist",
        data={"csrf_token": token, "keep": ["N1", "N2"], "into": "namevote"},
    )
    assert refused.status_code == 302
    follow = client.get("/admin/polls/ideas/nominations").get_data(as_text=True)
    assert "No shortlist made: N2 was rejected" in follow

    made = client.post(
        "/admin/polls/ideas/nominations/shortlist",
        data={"csrf_token": token, "keep": ["N1", "N4"], "into": "namevote"},
    )
    assert made.status_code == 302 and made.headers["Location"].endswith("/namevote/edit")
    with runtime.db.transaction() as s:
        vote = s.scalar(sa.select(Poll).where(Poll.slug == "namevote"))
        assert vote is not None
        labels = [o.label for o in load_definition(vote).questions[0].options]
    assert labels == ["Health Voices", "Team Spark"]


# ---------------------------------------------------------------------------------------------
# Escaping, message log, audit log, dashboard


def test_a_reply_with_markup_shows_as_text_everywhere(runtime, client, voted, nominated):
    pages = {
        "results": "/admin/polls/club/results",
        "moderation": "/admin/polls/ideas/nominations",
        "messages": "/admin/messages?direction=in",
        "simulator": "/admin/simulator",
    }
    client.post("/admin/simulator/send", data={"csrf_token": voted, "body": XSS})
    for name, url in pages.items():
        html = client.get(url).get_data(as_text=True)
        assert XSS not in html and "<b>x</b>" not in html, name
        if name != "results":  # results show free text only as a count
            assert ESCAPED in html, name


def test_message_log_filters_pages_and_masks_numbers(runtime, client, voted, monkeypatch):
    with runtime.db.transaction() as s:
        first = s.scalar(sa.select(OutboundMessage).order_by(OutboundMessage.id))
        assert first is not None
        first.status, first.error_code = OutboundStatus.FAILED, 30006
        first.error_message = "Landline or unreachable carrier"
    page = client.get("/admin/messages?status=failed").get_data(as_text=True)
    assert "30006" in page and "Landline or unreachable carrier" in page
    assert page.count("<tr>") == 2  # header + the one failed text
    assert "+44 7••• •••" in page and "7911100000" not in page

    monkeypatch.setattr(messages_view, "PAGE_SIZE", 4)
    one = client.get("/admin/messages?poll=club").get_data(as_text=True)
    assert 'rel="next"' in one and 'rel="prev"' not in one
    two = client.get("/admin/messages?poll=club&page=2").get_data(as_text=True)
    assert 'rel="prev"' in two
    inbound = client.get("/admin/messages?direction=in&poll=club").get_data(as_text=True)
    assert "because" in inbound and "club" in inbound


def test_audit_log_is_for_admins_only(runtime, client, voted, login):
    assert client.get("/admin/audit").status_code == 403
    login("admin")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "poll.launch" in page and "facilitator@example.org" in page
    only = client.get("/admin/audit?action=poll.launch").get_data(as_text=True)
    with runtime.db.transaction() as s:
        launches = s.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "poll.launch"))
    assert only.count("<code>poll.launch</code>") == launches == 1


def test_dashboard_lists_polls_and_what_needs_attention(runtime, client, voted, login):
    with runtime.db.transaction() as s:
        message = s.scalar(sa.select(OutboundMessage).order_by(OutboundMessage.id))
        assert message is not None
        message.status = OutboundStatus.UNDELIVERED
        inbound = s.scalar(sa.select(InboundMessage).order_by(InboundMessage.id))
        assert inbound is not None
        s.add(
            SafeguardingFlag(
                inbound_message_id=inbound.id,
                participant_id=inbound.participant_id,
                due_at=inbound.received_at,
            )
        )
    page = client.get("/admin/").get_data(as_text=True)
    assert "Club vote" in page and "100%" in page and "(9 of 9)" in page
    assert re.search(r'pill bad">1</span>\s*text failed', page)
    assert "safeguarding inbox" not in page  # facilitators get no flag link
    login("admin")
    page = client.get("/admin/").get_data(as_text=True)
    assert "1 open</span>" in page and "1 overdue" in page
    # An admin sees that flags wait, never their words: only the safeguarding lead reads them.
    assert "/admin/safeguarding/" not in page and "Only the safeguarding lead" in page
    login("safeguarding")
    page = client.get("/admin/").get_data(as_text=True)
    assert "1 open</span>" in page and "/admin/safeguarding/" in page

"""Every place that counts a poll's answers counts the same ones: the dashboard, the results
page, the results text, the stored tally and every export (responses long and wide, ballots,
tally, FLOIP with its progress count). One poll holds each answer that must not count: a ballot
in a safeguarding-flagged text, a changed (superseded) ballot, a simulated phone's answers and a
ballot after the close; and one that must: the ballot a participant had at the close, changed
only after it."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import ExportRun, Participant, Poll
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import import_poll, load_definition, open_poll
from smsapp.services.research.results import respondents_over_time, summarise
from smsapp.services.votes import announce, tallying
from smsapp.web import downloads
from tests.support.answers import record_answer
from tests.support.factories import make_group, make_participant
from tests.support.staff import log_in

POLL = """
slug: agree
title: Agreement
group: oakfield
tie_seed: agree-seed
questions:
  - key: first
    kind: choice
    prompt: "Which first?"
    options: ["Health", "School", "Transport"]
  - key: name
    kind: rank
    prompt: "Rank the names"
    options: ["Apples", "Bananas", "Cherries"]
    max: 3
    tally: {method: irv}
  - key: why
    kind: text
    prompt: "Why?"
    optional: true
"""
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
CLOSE = T0 + timedelta(hours=2)
BALLOT_KEYS = ("first", "name")


KINDS = {"first": "choice", "name": "rank", "why": "text"}


def _answer(
    runtime: Any, poll_id: int, pid: int, key: str, value: Any, at: datetime, **flags: bool
) -> None:
    record_answer(runtime, poll_id, pid, key, KINDS[key], value, at, **flags)


def _pseudonym(runtime: Any, participant_id: int) -> str:
    with runtime.db.transaction() as s:
        person = s.get(Participant, participant_id)
        assert person is not None
        return person.pseudonym


def build(runtime: Any) -> tuple[int, dict[tuple[str, str], Any]]:
    """The poll, closed and counted, and the answers that must count: (pseudonym, key) -> value
    (None for a skip)."""
    make_group(runtime)
    with runtime.db.transaction() as s:
        poll = import_poll(s, POLL).poll
        open_poll(s, poll)
        poll_id = poll.id
    number = iter(range(100, 200))

    def person(*, simulated: bool = False) -> int:
        pid = make_participant(runtime, f"+447911123{next(number):03d}").id
        if simulated:
            with runtime.db.transaction() as s:
                s.execute(
                    sa.update(Participant).where(Participant.id == pid).values(simulated=True)
                )
        return pid

    counted: dict[tuple[str, str], Any] = {}
    at = T0
    rankings = [["A", "B"], ["B"], ["C", "A", "B"], ["A"], ["B", "C"], ["A", "C"]]
    for n, ranking in enumerate(rankings):
        pid = person()
        at += timedelta(minutes=1)
        _answer(runtime, poll_id, pid, "first", "B", at)
        _answer(runtime, poll_id, pid, "name", ranking, at + timedelta(seconds=10))
        skipped = n == 5
        _answer(
            runtime, poll_id, pid, "why", "because", at + timedelta(seconds=20), skipped=skipped
        )
        who = _pseudonym(runtime, pid)
        counted[(who, "first")] = "B"
        counted[(who, "name")] = " ".join(ranking)
        counted[(who, "why")] = None if skipped else "because"

    # A ballot in a flagged text: their only answer, so they responded to nothing that counts.
    flagged = person()
    _answer(runtime, poll_id, flagged, "first", "C", T0 + timedelta(minutes=20), flagged=True)
    # A changed ballot: the first one is superseded.
    changer = person()
    _answer(runtime, poll_id, changer, "first", "C", T0 + timedelta(minutes=21))
    _answer(runtime, poll_id, changer, "first", "B", T0 + timedelta(minutes=22))
    counted[(_pseudonym(runtime, changer), "first")] = "B"
    # The admin's pretend phone: never counted.
    simulated = person(simulated=True)
    _answer(runtime, poll_id, simulated, "first", "C", T0 + timedelta(minutes=23))
    _answer(runtime, poll_id, simulated, "name", ["C"], T0 + timedelta(minutes=23))
    _answer(runtime, poll_id, simulated, "why", "pretend", T0 + timedelta(minutes=23))
    # A ballot changed only after the close: the one held at the close counts.
    held = person()
    _answer(runtime, poll_id, held, "first", "B", T0 + timedelta(minutes=24))

    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        close_poll(runtime, s, poll, now=CLOSE)
    _answer(runtime, poll_id, held, "first", "C", CLOSE + timedelta(minutes=1))
    counted[(_pseudonym(runtime, held), "first")] = "B"
    # A first ballot after the close does not count; a text answer after it is still data.
    late = person()
    _answer(runtime, poll_id, late, "first", "C", CLOSE + timedelta(minutes=2))
    _answer(runtime, poll_id, late, "why", "late", CLOSE + timedelta(minutes=3))
    counted[(_pseudonym(runtime, late), "why")] = "late"

    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        tallying.tally_poll(s, poll, final=True)
    return poll_id, counted


def _csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def _download(client: Any, kind: str) -> list[dict[str, str]]:
    response = client.get(f"/admin/polls/agree/export/{kind}.csv")
    assert response.status_code == 200, response.data
    return _csv(response.data)


def _floip(runtime: Any, client: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], Any]:
    from jobs.exports import export_to_file

    started: list[int] = []
    monkeypatch.setattr(downloads, "start_job", started.append)
    assert client.get("/admin/polls/agree/export/floip.zip").status_code == 302
    export_to_file(started[0])
    file = client.get(f"/admin/exports/{started[0]}/download")
    data = file.data
    file.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        rows = _csv(archive.read("responses.csv"))
    with runtime.db.transaction() as s:
        run = s.get(ExportRun, started[0])
        assert run is not None
        return rows, (run.rows_total, run.rows_done)


def test_every_count_of_a_poll_counts_the_same_answers(runtime, client, monkeypatch) -> None:
    poll_id, counted = build(runtime)
    answered = {pair for pair, value in counted.items() if value is not None}
    ballots = {pair: value for pair, value in counted.items() if pair[1] in BALLOT_KEYS}
    people = {who for who, _ in counted}
    per_question = Counter(key for _, key in answered)
    firsts = Counter(value for (_, key), value in ballots.items() if key == "first")
    assert firsts == {"B": 8} and len(people) == 9  # the scenario, as built

    log_in(runtime, client, "admin")
    # Exports: responses long and wide, ballots, tally, FLOIP (and the job's row count).
    long = _download(client, "responses")
    assert {(r["participant"], r["question"]) for r in long} == set(counted)
    assert {(r["participant"], r["question"]) for r in long if r["skipped"] == "0"} == answered
    wide = _download(client, "responses-wide")
    assert {(r["participant"], k) for r in wide for k in ("first", "name", "why") if r[k]} == (
        answered
    )
    exported = _download(client, "ballots")
    assert {(r["participant"], r["question"]): r["ranking"] for r in exported} == ballots
    tally = _download(client, "tally")
    for key in BALLOT_KEYS:
        assert {int(r["ballots"]) for r in tally if r["question"] == key} == {per_question[key]}
    plurality = {r["option"]: int(r["votes"]) for r in tally if r["question"] == "first"}
    assert plurality == {"A": 0, "B": 8, "C": 0}
    floip, (total, done) = _floip(runtime, client, monkeypatch)
    assert {(r["contact_id"], r["question_id"]) for r in floip} == set(counted)
    assert total == done == len(counted)

    # The stored tally and the ballots it read.
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        defn = load_definition(poll)
        for key in BALLOT_KEYS:
            cast = tallying.cast_ballots(s, poll, defn.question(key))
            assert {(b.pseudonym, key) for b in cast} == {p for p in ballots if p[1] == key}
        stored = tallying.latest_results(s, poll)
        assert {k: {r.ballots for r in runs} for k, runs in stored.items()} == {
            k: {per_question[k]} for k in BALLOT_KEYS
        }
        # The results summary (page and CLI) and the line of respondents over time.
        summary = {q.key: q for q in summarise(s, poll).questions}
        assert {k: q.answered for k, q in summary.items()} == dict(per_question)
        assert {c: n for c, _, n in summary["first"].counts} == {"A": 0, "B": 8, "C": 0}
        assert respondents_over_time(s, poll)[-1][1] == len(people)
        text = announce.results_text(s, poll)
    assert "Which first?: 1 School (8 votes), " in text
    assert "(fewer than" not in text.split("Which first?")[1].splitlines()[0]

    # The results page.
    page = client.get("/admin/polls/agree/results").get_data(as_text=True)
    shown = dict(re.findall(r"<code>(\w+)</code>.*?answered by (\d+) of", page, re.S))
    assert {k: int(n) for k, n in shown.items()} == dict(per_question)
    assert {int(n) for n in re.findall(r"(\d+) ballots?, counted", page)} == {8, 6}
    # The dashboard's response rate.
    dashboard = client.get("/admin/").get_data(as_text=True)
    line = re.search(r"agree</span></td>.*?\((\d+) of (\d+)\)", dashboard, re.S)
    assert line is not None
    assert int(line.group(1)) == len(people)

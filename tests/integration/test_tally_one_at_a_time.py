"""One count of a poll at a time: the tally job and `smsapp polls tally` started together on
their own connections run one after the other, so the final count is stored once.

PostgreSQL only: SQLite takes its write lock at BEGIN (BEGIN IMMEDIATE, smsapp/db.py), so two
counts there cannot overlap in the first place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

import jobs.tally
from smsapp import create_app
from smsapp.conversation.engine import RecordedAnswer
from smsapp.db import Base, Database
from smsapp.models import AuditEvent, Conversation, Poll, TallyRun
from smsapp.runtime import Runtime, build_runtime, install_runtime
from smsapp.services.polls.conversations import record_answers
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.conftest import make_test_settings
from tests.support.databases import postgres_server, throwaway_database
from tests.support.factories import make_group, make_participant

pytestmark = pytest.mark.skipif(
    postgres_server() is None,
    reason="SQLite serialises whole transactions (BEGIN IMMEDIATE): counts cannot overlap there",
)

VOTE = """
slug: race
title: Name our group
group: oakfield
tie_seed: race-seed
questions:
  - key: name
    kind: rank
    prompt: "Rank up to 3, best first"
    options: ["Young Researchers", "Health Voices", "Team Spark"]
    max: 3
    tally: {method: irv}
"""
RANKINGS = [["A", "B", "C"], ["B", "A"], ["C", "B", "A"], ["A", "C"]]
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
WAIT = 60.0  # seconds a thread may take before the test gives up on it (not an assertion)


@pytest.fixture
def committed(tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on a database of its own, committed to for real: each thread's count runs on
    its own connection, as a worker's and a terminal's would."""
    with throwaway_database("smsapp_tally_race", tmp_path) as url:
        db = Database(url)
        Base.metadata.create_all(db.engine)
        try:
            yield build_runtime(make_test_settings(url), database=db)
        finally:
            db.engine.dispose()


def _closed_poll_with_ballots(runtime: Runtime) -> int:
    make_group(runtime)
    people = [make_participant(runtime, f"+4479111{i:05d}").id for i in range(len(RANKINGS))]
    with runtime.db.transaction() as s:
        poll = import_poll(s, VOTE).poll
        open_poll(s, poll)
        s.flush()
        poll_id = poll.id
    for participant_id, ranking in zip(people, RANKINGS, strict=True):
        with runtime.db.transaction() as s:
            conv = Conversation(
                poll_id=poll_id, participant_id=participant_id, status="finished", started_by="t"
            )
            s.add(conv)
            s.flush()
            ballot = RecordedAnswer("name", "rank", ranking, None, "", 1, False, None)
            record_answers(s, conv, (ballot,), inbound_id=None, now=T0)
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Poll)
            .where(Poll.id == poll_id)
            .values(status="closed", closed_at=T0 + timedelta(hours=1))
        )
    return poll_id


def _waiting_on_a_lock(runtime: Runtime) -> bool:
    with runtime.db.engine.connect() as conn:
        return bool(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


def test_the_job_and_the_command_count_one_after_the_other(committed: Runtime) -> None:
    runtime = committed
    poll_id = _closed_poll_with_ballots(runtime)
    install_runtime(runtime)  # the job finds this runtime, as a worker finds its own
    cli = create_app({"RUNTIME": runtime, "TESTING": True}).test_cli_runner()

    job_stored = threading.Event()  # the job has written its runs, not yet committed
    job_may_commit = threading.Event()
    job_thread: list[threading.Thread] = []

    def hold_the_job(session: Session, _context: Any) -> None:
        # Hold the job's transaction open after its runs are written, so the command starts
        # while the job's count is still in progress.
        if threading.current_thread() in job_thread and any(
            isinstance(o, TallyRun) for o in session.new
        ):
            job_stored.set()
            assert job_may_commit.wait(WAIT)

    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(name: str, work: Any) -> None:
        try:
            results[name] = work()
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
            job_stored.set()

    from smsapp.cli import cli as smsapp_cli

    job = threading.Thread(
        target=run, args=("job", lambda: jobs.tally.tally_poll(poll_id, final=True))
    )
    command = threading.Thread(
        target=run,
        args=("cli", lambda: cli.invoke(smsapp_cli, ["polls", "tally", "race", "--json"])),
    )
    job_thread.append(job)
    event.listen(Session, "after_flush", hold_the_job)
    try:
        job.start()
        assert job_stored.wait(WAIT), "the job never wrote its runs"
        command.start()
        # The command either finishes (two counts at once) or waits on the job's lock.
        for _ in range(int(WAIT / 0.05)):
            if not command.is_alive() or _waiting_on_a_lock(runtime):
                break
            command.join(0.05)
        job_may_commit.set()
        job.join(WAIT)
        command.join(WAIT)
    finally:
        job_may_commit.set()
        event.remove(Session, "after_flush", hold_the_job)
    assert errors == []
    assert results["job"] == 3
    assert results["cli"].exit_code == 0, results["cli"].output

    with runtime.db.transaction() as s:
        runs = s.execute(
            sa.select(TallyRun.question_key, TallyRun.method, TallyRun.provisional)
            .where(TallyRun.poll_id == poll_id)
            .order_by(TallyRun.id)
        ).all()
        counted = s.scalars(
            sa.select(AuditEvent.actor).where(AuditEvent.action == "poll.tally")
        ).all()
    # The command waited for the job and found its final count: stored once, not twice.
    assert runs == [("name", "irv", False), ("name", "points", False), ("name", "schulze", False)]
    assert counted == ["tally-job", "cli"]

"""Scheduling a launch: the clock's job launches a due draft through the one launch use case
(same recipients, same refusals, quiet hours), exactly once, and a schedule can be cancelled."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import jobs.schedule
from smsapp import queue
from smsapp.db import Base, Database
from smsapp.models import AuditEvent, Conversation, Participant, ParticipantStatus, Poll, PollStatus
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.clock import PERIODIC
from smsapp.services.outbox import sending
from smsapp.services.polls import scheduling
from smsapp.services.polls.closing import close_poll
from smsapp.services.polls.definitions import PollError, import_poll
from tests.conftest import make_test_settings
from tests.support.databases import postgres_server, throwaway_database
from tests.support.factories import (
    IDEAS,
    NOON,
    VOTE,
    launch,
    make_group,
    make_poll,
    messages,
    people,
)


@pytest.fixture(autouse=True)
def no_queue(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    # Record what would be enqueued: a job thread must not share the test's one connection.
    kicks: list[str] = []
    monkeypatch.setattr(queue, "enqueue", lambda rt, job, *a, **kw: kicks.append(job))
    return kicks


def schedule(runtime: Runtime, at: str, slug: str = "name-our-group", now: datetime = NOON) -> Any:
    with runtime.db.transaction() as s:
        return scheduling.schedule_launch(runtime, s, slug, at, actor="fac@example.org", now=now)


def poll_row(runtime: Runtime, slug: str = "name-our-group") -> Poll:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
        assert poll is not None
        return poll


def test_the_clock_launches_a_due_poll_once_and_not_before(runtime: Runtime, no_queue) -> None:
    make_poll(runtime)
    people(runtime, 3)
    done = schedule(runtime, "2026-03-03 17:30")
    assert done.launch_at == datetime(2026, 3, 3, 17, 30, tzinfo=UTC)
    assert done.when == "Tue 03 Mar 2026 17:30 (Europe/London)" and done.warning is None

    early = scheduling.launch_due_polls(runtime, now=datetime(2026, 3, 3, 17, 29, tzinfo=UTC))
    assert early["launched"] == 0 and messages(runtime) == []
    assert poll_row(runtime).status == PollStatus.DRAFT

    due = datetime(2026, 3, 3, 17, 30, 10, tzinfo=UTC)
    assert scheduling.launch_due_polls(runtime, now=due)["launched"] == 1
    poll = poll_row(runtime)
    assert poll.status == PollStatus.OPEN and poll.launch_at is None
    assert poll.launched_at == due
    assert len(messages(runtime, kind="invitation")) == 3
    assert no_queue == [sending.SEND_JOB]  # the senders were started at once

    # A second tick (or a second worker after the first committed) finds nothing to do.
    assert scheduling.launch_due_polls(runtime, now=due + timedelta(seconds=15)) == {
        "launched": 0,
        "refused": 0,
        "taken": 0,
    }
    assert len(messages(runtime, kind="invitation")) == 3
    with runtime.db.transaction() as s:
        actors = s.scalars(
            sa.select(AuditEvent.actor).where(AuditEvent.action == "poll.launch")
        ).all()
    assert actors == ["schedule (fac@example.org)"]


def test_a_claim_taken_once_cannot_be_taken_again(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 1)
    done = schedule(runtime, "2026-03-03 17:30")
    poll_id = poll_row(runtime).id
    with runtime.db.transaction() as s:
        assert scheduling.claim(s, poll_id, done.launch_at) is True
    with runtime.db.transaction() as s:
        assert scheduling.claim(s, poll_id, done.launch_at) is False
    assert scheduling.launch_one(runtime, poll_id, done.launch_at) == "taken"
    assert messages(runtime) == []


def test_a_launch_due_in_quiet_hours_waits_for_the_morning(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 2)
    done = schedule(runtime, "2026-03-03 22:00")
    assert done.plan is not None and done.plan.deferred  # the page and the CLI say so ahead
    scheduling.launch_due_polls(runtime, now=datetime(2026, 3, 3, 22, 0, 5, tzinfo=UTC))
    assert poll_row(runtime).status == PollStatus.OPEN
    queued = messages(runtime, kind="invitation")
    assert len(queued) == 2
    assert {m.send_after for m in queued} == {datetime(2026, 3, 4, 8, 0, tzinfo=UTC)}
    assert all(m.deferred for m in queued)


def test_a_scheduled_launch_is_refused_as_a_launch_by_hand_would_be(runtime: Runtime) -> None:
    make_poll(runtime)
    [only] = people(runtime, 1)
    done = schedule(runtime, "2026-03-03 17:30")
    assert done.warning is None
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Participant)
            .where(Participant.id == only)
            .values(status=ParticipantStatus.OPTED_OUT)
        )
    outcome = scheduling.launch_due_polls(runtime, now=datetime(2026, 3, 3, 17, 31, tzinfo=UTC))
    assert outcome["refused"] == 1
    poll = poll_row(runtime)
    assert poll.status == PollStatus.DRAFT and poll.launch_at is None
    assert poll.launch_problem is not None
    assert "did not go ahead: nobody in the group can be texted" in poll.launch_problem
    assert messages(runtime) == []
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0


def test_scheduling_refuses_past_times_and_polls_that_are_not_drafts(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 1)
    with pytest.raises(PollError, match="already passed"):
        schedule(runtime, "2026-03-03 11:00")
    assert poll_row(runtime).launch_at is None
    launch(runtime)
    with pytest.raises(PollError, match="is open, so it cannot be scheduled"):
        schedule(runtime, "2026-03-04 10:00")
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "name-our-group"))
        assert poll is not None
        close_poll(runtime, s, poll, now=NOON)
    with pytest.raises(PollError, match="is closed, so it cannot be scheduled"):
        schedule(runtime, "2026-03-04 10:00")


def test_a_launch_by_hand_takes_the_schedule_off(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, 2)
    schedule(runtime, "2026-03-03 17:30")
    launch(runtime)
    assert poll_row(runtime).launch_at is None
    later = datetime(2026, 3, 3, 17, 31, tzinfo=UTC)
    assert scheduling.launch_due_polls(runtime, now=later)["launched"] == 0
    assert len(messages(runtime, kind="invitation")) == 2


def test_the_clock_enqueues_the_schedule_job_which_launches(runtime: Runtime) -> None:
    assert "jobs.schedule.launch_due" in {p.job for p in PERIODIC}
    make_poll(runtime)
    people(runtime, 1)
    with runtime.db.transaction() as s:
        # Due a minute ago by the real clock (the job reads it).
        s.execute(
            sa.update(Poll).values(
                launch_at=datetime.now(UTC) - timedelta(minutes=1), launch_scheduled_by="t"
            )
        )
    assert jobs.schedule.launch_due()["launched"] == 1
    assert poll_row(runtime).status == PollStatus.OPEN


def test_cli_schedule_shows_the_plan_and_cancel_removes_it(runtime: Runtime, runner: Any) -> None:
    make_poll(runtime)
    people(runtime, 2)
    past = runner.invoke(["polls", "schedule", "name-our-group", "--at", "2020-01-01 10:00"])
    assert past.exit_code != 0 and "already passed" in past.output
    assert "Nothing was scheduled" in past.output
    neither = runner.invoke(["polls", "schedule", "name-our-group"])
    assert neither.exit_code != 0 and "--cancel" in neither.output

    ok = runner.invoke(["polls", "schedule", "name-our-group", "--at", "2099-06-01 17:30"])
    assert ok.exit_code == 0, ok.output
    assert "launches at Mon 01 Jun 2099 17:30 (Europe/London)" in ok.output
    assert "Recipients: 2" in ok.output
    assert "smsapp polls schedule name-our-group --cancel" in ok.output
    assert poll_row(runtime).launch_at == datetime(2099, 6, 1, 16, 30, tzinfo=UTC)

    cancelled = runner.invoke(["polls", "schedule", "name-our-group", "--cancel"])
    assert cancelled.exit_code == 0, cancelled.output
    assert (
        "Cancelled the launch of name-our-group scheduled for Mon 01 Jun 2099" in cancelled.output
    )
    assert poll_row(runtime).launch_at is None
    again = runner.invoke(["polls", "schedule", "name-our-group", "--cancel"])
    assert again.exit_code != 0 and "no scheduled launch" in again.output


def test_the_launch_page_schedules_and_cancels(runtime: Runtime, client: Any, login: Any) -> None:
    make_poll(runtime)
    people(runtime, 2)
    token = login("facilitator")
    page = client.get("/admin/polls/name-our-group/launch").get_data(as_text=True)
    assert "Launch later" in page and 'type="datetime-local"' in page
    bad = client.post(
        "/admin/polls/name-our-group/schedule",
        data={"csrf_token": token, "launch_at": "2020-01-01T10:00"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Not scheduled" in bad and "already passed" in bad
    assert poll_row(runtime).launch_at is None
    done = client.post(
        "/admin/polls/name-our-group/schedule",
        data={"csrf_token": token, "launch_at": "2099-06-01T21:30"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "launches at Mon 01 Jun 2099 21:30 (Europe/London)" in done
    assert "in quiet hours: the texts go out from Tue 02 Jun 2099 08:00" in done
    assert "the texts wait until <strong>Tue 02 Jun 2099 08:00" in done  # the card says it too
    assert "It would close Mon 08 Jun 2099 21:30" in done  # 7 days after the scheduled time
    assert 'value="2099-06-01T21:30"' in done  # the field shows the time, to move it
    listing = client.get("/admin/polls").get_data(as_text=True)
    assert "launches Mon 01 Jun 2099 21:30 (Europe/London)" in listing
    cancelled = client.post(
        "/admin/polls/name-our-group/schedule/cancel",
        data={"csrf_token": token},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "The scheduled launch is cancelled" in cancelled
    assert poll_row(runtime).launch_at is None


def test_researchers_cannot_schedule(runtime: Runtime, client: Any, login: Any) -> None:
    make_poll(runtime)
    token = login("researcher")
    response = client.post(
        "/admin/polls/name-our-group/schedule",
        data={"csrf_token": token, "launch_at": "2099-06-01T21:30"},
    )
    assert response.status_code == 403
    assert poll_row(runtime).launch_at is None


# ---------------------------------------------------------------------------------------------
# Two workers at once (PostgreSQL: SQLite runs one write transaction at a time anyway)


@pytest.mark.skipif(postgres_server() is None, reason="PostgreSQL only: real concurrent claims")
def test_two_workers_racing_for_a_due_poll_launch_it_once(tmp_path: Path) -> None:
    with throwaway_database("smsapp_schedule_race", tmp_path) as url:
        db = Database(url)
        Base.metadata.create_all(db.engine)
        rt = build_runtime(make_test_settings(url), database=db)
        try:
            make_poll(rt)
            people(rt, 4)
            with rt.db.transaction() as s:
                done = scheduling.schedule_launch(
                    rt, s, "name-our-group", "2026-03-03 17:30", actor="t", now=NOON
                )
            due = done.launch_at + timedelta(seconds=5)
            barrier = threading.Barrier(4)
            outcomes: list[dict[str, int]] = []

            def worker() -> None:
                barrier.wait()
                outcomes.append(scheduling.launch_due_polls(rt, now=due))

            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert sum(o["launched"] for o in outcomes) == 1, outcomes
            # The others lost the claim; none tried to launch an open poll and "refused" it.
            assert sum(o["taken"] for o in outcomes) == 3, outcomes
            assert poll_row(rt).launch_problem is None
            assert len(messages(rt, kind="invitation")) == 4
            with rt.db.transaction() as s:
                launches = s.scalar(
                    sa.select(sa.func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "poll.launch")
                )
            assert launches == 1
        finally:
            db.engine.dispose()


def test_a_vote_waiting_for_its_shortlist_is_scheduled_with_a_warning(runtime: Runtime) -> None:
    make_group(runtime)
    people(runtime, 2)
    with runtime.db.transaction() as s:
        import_poll(s, IDEAS)
        import_poll(s, VOTE)
    done = schedule(runtime, "2026-03-03 17:30", slug="vote")
    assert done.warning is not None and "shortlist that has not been made yet" in done.warning
    outcome = scheduling.launch_due_polls(runtime, now=datetime(2026, 3, 3, 17, 31, tzinfo=UTC))
    assert outcome["refused"] == 1
    problem = poll_row(runtime, "vote").launch_problem
    assert problem is not None and "shortlist" in problem

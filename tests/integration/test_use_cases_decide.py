"""Decisions that lived in a view, a job or a command are made by the use case, and every caller
gets the same answer: a launch to nobody and results to nobody are refused by the service, and
closing a poll asks for its tally and starts the send jobs itself, with one policy when the
queue is down (the close stands; the caller shows a note)."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import jobs.deadlines
from smsapp import create_app, queue
from smsapp.db import utcnow
from smsapp.models import (
    Conversation,
    OutboundStatus,
    Participant,
    ParticipantStatus,
    Poll,
    PollStatus,
)
from smsapp.runtime import Runtime, install_runtime
from smsapp.services.outbox.sending import SEND_JOB
from smsapp.services.polls.closing import TALLY_JOB, close_by_slug
from smsapp.services.polls.definitions import PollError
from smsapp.services.polls.launch import launch_poll
from smsapp.services.votes.announce import queue_results
from tests.support.factories import launch, make_participant, make_poll, messages, people
from tests.support.staff import log_in


def _poll(runtime: Runtime, slug: str) -> Poll:
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == slug))
        assert poll is not None
        return poll


# -- refusals ----------------------------------------------------------------------------------


def test_launch_poll_refuses_a_launch_to_nobody(runtime: Runtime, runner: Any) -> None:
    make_participant(runtime, "+447911123100", consent=False)
    make_poll(runtime)
    nobody = pytest.raises(PollError, match="nobody in the group can be texted")
    with nobody, runtime.db.transaction() as s:
        launch_poll(runtime, s, "name-our-group")
    assert _poll(runtime, "name-our-group").status == PollStatus.DRAFT
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Conversation)) == 0
    assert messages(runtime) == []
    # The command shows the service's own words, before it asks anything.
    shown = runner.invoke(["polls", "launch", "name-our-group"], input="y\n")
    assert shown.exit_code != 0
    assert "nobody in the group can be texted" in shown.output and "Send " not in shown.output


def test_queue_results_refuses_results_to_nobody(runtime: Runtime, phone: Any) -> None:
    make_poll(runtime)
    [pid] = people(runtime, 1)
    launch(runtime, now=utcnow())
    phone("+447911123100").replies("1")  # took part
    close_by_slug(runtime, "name-our-group")
    queue.run_pending(runtime)  # the final count the close asked for
    with runtime.db.transaction() as s:
        s.execute(
            sa.update(Participant)
            .where(Participant.id == pid)
            .values(status=ParticipantStatus.OPTED_OUT)
        )
    nobody = pytest.raises(PollError, match="nobody who took part can be texted")
    with nobody, runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll))
        assert poll is not None
        queue_results(runtime, s, poll)
    assert messages(runtime, kind="results") == []


# -- closing asks for the tally and the sends itself -------------------------------------------


def _one_waiting(runtime: Runtime) -> int:
    """Poll "first" open for one participant, and "second" waiting for them behind it."""
    make_poll(runtime, "first")
    make_poll(runtime, "second")
    [pid] = people(runtime, 1)
    launch(runtime, "first")
    launch(runtime, "second", utcnow())  # not due when the deadline job looks
    return pid


def test_close_by_slug_asks_for_the_tally_and_starts_the_sends(runtime: Runtime) -> None:
    pid = _one_waiting(runtime)
    result = close_by_slug(runtime, "first")
    assert len(result.started_next) == 1 and result.queue_problem is None
    first = _poll(runtime, "first")
    assert runtime.pending_jobs == [(TALLY_JOB, (first.id,), {}), (SEND_JOB, (), {})]
    second = _poll(runtime, "second")
    [invitation] = messages(runtime, poll_id=second.id, kind="invitation")
    assert invitation.participant_id == pid and invitation.status == OutboundStatus.QUEUED


def _by_web(app: Any, runtime: Runtime) -> str:
    client = app.test_client()
    token = log_in(runtime, client)
    closed = client.post("/admin/polls/first/close", data={"csrf_token": token, "confirm": "yes"})
    assert closed.status_code == 302 and closed.headers["Location"].endswith("/results")
    page = client.get("/admin/polls/first/results").get_data(as_text=True)
    assert "Closed: 1 conversation(s) ended" in page
    return page


def _by_cli(app: Any, runtime: Runtime) -> str:
    from smsapp.cli import cli

    done = app.test_cli_runner().invoke(cli, args=["polls", "close", "first"])
    assert done.exit_code == 0, done.output
    assert "Closed first: 1 conversation(s) ended" in done.output
    return str(done.output)


def _by_deadline(app: Any, runtime: Runtime) -> str:
    install_runtime(runtime)
    assert jobs.deadlines.run_deadlines()["closed"] == 1  # launched in March: long due
    return ""  # a job has nobody to tell: the log says it


CALLERS: dict[str, Callable[[Any, Runtime], str]] = {
    "web": _by_web,
    "cli": _by_cli,
    "deadline-job": _by_deadline,
}


@pytest.mark.parametrize("caller", CALLERS)
def test_every_closing_caller_gets_the_tally_and_the_sends(
    runtime: Runtime, tmp_path: Path, caller: str
) -> None:
    _one_waiting(runtime)
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    CALLERS[caller](app, runtime)
    first = _poll(runtime, "first")
    assert first.status == PollStatus.CLOSED
    jobs_asked = [job for job, _, _ in runtime.pending_jobs]
    assert (TALLY_JOB, (first.id,), {}) in runtime.pending_jobs
    assert jobs_asked.count(SEND_JOB) >= 1


@pytest.fixture
def queue_down(runtime: Runtime) -> Runtime:
    """The same runtime with its queue on a Redis that is not there."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
    settings = runtime.settings.with_overrides(queue_mode="redis", redis_url=dead)
    return dataclasses.replace(runtime, settings=settings, _redis=None)


@pytest.mark.parametrize("caller", CALLERS)
def test_a_queue_that_is_down_does_not_undo_a_close_in_any_caller(
    runtime: Runtime,
    queue_down: Runtime,
    tmp_path: Path,
    caller: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pid = _one_waiting(runtime)
    app = create_app({"RUNTIME": queue_down, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    shown = CALLERS[caller](app, queue_down)
    if caller != "deadline-job":
        assert "Note: the queue could not be reached" in shown
    assert _poll(runtime, "first").status == PollStatus.CLOSED
    second = _poll(runtime, "second")
    # The invitation the close queued waits in the database for the clock's next kick.
    [invitation] = messages(runtime, poll_id=second.id, kind="invitation")
    assert invitation.participant_id == pid and invitation.status == OutboundStatus.QUEUED
    assert "could not start the send jobs" in caplog.text
    assert "tally was not queued" in caplog.text


def test_close_by_slug_notes_a_queue_that_is_down(runtime: Runtime, queue_down: Runtime) -> None:
    _one_waiting(runtime)
    result = close_by_slug(queue_down, "first")
    assert result.queue_problem is not None and "Tally now" in result.queue_problem
    assert _poll(runtime, "first").status == PollStatus.CLOSED

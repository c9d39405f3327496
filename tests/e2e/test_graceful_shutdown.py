"""Real `smsapp worker` and `smsapp clock` processes told to stop with SIGTERM, as a platform does
on every deploy: the job in hand finishes and is recorded, nothing new starts, exit code 0.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from rq.job import Job, JobStatus

from smsapp.queue import QUEUE_NAME
from tests.conftest import DATA_KEY

pytestmark = pytest.mark.redis

SMSAPP = str(Path(sys.executable).with_name("smsapp"))
ROOT = Path(__file__).resolve().parent.parent.parent
JOB_SECONDS = 2.0


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}",  # neither process touches it
        REDIS_URL=redis_url,
        SMSAPP_QUEUE="redis",
        SECRET_KEY="shutdown-secret",
        SMSAPP_DATA_KEY=DATA_KEY,
        SMSAPP_LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),  # so the worker can import tests.support.slow_job
    )
    env.pop("FLASK_APP", None)
    return env


@pytest.fixture
def spawn(tmp_path: Path, env: dict[str, str]) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{args[0]}.log").open("wb")
        process = subprocess.Popen(
            [SMSAPP, *args], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def wait_for(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text().splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def test_sigterm_lets_the_worker_finish_its_job_then_exit_0(
    tmp_path: Path, redis_client: Any, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    queue = Queue(QUEUE_NAME, connection=redis_client)
    marker = tmp_path / "side-effect"
    first = queue.enqueue("tests.support.slow_job.slow", str(marker), JOB_SECONDS, job_id="slow-1")
    second = queue.enqueue("tests.support.slow_job.slow", str(tmp_path / "never"), 0.1)
    worker = spawn("worker")
    started = Path(str(marker) + ".started")
    wait_for(started.exists, 30, "the worker to start the slow job")
    horse, parent = (int(pid) for pid in started.read_text().split())
    if parent != worker.pid:  # never signal a process this test did not start
        pytest.fail("another worker on this Redis database took the job; run the test alone")
    signalled = time.monotonic()
    # As a platform does: SIGTERM to every process, the work-horse included.
    os.kill(worker.pid, signal.SIGTERM)
    os.kill(horse, signal.SIGTERM)
    assert worker.wait(timeout=JOB_SECONDS + 15) == 0
    waited = time.monotonic() - signalled

    assert marker.read_text() == "done", "the job was cut short"
    job = Job.fetch(first.id, connection=redis_client)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == "done"
    assert waited > JOB_SECONDS / 2, "the worker did not wait for its job"
    # Nothing new was started after the signal: the second job is still queued for the next.
    assert Job.fetch(second.id, connection=redis_client).get_status() == JobStatus.QUEUED
    assert not (tmp_path / "never.started").exists()

    # The job's own log lines carry its job id as their request id.
    lines = json_lines(tmp_path / "worker.log")
    finished = [line for line in lines if line["message"] == "slow job finished"]
    assert [line["request_id"] for line in finished] == ["slow-1"]
    assert {"time", "level", "logger"} <= finished[0].keys()


def test_sigterm_stops_the_clock_promptly_with_exit_0(
    tmp_path: Path, redis_client: Any, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    queue = Queue(QUEUE_NAME, connection=redis_client)
    log = tmp_path / "clock.log"
    clock = spawn("clock", "--interval", "0.2")
    # Its own "started" line: the SIGTERM handler is in place by then.
    wait_for(lambda: "clock started" in log.read_text(), 30, "the clock to start")
    wait_for(lambda: "clock-jobs-sending-kick" in queue.get_job_ids(), 10, "a tick")
    signalled = time.monotonic()
    os.kill(clock.pid, signal.SIGTERM)
    assert clock.wait(timeout=10) == 0
    assert time.monotonic() - signalled < 3
    started = [line for line in json_lines(log) if line["message"].startswith("clock started")]
    assert len(started) == 1 and started[0]["logger"] == "smsapp.services.clock"

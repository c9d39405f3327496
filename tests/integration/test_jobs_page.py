"""/admin/jobs on real Redis: queue lengths, failed jobs with their error's last line, requeue
(one or all, CSRF required, audited), and the embedded mode's plain "nothing to show"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from rq import Queue, SimpleWorker
from rq.job import Job, JobStatus

from smsapp import create_app
from smsapp.models import AuditEvent
from smsapp.queue import QUEUE_NAME
from smsapp.runtime import Runtime
from smsapp.services.people.staff import create_user
from smsapp.web.queue_page import last_line

PASSWORD = "correct horse battery"


def csrf(client: FlaskClient, path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert match, path
    return match.group(1)


def log_in(runtime: Runtime, client: FlaskClient, role: str = "admin") -> None:
    with runtime.db.transaction() as s:
        create_user(s, f"{role}@example.org", PASSWORD, role)
    data = {
        "email": f"{role}@example.org",
        "password": PASSWORD,
        "csrf_token": csrf(client, "/login"),
    }
    assert client.post("/login", data=data).status_code == 302


@pytest.fixture
def redis_app(
    runtime: Runtime, redis_url: str, redis_client: Any, tmp_path: Path
) -> Iterator[Flask]:
    runtime.settings = runtime.settings.with_overrides(queue_mode="redis", redis_url=redis_url)
    yield create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    if runtime._redis is not None:
        runtime._redis.close()


def fail_a_job(redis_client: Any, message: str) -> str:
    """A job that really failed in a worker, as RQ records it."""
    queue = Queue(QUEUE_NAME, connection=redis_client)
    job = queue.enqueue("tests.support.slow_job.boom", message)
    SimpleWorker([queue], connection=redis_client).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FAILED
    return job.id


def test_embedded_mode_says_there_is_nothing_to_show(app: Flask, runtime: Runtime) -> None:
    client = app.test_client()
    log_in(runtime, client)
    page = client.get("/admin/jobs/")
    assert page.status_code == 200
    assert "jobs run inside the web process; nothing to show" in page.get_data(as_text=True).lower()


def test_page_shows_queue_lengths_and_failed_jobs_last_line(
    redis_app: Flask, runtime: Runtime, redis_client: Any
) -> None:
    failed_id = fail_a_job(redis_client, "twilio said no to +447911123456")
    queue = Queue(QUEUE_NAME, connection=redis_client)
    for n in range(3):
        queue.enqueue("tests.support.slow_job.slow", f"/nonexistent/{n}")
    client = redis_app.test_client()
    log_in(runtime, client)
    body = client.get("/admin/jobs/").get_data(as_text=True)

    assert re.search(r"<dt>queued</dt><dd>3</dd>", body)
    assert re.search(r"<dt>failed</dt><dd>1</dd>", body)
    assert failed_id in body
    assert "ValueError: twilio said no to [number]" in body
    assert "inner cause" not in body  # the last line only, not the chained traceback
    assert "7911" not in body  # a number quoted by an error is never shown
    assert "No worker is running" in body


def test_requeue_one_needs_csrf_then_queues_it_again_and_audits(
    redis_app: Flask, runtime: Runtime, redis_client: Any
) -> None:
    job_id = fail_a_job(redis_client, "flaky")
    client = redis_app.test_client()
    log_in(runtime, client)

    refused = client.post("/admin/jobs/requeue", data={"job_id": job_id})
    assert refused.status_code == 400
    assert Job.fetch(job_id, connection=redis_client).get_status() == JobStatus.FAILED

    token = csrf(client, "/admin/jobs/")
    done = client.post("/admin/jobs/requeue", data={"job_id": job_id, "csrf_token": token})
    assert done.status_code == 302
    assert Job.fetch(job_id, connection=redis_client).get_status() == JobStatus.QUEUED
    queue = Queue(QUEUE_NAME, connection=redis_client)
    assert queue.get_job_ids() == [job_id]
    assert queue.failed_job_registry.get_job_count(cleanup=False) == 0
    with runtime.db.transaction() as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "jobs.requeue"))
        assert event is not None
        assert event.actor == "admin@example.org" and event.details == {"job_ids": [job_id]}

    again = client.post("/admin/jobs/requeue", data={"job_id": job_id, "csrf_token": token})
    assert "no longer in the failed list" in client.get(again.headers["Location"]).get_data(
        as_text=True
    )


def test_requeue_all(redis_app: Flask, runtime: Runtime, redis_client: Any) -> None:
    ids = {fail_a_job(redis_client, f"failure {n}") for n in range(3)}
    client = redis_app.test_client()
    log_in(runtime, client)
    token = csrf(client, "/admin/jobs/")
    response = client.post("/admin/jobs/requeue", data={"all": "1", "csrf_token": token})
    assert response.status_code == 302
    assert set(Queue(QUEUE_NAME, connection=redis_client).get_job_ids()) == ids
    assert "Requeued 3 jobs." in client.get("/admin/jobs/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["facilitator", "researcher", "safeguarding"])
def test_only_admins_see_or_requeue(redis_app: Flask, runtime: Runtime, role: str) -> None:
    client = redis_app.test_client()
    log_in(runtime, client, role)
    assert client.get("/admin/jobs/").status_code == 403
    token = csrf(client, "/admin/")
    assert (
        client.post("/admin/jobs/requeue", data={"all": "1", "csrf_token": token}).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("exc_string", "shown"),
    [
        ("Traceback:\n  File x\nValueError: boom\n\n", "ValueError: boom"),
        (
            "Work-horse terminated unexpectedly; waitpid returned 9",
            "Work-horse terminated unexpectedly; waitpid returned 9",
        ),
        ("RuntimeError: cannot text 07911 123456 now", "RuntimeError: cannot text [number] now"),
        (
            "ValueError: To number: +447911123456, is not a mobile",
            "ValueError: To number: [number], is not a mobile",
        ),
        ("SendError: 07911,123,456 refused", "SendError: [number] refused"),
        ("", "(no error kept)"),
        (None, "(no error kept)"),
    ],
)
def test_last_line(exc_string: str | None, shown: str) -> None:
    assert last_line(exc_string) == shown

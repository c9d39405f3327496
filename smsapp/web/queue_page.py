"""The admins' queue page (/admin/jobs): queue lengths, workers, failed jobs with their error,
and requeue. The jobs themselves are in the top-level jobs/ package.

Reads RQ's own registries for smsapp's queue. Requeueing is safe because every job looks up
its work in the database: a job run twice finds nothing left to do the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.privacy.redact import redact
from smsapp.queue import QUEUE_NAME
from smsapp.services import audit
from smsapp.web import request_transaction, runtime
from smsapp.web.auth import roles_required

bp = Blueprint("jobs", __name__, url_prefix="/admin/jobs")

FAILED_SHOWN = 50  # the newest; the total is shown beside them


def last_line(exc_string: str | None) -> str:
    """The traceback's last non-blank line (the exception itself), with any number quoted in it
    (an API error may quote one) taken out by the one redaction rule."""
    lines = [line.strip() for line in (exc_string or "").splitlines() if line.strip()]
    if not lines:
        return "(no error kept)"
    return redact(lines[-1])


@dataclass(frozen=True)
class FailedJob:
    id: str
    func: str
    error: str
    ended_at: datetime | None


@dataclass(frozen=True)
class RunningJob:
    id: str
    func: str
    started_at: datetime | None
    seconds: float | None


@dataclass(frozen=True)
class WorkerRow:
    name: str
    state: str
    job_id: str | None
    last_heartbeat: datetime | None


@dataclass(frozen=True)
class Overview:
    counts: dict[str, int]
    failed_total: int
    failed: list[FailedJob]
    running: list[RunningJob]
    workers: list[WorkerRow]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)  # RQ stores UTC without saying so
    return value


def read_overview(redis: Any) -> Overview:
    from rq import Queue, Worker
    from rq.job import Job
    from rq.results import Result

    queue = Queue(QUEUE_NAME, connection=redis)
    registries = {
        "started": queue.started_job_registry,
        "scheduled": queue.scheduled_job_registry,
        "deferred": queue.deferred_job_registry,
        "failed": queue.failed_job_registry,
        "finished": queue.finished_job_registry,
    }
    # cleanup=False: looking at the page must not move jobs between registries.
    counts = {"queued": queue.count}
    counts.update({name: reg.get_job_count(cleanup=False) for name, reg in registries.items()})

    failed = []
    failed_ids = queue.failed_job_registry.get_job_ids(
        0, FAILED_SHOWN - 1, desc=True, cleanup=False
    )
    for job_id, job in zip(failed_ids, Job.fetch_many(failed_ids, connection=redis), strict=True):
        if job is None:  # expired between the two reads
            continue
        result = job.latest_result()
        error = (
            result.exc_string if result is not None and result.type == Result.Type.FAILED else None
        )
        failed.append(
            FailedJob(job_id, job.func_name or "?", last_line(error), _aware(job.ended_at))
        )

    now = datetime.now(UTC)
    running = []
    started_ids = queue.started_job_registry.get_job_ids(cleanup=False)
    for job_id, job in zip(started_ids, Job.fetch_many(started_ids, connection=redis), strict=True):
        started = _aware(job.started_at) if job is not None else None
        seconds = (now - started).total_seconds() if started is not None else None
        func = (job.func_name or "?") if job is not None else "(gone)"
        running.append(RunningJob(job_id, func, started, seconds))

    workers = [
        WorkerRow(w.name, str(w.get_state()), w.get_current_job_id(), _aware(w.last_heartbeat))
        for w in Worker.all(queue=queue)
    ]
    return Overview(
        counts, counts["failed"], failed, running, sorted(workers, key=lambda w: w.name)
    )


@bp.get("/")
@roles_required("admin")
def index() -> ResponseReturnValue:
    redis = runtime().redis()
    if redis is None:
        return render_template("jobs/index.html", embedded=True, overview=None)
    return render_template("jobs/index.html", embedded=False, overview=read_overview(redis))


@bp.post("/requeue")
@roles_required("admin")
def requeue() -> ResponseReturnValue:
    """Requeue one failed job (`job_id`) or all of them (`all=1`)."""
    from rq import Queue
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    redis = runtime().redis()
    if redis is None:
        flash("Jobs run inside the web process here; there is nothing to requeue.")
        return redirect(url_for("jobs.index"))
    registry = Queue(QUEUE_NAME, connection=redis).failed_job_registry
    if request.form.get("all") == "1":
        wanted = registry.get_job_ids(cleanup=False)
    else:
        job_id = (request.form.get("job_id") or "").strip()
        if not job_id:
            abort(400)
        wanted = [job_id]
    done = []
    for job_id in wanted:
        try:
            registry.requeue(job_id)
            done.append(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            pass  # gone meanwhile, or already requeued by someone else
    if done:
        with request_transaction() as s:
            audit.record(s, current_user.email, "jobs.requeue", None, job_ids=done)
    if len(wanted) == 1 and not done:
        flash(f"Job {wanted[0]} is no longer in the failed list.")
    else:
        flash(f"Requeued {len(done)} job{'s' if len(done) != 1 else ''}.")
    return redirect(url_for("jobs.index"))

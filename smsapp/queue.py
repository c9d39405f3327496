"""The one way to enqueue work: RQ on Redis, or an in-process pool when there is no Redis.

Jobs are named by dotted path ("jobs.sending.send_due") so nothing in smsapp imports jobs/.
Work that matters is recorded in the database first, so a lost queue entry is found again by
the clock; the queue only says "look now".
"""

from __future__ import annotations

import importlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from smsapp.runtime import Runtime

log = logging.getLogger(__name__)

QUEUE_NAME = "smsapp"
DEFAULT_TIMEOUT = 600

_pool: ThreadPoolExecutor | None = None


def _embedded_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="smsapp-job")
    return _pool


def resolve(job: str) -> Any:
    module_name, _, attr = job.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def _run_embedded(job: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return resolve(job)(*args, **kwargs)
    except Exception:
        log.exception("embedded job %s failed", job)
        raise


def enqueue(
    runtime: Runtime,
    job: str,
    *args: Any,
    job_id: str | None = None,
    timeout: int = DEFAULT_TIMEOUT,
    **kwargs: Any,
) -> Any:
    """Queue `job(*args, **kwargs)`. A job_id makes the enqueue idempotent while it is queued."""
    if runtime.settings.queue_mode == "manual":
        # Tests: remember the job; run_pending() runs it in the caller's thread when asked.
        runtime.pending_jobs.append((job, args, kwargs))
        return None
    redis = runtime.redis()
    if redis is None:
        future: Future[Any] = _embedded_pool().submit(_run_embedded, job, args, kwargs)
        return future
    from rq import Queue
    from rq.job import Job, JobStatus

    queue = Queue(QUEUE_NAME, connection=redis, default_timeout=timeout)
    if job_id is not None:
        try:
            existing = Job.fetch(job_id, connection=redis)
            if existing.get_status(refresh=True) in (JobStatus.QUEUED, JobStatus.STARTED):
                return existing
        except Exception:  # NoSuchJobError and friends: enqueue afresh
            pass
    return queue.enqueue(
        job,
        *args,
        job_id=job_id,
        job_timeout=timeout,
        result_ttl=300,
        failure_ttl=7 * 24 * 3600,
        **kwargs,
    )


def run_pending(runtime: Runtime) -> list[str]:
    """Run the jobs a "manual" queue collected, in order, including any they enqueue."""
    ran = []
    while runtime.pending_jobs:
        job, args, kwargs = runtime.pending_jobs.pop(0)
        resolve(job)(*args, **kwargs)
        ran.append(job)
    return ran


def queue_health(runtime: Runtime) -> str:
    redis = runtime.redis()
    if redis is None:
        return "ok"
    try:
        redis.ping()
        return "ok"
    except Exception as exc:
        return f"down: {type(exc).__name__}"

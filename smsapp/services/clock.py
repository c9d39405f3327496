"""The clock: every few seconds, enqueue the periodic jobs that look for due work.

The database says what is due; the clock only prompts the jobs to look. Each periodic job has
a fixed job id, so a slow queue never piles up copies of the same prompt.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass

from smsapp.queue import enqueue
from smsapp.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Periodic:
    job: str
    every: float  # seconds


# Filled in as the capabilities that own the work exist (sending, reminders, deadlines).
PERIODIC: list[Periodic] = [
    Periodic("jobs.sending.kick", 2.0),  # starts send jobs when texts are due (deferred, retried)
    Periodic("jobs.sending.reconcile_stuck", 30.0),  # sends a dead worker left half-done
    Periodic("jobs.reminders.queue_reminders", 15.0),
    Periodic("jobs.deadlines.run_deadlines", 15.0),  # poll deadlines, idle conversations
    Periodic("jobs.schedule.launch_due", 15.0),  # scheduled launches whose time has come
    Periodic("jobs.tally.refresh_provisional", 30.0),  # live results of open polls
    Periodic("jobs.safeguarding.sweep_retention", 3600.0),
    Periodic(
        "jobs.agenda.sweep_proposer_results", 60.0
    ),  # a proposer's results, if lost  # numbers past their retention
]


def tick(runtime: Runtime, now: float, last_run: dict[str, float]) -> list[str]:
    """Enqueue every periodic job whose interval has passed; returns the jobs enqueued."""
    started = []
    for item in PERIODIC:
        if now - last_run.get(item.job, 0.0) >= item.every:
            # RQ job ids allow only letters, digits, "_" and "-".
            enqueue(runtime, item.job, job_id="clock-" + item.job.replace(".", "-"))
            last_run[item.job] = now
            started.append(item.job)
    return started


def run_clock(
    runtime: Runtime,
    *,
    interval: float = 5.0,
    once: bool = False,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    last_run: dict[str, float] = {}
    log.info("clock started: %d periodic jobs every %.0fs", len(PERIODIC), interval)
    while not stop.is_set():
        try:
            tick(runtime, time.monotonic(), last_run)
        except Exception:
            log.exception("clock tick failed; trying again next tick")
        if once:
            return
        stop.wait(interval)

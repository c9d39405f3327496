"""Long-running processes: the RQ worker, the clock, and `serve` for development."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

import click
from flask import current_app

from smsapp.cli.base import cli, fail, runtime
from smsapp.logs import request_context

log = logging.getLogger(__name__)


def _worker_class() -> Any:
    """RQ's forking worker, with each job's log lines tagged and the job safe from SIGTERM."""
    from rq import Worker

    class SmsappWorker(Worker):
        def perform_job(self, job: Any, *args: Any, **kwargs: Any) -> bool:
            # Runs in the work-horse: every line the job logs carries its job id.
            with request_context(job.id):
                return bool(super().perform_job(job, *args, **kwargs))

        def setup_work_horse_signals(self) -> None:
            super().setup_work_horse_signals()
            # Platforms (Heroku, `docker stop` under an init) send SIGTERM to every process,
            # not only to the worker. RQ's warm shutdown waits for the job, so the horse
            # ignores SIGTERM and finishes it; a second SIGTERM to the worker (cold shutdown),
            # the job timeout and SIGKILL still end it.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)

        def unsubscribe(self) -> None:
            # RQ's own unsubscribes, then waits for its pubsub thread with no limit (redis-py
            # 8's stop() joins). If the thread has gone back to a 60 s read after taking the
            # unsubscribe reply, a warm shutdown hangs for a minute (rq#1613). Clear the flag
            # first, so the reply that unsubscribing brings ends the thread's loop at once.
            import redis.exceptions

            thread = self.pubsub_thread
            if thread is None:
                return
            self.log.info(
                "Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name
            )
            try:
                thread.stop(timeout=0)
            except TypeError:  # redis-py before 8: stop() only clears the flag
                thread.stop()
            with contextlib.suppress(redis.exceptions.RedisError, OSError):
                self.pubsub.unsubscribe()
            thread.join(timeout=2)
            if not thread.is_alive():
                self.pubsub.close()
            # else: a daemon thread, gone with the process; closing its socket under it could hang

    return SmsappWorker


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for smsapp's queue (needs Redis). SIGTERM: finish the job, then exit."""
    from smsapp.queue import QUEUE_NAME

    rt = runtime()
    redis = rt.redis()
    if redis is None:
        fail("no Redis configured (set REDIS_URL); without Redis, jobs run inside the web process")
        return
    # Logging is already set up by create_app (smsapp.logs); RQ adds no handlers of its own
    # when the root logger has one, so its lines come out in the same format.
    run_worker_until_stopped(lambda: _worker_class()([QUEUE_NAME], connection=redis), burst)


def run_worker_until_stopped(make_worker: Callable[[], Any], burst: bool) -> None:
    """Run RQ workers one after another: when Redis goes away, wait and reconnect.

    RQ's work() raises when Redis disappears; a platform would restart the process, but the
    database holds everything due, so simply connecting again is enough. SIGTERM during the
    wait exits at once, with 0.
    """
    import redis.exceptions

    stop = threading.Event()
    delay = 1.0
    while not stop.is_set():
        try:
            make_worker().work(burst=burst, with_scheduler=False)
            return  # burst finished, or a warm shutdown (SIGTERM) completed
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.warning("Redis is unreachable (%s); reconnecting in %.0f s", exc, delay)
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait(delay)
        finally:
            signal.signal(signal.SIGTERM, previous)
        delay = min(delay * 2, 15.0)


@cli.command("clock")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between ticks.")
@click.option("--once", is_flag=True, help="One tick, then exit.")
def clock(interval: float, once: bool) -> None:
    """Enqueue due work (sends, reminders, deadlines, stuck sends) every few seconds.

    SIGTERM ends the wait between ticks (a tick in progress completes) and exits with 0.
    """
    from smsapp.services.clock import run_clock

    run_clock(runtime(), interval=interval, once=once)


@cli.command("serve")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(port: int, host: str) -> None:
    """Run web, worker and clock together for development (what `make run` calls)."""
    from smsapp.devserver import run_all

    run_all(current_app._get_current_object(), host=host, port=port)  # type: ignore[attr-defined]

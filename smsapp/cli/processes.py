"""Long-running processes: the RQ worker, the clock, and `serve` for development."""

from __future__ import annotations

import click
from flask import current_app

from smsapp.cli.base import cli, fail, runtime


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for smsapp's queue (needs Redis)."""
    from rq import Worker

    from smsapp.queue import QUEUE_NAME

    rt = runtime()
    redis = rt.redis()
    if redis is None:
        fail("no Redis configured (set REDIS_URL); without Redis, jobs run inside the web process")
        return
    Worker([QUEUE_NAME], connection=redis).work(burst=burst, with_scheduler=False)


@cli.command("clock")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between ticks.")
@click.option("--once", is_flag=True, help="One tick, then exit.")
def clock(interval: float, once: bool) -> None:
    """Enqueue due work (sends, reminders, deadlines, stuck sends) every few seconds."""
    from smsapp.services.clock import run_clock

    run_clock(runtime(), interval=interval, once=once)


@cli.command("serve")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(port: int, host: str) -> None:
    """Run web, worker and clock together for development (what `make run` calls)."""
    from smsapp.devserver import run_all

    run_all(current_app, host=host, port=port)

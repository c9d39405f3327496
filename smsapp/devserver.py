"""`make run`: web, worker and clock together on one machine.

With Redis: a worker and a clock as child processes. Without: the queue runs in a thread pool
inside the web process and the clock is a thread, so a bare laptop runs the whole product.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from flask import Flask
from werkzeug.serving import run_simple

from smsapp.runtime import Runtime


def run_all(app: Flask, *, host: str, port: int) -> None:
    runtime: Runtime = app.extensions["smsapp"]
    settings = runtime.settings
    children: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    smsapp_bin = str(Path(sys.executable).with_name("smsapp"))
    if settings.queue_mode == "redis":
        print(f" * Queue: RQ on {settings.redis_url}; starting a worker and the clock")
        children.append(subprocess.Popen([smsapp_bin, "worker"]))
        children.append(subprocess.Popen([smsapp_bin, "clock"]))
    else:
        from smsapp.services.clock import run_clock

        print(" * Queue: embedded (no Redis found); jobs and the clock run in this process")
        threading.Thread(
            target=run_clock, args=(runtime,), kwargs={"stop": stop}, daemon=True, name="clock"
        ).start()
    backend = settings.sms_backend
    print(f" * Texts go to: {'Twilio' if backend == 'twilio' else 'the local outbox'}")
    print(f" * Database: {settings.database_url.split('@')[-1]}")
    print(f" * Admin page: http://{host}:{port}/login")
    try:
        # Werkzeug directly: Flask's app.run() refuses to serve from inside a CLI command.
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        stop.set()
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

"""Tiny RQ jobs for process tests: one that takes a couple of seconds, one that fails.

Imported by real `smsapp worker` processes (PYTHONPATH = the project root), so they touch only
files the test names: nothing here needs the database.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


def slow(path: str, seconds: float = 2.0) -> str:
    """Note our pid and parent's in `path`.started, sleep, then write "done" to `path`."""
    Path(path + ".started").write_text(f"{os.getpid()} {os.getppid()}")
    log.info("slow job started")
    time.sleep(seconds)
    Path(path).write_text("done")
    log.info("slow job finished")
    return "done"


def boom(message: str) -> None:
    """Fail with a chained exception, so the traceback's last line is not its only line."""
    try:
        raise KeyError("inner cause")
    except KeyError as exc:
        raise ValueError(message) from exc

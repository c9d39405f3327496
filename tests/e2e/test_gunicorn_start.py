"""The production web process (gunicorn with gunicorn.conf.py) will not serve unsigned webhooks
by accident: without TWILIO_AUTH_TOKEN it refuses to start, unless SMS_BACKEND=outbox says so
on purpose. `make run` (smsapp serve) is not gunicorn and is not affected."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import DATA_KEY

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
ROOT = Path(__file__).resolve().parent.parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Web:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def serving(self) -> bool:
        """Waits until /healthz answers (True) or gunicorn has exited (False)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                url = f"http://127.0.0.1:{self.port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"gunicorn neither served nor exited:\n{self.output()}")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Web]]:
    started: list[subprocess.Popen[bytes]] = []

    def run(**settings: str) -> Web:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SMS_"))}
        env.update(
            DATABASE_URL=f"sqlite:///{tmp_path / 'web.db'}",
            SMSAPP_QUEUE="embedded",
            SECRET_KEY="gunicorn-start-secret",
            SMSAPP_DATA_KEY=DATA_KEY,
            WEB_CONCURRENCY="1",
            GUNICORN_THREADS="2",
            **settings,
        )
        port = _free_port()
        log = tmp_path / f"gunicorn-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [GUNICORN, "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
                + ["--no-control-socket", "wsgi:app"],  # one per user: others may be running
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(process)
        return Web(process, port, log)

    yield run
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.mark.parametrize("backend", [None, "twilio"])
def test_no_auth_token_refuses_to_start(start, backend: str | None) -> None:
    web = start(**({"SMS_BACKEND": backend} if backend else {}))
    assert not web.serving()
    assert web.process.wait(timeout=30) == 1
    output = web.output()
    assert "TWILIO_AUTH_TOKEN is not set" in output
    assert "SMS_BACKEND=outbox" in output
    assert "Traceback" not in output


def test_an_auth_token_starts(start) -> None:
    web = start(TWILIO_AUTH_TOKEN="a-real-token-0123456789abcdef")
    assert web.serving(), web.output()


def test_the_outbox_chosen_on_purpose_starts_with_a_warning(start) -> None:
    web = start(SMS_BACKEND="outbox")
    assert web.serving(), web.output()
    assert "webhooks accept unsigned requests" in web.output()

"""What a web benchmark stands on: a throwaway PostgreSQL database and gunicorn on 127.0.0.1.

Both are context managers that always clean up (drop the database, stop the server), so an
interrupted run leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.support.databases import postgres_database

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
LOADGEN = Path(__file__).with_name("loadgen.py")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ADMIN_DSN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def throwaway_database() -> AbstractContextManager[str]:
    """An empty database on BENCH_POSTGRES's server (tests/support/databases.py makes and drops
    it); yields its SQLAlchemy URL."""
    return postgres_database(ADMIN_DSN, "smsapp_bench")


def server_settings(dsn: str) -> dict[str, str]:
    """The durability settings the figures depend on, read from the server itself."""
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://", 1)) as conn:
        return {
            name: str(conn.execute(f"SHOW {name}").fetchone()[0])  # type: ignore[index]
            for name in ("fsync", "synchronous_commit", "wal_sync_method", "server_version")
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class WorkerModel:
    """One gunicorn worker configuration, passed through gunicorn.conf.py's environment."""

    name: str
    worker_class: str
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        if self.worker_class == "gthread":
            return f"gthread {self.workers}x{self.threads}"
        return f"{self.worker_class} {self.workers}"

    def env(self) -> dict[str, str]:
        return {
            "GUNICORN_WORKER_CLASS": self.worker_class,
            "WEB_CONCURRENCY": str(self.workers),
            "GUNICORN_THREADS": str(self.threads),
        }


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone: its time is lost, which only makes the figure look better
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def postgres_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends connected to ``database`` (Linux /proc)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"postgres: ") and f" {database} ".encode() in cmdline:
                total += _cpu_seconds(int(entry.name))
    return total


@dataclass
class Server:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """CPU used so far by gunicorn's master and workers."""
        pid = self.process.pid
        return _cpu_seconds(pid) + sum(_cpu_seconds(child) for child in _children(pid))

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def gunicorn(
    app: str, model: WorkerModel, env: Mapping[str, str], *, health_path: str = "/healthz"
) -> Iterator[Server]:
    """Serve ``app`` (a gunicorn app spec) with the project's gunicorn.conf.py on 127.0.0.1."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, **env, **model.env(), "PUBLIC_BASE_URL": url}
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "bench")])
    with tempfile.NamedTemporaryFile(
        "wb", prefix="bench-gunicorn-", suffix=".log", delete=False
    ) as log:
        log_path = Path(log.name)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [
                GUNICORN,
                "--config",
                str(ROOT / "gunicorn.conf.py"),
                "--chdir",
                str(ROOT),
                "--bind",
                f"127.0.0.1:{port}",
                app,
            ],
            env=full_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(url, port, process, log_path)
    try:
        _wait_healthy(server, health_path)
        yield server
    finally:
        _stop(process)
        log_path.unlink(missing_ok=True)


def _wait_healthy(server: Server, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url + path, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn not healthy after {timeout:.0f}s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # the master; it stops its own workers
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def run_load(spec: dict[str, Any], requests: list[bytes]) -> dict[str, Any]:
    """Run the load generator in its own process over pre-rendered requests."""
    import pickle

    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        requests_file = Path(tmp, "requests.pickle")
        with requests_file.open("wb") as fh:
            pickle.dump(requests, fh, protocol=pickle.HIGHEST_PROTOCOL)
        spec_file = Path(tmp, "spec.json")
        spec_file.write_text(json.dumps({**spec, "requests_file": str(requests_file)}))
        budget = spec["warmup"] + spec["duration"] + 60
        done = subprocess.run(
            [PYTHON, str(LOADGEN), str(spec_file)],
            capture_output=True,
            text=True,
            timeout=budget,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result

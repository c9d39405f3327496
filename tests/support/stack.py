"""The real process stack for e2e and fault tests: gunicorn, `smsapp worker`s and `smsapp clock`
(as the Procfile runs them) against one committed database, talking to the Twilio stand-in,
plus private redis-server and PostgreSQL servers that a test may kill.

Every process started here is stopped and reaped (wait()) by `Stack.stop_all` / the servers'
`kill`/`destroy`, so no Popen outlives its test (an unreaped one is a ResourceWarning, which
pytest turns into an error in whatever test happens to be running when it is collected).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import sqlalchemy as sa

import smsapp.models  # noqa: F401  (registers the tables)
from smsapp.db import Database, make_engine
from smsapp.models import GroupMembership, InboundMessage, OutboundMessage
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.clock import tick
from smsapp.services.outbox import sending
from smsapp.services.people.groups import create_group
from smsapp.services.people.participants import new_participant
from smsapp.services.polls.definitions import import_poll
from smsapp.services.polls.launch import launch_poll
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, DATA_KEY, make_test_settings, require_service
from tests.support.signing import signed_headers
from tests.support.twilio_standin import TwilioStandin

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG_BIN = Path("/usr/lib/postgresql/15/bin")
OUR_NUMBER = "+447700900001"
EVERY_KIND = ROOT / "tests" / "data" / "every_kind.yaml"
STUCK_SECONDS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(done: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    """Poll ``done`` until it holds or ``timeout`` seconds pass; returns the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(every)
    return done()


def number(i: int) -> str:
    """The i-th participant's mobile number."""
    return f"+447911{200000 + i:06d}"


def new_sid() -> str:
    return "SM" + secrets.token_hex(16)


def text_params(sender: str, body: str, sid: str) -> dict[str, str]:
    """The form Twilio posts to /sms/inbound for one text."""
    return {
        "MessageSid": sid,
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumSegments": "1",
    }


def parallel(calls: list[Callable[[], Any]], threads: int = 16) -> list[Any]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda call: call(), calls))


# -- processes -----------------------------------------------------------------------------------


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process's group (it was started in a session of its own), SIGKILL it if it
    has not gone after `timeout`, and always reap it and close its pipes."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    process.wait()  # SIGKILL cannot be ignored: this returns, and the Popen is reaped
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


class PrivateRedis:
    """A redis-server of our own on a free port, which a test may kill and start again. Jobs
    queued on it are seen only by the processes of this run."""

    def __init__(self) -> None:
        if shutil.which("redis-server") is None:
            require_service("redis-server (to start a private Redis)")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            if not wait_for(lambda: _pings(client), timeout=10, every=0.05):
                self.kill()
                raise RuntimeError("private redis-server did not start")
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> PrivateRedis:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb as the postgres user), restartable at will."""

    def __init__(self) -> None:
        if os.geteuid() != 0 or not (PG_BIN / "initdb").exists() or not shutil.which("runuser"):
            require_service("root and PostgreSQL 15's initdb (to run a private PostgreSQL)")
        self.dir = Path(tempfile.mkdtemp(prefix="smsapp-faults-pg-"))
        shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self.data = self.dir / "data"
        self._as_postgres(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync"
        )

    @property
    def admin(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, tool: str, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / tool), *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    def _options(self) -> str:
        # fsync off: the data is thrown away; crash safety of the server itself is not tested.
        return (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=100"
        )

    def pg_ctl(self, action: str, *extra: str) -> None:
        self._as_postgres(
            "pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-w", "-t", "30",
            *extra, action, *(["-o", self._options()] if action in {"start", "restart"} else []),
        )  # fmt: skip

    def start(self) -> None:
        self.pg_ctl("start")

    def restart(self, mode: str = "fast") -> None:
        self.pg_ctl("restart", "-m", mode)

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self.pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(name="redis_url")
def own_redis_url() -> Iterator[str]:
    """A redis-server of the test's own instead of the machine's Redis (the root conftest's
    redis_url), for tests that start processes: two runs on one machine never take each
    other's jobs, and nothing is left over from the test before. Imported by the e2e and
    fault conftests."""
    with PrivateRedis() as server:
        yield server.url


# -- the stack -----------------------------------------------------------------------------------


class Stack:
    """The processes of the Procfile against one committed database, plus a runtime on the same
    database and Redis that the test uses to set up data, tick the clock and read back what
    happened. A context manager: leaving it stops and reaps every process it started."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        standin: TwilioStandin,
        *,
        rate: float = 1000.0,
        logs: Path,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.standin = standin
        self.logs = logs
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SMSAPP_QUEUE="redis",
            SECRET_KEY="stack-secret",
            SMSAPP_DATA_KEY=DATA_KEY,
            TWILIO_ACCOUNT_SID=ACCOUNT_SID,
            TWILIO_AUTH_TOKEN=AUTH_TOKEN,
            TWILIO_FROM_NUMBER=OUR_NUMBER,
            TWILIO_API_BASE_URL=standin.base_url,
            SMS_BACKEND="twilio",
            SMSAPP_SEND_RATE=str(rate),
            SMSAPP_STUCK_SEND_SECONDS=str(STUCK_SECONDS),
            SMSAPP_SEND_JOBS="2",
            PUBLIC_BASE_URL=self.url,
            PYTHONPATH=str(ROOT),
        )
        self.env.pop("FLASK_APP", None)
        settings = make_test_settings(
            database_url,
            redis_url=redis_url,
            queue_mode="redis",
            sms_backend="twilio",
            twilio_api_base_url=standin.base_url,
            send_rate=rate,
            stuck_send_seconds=STUCK_SECONDS,
            send_jobs=2,
            public_base_url=self.url,
        )
        # The harness reads the database across the restarts its tests cause; the processes
        # under test have no pre-ping (they retry a lost connection), but the harness's own
        # reads must not fail on a connection the restart killed, so it pings.
        engine = make_engine(database_url, pool_pre_ping=True)
        database = Database(database_url, engine=engine)
        self.runtime: Runtime = build_runtime(settings, database=database)
        self.processes: dict[str, list[subprocess.Popen[bytes]]] = {}
        self.clock_last: dict[str, float] = {}
        self.clock_now = 0.0
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    # -- processes
    def _spawn(self, kind: str, argv: list[str], extra_env: dict[str, str] | None = None) -> Any:
        n = len(self.processes.setdefault(kind, []))
        with (self.logs / f"{kind}-{n}.log").open("wb") as log:
            process = subprocess.Popen(
                argv,
                env={**self.env, **(extra_env or {})},
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: SIGKILL takes RQ's work-horse too
            )
        self.processes[kind].append(process)
        return process

    def start_web(self, workers: int = 2, threads: int = 4) -> subprocess.Popen[bytes]:
        web = self._spawn(
            "web",
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py"]
            + ["--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            {
                "GUNICORN_WORKER_CLASS": "gthread",
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_THREADS": str(threads),
                "GUNICORN_CMD_ARGS": "--access-logfile /dev/null",
            },
        )
        if not wait_for(self._healthy_or_dead, timeout=30, every=0.1) or web.poll() is not None:
            raise RuntimeError(f"gunicorn did not come up:\n{self.log_tail('web')}")
        return web

    def _healthy_or_dead(self) -> bool:
        if any(p.poll() is not None for p in self.processes.get("web", [])):
            return True
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", [str(BIN / "smsapp"), "worker"])  # type: ignore[no-any-return]

    def start_clock(self, interval: float = 0.5) -> subprocess.Popen[bytes]:
        argv = [str(BIN / "smsapp"), "clock", "--interval", str(interval)]
        return self._spawn("clock", argv)  # type: ignore[no-any-return]

    def live(self, kind: str) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes.get(kind, []) if p.poll() is None]

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL, as when a platform's machine dies: no warm shutdown, the work-horse too."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def log_tail(self, kind: str, lines: int = 12) -> str:
        out = []
        for path in sorted(self.logs.glob(f"{kind}-*.log")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {path.name}\n" + "\n".join(text))
        return "\n".join(out)

    def log_lines(self, kind: str) -> list[str]:
        return [
            line
            for path in sorted(self.logs.glob(f"{kind}-*.log"))
            for line in path.read_text(errors="replace").splitlines()
        ]

    def stop_all(self) -> None:
        """Stop every process (the clock first, so it queues nothing new; the web last) and
        reap each one, whatever happens to the others."""
        try:
            for kind in ("clock", "worker", "web"):
                for process in self.processes.get(kind, []):
                    with contextlib.suppress(Exception):
                        stop_process(process)
        finally:
            for processes in self.processes.values():
                for process in processes:
                    if process.returncode is None:  # stop_process failed: reap it regardless
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(process.pid, signal.SIGKILL)
                        process.wait()
            for session in self._sessions:
                session.close()
            self.runtime.db.engine.dispose()

    # -- the clock, compressed
    def clock_tick(self) -> None:
        """What `smsapp clock` does, with its intervals compressed: every periodic job, now."""
        self.clock_now += 3600
        tick(self.runtime, self.clock_now, self.clock_last)

    def wait_ticking(self, done: Callable[[], bool], timeout: float, every: float = 0.5) -> bool:
        """wait_for, with a compressed clock tick between looks (for stacks with no clock)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            self.clock_tick()
            time.sleep(every)
        return done()

    # -- data
    def populate(self, n: int, poll_yaml: str | None = None) -> list[str]:
        """n consenting participants in group oakfield, and a poll for it (not launched): the
        one with every kind of question unless `poll_yaml` is given."""
        rt = self.runtime
        numbers = [number(i) for i in range(n)]
        with rt.db.transaction() as s:
            group = create_group(s, "oakfield", "Oakfield")
            group.settings = {"quiet_hours": {"enabled": False}}  # tests run at any hour
            s.flush()
            taken: set[str] = set()
            for i, phone in enumerate(numbers):
                p = new_participant(s, rt.vault, phone, nickname=f"Kid{i}", taken=taken)
                p.consent_at = datetime.now(UTC)
                s.flush()
                s.add(GroupMembership(group_id=group.id, participant_id=p.id))
            import_poll(s, poll_yaml or EVERY_KIND.read_text())
        return numbers

    def launch(self, slug: str = "every-kind", *, kick: bool = True) -> int:
        with self.runtime.db.transaction() as s:
            result = launch_poll(self.runtime, s, slug)
        if kick:
            sending.kick_senders(self.runtime)
        return result.messages

    def statuses(self, kind: str | None = None) -> dict[str, int]:
        stmt = sa.select(OutboundMessage.status, sa.func.count()).where(
            OutboundMessage.backend == "twilio"
        )
        if kind:
            stmt = stmt.where(OutboundMessage.kind == kind)
        with self.runtime.db.transaction() as s:
            rows = s.execute(stmt.group_by(OutboundMessage.status)).all()
        return {status: n for status, n in rows}

    def inbound_counts(self) -> dict[str, int]:
        """How many rows each MessageSid has."""
        with self.runtime.db.transaction() as s:
            rows = s.execute(
                sa.select(InboundMessage.message_sid, sa.func.count()).group_by(
                    InboundMessage.message_sid
                )
            ).all()
        return {sid: n for sid, n in rows}

    def stored_texts(self, sids: list[str]) -> list[tuple[Any, ...]]:
        """(sid, route, replies, error) of these texts as stored: for a failure's message."""
        with self.runtime.db.transaction() as s:
            rows = s.execute(
                sa.select(
                    InboundMessage.message_sid,
                    InboundMessage.route,
                    InboundMessage.replies,
                    InboundMessage.error,
                ).where(InboundMessage.message_sid.in_(sids))
            ).all()
        return [tuple(row) for row in rows]

    def replies_logged(self) -> tuple[int, int]:
        """(replies the inbound rows say they sent, reply rows logged): equal when no text's
        replies were logged twice."""
        with self.runtime.db.transaction() as s:
            said = sum(len(r or []) for r in s.scalars(sa.select(InboundMessage.replies)))
            logged = s.scalar(
                sa.select(sa.func.count()).where(OutboundMessage.in_reply_to_id.is_not(None))
            )
        return said, int(logged or 0)

    # -- webhooks
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)  # closed by stop_all, whichever thread made it
        return session  # type: ignore[no-any-return]

    def post(self, path: str, params: dict[str, str], timeout: float = 30) -> tuple[int, str]:
        """POST a Twilio-signed form; returns (status, body), status 0 when no answer came."""
        headers = signed_headers(self.url + path, params, AUTH_TOKEN)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            response = self.session().post(
                self.url + path, data=urlencode(params), headers=headers, timeout=timeout
            )
        except requests.RequestException:
            self.session().close()
            self._local.session = None
            return 0, ""
        return response.status_code, response.text

    def text(self, sender: str, body: str, sid: str | None = None) -> tuple[str, int]:
        sid = sid or new_sid()
        return sid, self.post("/sms/inbound", text_params(sender, body, sid))[0]

    def status_callback(self, sid: str, status: str, error_code: int | None = None) -> int:
        params = {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID}
        if error_code:
            params["ErrorCode"] = str(error_code)
        return self.post("/sms/status", params)[0]

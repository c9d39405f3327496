"""Launch and send benchmarks: queue 100,000 invitations; send throughput; how closely the rate holds.

Sending is measured against the Twilio stand-in's own ceiling, taken just before each run on
the same cores, for 1, 2 and 4 workers; the ratio is the figure that counts on a shared machine.

Needs PostgreSQL (BENCH_POSTGRES, default postgres@127.0.0.1) and Redis (BENCH_REDIS_URL, default
db 13, flushed). Run: .venv/bin/python bench/launch.py [--people 100000] [--seconds 10]
[--workers 1,2,4] [--threads 8] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import smsapp.models  # noqa: E402,F401
from bench.support.stack import free_port, throwaway_database  # noqa: E402
from smsapp.config import Settings  # noqa: E402
from smsapp.db import Base, Database  # noqa: E402
from smsapp.models import (  # noqa: E402
    Group,
    GroupMembership,
    OutboundMessage,
    OutboundStatus,
    Participant,
)
from smsapp.privacy.phones import mask_phone  # noqa: E402
from smsapp.runtime import build_runtime  # noqa: E402
from smsapp.services.polls.definitions import import_poll  # noqa: E402
from smsapp.services.polls.launch import launch_poll  # noqa: E402
from smsapp.sms.twilio_transport import TwilioTransport  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
DATA_KEY = "q5GQeJ0Qh0pYlG0mZ9Kx3c8n1p3V8bY3w6k2r7t9u1Y="
ACCOUNT = "AC" + "0" * 32
TOKEN = "bench-token"
SENDER = "+447700900001"
SMSAPP = str(Path(sys.executable).with_name("smsapp"))

POLL = """
slug: {slug}
title: Bench poll
group: bench
intro: "Hi {{nickname}}! A quick question from your youth panel."
questions:
  - key: pick
    kind: choice
    prompt: "Which should we do first?"
    options: ["Park clean-up", "Games night", "Careers fair"]
"""


def settings(url: str, **extra: Any) -> Settings:
    base = Settings(
        database_url=url,
        redis_url=REDIS_URL,
        secret_key="bench",
        data_key=DATA_KEY,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_from_number=SENDER,
        sms_backend="twilio",
        queue_mode="redis",
    )
    return base.with_overrides(**extra)


def populate(url: str, people: int) -> None:
    """Participants written in bulk (each phone encrypted as the product does)."""
    rt = build_runtime(settings(url))
    Base.metadata.create_all(rt.db.engine)
    now = datetime.now(UTC)
    with rt.db.transaction() as s:
        group = Group(slug="bench", name="Bench", settings={"quiet_hours": {"enabled": False}})
        s.add(group)
        s.flush()
        rows = []
        for i in range(people):
            e164 = f"+4479{i:08d}"
            rows.append(
                {
                    "pseudonym": f"P-{i:07d}",
                    "phone_ciphertext": rt.vault.encrypt(e164),
                    "phone_index": rt.vault.index(e164),
                    "phone_masked": mask_phone(e164),
                    "nickname": f"Kid{i % 500}",
                    "status": "active",
                    "number_status": "ok",
                    "consent_at": now,
                    "simulated": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        for start in range(0, len(rows), 10_000):
            s.execute(sa.insert(Participant), rows[start : start + 10_000])
        ids = list(s.scalars(sa.select(Participant.id)))
        s.execute(
            sa.insert(GroupMembership),
            [{"group_id": group.id, "participant_id": pid, "joined_at": now} for pid in ids],
        )
    rt.db.engine.dispose()


def time_launch(url: str, slug: str) -> tuple[float, int]:
    rt = build_runtime(settings(url))
    with rt.db.transaction() as s:
        import_poll(s, POLL.format(slug=slug))
    started = time.perf_counter()
    with rt.db.transaction() as s:
        result = launch_poll(rt, s, slug)
    elapsed = time.perf_counter() - started
    rt.db.engine.dispose()
    return elapsed, result.messages


def start_standin() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.twilio_standin", "--port", str(port), "--quiet"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            standin_stats(base)
            return proc, base
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("stand-in did not start")


def standin_stats(base: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{base}/_standin/stats", timeout=5) as response:
        return dict(json.load(response))


def standin_reset(base: str) -> None:
    request = urllib.request.Request(f"{base}/_standin/reset", method="POST", data=b"")
    urllib.request.urlopen(request, timeout=5).close()


def _hammer(base: str, seconds: float, threads: int, out: Any) -> None:
    deadline = time.monotonic() + seconds
    counts = [0] * threads

    def loop(slot: int) -> None:
        # One transport (one kept-alive connection) per thread, as a send job's threads have.
        transport = TwilioTransport(ACCOUNT, TOKEN, from_number=SENDER, base_url=base, timeout=10)
        while time.monotonic() < deadline:
            transport.send(f"+4479{slot:02d}{counts[slot]:06d}", "ceiling check")
            counts[slot] += 1

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    cpu = time.process_time()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    out.put((sum(counts), time.process_time() - cpu))


def standin_ceiling(
    base: str, processes: int, seconds: float, threads: int = 1
) -> tuple[float, float]:
    """API calls/s the stand-in takes from `processes` x `threads` bare SDK clients (no
    database, no queue, no rate limit), and the clients' CPU seconds per call."""
    ctx = get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_hammer, args=(base, seconds, threads, out)) for _ in range(processes)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=seconds + 30) for _ in procs]
    for p in procs:
        p.join()
    standin_reset(base)
    calls = sum(n for n, _ in results)
    return calls / seconds, sum(cpu for _, cpu in results) / max(1, calls)


def best_ceiling(base: str, seconds: float = 4.0) -> tuple[float, float]:
    """The stand-in's ceiling: the better of 4 sequential clients and 4 x 4 threaded ones."""
    return max(standin_ceiling(base, 4, seconds), standin_ceiling(base, 4, seconds, threads=4))


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def tree_cpu(pid: int) -> float:
    """CPU seconds of a worker, its reaped job processes and the one running now (Linux)."""
    try:
        fields = _stat(pid)
        ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # utime stime cutime cstime
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            for child in f.read().split():
                try:
                    child_fields = _stat(child)
                except OSError:
                    continue
                ticks += int(child_fields[11]) + int(child_fields[12])
    except OSError:
        return 0.0
    return ticks / CLOCK_TICKS


def worker_env(url: str, base: str, rate: float, threads: int = 8) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FLASK_APP", None)
    env.update(
        DATABASE_URL=url,
        REDIS_URL=REDIS_URL,
        SMSAPP_QUEUE="redis",
        SECRET_KEY="bench",
        SMSAPP_DATA_KEY=DATA_KEY,
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_AUTH_TOKEN=TOKEN,
        TWILIO_FROM_NUMBER=SENDER,
        TWILIO_API_BASE_URL=base,
        SMS_BACKEND="twilio",
        SMSAPP_SEND_RATE=str(rate),
        SMSAPP_SEND_JOBS="4",
        SMSAPP_MAX_CONCURRENT_SENDS="64",
        SMSAPP_SEND_THREADS=str(threads),
    )
    return env


def run_workers(
    url: str,
    base: str,
    rate: float,
    workers: int,
    seconds: float,
    warmup: float = 2.0,
    threads: int = 8,
) -> tuple[float, int, float]:
    """Messages/s accepted by the stand-in while `workers` RQ workers send; segments each; and
    the workers' CPU seconds per message (job processes included)."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = worker_env(url, base, rate, threads)
    procs = [
        subprocess.Popen(
            [SMSAPP, "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(workers)
    ]
    try:
        time.sleep(2.0)
        from smsapp.services.outbox import sending

        rt = build_runtime(
            settings(url, twilio_api_base_url=base, send_rate=rate, send_jobs=workers),
            database=Database(url),
        )
        sending.kick_senders(rt)
        time.sleep(warmup)
        first = standin_stats(base)["messages"]
        cpu0 = sum(tree_cpu(p.pid) for p in procs)
        t0 = time.monotonic()
        # Keep the send jobs going as the clock would.
        end = t0 + seconds
        while time.monotonic() < end:
            time.sleep(min(1.0, end - time.monotonic()))
            sending.kick_senders(rt)
        last = standin_stats(base)["messages"]
        cpu1 = sum(tree_cpu(p.pid) for p in procs)
        elapsed = time.monotonic() - t0
        with rt.db.transaction() as s:
            segments = s.scalar(sa.select(sa.func.max(OutboundMessage.segments))) or 1
        rt.db.engine.dispose()
        return (last - first) / elapsed, int(segments), (cpu1 - cpu0) / max(1, last - first)
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def requeue_all(url: str) -> None:
    """Put every invitation back to queued, so the next run has a backlog to send."""
    db = Database(url)
    with db.transaction() as s:
        s.execute(
            sa.update(OutboundMessage).values(
                status=OutboundStatus.QUEUED,
                twilio_sid=None,
                attempts=0,
                send_after=datetime.now(UTC),
            )
        )
        # A mass update leaves the planner's statistics stale; production never does this.
        s.execute(sa.text("ANALYZE outbound_message"))
    db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure sending with")
    parser.add_argument("--threads", type=int, default=8, help="SMSAPP_SEND_THREADS per worker")
    parser.add_argument("--repeat", type=int, default=1, help="measure each worker count N times")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.ConnectionError:
        sys.exit(f"bench/launch.py needs Redis at {REDIS_URL}")
    print(f"machine: {os.cpu_count()} cores; PostgreSQL + Redis on 127.0.0.1")
    with throwaway_database() as url:
        t = time.perf_counter()
        populate(url, args.people)
        print(f"set-up: {args.people:,} participants written in {time.perf_counter() - t:.1f} s")
        elapsed, messages = time_launch(url, "bench-launch")
        print(
            f"launch: {messages:,} conversations and invitations queued in {elapsed:.2f} s "
            f"(aim <= 10 s)"
        )
        proc, base = start_standin()
        try:
            print(
                f"send, no rate limit, {args.threads} threads a worker, against the stand-in's "
                "ceiling taken just before and just after each run (aim >= 80 %):"
            )
            print(
                f"{'workers':>7} {'before/s':>9} {'after/s':>8} {'sent/s':>8} {'ratio':>6} "
                f"{'cpu/call':>8} {'bare cpu':>8} {'load':>5}"
            )
            ratios: dict[int, list[float]] = {n: [] for n in counts}
            cpus: dict[int, list[float]] = {n: [] for n in counts}
            for _ in range(args.repeat):
                for workers in counts:
                    requeue_all(url)
                    before, bare_before = best_ceiling(base)
                    throughput, _, cpu = run_workers(
                        url, base, 1_000_000.0, workers, args.seconds, threads=args.threads
                    )
                    after, bare_after = best_ceiling(base)
                    ceiling = (before + after) / 2
                    bare = (bare_before + bare_after) / 2
                    ratios[workers].append(throughput / ceiling)
                    cpus[workers].append(cpu / bare)
                    print(
                        f"{workers:>7} {before:>9,.0f} {after:>8,.0f} {throughput:>8,.0f} "
                        f"{throughput / ceiling:>6.0%} {cpu * 1e3:>6.2f}ms {bare * 1e3:>6.2f}ms "
                        f"{os.getloadavg()[0]:>5.1f}",
                        flush=True,
                    )
            print(
                "(ratio: sent/s over the mean of the two ceilings; cpu/call: the workers' CPU per "
                "text sent; bare cpu: a bare SDK client's per call; load: 1-minute load average)"
            )
            if args.repeat > 1:
                for workers in counts:
                    print(
                        f"{workers} worker(s), median of {args.repeat}: ratio "
                        f"{statistics.median(ratios[workers]):.0%}, CPU per text "
                        f"{statistics.median(cpus[workers]):.2f}x a bare client's"
                    )
            for rate in (10.0, 100.0):
                requeue_all(url)
                standin_reset(base)
                per_second, segments, _ = run_workers(url, base, rate, 2, args.seconds)
                measured = per_second * segments
                print(
                    f"rate {rate:.0f} segments/s, 2 workers: measured {measured:.1f} segments/s "
                    f"({(measured / rate - 1) * 100:+.1f}%; {segments} segment(s) a text; "
                    "aim within 5%)"
                )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
    redis.Redis.from_url(REDIS_URL).flushdb()


if __name__ == "__main__":
    main()

"""Soak: hold 500 signed texts/s for 60 s through the full conversation path (gunicorn, smsapp,
PostgreSQL) and print p50/p99 latency, the error count and the gunicorn workers' memory growth.

Usage: .venv/bin/python bench/soak.py [--rate 500] [--duration 60] [--participants 500]
       [--models gthread|gthread:2x8|sync:5|gevent:2]
Needs PostgreSQL at 127.0.0.1:5432 (user postgres); creates and drops smsapp_bench_<pid>.
If the server cannot hold the rate, it says so and measures what it can hold.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # this tree's smsapp, bench/support, inbound

from inbound import SCENARIOS, RequestFactory, app_env, worker_model  # noqa: E402
from support.stack import (  # noqa: E402
    Server,
    gunicorn,
    postgres_cpu_seconds,
    run_load,
    server_settings,
    throwaway_database,
)

WARMUP_SECONDS = 5.0
HELD = 0.98  # texts/s answered 200 must reach this share of the rate, with no errors


def worker_pids(server: Server) -> list[int]:
    pid = server.process.pid
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def rss(server: Server) -> dict[int, float]:
    return {pid: rss_mib(pid) for pid in worker_pids(server)}


def open_loop(server: Server, factory: RequestFactory, rate: float, seconds: float) -> Any:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "mode": "open",
        "rate": rate,
        "warmup": 0.0,
        "duration": seconds,
    }
    return run_load(spec, factory.batch(server.url, math.ceil(rate * seconds) + 10))


def closed_loop(server: Server, factory: RequestFactory, seconds: float) -> Any:
    spec = {
        "host": "127.0.0.1",
        "port": server.port,
        "mode": "closed",
        "concurrency": 32,
        "warmup": 1.0,
        "duration": seconds,
    }
    return run_load(spec, factory.batch(server.url, int(3000 * (seconds + 1))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--participants", type=int, default=500)
    parser.add_argument("--models", default="gthread", help="one worker model, as bench/inbound.py")
    args = parser.parse_args(argv)
    model = worker_model(args.models)
    scenario = SCENARIOS["conversation"]

    from smsapp.config import load_settings
    from smsapp.migrate import upgrade
    from smsapp.runtime import build_runtime

    began = time.monotonic()
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} before the run: figures will be low and noisy")
    with throwaway_database() as database_url:
        upgrade(database_url)
        env = {**app_env(database_url), "PUBLIC_BASE_URL": "http://127.0.0.1"}
        runtime = build_runtime(load_settings(ROOT / "instance", env))
        context = scenario.setup(runtime, args.participants)
        runtime.db.engine.dispose()
        pg = server_settings(database_url)
        database = database_url.rsplit("/", 1)[1]
        print(
            f"soak: {args.rate:g} texts/s for {args.duration:g}s, scenario conversation "
            f"({args.participants} participants), {model.label}, {os.cpu_count()} CPUs, "
            f"PostgreSQL {pg['server_version']} fsync={pg['fsync']} "
            f"synchronous_commit={pg['synchronous_commit']}"
        )
        factory = RequestFactory(scenario, context)
        with gunicorn("wsgi:app", model, app_env(database_url)) as server:
            idle = rss(server)
            warm = open_loop(server, factory, args.rate, WARMUP_SECONDS)
            before = rss(server)
            web_cpu, db_cpu = server.cpu_seconds(), postgres_cpu_seconds(database)
            result = open_loop(server, factory, args.rate, args.duration)
            web_cpu = server.cpu_seconds() - web_cpu
            db_cpu = postgres_cpu_seconds(database) - db_cpu
            after = rss(server)
            held = result["per_second"] >= HELD * args.rate and result["errors"] == 0
            ceiling = None if held else closed_loop(server, factory, 10.0)

    print(f"\nwarm-up {WARMUP_SECONDS:g}s: {warm['per_second']:.0f}/s, errors {warm['errors']}")
    print(
        f"answered 200: {result['ok']} ({result['per_second']:.0f}/s of {args.rate:g}/s asked)"
        f"  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
        f"max {result['max_ms']:.0f} ms"
    )
    print(f"errors: {result['errors']}  statuses {result['statuses']}  {result['first_error']}")
    answered = max(1, result["answered"])
    print(
        f"CPU per text: web {web_cpu * 1000 / answered:.2f} ms, "
        f"PostgreSQL {db_cpu * 1000 / answered:.2f} ms"
    )
    print("gunicorn worker RSS (MiB): idle -> after warm-up -> after the soak")
    for pid in sorted(before):
        print(
            f"  pid {pid}: {idle.get(pid, 0):.1f} -> {before[pid]:.1f} -> {after.get(pid, 0):.1f}"
        )
    growth = sum(after.values()) - sum(before.values())
    print(
        f"memory growth over the soak: {growth:+.1f} MiB in total "
        f"({growth / max(1, len(before)):+.1f} MiB per worker)"
    )
    if held:
        print(f"RESULT: held {args.rate:g}/s for {args.duration:g}s")
    else:
        assert ceiling is not None
        print(
            f"RESULT: this machine could NOT hold {args.rate:g}/s: it answered "
            f"{result['per_second']:.0f}/s at that offered rate with {result['errors']} errors; "
            f"flat out (32 clients, 10 s) it held {ceiling['per_second']:.0f}/s "
            f"(p50 {ceiling['p50_ms']:.0f} ms, p99 {ceiling['p99_ms']:.0f} ms, "
            f"errors {ceiling['errors']})"
        )
    print(f"(whole run {time.monotonic() - began:.0f}s)")
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())

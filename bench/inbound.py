"""Benchmark: signed inbound texts per second through gunicorn + smsapp on PostgreSQL, and p50/p99
latency in an open loop, against two ceilings served the same way in the same run
(bench/ceiling_app.py).

Usage: .venv/bin/python bench/inbound.py [--scenario known,unknown,conversation,stop-start,ask]
       [--quick] [--repeat N] [--models gthread|sync|gevent|gthread:2x8,...] [--apps bare,commit,smsapp]
       [--concurrency 64] [--rate TEXTS_PER_S | --rate-fraction 0.6] [--duration SECONDS]
       [--latency-duration SECONDS] [--participants N]
For each scenario: a fresh database, then per worker model bare and commit (the ceilings),
smsapp flat out, and smsapp in an open loop at 60 % of the commit ceiling just measured. After
each smsapp run every text answered 200 is looked up: each must have exactly one stored row.
Needs PostgreSQL at 127.0.0.1:5432 (user postgres); creates and drops smsapp_bench_<pid>.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # this tree's smsapp, and bench/support

import sqlalchemy as sa  # noqa: E402
from support.stack import (  # noqa: E402
    Server,
    WorkerModel,
    gunicorn,
    postgres_cpu_seconds,
    run_load,
    server_settings,
    throwaway_database,
)
from twilio.request_validator import RequestValidator  # noqa: E402

AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
DATA_KEY = "q5GQeJ0Qh0pYlG0mZ9Kx3c8n1p3V8bY3w6k2r7t9u1Y="  # the fixed test key, not a real one
OUR_NUMBER = "+447700900001"
PATH = "/sms/inbound"
MAX_RATE = 5000  # texts/s the pre-signed requests allow for; 2.5x the best bare ceiling seen
CORES = os.cpu_count() or 1

# The worker models compared, each at its usual size; gthread's is gunicorn.conf.py's default.
MODELS = {
    "sync": WorkerModel("sync", "sync", workers=2 * CORES + 1),
    "gthread": WorkerModel("gthread", "gthread", workers=CORES, threads=8),
    "gevent": WorkerModel("gevent", "gevent", workers=CORES),
}


def worker_model(spec: str) -> WorkerModel:
    """``gthread`` (the preset) or ``gthread:3x8`` / ``sync:5`` / ``gevent:2``."""
    name, _, counts = spec.partition(":")
    if name not in MODELS:
        raise SystemExit(f"unknown worker model {name!r}; choose from {', '.join(MODELS)}")
    if not counts:
        return MODELS[name]
    workers, _, threads = counts.partition("x")
    return WorkerModel(name, name, int(workers), int(threads or 1))


# --- scenarios: a setup that creates data, and the form of the k-th text ------------------------


@dataclass(frozen=True)
class Scenario:
    """``setup(runtime, participants)`` creates what the scenario needs and returns a context;
    ``params(context, k)`` is the Twilio form of the k-th text (MessageSid is added later)."""

    name: str
    description: str
    setup: Callable[[Any, int], Any]
    params: Callable[[Any, int], dict[str, str]]


def known_phone(i: int) -> str:
    return f"+4474001{i:05d}"


def unknown_phone(k: int) -> str:
    return f"+4479{k % 10_000_000:08d}"


def create_participants(runtime: Any, count: int) -> list[str]:
    from smsapp.services.people.participants import new_participant

    phones = [known_phone(i) for i in range(count)]
    taken: set[str] = set()
    with runtime.db.transaction() as session:
        for i, phone in enumerate(phones):
            new_participant(session, runtime.vault, phone, nickname=f"Bench{i}", taken=taken)
    return phones


def form(sender: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "From": sender,
        "To": OUR_NUMBER,
        "Body": body,
        "NumSegments": "1",
    }


CONVERSATION_QUESTIONS = 200  # enough that no participant finishes during a run


def conversation_setup(runtime: Any, count: int) -> Any:
    """Participants in a group, each with an open conversation of a long poll (launched, so the
    invitations sit queued; no worker runs). Every text then answers the current question."""
    import yaml

    from smsapp.models import Participant
    from smsapp.services.people.groups import create_group
    from smsapp.services.polls.definitions import import_poll
    from smsapp.services.polls.launch import launch_poll

    phones = create_participants(runtime, count)
    questions = [
        {
            "key": f"q{i}",
            "kind": "choice",
            "prompt": f"Question {i}: which one?",
            "options": ["Red", "Green", "Blue"],
        }
        for i in range(CONVERSATION_QUESTIONS)
    ]
    poll = {"slug": "bench", "title": "Bench", "group": "bench", "questions": questions}
    with runtime.db.transaction() as session:
        group = create_group(session, "bench", "Bench")
        session.flush()
        from smsapp.models import GroupMembership

        for pid in session.scalars(sa.select(Participant.id)):
            session.add(GroupMembership(group_id=group.id, participant_id=pid))
        session.execute(sa.update(Participant).values(consent_at=sa.func.now()))
        import_poll(session, yaml.safe_dump(poll))
        launch_poll(runtime, session, "bench")
    return phones


def conversation_params(phones: Any, k: int) -> dict[str, str]:
    # Texts go round the participants, so each one's answers arrive one question at a time.
    return form(phones[k % len(phones)], "ABC"[k % 3].lower())


def ask_setup(runtime: Any, count: int) -> Any:
    """Consenting participants in one group with no waiting limit, so every ASK is stored: the
    heaviest proposal path (screened, the group row locked for the code, a row and an audit)."""
    from smsapp.models import GroupMembership, Participant
    from smsapp.services.people.groups import create_group

    phones = create_participants(runtime, count)
    with runtime.db.transaction() as session:
        group = create_group(session, "bench", "Bench")
        group.settings = {"proposal_limit": 10**9}
        session.flush()
        for pid in session.scalars(sa.select(Participant.id)):
            session.add(GroupMembership(group_id=group.id, participant_id=pid))
        session.execute(sa.update(Participant).values(consent_at=sa.func.now()))
    return phones


SCENARIOS = {
    s.name: s
    for s in (
        Scenario(
            "known",
            "a known participant with nothing open (the friendly reply)",
            create_participants,
            lambda phones, k: form(phones[k % len(phones)], "hello"),
        ),
        Scenario(
            "unknown",
            "a number nobody registered (one polite reply a day)",
            lambda runtime, count: None,
            lambda _, k: form(unknown_phone(k), "hello"),
        ),
        Scenario(
            "stop-start",
            "known participants texting STOP, then START",
            create_participants,
            lambda phones, k: form(
                phones[k % len(phones)], "STOP" if (k // len(phones)) % 2 == 0 else "START"
            ),
        ),
        Scenario(
            "ask",
            "every text proposes a question (ASK), all to one group",
            ask_setup,
            lambda phones, k: form(phones[k % len(phones)], f"ASK could we try idea {k}?"),
        ),
        Scenario(
            "conversation",
            "every text answers the current question of an open conversation",
            conversation_setup,
            conversation_params,
        ),
    )
}


# --- pre-signed requests ------------------------------------------------------------------------


class RequestFactory:
    """Renders whole HTTP/1.1 requests, each with a fresh MessageSid and its own signature."""

    def __init__(self, scenario: Scenario, context: Any) -> None:
        self.scenario = scenario
        self.context = context
        self.validator = RequestValidator(AUTH_TOKEN)
        self.sequence = 0  # across runs, so no MessageSid repeats in one database
        self.text = 0  # the scenario's own count, also across runs
        self.sids: list[str] = []

    def batch(self, base_url: str, count: int) -> list[bytes]:
        host = base_url.split("://", 1)[1]
        url = base_url + PATH
        out = []
        self.sids = []  # the batch's MessageSids, in order
        for _ in range(count):
            self.sequence += 1
            params = self.scenario.params(self.context, self.text)
            self.text += 1
            params["MessageSid"] = f"SM{os.getpid():08x}{self.sequence:024x}"
            self.sids.append(params["MessageSid"])
            signature = self.validator.compute_signature(url, params)
            body = urlencode(params).encode()
            head = (
                f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n\r\n"
            )
            out.append(head.encode() + body)
        return out


# --- runs ---------------------------------------------------------------------------------------


@dataclass
class Row:
    app: str
    model: str
    mode: str
    result: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    concurrency: int
    warmup: float
    duration: float
    rate: float | None  # texts/s for the open loop; None: rate_fraction of the commit ceiling
    rate_fraction: float
    latency_duration: float


def app_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "SMSAPP_DATA_KEY": DATA_KEY,
        "SECRET_KEY": "bench-secret-key",
        "SMSAPP_QUEUE": "embedded",
        "SMS_BACKEND": "outbox",  # nothing leaves the machine, whatever happens
    }


APPS = {
    "smsapp": "wsgi:app",
    "bare": "ceiling_app:create_app('bare')",
    "commit": "ceiling_app:create_app('commit')",
}


def measure(
    app: str,
    model: WorkerModel,
    database_url: str,
    factory: RequestFactory,
    plan: Plan,
    *,
    latency_rate: float | None,
) -> Iterator[Row]:
    """Flat out (closed loop); then, for smsapp, an open loop at `latency_rate`."""
    health = "/healthz"
    with gunicorn(APPS[app], model, app_env(database_url), health_path=health) as server:
        spec = {"host": "127.0.0.1", "port": server.port, "warmup": plan.warmup}
        count = math.ceil(MAX_RATE * (plan.warmup + plan.duration))
        closed = {**spec, "mode": "closed", "concurrency": plan.concurrency}
        closed["duration"] = plan.duration
        requests = factory.batch(server.url, count)
        result = costed(server, database_url, closed, requests)
        if app == "smsapp":
            result["rows"] = stored_once(database_url, factory.sids, result["ok_index"])
        yield Row(app, model.label, f"max c={plan.concurrency}", result)
        if latency_rate:
            opened = {**spec, "mode": "open", "rate": latency_rate}
            opened["duration"] = plan.latency_duration
            count = math.ceil(latency_rate * (plan.warmup + plan.latency_duration)) + 10
            requests = factory.batch(server.url, count)
            result = costed(server, database_url, opened, requests)
            result["rows"] = stored_once(database_url, factory.sids, result["ok_index"])
            yield Row(app, model.label, f"{latency_rate:.0f}/s", result)


def stored_once(database_url: str, sids: list[str], ok_index: list[int]) -> dict[str, int]:
    """Every text answered 200 must have exactly one stored inbound row."""
    answered = [sids[i] for i in ok_index]
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    sa.text(
                        "SELECT message_sid, count(*) FROM inbound_message "
                        "WHERE message_sid = ANY(:sids) GROUP BY message_sid"
                    ),
                    {"sids": answered},
                ).all()
            )
    finally:
        engine.dispose()
    return {
        "answered_200": len(answered),
        "stored_once": sum(1 for sid in answered if counts.get(sid) == 1),
        "missing": sum(1 for sid in answered if sid not in counts),
        "doubled": sum(1 for sid in answered if counts.get(sid, 0) > 1),
    }


def costed(server: Server, database_url: str, spec: dict[str, Any], requests: list[bytes]) -> Any:
    """Run the load and add what each answered text cost in CPU: gunicorn's and PostgreSQL's.
    CPU per text hardly changes when other work shares the machine; texts/s does."""
    database = database_url.rsplit("/", 1)[1]
    web, db = server.cpu_seconds(), postgres_cpu_seconds(database)
    result = run_load(spec, requests)
    answered = max(1, result["answered"])
    result["web_cpu_ms"] = (server.cpu_seconds() - web) * 1000 / answered
    result["db_cpu_ms"] = (postgres_cpu_seconds(database) - db) * 1000 / answered
    return result


HEADER = (
    f"{'scenario':<11} {'app':<7} {'workers':<13} {'mode':<9} {'texts/s':>7} "
    f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'vs bare':>7} {'vs commit':>9} "
    f"{'web cpu':>7} {'pg cpu':>6}"
)


class Report:
    """Prints each row as soon as it is measured (a long run loses nothing if cut short)."""

    def __init__(self) -> None:
        self.scenario = ""
        self.ceilings: dict[tuple[str, str], dict[str, Any]] = {}
        self.notes: list[str] = []
        # (scenario, model) -> each closed run's (texts/s ratio, CPU-per-text ratio) to commit
        self.pairs: dict[tuple[str, str], list[tuple[float, float]]] = {}
        print(HEADER)
        print("-" * len(HEADER), flush=True)

    def begin(self, scenario: str) -> None:
        """A new scenario: its own database, and its own ceilings measured beside it."""
        self.scenario = scenario
        self.ceilings = {}

    def row(self, row: Row) -> None:
        r = row.result
        ratios = ["", ""]
        if row.app in {"bare", "commit"} and row.mode.startswith("max"):
            self.ceilings[(row.app, row.model)] = r
        if row.app == "smsapp" and row.mode.startswith("max"):
            for i, name in enumerate(("bare", "commit")):
                top = self.ceilings.get((name, row.model))
                if top and top["per_second"]:
                    ratios[i] = f"{r['per_second'] / top['per_second']:.0%}"
            commit = self.ceilings.get(("commit", row.model))
            if commit:
                mine = r["web_cpu_ms"] + r["db_cpu_ms"]
                theirs = commit["web_cpu_ms"] + commit["db_cpu_ms"]
                self.pairs.setdefault((self.scenario, row.model), []).append(
                    (r["per_second"] / max(commit["per_second"], 1e-9), mine / theirs)
                )
                self.notes.append(
                    f"{self.scenario} {row.model}: texts/s {ratios[1]} of the commit ceiling; "
                    f"CPU per text smsapp {mine:.2f} ms, commit ceiling {theirs:.2f} ms "
                    f"({mine / theirs:.2f}x): by CPU, smsapp can reach ~{theirs / mine:.0%} "
                    "of the one-commit ceiling"
                )
        label = self.scenario if row.app == "smsapp" else "-"
        print(
            f"{label:<11} {row.app:<7} {row.model:<13} {row.mode:<9} {r['per_second']:>7.0f} "
            f"{r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} {r['errors']:>6} {ratios[0]:>7} "
            f"{ratios[1]:>9} {r['web_cpu_ms']:>7.2f} {r['db_cpu_ms']:>6.2f}"
        )
        if r["errors"]:
            print(f"    statuses {r['statuses']} {r['first_error']}")
        rows = r.get("rows")
        if rows:
            ok = rows["stored_once"] == rows["answered_200"]
            print(
                f"    rows: {rows['answered_200']} answered 200, {rows['stored_once']} stored "
                f"exactly once, {rows['missing']} missing, {rows['doubled']} doubled"
                + ("" if ok else "  <-- LOST OR DOUBLED")
            )
        sys.stdout.flush()

    def end(self) -> None:
        print(
            "(web cpu, pg cpu: CPU ms per answered text in gunicorn and in PostgreSQL's backends)"
        )
        for note in self.notes:
            print(note)
        for (scenario, model), pairs in self.pairs.items():
            if len(pairs) < 2:
                continue
            speed = sorted(p[0] for p in pairs)
            cost = sorted(p[1] for p in pairs)
            print(
                f"{scenario} {model}, median of {len(pairs)} runs each beside its own commit "
                f"ceiling: texts/s {statistics.median(speed):.0%} of it ({speed[0]:.0%}-"
                f"{speed[-1]:.0%}); CPU per text {statistics.median(cost):.2f}x "
                f"({cost[0]:.2f}-{cost[-1]:.2f}x)"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--scenario",
        default="known,unknown,conversation",
        help=f"comma-separated, from {', '.join(sorted(SCENARIOS))}",
    )
    parser.add_argument(
        "--models",
        default="gthread",
        help="comma-separated worker models: sync, gthread, gevent, or with counts: "
        "gthread:3x8, sync:5, gevent:2 (default: gthread, gunicorn.conf.py's)",
    )
    parser.add_argument(
        "--apps", default="bare,commit,smsapp", help="which of bare,commit,smsapp to serve"
    )
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, help="texts/s for the open loop (fixed)")
    parser.add_argument(
        "--rate-fraction",
        type=float,
        default=0.6,
        help="open loop at this fraction of the commit ceiling measured just before (0.6)",
    )
    parser.add_argument("--duration", type=float, help="seconds per throughput run")
    parser.add_argument("--latency-duration", type=float, help="seconds of open loop (60)")
    parser.add_argument("--participants", type=int, help="default 500 (--quick: 200)")
    parser.add_argument("--quick", action="store_true", help="short runs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure the ceilings and smsapp flat out this many times, alternating, and "
        "print the median ratios (the open loop runs once, after the last)",
    )
    args = parser.parse_args(argv)

    models = [worker_model(name.strip()) for name in args.models.split(",")]
    apps = [app.strip() for app in args.apps.split(",") if app.strip() in APPS]
    scenarios = [SCENARIOS[name.strip()] for name in args.scenario.split(",")]
    duration = args.duration or (2.5 if args.quick else 5.0)
    latency = args.latency_duration or (10.0 if args.quick else 60.0)
    plan = Plan(args.concurrency, 1.0, duration, args.rate, args.rate_fraction, latency)
    participants = args.participants or (200 if args.quick else 500)

    from smsapp.config import load_settings
    from smsapp.migrate import upgrade
    from smsapp.runtime import build_runtime

    began = time.monotonic()
    load = os.getloadavg()[0]
    if load > 0.5 * (os.cpu_count() or 1):
        print(f"warning: load average {load:.1f} before the run: texts/s will be low and noisy")
    rate = f"{plan.rate:g}/s" if plan.rate else f"{plan.rate_fraction:.0%} of the commit ceiling"
    print(
        f"throughput: {plan.concurrency} keep-alive clients for {plan.duration:g}s; latency: "
        f"open loop at {rate} for {plan.latency_duration:g}s; 1s warm-up each; "
        f"{participants} participants; {os.cpu_count()} CPUs"
    )
    report = Report()
    for scenario in scenarios:
        with throwaway_database() as database_url:
            upgrade(database_url)
            env = {**app_env(database_url), "PUBLIC_BASE_URL": "http://127.0.0.1"}
            runtime = build_runtime(load_settings(ROOT / "instance", env))
            context = scenario.setup(runtime, participants)
            runtime.db.engine.dispose()
            settings = server_settings(database_url)
            print(
                f"-- scenario {scenario.name}: {scenario.description}; PostgreSQL "
                f"{settings['server_version'].split()[0]} fsync={settings['fsync']} "
                f"synchronous_commit={settings['synchronous_commit']}",
                flush=True,
            )
            report.begin(scenario.name)
            factory = RequestFactory(scenario, context)
            for model in models:
                for repeat in range(1, max(1, args.repeat) + 1):
                    last = repeat == max(1, args.repeat)
                    for app in apps:
                        if app == "bare" and repeat > 1:
                            continue  # only the commit ceiling is compared with
                        latency_rate = None
                        if app == "smsapp" and last:
                            commit = report.ceilings.get(("commit", model.label))
                            latency_rate = plan.rate or (
                                plan.rate_fraction * commit["per_second"] if commit else 0
                            )
                        for row in measure(
                            app, model, database_url, factory, plan, latency_rate=latency_rate
                        ):
                            report.row(row)
    report.end()
    print(f"\n(whole run {time.monotonic() - began:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

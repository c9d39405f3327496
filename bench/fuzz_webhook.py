"""Fuzz the inbound webhook: 100,000+ random signed texts through gunicorn on PostgreSQL, and
check that none got a 5xx, each one answered 200 is stored exactly once, and nothing crashed.

Usage: .venv/bin/python bench/fuzz_webhook.py [--texts 100000] [--seed N] [--concurrency 16]
Needs PostgreSQL at 127.0.0.1:5432 (user postgres); creates and drops smsapp_bench_<pid>.
Texts: random unicode, emoji, control characters, over-long bodies, the words the router
knows; senders known (in open conversations of a launched poll with every kind of question),
unknown, invalid or empty; about one in ten a repeated delivery of an earlier text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]  # this tree's smsapp and tests, bench/support

import psycopg  # noqa: E402
from support.loadgen import Connection, _send  # noqa: E402
from support.stack import WorkerModel, gunicorn, throwaway_database  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

from tests.support.fuzzing import FuzzPlan, expected_status  # noqa: E402

AUTH_TOKEN = "fuzz-auth-token-0123456789abcdef"
DATA_KEY = "q5GQeJ0Qh0pYlG0mZ9Kx3c8n1p3V8bY3w6k2r7t9u1Y="  # the fixed test key, not a real one
PATH = "/sms/inbound"
EVERY_KIND = ROOT / "tests" / "data" / "every_kind.yaml"
MAX_SECONDS = 3600  # whatever happens, the run ends


def app_env(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "SMSAPP_DATA_KEY": DATA_KEY,
        "SECRET_KEY": "fuzz-secret-key",
        "SMSAPP_QUEUE": "embedded",
        "SMS_BACKEND": "outbox",  # nothing leaves the machine, whatever happens
    }


def setup(database_url: str, participants: int) -> list[str]:
    """Consenting participants in a group, each in an open conversation of every_kind.yaml."""
    from datetime import UTC, datetime

    from smsapp.config import load_settings
    from smsapp.migrate import upgrade
    from smsapp.models import GroupMembership
    from smsapp.runtime import build_runtime
    from smsapp.services.people.groups import create_group
    from smsapp.services.people.participants import new_participant
    from smsapp.services.polls.definitions import import_poll
    from smsapp.services.polls.launch import launch_poll

    upgrade(database_url)
    runtime = build_runtime(load_settings(ROOT / "instance", app_env(database_url)))
    phones = [f"+4474002{i:05d}" for i in range(participants)]
    with runtime.db.transaction() as session:
        group = create_group(session, "oakfield", "Oakfield")
        group.settings = {"quiet_hours": {"enabled": False}}
        session.flush()
        taken: set[str] = set()
        for i, phone in enumerate(phones):
            p = new_participant(session, runtime.vault, phone, nickname=f"Fuzz{i}", taken=taken)
            p.consent_at = datetime.now(UTC)
            session.flush()
            session.add(GroupMembership(group_id=group.id, participant_id=p.id))
        import_poll(session, EVERY_KIND.read_text())
        launch_poll(runtime, session, "every-kind")
    runtime.db.engine.dispose()
    return phones


def render(base_url: str, form: dict[str, str], validator: RequestValidator) -> bytes:
    host = base_url.split("://", 1)[1]
    signature = validator.compute_signature(base_url + PATH, form)
    body = urlencode(form).encode()
    head = (
        f"POST {PATH} HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nX-Twilio-Signature: {signature}\r\n\r\n"
    )
    return head.encode() + body


async def post_all(port: int, requests: list[bytes], concurrency: int) -> list[int]:
    """Closed loop: each client sends its next request when the last is answered. Status 0 is a
    connection that failed or a request unanswered after 30 s."""
    statuses = [0] * len(requests)
    feed = iter(range(len(requests)))
    stop_at = time.monotonic() + MAX_SECONDS

    async def client() -> None:
        conn: Connection | None = None
        for i in feed:
            if time.monotonic() > stop_at:
                return
            try:
                statuses[i], conn = await asyncio.wait_for(
                    _send("127.0.0.1", port, conn, requests[i]), 30
                )
            except (OSError, TimeoutError):
                conn = None

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return statuses


def stored(database_url: str) -> tuple[Counter[str], Counter[str]]:
    """Rows per MessageSid, and the errors texts were stored with (a handled crash)."""
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn) as conn:
        rows = Counter(
            {sid: n for sid, n in conn.execute(
                "SELECT message_sid, count(*) FROM inbound_message GROUP BY 1"
            )}
        )  # fmt: skip
        errors = Counter(
            {(e or "")[:160]: n for e, n in conn.execute(
                "SELECT error, count(*) FROM inbound_message WHERE error IS NOT NULL GROUP BY 1"
            )}
        )  # fmt: skip
    return rows, errors


def _error_records(log: str) -> list[dict[str, Any]]:
    records = []
    for line in log.splitlines():
        if line.startswith("{") and '"level": "ERROR"' in line or '"level": "CRITICAL"' in line:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


def logged_errors(log: str) -> Counter[tuple[str, str]]:
    """ERROR lines of the JSON log, by message and the exception's last line."""
    found: Counter[tuple[str, str]] = Counter()
    for record in _error_records(log):
        exc = (record.get("exc") or "").strip().splitlines()
        found[(str(record.get("message", ""))[:120], exc[-1][:200] if exc else "")] += 1
    return found


def first_traceback(log: str) -> str:
    for record in _error_records(log):
        if record.get("exc"):
            return "\n".join("    " + line for line in str(record["exc"]).splitlines()[-30:])
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--texts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--chunk", type=int, default=5000, help="texts rendered at a time")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    cores = os.cpu_count() or 1
    began = time.monotonic()
    with throwaway_database() as database_url:
        phones = setup(database_url, args.participants)
        plan = FuzzPlan(known=phones, seed=seed)
        validator = RequestValidator(AUTH_TOKEN)
        model = WorkerModel("gthread", "gthread", workers=cores, threads=8)
        statuses: Counter[int] = Counter()
        wrong: list[tuple[int, dict[str, str]]] = []
        ok_sids: set[str] = set()
        refused_sids: set[str] = set()
        with gunicorn("wsgi:app", model, app_env(database_url)) as server:
            print(
                f"fuzz: seed {seed}, {args.texts} texts, {args.concurrency} clients, {model.label}"
            )
            sent = 0
            while sent < args.texts and time.monotonic() - began < MAX_SECONDS:
                forms = [plan.next() for _ in range(min(args.chunk, args.texts - sent))]
                requests = [render(server.url, f, validator) for f in forms]
                answers = asyncio.run(post_all(server.port, requests, args.concurrency))
                for form, status in zip(forms, answers, strict=True):
                    statuses[status] += 1
                    if status not in expected_status(form):
                        wrong.append((status, form))
                    sid = form["MessageSid"].strip()
                    (ok_sids if status == 200 else refused_sids).add(sid)
                sent += len(forms)
                print(f"  {sent:>7} sent, statuses so far {dict(sorted(statuses.items()))}")
            log = server.log_path.read_text(errors="replace")
        rows, errors = stored(database_url)
    elapsed = time.monotonic() - began
    twice = [sid for sid in ok_sids if rows.get(sid, 0) != 1]
    refused_stored = [sid for sid in refused_sids - ok_sids if sid in rows]
    tracebacks = sum(logged_errors(log).values()) + log.count("\nTraceback")
    print(f"\nstatuses: {dict(sorted(statuses.items()))}  ({sent} texts in {elapsed:.0f}s)")
    print(f"generated: {dict(plan.kinds)}")
    print(f"5xx: {sum(n for s, n in statuses.items() if s >= 500)}; no answer: {statuses[0]}")
    print(f"answered 200 but not stored exactly once: {len(twice)}")
    print(f"refused (4xx) but stored: {len(refused_stored)}")
    print(f"status other than expected: {len(wrong)}")
    for status, form in wrong[:5]:
        print(f"    {status}: {form!r:.300}")
    print(
        f"texts stored with an error (handled, answered with an empty reply): {sum(errors.values())}"
    )
    for error, n in errors.most_common(5):
        print(f"    {n} x {error}")
    logged = logged_errors(log)
    print(f"errors logged by gunicorn's workers (caught inside the app): {sum(logged.values())}")
    for (message, last), n in logged.most_common(8):
        print(f"    {n} x {message}: {last}")
    if logged:
        print("  first traceback:\n" + first_traceback(log))
    bad = bool(twice or refused_stored or wrong or tracebacks or statuses[0])
    print("RESULT:", "FAIL" if bad else "ok: no 5xx, nothing lost or doubled, no crash")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

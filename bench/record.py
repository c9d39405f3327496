"""Benchmark: the group's record page for a big group with a year of polls, and the year
review's tree of growth. Prints figures; asserts nothing.

A group of --people members answers --polls polls spread over twelve months (a choice and a
free-text question each, 70% answering), every poll closed and counted; then a year review.
Times `services.record.page.group_record` (what the page renders) and `growth.tree_of_growth`.

Needs PostgreSQL (BENCH_POSTGRES, default postgres@127.0.0.1).
Run: .venv/bin/python bench/record.py [--people 2000] [--polls 24] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

import smsapp.models  # noqa: E402,F401
from bench.support.stack import throwaway_database  # noqa: E402
from smsapp.config import Settings  # noqa: E402
from smsapp.db import Base  # noqa: E402
from smsapp.models import (  # noqa: E402
    Answer,
    Conversation,
    Group,
    GroupMembership,
    Participant,
    Poll,
)
from smsapp.runtime import build_runtime  # noqa: E402
from smsapp.services.polls.definitions import import_poll, open_poll  # noqa: E402
from smsapp.services.record import growth  # noqa: E402
from smsapp.services.record.page import group_record  # noqa: E402
from smsapp.services.votes.tallying import tally_poll  # noqa: E402

DATA_KEY = "q5GQeJ0Qh0pYlG0mZ9Kx3c8n1p3V8bY3w6k2r7t9u1Y="  # a bench-only key: no real numbers
START = datetime(2026, 1, 5, 16, 0, tzinfo=UTC)
POLL = """
slug: poll-{n}
title: Poll {n}
group: bench
purpose: {purpose}
tie_seed: seed-{n}
questions:
  - {{key: pick, kind: choice, prompt: "Which first?", options: [Park, Games, Careers, Music]}}
  - {{key: why, kind: text, prompt: "Why?", optional: true}}
"""
REVIEW = (ROOT / "smsapp" / "poll_templates" / "year-review.yaml").read_text()


def settings(url: str) -> Settings:
    return Settings(
        database_url=url,
        redis_url=None,
        secret_key="bench",
        data_key=DATA_KEY,
        sms_backend="outbox",
    )


def populate(rt: Any, people: int, polls: int) -> tuple[int, int]:
    """Returns (group id, answers written)."""
    rng = random.Random(7)
    with rt.db.transaction() as s:
        group = Group(slug="bench", name="Bench group", settings={})
        s.add(group)
        s.flush()
        s.execute(
            sa.insert(Participant),
            [
                {
                    "pseudonym": f"P-{i:07d}",
                    "status": "active",
                    "number_status": "ok",
                    "simulated": False,
                    "created_at": START,
                    "updated_at": START,
                }
                for i in range(people)
            ],
        )
        ids = list(s.scalars(sa.select(Participant.id).order_by(Participant.id)))
        s.execute(
            sa.insert(GroupMembership),
            [{"group_id": group.id, "participant_id": pid, "joined_at": START} for pid in ids],
        )
        group_id = group.id
    written = 0
    sources = [POLL.format(n=n, purpose="name" if n == 0 else "priorities") for n in range(polls)]
    sources.append(REVIEW.replace("slug: year-review\n", "slug: year-review\ngroup: bench\n"))
    for n, source in enumerate(sources):
        at = START + timedelta(days=15 * n)
        with rt.db.transaction() as s:
            poll = import_poll(s, source).poll
            open_poll(s, poll)
            poll_id, review = poll.id, poll.slug == "year-review"
        answering = [pid for pid in ids if rng.random() < 0.7]
        with rt.db.transaction() as s:
            s.execute(
                sa.insert(Conversation),
                [
                    {
                        "poll_id": poll_id,
                        "participant_id": pid,
                        "status": "finished",
                        "state": {},
                        "started_by": "launch",
                        "created_at": at,
                        "last_activity_at": at,
                        "reminders_sent": 0,
                    }
                    for pid in answering
                ],
            )
            conversations = dict(
                s.execute(
                    sa.select(Conversation.participant_id, Conversation.id).where(
                        Conversation.poll_id == poll_id
                    )
                ).all()
            )
            rows = []
            for pid in answering:
                if review:
                    first: tuple[str, str, Any] = (
                        "helped",
                        "multi",
                        rng.sample("ABCDEF", rng.randint(1, 3)),
                    )
                else:
                    first = ("pick", "choice", rng.choice("AABBCD"))
                text_key = "story" if review else "why"
                for key, kind, value in (first, (text_key, "text", f"because {pid}")):
                    rows.append(
                        {
                            "poll_id": poll_id,
                            "conversation_id": conversations[pid],
                            "participant_id": pid,
                            "question_key": key,
                            "kind": kind,
                            "value": value,
                            "attempts": 1,
                            "skipped": False,
                            "superseded": False,
                            "answered_at": at + timedelta(minutes=rng.randint(0, 600)),
                        }
                    )
            for chunk in range(0, len(rows), 10_000):
                s.execute(sa.insert(Answer), rows[chunk : chunk + 10_000])
            written += len(rows)
            closed = s.get(Poll, poll_id)
            assert closed is not None
            closed.status, closed.closed_at = "closed", at + timedelta(days=7)
            closed.launched_at = at
        with rt.db.transaction() as s:
            closed = s.get(Poll, poll_id)
            assert closed is not None
            tally_poll(s, closed, final=True, now=at + timedelta(days=7))
    return group_id, written


def timed_runs(fn: Any, runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--polls", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with throwaway_database() as url:
        rt = build_runtime(settings(url))
        Base.metadata.create_all(rt.db.engine)
        started = time.perf_counter()
        group_id, answers = populate(rt, args.people, args.polls)
        print(
            f"set-up: {args.people} people, {args.polls + 1} polls, {answers} answers "
            f"in {time.perf_counter() - started:.1f}s"
        )

        def record() -> None:
            with rt.db.transaction() as s:
                group = s.get(Group, group_id)
                assert group is not None
                group_record(s, group, k=5, timezone="Europe/London")

        def tree() -> None:
            with rt.db.transaction() as s:
                poll = s.scalar(sa.select(Poll).where(Poll.slug == "year-review"))
                assert poll is not None
                growth.tree_of_growth(s, poll, 5)

        best, median = timed_runs(record, args.runs)
        print(
            f"group_record (the record page's data): best {best * 1000:.0f} ms, median {median * 1000:.0f} ms"
        )
        best, median = timed_runs(tree, args.runs)
        print(
            f"tree_of_growth (the year review):      best {best * 1000:.0f} ms, median {median * 1000:.0f} ms"
        )
        rt.db.engine.dispose()


if __name__ == "__main__":
    main()

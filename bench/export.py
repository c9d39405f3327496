"""Benchmark: the long responses export of 100,000 and 1,000,000 answer rows on PostgreSQL.

Creates its own database, loads answers with COPY, then exports each poll in a fresh process
(--repeat times) and prints rows/s, rows per CPU second of that process and of its PostgreSQL
backend, and the process's peak RSS (aim: >= 200,000 rows/s, <= 150 MB, the same at both
sizes). Drops the database at the end unless --keep. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.databases import postgres_database  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
T0 = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
ANSWERS = [  # (question, kind, value JSON, label, raw text): every_kind.yaml, one of each kind
    ("colour", "choice", '"A"', "Red", "a"),
    ("why_red", "text", '"because it is bold, text me 07911 123456"', None, "because…"),
    ("snacks", "multi", '["A", "C"]', "Crisps, Biscuits", "a and c"),
    ("mood", "scale", "4", "4 out of 5", "4/5"),
    ("again", "yesno", "true", "Yes", "yeah 👍"),
    ("siblings", "number", "2", "2", "two"),
    ("ideas", "nominate", '["Health Voices"]', "Health Voices", "Health Voices"),
    ("name", "rank", '["C", "A", "B"]', "1 Team Spark, 2 Young Researchers", "c, a, b"),
    ("topics", "approve", '["A", "C"]', "Sleep, Screens", "AC"),
    ("budget", "points", '{"A": 3, "C": 2}', "Museum 3, Beach 2", "A3 C2"),
]


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def create_schema(url: str) -> None:
    import smsapp.models  # noqa: F401  (registers the tables)
    from smsapp.db import Base, make_engine

    engine = make_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()


def make_poll(url: str, slug: str) -> int:
    from smsapp.db import Database
    from smsapp.services.people.groups import create_group, group_by_slug
    from smsapp.services.polls.definitions import import_poll, open_poll

    source = (ROOT / "tests" / "data" / "every_kind.yaml").read_text()
    source = source.replace("slug: every-kind", f"slug: {slug}").replace("keyword: ALL\n", "")
    db = Database(url)
    with db.transaction() as s:
        if group_by_slug(s, "oakfield") is None:
            create_group(s, "oakfield", "Oakfield")
            s.flush()
        result = import_poll(s, source)
        open_poll(s, result.poll)
        poll_id = result.poll.id
    db.engine.dispose()
    return poll_id


def load_answers(url: str, poll_id: int, rows: int, first_person: int) -> None:
    """rows/10 participants, each with one finished conversation answering all ten questions."""
    people = rows // len(ANSWERS)
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY participant (pseudonym, status, number_status, simulated, "
            "created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(first_person, first_person + people):
                copy.write_row((f"P-{i:08d}", "active", "ok", False, T0, T0))
        cur.execute(
            "SELECT min(id) FROM participant WHERE pseudonym >= %s", (f"P-{first_person:08d}",)
        )
        first_id = cur.fetchone()[0]  # type: ignore[index]
        with cur.copy(
            "COPY conversation (poll_id, participant_id, status, state, started_by, "
            "created_at, invited_at, last_activity_at, reminders_sent) "
            "FROM STDIN"
        ) as copy:
            for pid in range(first_id, first_id + people):
                copy.write_row((poll_id, pid, "finished", "{}", "launch", T0, T0, T0, 0))
        cur.execute("SELECT min(id) FROM conversation WHERE poll_id = %s", (poll_id,))
        first_conv = cur.fetchone()[0]  # type: ignore[index]
        step = timedelta(seconds=30)
        with cur.copy(
            "COPY answer (poll_id, conversation_id, participant_id, question_key, "
            "kind, value, label, raw_text, attempts, skipped, superseded, "
            "answered_at) FROM STDIN"
        ) as copy:
            for n in range(people):
                moment = T0 + timedelta(minutes=n % 10_000)
                for key, kind, value, label, raw in ANSWERS:
                    moment += step
                    copy.write_row(
                        (
                            poll_id,
                            first_conv + n,
                            first_id + n,
                            key,
                            kind,
                            value,
                            label,
                            raw,
                            1,
                            False,
                            False,
                            moment,
                        )
                    )
        conn.commit()
        cur.execute("ANALYZE")


def backend_cpu(pid: int) -> float:
    """CPU seconds used so far by a PostgreSQL backend on this machine (NaN if unreadable).

    The pool keeps one connection, so the export's queries run in the backend measured.
    Parallel query workers, if the planner starts any, are not counted.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child(url: str, slug: str, out: str) -> None:
    """Export one poll's long responses and report rows, seconds and this process's peak RSS."""
    from smsapp.db import Database
    from smsapp.services.polls.definitions import require_poll
    from smsapp.services.research import exports

    db = Database(url)
    with db.transaction() as s:
        backend = int(s.scalar(sa.text("SELECT pg_backend_pid()")) or 0)
    server_cpu = backend_cpu(backend)
    started, cpu = time.perf_counter(), time.process_time()
    with db.transaction() as s, open(out, "w", encoding="utf-8", newline="") as handle:
        poll = require_poll(s, slug)
        rows = exports.write_csv(handle, s, poll, exports.ExportRequest("responses"))
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_cpu = backend_cpu(backend) - server_cpu
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "cpu": cpu,
                "server_cpu": server_cpu,
                "peak_mb": peak_kb / 1024,
                "bytes": os.path.getsize(out),
            }
        )
    )


def load() -> str:
    return " ".join(f"{n:.1f}" for n in os.getloadavg())


def report(figures: dict[str, float]) -> None:
    rows = figures["rows"]
    print(
        f"responses (long) {rows:>9,.0f} rows: {figures['seconds']:6.2f} s, "
        f"{rows / figures['seconds']:>9,.0f} rows/s; per CPU s: {rows / figures['cpu']:>9,.0f} "
        f"(this process), {rows / figures['server_cpu']:>9,.0f} (PostgreSQL backend); "
        f"peak RSS {figures['peak_mb']:5.1f} MB, file {figures['bytes'] / 1e6:5.1f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000", help="answer rows per poll")
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--repeat", type=int, default=3, help="exports of each poll (shared CPUs)")
    parser.add_argument("--child", nargs=3, metavar=("URL", "SLUG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with postgres_database(args.server + "/postgres", "smsapp_bench_export", keep=args.keep) as url:
        create_schema(url)
        person = 0
        polls = []
        for size in sizes:
            slug = f"bench-{size}"
            started = time.perf_counter()
            poll_id = make_poll(url, slug)
            load_answers(url, poll_id, size, person)
            person += size // len(ANSWERS)
            print(f"loaded {size:>9,} answers in {time.perf_counter() - started:5.1f} s")
            polls.append((size, slug))
        print(f"load average before exporting: {load()}")
        with tempfile.TemporaryDirectory() as tmp:
            for _size, slug in polls:
                out = str(Path(tmp) / f"{slug}.csv")
                for _ in range(args.repeat):
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", url, slug, out],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    report(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"load average after: {load()} ({os.cpu_count()} CPUs)")
        if args.keep:
            print(f"kept the database: {url}")


if __name__ == "__main__":
    main()

"""Benchmark: what the facilitators' tools cost on a big open poll (PostgreSQL).

- Live results: the version marker a results page left open asks for every 5 s (one index
  probe each on answer and tally_run), against redrawing the results (summarise and the
  respondents-over-time query) that an unchanged 304 avoids.
- XLSX: the long responses as a workbook, in a fresh process, with its rows/s and peak RSS,
  beside the CSV of the same rows (aim: memory level with the size, like the CSV's).

Creates its own database with bench/export.py's loader; prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import export as export_bench  # noqa: E402  (bench/export.py: schema, poll and COPY loader)

from tests.support.databases import postgres_database  # noqa: E402


def timed(fn: object, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - started)
    return out


def live(url: str, slug: str) -> None:
    from smsapp.db import Database
    from smsapp.services.polls.definitions import require_poll
    from smsapp.services.research.results import (
        respondents_over_time,
        results_version,
        summarise,
    )

    db = Database(url)
    with db.transaction() as s:
        poll = require_poll(s, slug)
        marker = timed(lambda: results_version(s, poll), 200)
        redraw = timed(lambda: (summarise(s, poll), respondents_over_time(s, poll)), 3)
    db.engine.dispose()
    print(
        f"live results, {slug}: version marker median {statistics.median(marker) * 1000:.2f} ms "
        f"(p95 {sorted(marker)[int(len(marker) * 0.95)] * 1000:.2f} ms); redraw median "
        f"{statistics.median(redraw) * 1000:.0f} ms: an unchanged look costs "
        f"{statistics.median(redraw) / statistics.median(marker):,.0f}x less"
    )


def child(url: str, slug: str, out: str, fmt: str) -> None:
    from smsapp.db import Database
    from smsapp.services.polls.definitions import require_poll
    from smsapp.services.research import exports

    db = Database(url)
    started, cpu = time.perf_counter(), time.process_time()
    with db.transaction() as s:
        poll = require_poll(s, slug)
        if fmt == "xlsx":
            wanted = exports.ExportRequest("responses", xlsx=True)
            rows = exports.write_xlsx(Path(out), s, poll, wanted)
        else:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                rows = exports.write_csv(handle, s, poll, exports.ExportRequest("responses"))
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": time.perf_counter() - started,
                "cpu": time.process_time() - cpu,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "bytes": Path(out).stat().st_size,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="20000,100000", help="answer rows per poll")
    parser.add_argument("--server", default=export_bench.SERVER)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with postgres_database(args.server + "/postgres", "smsapp_bench_tools") as url:
        export_bench.create_schema(url)
        person = 0
        for size in sizes:
            slug = f"bench-{size}"
            poll_id = export_bench.make_poll(url, slug)
            export_bench.load_answers(url, poll_id, size, person)
            person += size // len(export_bench.ANSWERS)
            live(url, slug)
            with tempfile.TemporaryDirectory() as tmp:
                for fmt in ("csv", "xlsx"):
                    out = str(Path(tmp) / f"{slug}.{fmt}")
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", url, slug, out, fmt],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    f = json.loads(done.stdout.strip().splitlines()[-1])
                    print(
                        f"responses (long) as {fmt.upper():4} {f['rows']:>9,} rows: "
                        f"{f['seconds']:6.2f} s, {f['rows'] / f['seconds']:>8,.0f} rows/s, "
                        f"peak RSS {f['peak_mb']:5.1f} MB, file {f['bytes'] / 1e6:5.1f} MB"
                    )


if __name__ == "__main__":
    main()

"""A small HTTP/1.1 load generator (asyncio protocols over raw sockets) for the benchmarks.

It runs in its own process so the client never shares an interpreter (or its GIL) with the code
being measured. Requests are whole pre-rendered byte strings, each used once: every text needs
its own MessageSid and signature, and signing is done up front, outside the timed loop.

Run as ``python bench/support/loadgen.py SPEC.json``; prints one JSON result line.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time
from dataclasses import dataclass, field
from typing import Any

LATE_AFTER = 5.0  # seconds the open loop waits for stragglers after its last request
MAX_CONNECTIONS = 512  # open-loop mode opens more only while all are busy; bounded anyway


@dataclass
class Tally:
    """What the measured window saw; completions during warm-up are not counted."""

    measure_from: float
    measure_until: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    first_error: str = ""
    answered: int = 0  # every answer, warm-up included: the server's CPU covers them all
    # Which requests (by their place in the list) were answered 200, warm-up included: the
    # caller checks each has exactly one stored row.
    ok_index: list[int] = field(default_factory=list)

    def record(
        self, started: float, finished: float, status: int, at: float, index: int = -1
    ) -> None:
        """Count one answer if ``at`` (when it finished, or when it was due) is in the window."""
        self.answered += 1
        if status == 200 and index >= 0:
            self.ok_index.append(index)
        if not self.measure_from <= at < self.measure_until:
            return
        self.latencies.append(finished - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200:
            self.errors += 1

    def failure(self, at: float, why: str) -> None:
        if self.measure_from <= at < self.measure_until:
            self.errors += 1
            self.first_error = self.first_error or why


class Connection(asyncio.Protocol):
    """One keep-alive connection; reconnects when the server says Connection: close."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bool]] | None = None
        self.closed = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.closed = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._try_complete()

    def _try_complete(self) -> None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        status = int(head[0].split(" ", 2)[1])
        length = 0
        close = head[0].startswith("HTTP/1.0")
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "connection":
                close = value.strip().lower() == "close"
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        self.waiter.set_result((status, close))

    async def request(self, raw: bytes) -> tuple[int, bool]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


async def _connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(Connection, host, port)
    return protocol


async def _send(
    host: str, port: int, conn: Connection | None, raw: bytes
) -> tuple[int, Connection]:
    if conn is None or conn.closed:
        conn = await _connect(host, port)
    status, close = await conn.request(raw)
    if close:
        assert conn.transport is not None
        conn.transport.close()
        conn.closed = True
    return status, conn


async def closed_loop(spec: dict[str, Any], requests: list[bytes]) -> Tally:
    """C clients, each sending its next request as soon as the last is answered."""
    host, port = spec["host"], spec["port"]
    start = time.perf_counter()
    tally = Tally(start + spec["warmup"], start + spec["warmup"] + spec["duration"])
    stop_at = tally.measure_until
    feed = enumerate(requests)

    async def client() -> None:
        conn: Connection | None = None
        while time.perf_counter() < stop_at:
            index, raw = next(feed, (-1, None))
            if raw is None:
                tally.failure(time.perf_counter(), "ran out of pre-signed requests")
                return
            began = time.perf_counter()
            try:
                status, conn = await asyncio.wait_for(_send(host, port, conn, raw), 30)
            except (OSError, TimeoutError) as exc:
                conn = None
                tally.failure(time.perf_counter(), f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(0.01)
                continue
            finished = time.perf_counter()
            tally.record(began, finished, status, finished, index)

    await asyncio.gather(*(client() for _ in range(spec["concurrency"])))
    return tally


async def open_loop(spec: dict[str, Any], requests: list[bytes]) -> Tally:
    """A fixed arrival rate; latency counts from the scheduled send time, so a stalled server
    shows up in the figures (no coordinated omission)."""
    host, port, rate = spec["host"], spec["port"], float(spec["rate"])
    start = time.perf_counter() + 0.05
    total = int(rate * (spec["warmup"] + spec["duration"]))
    tally = Tally(start + spec["warmup"], start + spec["warmup"] + spec["duration"])
    idle: list[Connection] = []
    pending: set[asyncio.Task[None]] = set()

    async def one(raw: bytes, scheduled: float, index: int) -> None:
        reuse = idle.pop() if idle else None
        try:
            status, conn = await asyncio.wait_for(_send(host, port, reuse, raw), 30)
        except (OSError, TimeoutError) as exc:
            tally.failure(scheduled, f"{type(exc).__name__}: {exc}")
            return
        tally.record(scheduled, time.perf_counter(), status, scheduled, index)
        if not conn.closed:
            idle.append(conn)

    for i in range(min(total, len(requests))):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(pending) >= MAX_CONNECTIONS:
            tally.failure(scheduled, "more than MAX_CONNECTIONS requests outstanding")
            continue
        task = asyncio.create_task(one(requests[i], scheduled, i))
        pending.add(task)
        task.add_done_callback(pending.discard)
    if pending:
        # An overloaded server would keep the run going for as long as its backlog lasts;
        # give it a few seconds, then count whatever is still unanswered as errors.
        _, late = await asyncio.wait(pending, timeout=LATE_AFTER)
        for task in late:
            task.cancel()
        if late:
            tally.errors += len(late)
            tally.first_error = tally.first_error or (
                f"{len(late)} unanswered {LATE_AFTER:g}s after the last was sent"
            )
    return tally


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarise(tally: Tally, duration: float) -> dict[str, Any]:
    lat = sorted(tally.latencies)
    ok = tally.statuses.get(200, 0)
    return {
        "completed": len(lat),
        "ok": ok,
        "per_second": ok / duration,
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "max_ms": (lat[-1] * 1000) if lat else float("nan"),
        "errors": tally.errors,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "first_error": tally.first_error,
        "answered": tally.answered,
        "ok_index": sorted(tally.ok_index),
    }


def run(spec: dict[str, Any]) -> dict[str, Any]:
    with open(spec["requests_file"], "rb") as fh:
        requests: list[bytes] = pickle.load(fh)
    if spec["mode"] == "closed":
        tally = asyncio.run(closed_loop(spec, requests))
        return summarise(tally, spec["duration"])
    if spec["mode"] == "open":
        tally = asyncio.run(open_loop(spec, requests))
        return summarise(tally, spec["duration"])
    raise ValueError(f"unknown mode {spec['mode']!r}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: loadgen.py SPEC.json  (bench/inbound.py writes the spec)")
    with open(sys.argv[1]) as fh:
        print(json.dumps(run(json.load(fh))))

"""Exports stream: the peak memory of writing an export does not grow with its row count."""

from __future__ import annotations

import io
import tracemalloc

import pytest

from smsapp.models import Poll
from smsapp.services.research import exports
from smsapp.services.research.exports import reading, writing
from tests.support.every_kind import add_people, open_every_kind


class Discard(io.TextIOBase):
    """A text sink that keeps nothing, so only the export's own memory is measured."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def writable(self) -> bool:
        return True


def peak_of(runtime, poll_id: int, request: exports.ExportRequest) -> tuple[int, int]:
    """(rows written, peak bytes allocated while writing)."""
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        sink = Discard()
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            rows = exports.write_csv(sink, s, poll, request)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    return rows, peak


@pytest.mark.parametrize(
    "request_",
    [
        exports.ExportRequest("responses"),
        exports.ExportRequest("responses", wide=True),
        exports.ExportRequest("ballots"),
    ],
    ids=["long", "wide", "ballots"],
)
def test_peak_memory_does_not_grow_with_rows(runtime, request_, monkeypatch) -> None:
    # Small fetch and write batches, so both sizes span many of them (production uses 2,000
    # and 1,000: a fixed few hundred kilobytes whatever the poll's size).
    monkeypatch.setattr(reading, "STREAM_BATCH", 100)
    monkeypatch.setattr(writing, "FLUSH_ROWS", 50)
    poll_id = open_every_kind(runtime)
    add_people(runtime, poll_id, 0, 100)  # 1,000 answers
    rows_small, peak_small = peak_of(runtime, poll_id, request_)
    add_people(runtime, poll_id, 100, 400)  # 5,000 answers: five times as many
    rows_large, peak_large = peak_of(runtime, poll_id, request_)
    assert rows_large == 5 * rows_small
    # Holding the rows would cost five times the small peak; streaming keeps it level (the
    # slack covers allocator noise, far below the growth being guarded).
    assert peak_large < peak_small * 1.2 + 64 * 1024, (peak_small, peak_large)

"""Exports stream: the peak memory of writing an export does not grow with its row count."""

from __future__ import annotations

import io
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import Answer, Conversation, Participant, Poll
from smsapp.services import exports
from tests.integration.test_exports import SAM_ANSWERS, T0, open_every_kind

KINDS = {
    key: kind
    for key, kind in zip(
        SAM_ANSWERS,
        (
            "choice",
            "text",
            "multi",
            "scale",
            "yesno",
            "number",
            "nominate",
            "rank",
            "approve",
            "points",
        ),
        strict=True,
    )
}


class Discard(io.TextIOBase):
    """A text sink that keeps nothing, so only the export's own memory is measured."""

    def __init__(self) -> None:
        self.chars = 0

    def write(self, text: str) -> int:
        self.chars += len(text)
        return len(text)

    def writable(self) -> bool:
        return True


def add_people(runtime, poll_id: int, first: int, count: int) -> None:
    """`count` participants who each answered all ten questions, inserted in bulk."""
    with runtime.db.transaction() as s:
        s.execute(
            sa.insert(Participant),
            [{"pseudonym": f"P-M{first + i:07d}"} for i in range(count)],
        )
        ids = list(
            s.scalars(
                sa.select(Participant.id)
                .where(Participant.pseudonym >= f"P-M{first:07d}")
                .where(Participant.pseudonym < f"P-M{first + count:07d}")
            )
        )
        s.execute(
            sa.insert(Conversation),
            [
                {
                    "poll_id": poll_id,
                    "participant_id": pid,
                    "status": "finished",
                    "started_by": "launch",
                    "invited_at": T0,
                }
                for pid in ids
            ],
        )
        convs = s.execute(
            sa.select(Conversation.id, Conversation.participant_id).where(
                Conversation.participant_id.in_(ids)
            )
        ).all()
        rows: list[dict[str, Any]] = []
        for conv_id, pid in convs:
            for n, (key, (value, label, raw)) in enumerate(SAM_ANSWERS.items(), start=1):
                rows.append(
                    {
                        "poll_id": poll_id,
                        "conversation_id": conv_id,
                        "participant_id": pid,
                        "question_key": key,
                        "kind": KINDS[key],
                        "value": value,
                        "label": label,
                        "raw_text": f"{raw} (text me on 07911 123 {n:03d})",
                        "answered_at": T0 + timedelta(seconds=30 * n),
                    }
                )
        s.execute(sa.insert(Answer), rows)


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
    monkeypatch.setattr(exports, "STREAM_BATCH", 100)
    monkeypatch.setattr(exports, "FLUSH_ROWS", 50)
    poll_id = open_every_kind(runtime)
    add_people(runtime, poll_id, 0, 100)  # 1,000 answers
    rows_small, peak_small = peak_of(runtime, poll_id, request_)
    add_people(runtime, poll_id, 100, 400)  # 5,000 answers: five times as many
    rows_large, peak_large = peak_of(runtime, poll_id, request_)
    assert rows_large == 5 * rows_small
    # Holding the rows would cost five times the small peak; streaming keeps it level (the
    # slack covers allocator noise, far below the growth being guarded).
    assert peak_large < peak_small * 1.2 + 64 * 1024, (peak_small, peak_large)

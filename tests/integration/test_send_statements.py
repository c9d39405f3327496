"""Statements per batch of sends: a fixed few whatever the batch size, so a change that goes
back to a statement per text fails here without timing anything.

A batch is: the claim (one statement on PostgreSQL, two on SQLite), one query for who owes
assent, and one UPDATE writing every outcome, plus the transactions' own BEGIN/SAVEPOINT lines.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from smsapp.models import OutboundStatus, Participant, ParticipantStatus
from smsapp.runtime import Runtime
from smsapp.services.outbox import sending
from tests.support.factories import NOON, launch, make_poll, messages, people
from tests.support.twilio_standin import TwilioStandin

# Statements one batch may cost, transaction bookkeeping included; the same for 8 or 120 texts.
MOST_PER_BATCH = 10


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


@pytest.fixture
def rt(runtime: Runtime, standin: TwilioStandin, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    # A slow machine must not split a batch's write in two: this test counts, it does not time.
    monkeypatch.setattr(sending, "RECORD_INTERVAL", 3600.0)
    settings = runtime.settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=standin.base_url, send_rate=1000.0
    )
    return dataclasses.replace(runtime, settings=settings)


def statements_of_one_batch(rt: Runtime) -> tuple[list[str], sending.SendReport]:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = rt.db.engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        report = sending.send_batch(rt, NOON)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return seen, report


def kinds(statements: list[str]) -> Counter[str]:
    return Counter(re.split(r"\s", s.strip(), maxsplit=1)[0].upper() for s in statements)


@pytest.mark.parametrize("texts", [8, 120])
def test_a_batch_costs_the_same_few_statements_whatever_its_size(
    rt: Runtime, standin: TwilioStandin, texts: int
) -> None:
    make_poll(rt)
    ids = people(rt, texts)
    launch(rt)
    # Some of the batch goes wrong: refused for now (429 and 500: backed off, their participants
    # looked at), and one child who said STOP after the launch (cancelled at the last moment).
    standin.fail_next(2, status=429, code=20429)
    standin.fail_next(1, status=500, code=20500)
    with rt.db.transaction() as s:
        stopped = s.get(Participant, ids[-1])
        assert stopped is not None
        stopped.status = ParticipantStatus.OPTED_OUT

    statements, report = statements_of_one_batch(rt)

    assert report.claimed == texts
    assert (report.sent, report.retried, report.cancelled) == (texts - 4, 3, 1)
    assert len(standin.recorded()) == texts - 4
    by_kind = kinds(statements)
    # The claim (WITH ... UPDATE on PostgreSQL, an UPDATE on SQLite) and one for every outcome.
    assert by_kind["UPDATE"] + by_kind["WITH"] == 2, statements
    assert len(statements) <= MOST_PER_BATCH, statements
    sent = messages(rt, status=OutboundStatus.SENT)
    assert {m.twilio_sid for m in sent} == {m["sid"] for m in standin.recorded()}


def test_the_count_does_not_grow_with_the_batch(
    rt: Runtime, standin: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_poll(rt)
    people(rt, 45)
    launch(rt)
    monkeypatch.setattr(sending, "batch_size", lambda runtime: 5)
    small, report = statements_of_one_batch(rt)
    assert report.sent == 5
    monkeypatch.setattr(sending, "batch_size", lambda runtime: 500)
    large, report = statements_of_one_batch(rt)
    assert report.sent == 40
    assert len(large) == len(small), (small, large)
    assert len(standin.recorded()) == 45

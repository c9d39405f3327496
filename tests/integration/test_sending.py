"""Sending through the real Twilio SDK to the local stand-in: errors, retries, stuck sends."""

from __future__ import annotations

import dataclasses
import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from smsapp.models import (
    NumberStatus,
    OutboundMessage,
    OutboundStatus,
    Participant,
    ParticipantStatus,
)
from smsapp.runtime import Runtime
from smsapp.services.outbox import claims, provider, reconcile, sending
from smsapp.services.outbox.counts import delivery_counts
from smsapp.services.polls.reminders import queue_due_reminders
from tests.conftest import ACCOUNT_SID
from tests.support.factories import NOON, launch, make_poll, messages, people, send_all
from tests.support.twilio_standin import TwilioStandin


@pytest.fixture
def standin() -> Iterator[TwilioStandin]:
    with TwilioStandin() as server:
        yield server


def twilio_runtime(runtime: Runtime, base_url: str, **overrides: object) -> Runtime:
    values: dict[str, object] = {"twilio_timeout": 2.0, "send_rate": 1000.0}
    values.update(overrides)
    settings = runtime.settings.with_overrides(
        sms_backend="twilio", twilio_api_base_url=base_url, **values
    )
    return dataclasses.replace(runtime, settings=settings)


@pytest.fixture
def rt(runtime: Runtime, standin: TwilioStandin) -> Runtime:
    return twilio_runtime(runtime, standin.base_url)


def to_numbers(standin: TwilioStandin) -> list[str]:
    return [m["to"] for m in standin.recorded()]


def phones(rt: Runtime) -> dict[int, str]:
    with rt.db.transaction() as s:
        rows = s.execute(sa.select(Participant.id, Participant.phone_ciphertext)).all()
    return {pid: rt.vault.decrypt(blob) for pid, blob in rows if blob}


def test_launch_to_n_gives_exactly_n_texts_through_429s_and_500s(
    rt: Runtime, standin: TwilioStandin
) -> None:
    make_poll(rt)
    ids = people(rt, 12)
    launch(rt)
    standin.fail_next(2, status=429, code=20429)
    standin.fail_next(1, status=500, code=20500)
    first = send_all(rt, NOON)
    assert first.sent == 9 and first.retried == 3
    retried = [m for m in messages(rt) if m.status == OutboundStatus.QUEUED]
    assert len(retried) == 3
    # Backed off (with jitter), not retried at once; the attempt is kept.
    assert all(NOON < m.send_after <= NOON + timedelta(seconds=3) for m in retried)
    assert all(m.attempts == 1 and m.error_code in (20429, 20500) for m in retried)
    send_all(rt, NOON + timedelta(minutes=1))
    sent = messages(rt)
    assert {m.status for m in sent} == {OutboundStatus.SENT}
    assert sorted(to_numbers(standin)) == sorted(phones(rt)[pid] for pid in ids)
    assert {m.twilio_sid for m in sent} == {m["sid"] for m in standin.recorded()}
    counts = delivery_counts(rt.db.session(), sent[0].poll_id or 0)
    assert counts.get("sent") == 12 and counts.by_kind["invitation"] == {"sent": 12}


def test_twilio_error_codes_mark_participants(rt: Runtime, standin: TwilioStandin) -> None:
    make_poll(rt)
    stop, bad, unreachable, other, fine = people(rt, 5)
    numbers = phones(rt)
    standin.number_errors[numbers[stop]] = (400, 21610)
    standin.number_errors[numbers[bad]] = (400, 21211)
    standin.number_errors[numbers[unreachable]] = (400, 21612)
    standin.number_errors[numbers[other]] = (400, 30007)
    launch(rt)
    report = send_all(rt, NOON)
    assert report.sent == 1 and report.failed == 4
    by_person = {m.participant_id: m for m in messages(rt)}
    assert by_person[fine].status == OutboundStatus.SENT
    for pid, code in ((stop, 21610), (bad, 21211), (unreachable, 21612), (other, 30007)):
        assert by_person[pid].status == OutboundStatus.FAILED
        assert by_person[pid].error_code == code
    with rt.db.transaction() as s:
        status = {p.id: p for p in s.scalars(sa.select(Participant))}
        assert status[stop].status == ParticipantStatus.OPTED_OUT
        assert status[bad].number_status == NumberStatus.INVALID
        assert status[unreachable].number_status == NumberStatus.INVALID
        assert status[other].number_status == NumberStatus.OK
        assert status[other].status == ParticipantStatus.ACTIVE
    counts = delivery_counts(rt.db.session(), by_person[fine].poll_id or 0)
    assert counts.get("failed") == 4
    assert any(label.startswith("21610") for label in counts.failures)
    # The opted-out participant's conversation ended, so no reminder goes to them.
    reminders = queue_due_reminders(rt, now=NOON + timedelta(days=1, minutes=1))
    assert reminders.queued == 2 and reminders.cleared == 2  # no text to STOP or bad numbers
    send_all(rt, NOON + timedelta(days=1, minutes=2))
    assert to_numbers(standin).count(numbers[fine]) == 2
    assert numbers[stop] not in to_numbers(standin)
    assert numbers[bad] not in to_numbers(standin)


def test_timeout_asks_twilio_before_sending_again(runtime: Runtime, standin: TwilioStandin) -> None:
    rt = twilio_runtime(runtime, standin.base_url, twilio_timeout=0.3)
    make_poll(rt)
    people(rt, 1)
    launch(rt)
    standin.set_delay(0.6)  # Twilio takes the text, but answers too late
    report = send_all(rt, NOON)
    assert report.retried == 1
    standin.set_delay(0)
    deadline = time.monotonic() + 5
    while not standin.recorded() and time.monotonic() < deadline:
        time.sleep(0.05)
    [at_twilio] = standin.recorded()
    send_all(rt, NOON + timedelta(minutes=1))
    [m] = messages(rt)
    assert m.status == OutboundStatus.SENT and m.twilio_sid == at_twilio["sid"]
    assert len(standin.recorded()) == 1


def test_connection_refused_then_sent_once(runtime: Runtime, standin: TwilioStandin) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    live = twilio_runtime(runtime, standin.base_url)
    make_poll(live)
    people(live, 1)
    launch(live)
    assert send_all(twilio_runtime(runtime, dead), NOON).retried == 1
    send_all(live, NOON + timedelta(minutes=1))
    [m] = messages(runtime)
    assert m.status == OutboundStatus.SENT and len(standin.recorded()) == 1


def test_gives_up_after_max_attempts(rt: Runtime, standin: TwilioStandin) -> None:
    make_poll(rt)
    people(rt, 1)
    launch(rt)
    standin.fail_next(sending.MAX_SEND_ATTEMPTS, status=503, code=20503)
    now = NOON
    for _ in range(sending.MAX_SEND_ATTEMPTS):
        send_all(rt, now)
        now += sending.BACKOFF_CAP
    [m] = messages(rt)
    assert m.status == OutboundStatus.FAILED and m.attempts == sending.MAX_SEND_ATTEMPTS
    assert m.error_code == 20503 and standin.recorded() == []


def test_callback_url_and_validity_period(runtime: Runtime, standin: TwilioStandin) -> None:
    rt = twilio_runtime(runtime, standin.base_url, public_base_url="https://sms.example.org")
    make_poll(rt)
    people(rt, 1)
    launch(rt)
    # Two hours before the poll closes, the text is useless after it.
    send_all(rt, NOON + timedelta(days=7) - timedelta(hours=2))
    [sent] = standin.recorded()
    assert sent["status_callback"] == "https://sms.example.org/sms/status"
    assert 7000 <= int(sent["validity_period"]) <= 7200


def test_stuck_sends_are_checked_at_twilio_before_a_resend(
    rt: Runtime, standin: TwilioStandin
) -> None:
    make_poll(rt)
    a, b = people(rt, 2)
    launch(rt)
    claimed = claims.claim_due(rt, 10, NOON)
    assert len(claimed) == 2
    assert claims.claim_due(rt, 10, NOON) == []  # nobody else can take them
    # The worker reached Twilio for one of them, then died before recording anything.
    numbers = phones(rt)
    first = next(c for c in claimed if c.participant_id == a)
    transport = provider.transport_for(rt)
    assert transport is not None
    transport.send(numbers[a], first.body)
    # Too early to call it stuck: nothing changes.
    assert reconcile.reconcile_stuck(rt, now=NOON + timedelta(minutes=1)).requeued == 0
    report = reconcile.reconcile_stuck(rt, now=NOON + timedelta(minutes=5))
    assert (report.found_sent, report.requeued) == (1, 1)
    send_all(rt, NOON + timedelta(minutes=6))
    assert sorted(to_numbers(standin)) == sorted([numbers[a], numbers[b]])
    assert {m.status for m in messages(rt)} == {OutboundStatus.SENT}


def test_accepted_but_unsent_message_is_found_by_date_created(
    rt: Runtime, standin: TwilioStandin
) -> None:
    """Twilio has no DateSent yet for a message it queued; the newest-first check finds it."""
    make_poll(rt)
    [a] = people(rt, 1)
    launch(rt)
    [claimed] = claims.claim_due(rt, 10, NOON)
    transport = provider.transport_for(rt)
    assert transport is not None
    transport.send(phones(rt)[a], claimed.body)
    with standin.lock:
        standin.messages[0]["date_sent"] = "Thu, 01 Jan 2026 00:00:00 +0000"  # "not sent yet"
    found = transport.find_sent(phones(rt)[a], claimed.body, NOON)
    assert found is not None and found.sid == standin.recorded()[0]["sid"]
    report = reconcile.reconcile_stuck(rt, now=NOON + timedelta(minutes=5))
    assert report.found_sent == 1 and len(standin.recorded()) == 1


def test_account_is_the_one_configured(rt: Runtime, standin: TwilioStandin) -> None:
    make_poll(rt)
    people(rt, 1)
    launch(rt)
    send_all(rt, NOON)
    assert [m["account_sid"] for m in standin.recorded()] == [ACCOUNT_SID]


def test_an_outcome_for_a_row_no_longer_ours_changes_nobody(rt: Runtime) -> None:
    """A late outcome (the row was reconciled or cancelled meanwhile) writes nothing, and so
    must not opt anyone out either: the participant's state follows the row's."""
    make_poll(rt)
    [pid] = people(rt, 1)
    launch(rt)
    with rt.db.transaction() as s:
        row = s.scalar(sa.select(OutboundMessage).where(OutboundMessage.participant_id == pid))
        assert row is not None
        row.status = OutboundStatus.SENT  # someone else finished this row
        mid = row.id
    sending.record_outcomes(
        rt,
        [sending.SendOutcome(mid, pid, OutboundStatus.FAILED, error_code=21610, error_message="x")],
    )
    with rt.db.transaction() as s:
        person = s.get(Participant, pid)
        assert person is not None and person.status == ParticipantStatus.ACTIVE
        assert s.get(OutboundMessage, mid).status == OutboundStatus.SENT


def test_a_busy_shared_rate_hands_texts_back_untried_and_still_cancels_what_must_not_go(
    runtime: Runtime, standin: TwilioStandin
) -> None:
    """The rate stays busy longer than a call may wait: the texts not yet paid for go back to
    the queue as they were (no attempt counted, nothing sent), to be sent by a later batch; a
    text that must not be sent at all is cancelled, whatever the rate."""
    from tests.support.factories import make_outbound

    # One segment a hundred seconds: the burst pays for one text, the next would wait 100 s.
    rt = twilio_runtime(runtime, standin.base_url, send_rate=0.01)
    first, second = people(rt, 2)
    texts = [make_outbound(rt, participant_id=pid, body="Q1?") for pid in (first, second)]
    orphan = make_outbound(rt, participant_id=None, body="Q1?")
    report = sending.send_batch(rt)  # due now: the rows were made now
    assert report.claimed == 3
    assert len(to_numbers(standin)) == 1  # the one the burst paid for
    with rt.db.transaction() as s:
        rows = {
            m.id: m
            for m in s.scalars(sa.select(OutboundMessage).where(OutboundMessage.id.in_(texts)))
        }
        cancelled = s.get(OutboundMessage, orphan)
    statuses = sorted(m.status for m in rows.values())
    assert statuses == [OutboundStatus.QUEUED, OutboundStatus.SENT]
    [back] = [m for m in rows.values() if m.status == OutboundStatus.QUEUED]
    assert back.attempts == 0 and back.twilio_sid is None
    assert cancelled is not None and cancelled.status == OutboundStatus.CANCELLED
    assert cancelled.error_message == "cancelled: no participant"


def _batches_of_five(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[int]]]:
    """Batches of five texts; what the job claims and writes, in order."""
    events: list[tuple[str, list[int]]] = []
    claim_due, record_outcomes = sending.claim_due, sending.record_outcomes

    def claim(*args: object) -> list[claims.Claimed]:
        claimed = claim_due(*args)  # type: ignore[arg-type]
        events.append(("claim", [m.id for m in claimed]))
        return claimed

    def record(runtime: Runtime, outcomes: list[sending.SendOutcome]) -> None:
        record_outcomes(runtime, outcomes)
        events.append(("record", [o.id for o in outcomes]))

    monkeypatch.setattr(sending, "batch_size", lambda runtime: 5)
    monkeypatch.setattr(sending, "claim_due", claim)
    monkeypatch.setattr(sending, "record_outcomes", record)
    return events


def test_the_next_batch_goes_before_the_last_outcomes_of_the_one_before_are_written(
    rt: Runtime, standin: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _batches_of_five(monkeypatch)
    make_poll(rt)
    people(rt, 12)
    launch(rt)
    report = sending.send_due(rt, now=NOON, budget=20)
    assert report.sent == report.claimed == 12
    sent = to_numbers(standin)
    assert len(sent) == len(set(sent)) == 12
    batches = [ids for kind, ids in events if kind == "claim" and ids]
    assert [len(ids) for ids in batches] == [5, 5, 2]
    for before, after in zip(batches, batches[1:], strict=False):
        last_write = max(i for i, (kind, ids) in enumerate(events) if set(ids) & set(before))
        assert events.index(("claim", after)) < last_write
    assert all(m.status == OutboundStatus.SENT and m.attempts == 1 for m in messages(rt))


def test_a_bug_in_a_call_stops_the_job_and_the_next_batch_goes_back_untried(
    rt: Runtime, standin: TwilioStandin, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batches_of_five(monkeypatch)
    make_poll(rt)
    people(rt, 12)
    launch(rt)
    first = min(m.id for m in messages(rt))
    send_one = sending._send_one

    def buggy(runtime: Runtime, rate: object, message: claims.Claimed, *args: object) -> object:
        if message.id == first:
            raise RuntimeError("a bug in one call")
        return send_one(runtime, rate, message, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(sending, "_send_one", buggy)
    with pytest.raises(RuntimeError, match="a bug in one call"):
        sending.send_due(rt, now=NOON, budget=20)
    statuses = sorted((m.status, m.attempts) for m in messages(rt))
    # The rest of its batch went; the bug's row waits in ``sending`` for reconcile_stuck; a
    # batch claimed meanwhile is back in the queue as it was.
    assert statuses.count((OutboundStatus.SENT, 1)) == 4
    assert statuses.count((OutboundStatus.SENDING, 1)) == 1
    assert statuses.count((OutboundStatus.QUEUED, 0)) == 7
    assert len(to_numbers(standin)) == 4

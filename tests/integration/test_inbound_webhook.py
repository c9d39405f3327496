"""POST /sms/inbound as Twilio sends it: signed, stored once, STOP obeyed at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from smsapp.models import InboundMessage, OutboundMessage, OutboundStatus, Participant
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, post_signed, twiml_messages
from tests.support.factories import make_participant

KNOWN = "+447911123456"
STRANGER = "+447911123999"


def _count(runtime, model, *where) -> int:
    with runtime.db.transaction() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def _participant(runtime, pid: int) -> Participant:
    with runtime.db.transaction() as s:
        p = s.get(Participant, pid)
        assert p is not None
        return p


def test_known_number_with_nothing_open_gets_a_friendly_reply(runtime, phone) -> None:
    p = make_participant(runtime, "07911 123456", nickname="Sam")
    response = phone(KNOWN).send("hello?")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    [reply] = twiml_messages(response.data)
    assert "Hi Sam" in reply and "nothing to answer" in reply
    with runtime.db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage))
        assert stored is not None and stored.participant_id == p.id and stored.body == "hello?"
        logged = s.scalars(sa.select(OutboundMessage)).all()
        assert [m.body for m in logged] == [reply]
        assert logged[0].backend == "twiml" and logged[0].in_reply_to_id == stored.id


def test_unknown_number_gets_at_most_one_reply_a_day(runtime, phone) -> None:
    stranger = phone(STRANGER)
    first = stranger.replies("hi who is this")
    assert len(first) == 1 and "isn't linked to a group" in first[0]
    assert stranger.replies("hello??") == []
    assert stranger.replies("hello???") == []
    assert _count(runtime, InboundMessage) == 3  # every text is still kept


def test_same_message_sid_twice_is_stored_once_and_answered_the_same(runtime, phone) -> None:
    make_participant(runtime, KNOWN, nickname="Sam")
    sam = phone(KNOWN)
    first = sam.replies("hello", sid="SM" + "a" * 32)
    again = sam.replies("hello", sid="SM" + "a" * 32)
    assert again == first
    assert _count(runtime, InboundMessage) == 1
    assert _count(runtime, OutboundMessage) == 1


def test_an_unknown_numbers_repeated_sid_is_answered_the_same_and_stored_once(
    runtime, phone
) -> None:
    stranger = phone(STRANGER)
    first = stranger.replies("who is this", sid="SM" + "b" * 32)
    again = stranger.replies("who is this", sid="SM" + "b" * 32)
    assert len(first) == 1 and again == first
    assert stranger.replies("and now?") == []  # the day's reply was used once
    assert _count(runtime, InboundMessage) == 2 and _count(runtime, OutboundMessage) == 1


def test_a_repeated_answer_sid_records_one_answer_and_moves_on_once(runtime, phone) -> None:
    """The lean path's one write is CTEs off the stored text: a repeat writes none of them."""
    from pathlib import Path

    from smsapp.models import Answer, Conversation
    from smsapp.services.polls.definitions import import_poll, open_poll

    make_participant(runtime, KNOWN, nickname="Sam")
    with runtime.db.transaction() as s:
        poll = (Path(__file__).parent.parent / "data" / "every_kind.yaml").read_text()
        open_poll(s, import_poll(s, poll).poll)
    sam = phone(KNOWN)
    sam.replies("all")
    with runtime.db.transaction() as s:
        before = s.scalar(sa.select(Conversation.state))
    first = sam.replies("a", sid="SM" + "c" * 32)
    with runtime.db.transaction() as s:
        moved = s.scalar(sa.select(Conversation.state))
    again = sam.replies("a", sid="SM" + "c" * 32)
    assert again == first and moved != before
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Answer)) == 1
        assert s.scalar(sa.select(Conversation.state)) == moved
        replies = s.scalar(
            sa.select(sa.func.count())
            .select_from(OutboundMessage)
            .where(OutboundMessage.kind == "reply")
        )
        assert replies == 2  # the keyword's first question, and the answer's next one


def test_stop_opts_out_at_once_and_replies_nothing(runtime, phone) -> None:
    p = make_participant(runtime, KNOWN)
    with runtime.db.transaction() as s:
        s.add(OutboundMessage(participant_id=p.id, kind="invitation", body="Q1?", backend="outbox"))
    assert phone(KNOWN).replies("  Stop. ") == []
    after = _participant(runtime, p.id)
    assert after.status == "opted-out" and after.opted_out_at is not None
    with runtime.db.transaction() as s:
        statuses = s.scalars(
            sa.select(OutboundMessage.status).where(OutboundMessage.kind == "invitation")
        ).all()
    assert statuses == [OutboundStatus.CANCELLED]


def test_every_twilio_opt_out_word_in_any_case(runtime, phone) -> None:
    for i, word in enumerate(
        ["STOP", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT", "revoke", "OptOut"]
    ):
        number = f"+4479111230{i:02d}"
        p = make_participant(runtime, number)
        assert phone(number).replies(word) == []
        assert _participant(runtime, p.id).status == "opted-out", word


def test_stop_inside_a_sentence_is_not_an_opt_out(runtime, phone) -> None:
    p = make_participant(runtime, KNOWN)
    phone(KNOWN).replies("dont stop the texts")
    assert _participant(runtime, p.id).status == "active"


def test_opted_out_participant_is_not_answered_until_start(runtime, phone) -> None:
    p = make_participant(runtime, KNOWN, nickname="Sam")
    sam = phone(KNOWN)
    sam.replies("STOP")
    assert sam.replies("hello") == []
    [confirm] = sam.replies("start")
    assert "back" in confirm.lower()
    assert _participant(runtime, p.id).status == "active"
    assert sam.replies("UNSTOP")  # harmless when already active


def test_help_and_info_get_the_help_text(runtime, phone) -> None:
    make_participant(runtime, KNOWN)
    for word in ("HELP", "info", "Help!"):
        [reply] = phone(KNOWN).replies(word)
        assert "STOP" in reply and "WITHDRAW" in reply


def test_forged_or_missing_signature_gets_403_and_stores_nothing(runtime, client) -> None:
    params = {"MessageSid": "SM" + "b" * 32, "AccountSid": ACCOUNT_SID, "From": KNOWN, "Body": "hi"}
    assert client.post("/sms/inbound", data=params).status_code == 403
    forged = post_signed(client, "/sms/inbound", params, token="not-the-token")
    assert forged.status_code == 403
    assert forged.headers["Content-Type"].startswith("text/xml")
    tampered = dict(params)
    from tests.support.signing import signed_headers

    headers = signed_headers("http://localhost/sms/inbound", params, AUTH_TOKEN)
    tampered["Body"] = "changed"
    assert client.post("/sms/inbound", data=tampered, headers=headers).status_code == 403
    assert _count(runtime, InboundMessage) == 0


def test_sha256_webhook_signature_mode_is_accepted(runtime, client, app) -> None:
    secret = "shared-key-secret"
    runtime.settings = runtime.settings.with_overrides(twilio_webhook_shared_key=secret)
    params = {
        "MessageSid": "SM" + "c" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": STRANGER,
        "Body": "hi",
    }
    ok = post_signed(client, "/sms/inbound", params, token=secret, mode="sha256")
    assert ok.status_code == 200
    params["MessageSid"] = "SM" + "d" * 32
    bad = post_signed(client, "/sms/inbound", params, token="wrong", mode="sha256")
    assert bad.status_code == 403


def test_public_base_url_is_what_gets_checked_behind_a_proxy(runtime, client) -> None:
    runtime.settings = runtime.settings.with_overrides(public_base_url="https://sms.example.org")
    params = {
        "MessageSid": "SM" + "e" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": STRANGER,
        "Body": "hi",
    }
    from tests.support.signing import signed_headers

    good = signed_headers("https://sms.example.org/sms/inbound", params, AUTH_TOKEN)
    assert client.post("/sms/inbound", data=params, headers=good).status_code == 200
    params["MessageSid"] = "SM" + "f" * 32
    local = signed_headers("http://localhost/sms/inbound", params, AUTH_TOKEN)
    assert client.post("/sms/inbound", data=params, headers=local).status_code == 403


def test_missing_fields_get_400_and_change_nothing(runtime, client) -> None:
    params = {"AccountSid": ACCOUNT_SID, "Body": "hi"}
    response = post_signed(client, "/sms/inbound", params)
    assert response.status_code == 400
    assert "MessageSid" in response.headers["X-Smsapp-Error"]
    assert _count(runtime, InboundMessage) == 0


def test_long_body_control_characters_and_emoji_are_stored_safely(runtime, phone) -> None:
    make_participant(runtime, KNOWN)
    body = "\x00\x07hé👍" + "x" * 2000
    phone(KNOWN).replies(body)
    with runtime.db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage.body))
    assert stored is not None and stored.startswith("hé👍") and len(stored) == 1600


def test_invalid_utf8_body_is_handled(runtime, client) -> None:
    make_participant(runtime, KNOWN)
    params = {"MessageSid": "SM" + "1" * 32, "AccountSid": ACCOUNT_SID, "From": KNOWN, "Body": "ok"}
    from tests.support.signing import signed_headers

    headers = signed_headers("http://localhost/sms/inbound", params, AUTH_TOKEN)
    raw = (
        b"MessageSid=SM"
        + b"1" * 32
        + b"&AccountSid="
        + ACCOUNT_SID.encode()
        + b"&From=%2B447911123456&Body=%FF%FE"
    )
    response = client.post(
        "/sms/inbound",
        data=raw,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code in (200, 403)  # replaced characters no longer match the signature
    assert response.headers["Content-Type"].startswith("text/xml")


def test_number_in_other_formats_finds_the_same_participant(runtime, phone) -> None:
    p = make_participant(runtime, "07911 123456", nickname="Sam")
    phone("+447911123456").replies("hi")
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(InboundMessage.participant_id)) == p.id


def test_previous_auth_token_is_accepted_during_a_rotation(runtime, client) -> None:
    runtime.settings = runtime.settings.with_overrides(
        twilio_auth_token="the-new-token", twilio_previous_auth_tokens=(AUTH_TOKEN,)
    )
    params = {
        "MessageSid": "SM" + "7" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": STRANGER,
        "Body": "hi",
    }
    assert post_signed(client, "/sms/inbound", params, token=AUTH_TOKEN).status_code == 200
    params["MessageSid"] = "SM" + "8" * 32
    assert post_signed(client, "/sms/inbound", params, token="the-new-token").status_code == 200
    params["MessageSid"] = "SM" + "9" * 32
    assert post_signed(client, "/sms/inbound", params, token="never-a-token").status_code == 403


@pytest.mark.parametrize(
    ("module", "step", "body"),
    [
        ("receive", "_route", "help"),  # the full path
        ("lean", "_participant_turn", "hello"),  # the lean path (services/inbox/lean.py)
    ],
)
def test_a_failure_while_handling_still_keeps_the_text(
    runtime, phone, monkeypatch, module, step, body
) -> None:
    from sqlalchemy.exc import IntegrityError

    from smsapp.services.inbox import lean, receive

    make_participant(runtime, KNOWN)

    def broken(*args, **kwargs):
        raise IntegrityError("INSERT …", {}, Exception("some other unique index"))

    monkeypatch.setattr({"receive": receive, "lean": lean}[module], step, broken)
    assert phone(KNOWN).replies(body, sid="SM" + "4" * 32) == []
    with runtime.db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage))
        assert stored is not None and stored.route == "error" and stored.body == body
        assert "IntegrityError" in (stored.error or "")


@pytest.mark.parametrize(
    ("module", "step", "body"),
    [("receive", "_route", "help"), ("lean", "_participant_turn", "hello")],
)
def test_a_deadlock_victim_is_tried_once_more_and_answered(
    runtime, phone, monkeypatch, module, step, body
) -> None:
    """PostgreSQL ends one of two deadlocked transactions whole: the text is handled again,
    not stored as failed with no answer. Only once: a second failure still keeps the text."""
    import psycopg
    from sqlalchemy.exc import OperationalError

    from smsapp.services.inbox import lean, receive

    make_participant(runtime, KNOWN, nickname="Sam")
    where = {"receive": receive, "lean": lean}[module]
    real = getattr(where, step)
    failures = []

    def deadlocked_once(*args, **kwargs):
        if len(failures) < 1:
            failures.append(1)
            raise OperationalError("UPDATE …", {}, psycopg.errors.DeadlockDetected())
        return real(*args, **kwargs)

    monkeypatch.setattr(where, step, deadlocked_once)
    [reply] = phone(KNOWN).replies(body, sid="SM" + "5" * 32)
    assert reply and failures == [1]
    with runtime.db.transaction() as s:
        stored = s.scalar(sa.select(InboundMessage))
        assert stored is not None and stored.route != "error" and stored.replies == [reply]

    def always(*args, **kwargs):
        raise OperationalError("UPDATE …", {}, psycopg.errors.DeadlockDetected())

    monkeypatch.setattr(where, step, always)
    assert phone(KNOWN).replies(body, sid="SM" + "6" * 32) == []
    with runtime.db.transaction() as s:
        failed = s.scalar(sa.select(InboundMessage).where(InboundMessage.route == "error"))
        assert failed is not None and "OperationalError" in (failed.error or "")


def test_a_text_on_a_connection_that_lost_its_prepared_statements_is_answered(
    runtime, phone, caplog
) -> None:
    """The lean path prepares its statements once per connection. Should the connection lose
    them (anything that sends DEALLOCATE ALL), the next text fails once, is tried again with
    them prepared afresh, and is answered and stored as usual, not as a failure."""
    if runtime.db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    make_participant(runtime, KNOWN, nickname="Sam")
    sam = phone(KNOWN)
    [first] = sam.replies("hello", sid="SM" + "7" * 32)
    with runtime.db.transaction() as s:
        s.execute(sa.text("DEALLOCATE ALL"))
    with caplog.at_level("WARNING", logger="smsapp.services.inbox.receive"):
        [again] = sam.replies("hello", sid="SM" + "8" * 32)
    assert again == first and "InvalidSqlStatementName; retrying" in caplog.text
    with runtime.db.transaction() as s:
        routes = s.scalars(sa.select(InboundMessage.route).order_by(InboundMessage.id)).all()
    assert routes == ["nothing-open", "nothing-open"]


def test_nul_characters_in_any_field_keep_the_text(runtime, client) -> None:
    # Twilio could deliver a NUL; PostgreSQL cannot store one. The text is kept without it.
    make_participant(runtime, KNOWN)
    params = {
        "MessageSid": "SM" + "2" * 32,
        "AccountSid": ACCOUNT_SID,
        "From": KNOWN + "\x00",
        "To": "+447700900001\x00",
        "Body": "my\x00 idea",
    }
    assert post_signed(client, "/sms/inbound", params).status_code == 200
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(InboundMessage.body)) == "my idea"

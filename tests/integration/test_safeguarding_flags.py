"""Safeguarding flags through the signed webhook: a worrying text (however it is typed) flags
the message, the young person gets the supportive reply, the lead sees it in the inbox with a
deadline, and the text never reaches results or the group."""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from smsapp.config import Settings
from smsapp.db import utcnow
from smsapp.models import (
    Answer,
    AuditEvent,
    InboundMessage,
    Nomination,
    Poll,
    SafeguardingFlag,
)
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll, open_poll
from smsapp.services.research.results import summarise
from smsapp.services.safeguarding import email_alert, inbox
from tests.support.factories import make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"
PASSWORD = "correct horse battery"


def _open_poll(runtime) -> int:
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
        return result.poll.id


def _flags(runtime) -> list[SafeguardingFlag]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(SafeguardingFlag).order_by(SafeguardingFlag.id)))


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("i want to kill myself", "self-harm"),
        ("I want to K I L L   myself", "self-harm"),
        ("kil myslef tbh", "self-harm"),
        ("k1lllll mys3lf", "self-harm"),
        ("im being bulied at skool", "bullying"),
        ("I don\u2019t feel s a f e at home", "unsafe"),
    ],
)
def test_a_worrying_text_is_flagged_and_answered_with_support(runtime, phone, text, category):
    p = make_participant(runtime, SAM, nickname="Sam")
    replies = phone(SAM).replies(text)
    assert replies[0] == Settings.support_reply and "Childline" in replies[0]
    assert "0800 1111" in replies[0]
    # Nothing else: "there's nothing to answer right now" after a disclosure reads as a brush-off.
    assert len(replies) == 1
    [flag] = _flags(runtime)
    assert category in flag.categories and flag.participant_id == p.id
    assert flag.due_at - flag.created_at == timedelta(hours=24)
    with runtime.db.transaction() as s:
        inbound = s.get(InboundMessage, flag.inbound_message_id)
        assert inbound is not None and inbound.flagged and inbound.body == text
        assert s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "safeguarding.flag"))


def test_an_ordinary_text_raises_nothing(runtime, phone) -> None:
    make_participant(runtime, SAM)
    [reply] = phone(SAM).replies("what time is the youth club on friday")
    assert "Childline" not in reply
    assert _flags(runtime) == []


def test_a_stranger_is_checked_too(runtime, phone) -> None:
    replies = phone("+447911123999").replies("please help me, someone is following me")
    assert replies[0] == Settings.support_reply
    [flag] = _flags(runtime)
    assert flag.participant_id is None and "unsafe" in flag.categories


def test_the_support_text_and_the_deadline_are_configurable(runtime, phone) -> None:
    object.__setattr__(
        runtime,
        "settings",
        runtime.settings.with_overrides(
            support_reply="Talk to Childline on 0800 1111. Ms Khan will call you.",
            flag_ack_hours=2.0,
        ),
    )
    make_participant(runtime, SAM)
    replies = phone(SAM).replies("everyone hates me")
    assert replies[0] == "Talk to Childline on 0800 1111. Ms Khan will call you."
    [flag] = _flags(runtime)
    assert flag.due_at - flag.created_at == timedelta(hours=2)


def test_flagged_answers_never_reach_results_or_a_ballot(runtime, phone) -> None:
    numbers = [f"+4479111234{i:02d}" for i in range(6)]
    for number in numbers:
        make_participant(runtime, number)
    poll_id = _open_poll(runtime)
    for number in numbers[:5]:
        phone(number).replies("all")
        phone(number).replies("a")
    worried = phone(numbers[5])
    worried.replies("all")
    [support, *_] = worried.replies("B, I want to die")
    assert support == Settings.support_reply
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        colour = next(q for q in summarise(s, poll).questions if q.key == "colour")
        recorded = s.scalars(
            sa.select(Answer.value)
            .join(InboundMessage, InboundMessage.id == Answer.inbound_message_id)
            .where(Answer.question_key == "colour", InboundMessage.flagged.is_(True))
        ).all()
    assert recorded == ["B"]  # it is stored (the lead may need it) ...
    assert dict((c, n) for c, _, n in colour.counts) == {"A": 5, "B": 0, "C": 0}  # ... not counted
    assert colour.answered == 5

    # A nomination typed over several texts and finished with DONE is caught as well.
    for reply in ("skip", "a", "3", "yes", "2"):
        worried.replies(reply)
    worried.replies("the kill myself club")
    worried.replies("done")
    with runtime.db.transaction() as s:
        nominations = s.scalars(sa.select(Nomination)).all()
        assert [(n.text, n.status) for n in nominations] == [("the kill myself club", "rejected")]


def test_free_text_is_never_shown_to_the_group_and_no_page_promises_it(
    runtime, phone, client
) -> None:
    """Free text goes to the exports for research and nowhere a group looks; nominations reach
    a ballot only through their own moderation. The results page used to promise "shown to
    the group after moderation", a feature that no page or command ever offered."""
    make_participant(runtime, SAM)
    _open_poll(runtime)
    sam = phone(SAM)
    sam.replies("all")
    sam.replies("a")
    sam.replies("red is the colour of our school")
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Answer.id).where(Answer.question_key == "why_red"))
        assert "free_text_moderation" not in sa.inspect(s.get_bind()).get_table_names()
    _login(client, runtime, "facilitator")
    page = client.get("/admin/polls/every-kind/results").get_data(as_text=True)
    assert "never shown to the group" in page and "after moderation" not in page
    assert "colour of our school" not in page


def _login(client, runtime, role: str) -> None:
    with runtime.db.transaction() as s:
        create_user(s, f"{role}@example.org", PASSWORD, role)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post(
        "/login",
        data={"email": f"{role}@example.org", "password": PASSWORD, "csrf_token": token.group(1)},
    )


def test_the_lead_sees_acknowledges_and_overdue_flags_are_counted(runtime, client, phone) -> None:
    p = make_participant(runtime, SAM)
    phone(SAM).replies("<b>he hits me</b>")
    phone(SAM).replies("everyone hates me")
    old, new = _flags(runtime)
    with runtime.db.transaction() as s:
        row = s.get(SafeguardingFlag, old.id)
        assert row is not None
        row.due_at = utcnow() - timedelta(minutes=1)
        assert inbox.open_flag_counts(s) == (2, 1)

    _login(client, runtime, "safeguarding")
    page = client.get("/admin/safeguarding/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "&lt;b&gt;he hits me&lt;/b&gt;" in html and "<b>he hits me" not in html  # escaped
    assert p.pseudonym in html and "OVERDUE" in html and "2</strong> open" in html
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert token
    url = f"/admin/safeguarding/flags/{old.id}/acknowledge"
    assert client.post(url, data={"note": "called school DSL"}).status_code == 400  # no CSRF
    empty = client.post(url, data={"csrf_token": token.group(1), "note": " "})
    assert empty.status_code == 302
    with runtime.db.transaction() as s:
        assert inbox.open_flag_counts(s) == (2, 1)
    client.post(url, data={"csrf_token": token.group(1), "note": "called school DSL"})
    with runtime.db.transaction() as s:
        assert inbox.open_flag_counts(s) == (1, 0)
        done = s.get(SafeguardingFlag, old.id)
        assert done is not None and done.acknowledged_by == "safeguarding@example.org"
        assert done.note == "called school DSL"
        event = s.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "safeguarding.acknowledge")
        )
        assert event is not None and event.details["late"] is True


def test_only_leads_and_admins_open_the_inbox(runtime, client) -> None:
    _login(client, runtime, "facilitator")
    assert client.get("/admin/safeguarding/").status_code == 403


def test_reveal_is_for_the_safeguarding_role_only_and_audited(runtime, client) -> None:
    p = make_participant(runtime, SAM)
    _login(client, runtime, "admin")
    page = client.get(f"/admin/safeguarding/participants/{p.pseudonym}").get_data(as_text=True)
    assert "+44 7••• •••456" in page and "7911123456" not in page and "Reveal" not in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    url = f"/admin/safeguarding/participants/{p.pseudonym}/reveal"
    denied = client.post(url, data={"csrf_token": token.group(1), "reason": "x"})
    assert denied.status_code == 403
    client.post("/logout", data={"csrf_token": token.group(1)})

    _login(client, runtime, "safeguarding")
    page = client.get(f"/admin/safeguarding/participants/{p.pseudonym}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token and "Reveal number" in page and "7911123456" not in page
    shown = client.post(url, data={"csrf_token": token.group(1), "reason": "flag #3, DSL call"})
    assert shown.status_code == 200 and SAM in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    with runtime.db.transaction() as s:
        events = s.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "participant.reveal_number")
        ).all()
        assert [(e.actor, e.subject, e.details["reason"]) for e in events] == [
            ("safeguarding@example.org", p.pseudonym, "flag #3, DSL call")
        ]


def test_a_reveal_reason_keeps_no_copy_of_the_number(runtime, client) -> None:
    """The reason is typed just after the number is shown: a lead may paste it in."""
    p = make_participant(runtime, SAM)
    _login(client, runtime, "safeguarding")
    page = client.get(f"/admin/safeguarding/participants/{p.pseudonym}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    reason = "flag #3: rang 07911 123456 back"
    client.post(
        f"/admin/safeguarding/participants/{p.pseudonym}/reveal",
        data={"csrf_token": token.group(1), "reason": reason},
    )
    with runtime.db.transaction() as s:
        event = s.scalar(
            sa.select(AuditEvent).where(AuditEvent.action == "participant.reveal_number")
        )
        assert event is not None and event.details["reason"] == "flag #3: rang [number] back"


class FakeSMTP:
    sent: list = []

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port = host, port

    def __enter__(self) -> FakeSMTP:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def starttls(self) -> None:
        pass

    def login(self, user: str, password: str) -> None:
        pass

    def send_message(self, message) -> None:
        FakeSMTP.sent.append(message)


def test_the_email_names_no_child_and_quotes_no_text(runtime, phone) -> None:
    p = make_participant(runtime, SAM, nickname="Sam")
    phone(SAM).replies("i want to kill myself")
    [flag] = _flags(runtime)
    settings = runtime.settings.with_overrides(
        smtp_host="smtp.example.org",
        safeguarding_email="dsl@school.example",
        public_base_url="https://sms.example.org",
    )
    FakeSMTP.sent = []
    email_alert.send_flag_email(settings, flag, smtp_factory=FakeSMTP)
    [message] = FakeSMTP.sent
    body = message.get_content()
    assert message["To"] == "dsl@school.example"
    assert "https://sms.example.org/admin/safeguarding/" in body and "Self-harm" in body
    for secret in ("kill", "Sam", p.pseudonym, "7911123456"):
        assert secret not in body and secret not in message["Subject"]


def test_a_flag_emails_the_lead_through_the_queued_job(runtime, phone) -> None:
    from smsapp.queue import run_pending
    from tests.support.smtp_sink import SmtpSink

    make_participant(runtime, SAM)
    with SmtpSink() as sink:
        runtime.settings = runtime.settings.with_overrides(
            smtp_host="127.0.0.1",
            smtp_port=sink.port,
            smtp_starttls=False,
            safeguarding_email="dsl@school.example",
        )
        phone(SAM).replies("i want to kill myself")
        assert [job for job, _, _ in runtime.pending_jobs] == ["jobs.safeguarding.email_flag"]
        run_pending(runtime)
        run_pending(runtime)  # nothing left: each flag is e-mailed once
        [message] = sink.received
    assert message["To"] == "dsl@school.example"
    [flag] = _flags(runtime)
    assert flag.emailed_at is not None


def test_the_send_once_rule_is_the_services_a_failed_send_is_tried_again(runtime, phone) -> None:
    """email_alert.email_flag_once decides: nothing without SMTP settings, one e-mail per flag,
    and a send that fails leaves the flag to be e-mailed by the retry (never lost)."""
    import socket

    from tests.support.smtp_sink import SmtpSink

    make_participant(runtime, SAM)
    phone(SAM).replies("i want to kill myself")
    [flag] = _flags(runtime)
    with runtime.db.transaction() as s:
        assert email_alert.email_flag_once(runtime.settings, s, flag.id) is False  # no SMTP
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket closes
    down = runtime.settings.with_overrides(
        smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, safeguarding_email="d@x.org"
    )
    with pytest.raises(OSError), runtime.db.transaction() as s:
        email_alert.email_flag_once(down, s, flag.id)
    with SmtpSink() as sink:
        up = down.with_overrides(smtp_port=sink.port)
        for _ in range(2):
            with runtime.db.transaction() as s:
                email_alert.email_flag_once(up, s, flag.id)
        [message] = sink.received
    assert message["To"] == "d@x.org"
    [flag] = _flags(runtime)
    assert flag.emailed_at is not None


QUICK_VOTE = """
slug: quick
title: Quick vote
keyword: QUICK
questions:
  - key: pick
    kind: choice
    prompt: "Which one? A, B or C"
    options: [Red, Blue, Green]
    tally: {method: plurality}
"""


def test_a_flagged_text_that_reads_as_a_new_vote_does_not_replace_the_vote(runtime, phone):
    """A finished voter's later text that reads as a ballot normally replaces their vote. A
    flagged one is kept out of every count, so replacing with it would lose their real vote."""
    from smsapp.services.polls.definitions import load_definition
    from smsapp.services.votes.tallying import cast_ballots

    make_participant(runtime, SAM, nickname="Sam")
    with runtime.db.transaction() as s:
        open_poll(s, import_poll(s, QUICK_VOTE).poll)
    sam = phone(SAM)
    sam.replies("QUICK")
    sam.replies("A")
    replies = sam.replies("C. i want to die")
    assert replies and replies[0].startswith("Thank you for telling us")
    assert not any("Got it" in r for r in replies)
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "quick"))
        current = s.scalars(
            sa.select(Answer.value).where(Answer.poll_id == poll.id, Answer.superseded.is_(False))
        ).all()
        assert current == ["A"]
        ballots = cast_ballots(s, poll, load_definition(poll).question("pick"))
        assert [b.value for b in ballots] == ["A"]


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="SQLite takes its write lock at BEGIN (BEGIN IMMEDIATE), so two jobs cannot race there",
)
def test_two_workers_e_mailing_one_flag_at_once_send_one_e_mail(
    runtime, engine: sa.Engine, database_url: str
) -> None:
    """The e-mail job may run twice at once (a retry beside a slow first try): the flag's row
    lock makes the second wait and then see it was e-mailed."""
    import threading
    import time

    from smsapp.db import Database

    db = Database(database_url, engine=engine)  # real connections, not the test's savepoint
    settings = runtime.settings.with_overrides(
        smtp_host="smtp.invalid", smtp_starttls=False, safeguarding_email="d@x.org"
    )
    sent: list[int] = []

    class SlowSmtp:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def __enter__(self) -> SlowSmtp:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def send_message(self, message: object) -> None:
            time.sleep(0.3)  # the other worker arrives while this one is sending
            sent.append(1)

    with db.transaction() as s:
        inbound = InboundMessage(message_sid="SM" + "race".ljust(32, "0"), body="x")
        s.add(inbound)
        s.flush()
        flag = SafeguardingFlag(inbound_message_id=inbound.id, due_at=utcnow(), categories=[])
        s.add(flag)
        s.flush()
        flag_id, inbound_id = flag.id, inbound.id
    start = threading.Barrier(2)

    def job() -> None:
        start.wait()
        with db.transaction() as s:
            email_alert.email_flag_once(settings, s, flag_id, smtp_factory=SlowSmtp)

    try:
        workers = [threading.Thread(target=job) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(10)
        assert sent == [1]
    finally:
        with db.transaction() as s:
            s.execute(sa.delete(SafeguardingFlag).where(SafeguardingFlag.id == flag_id))
            s.execute(sa.delete(InboundMessage).where(InboundMessage.id == inbound_id))

"""WITHDRAW end to end (by text, by the button, by the CLI): texts stop, the number and
nickname are gone from every table, answers go or stay as the group's consent says, and the
young person is told. Also the retention sweep."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from smsapp.db import Base, utcnow
from smsapp.models import (
    Answer,
    AuditEvent,
    Conversation,
    Group,
    InboundMessage,
    OutboundMessage,
    OutboundStatus,
    Participant,
    SafeguardingFlag,
)
from smsapp.services.people.groups import end_group
from smsapp.services.people.staff import create_user
from smsapp.services.people.withdrawal import retention_sweep
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.support.factories import make_group, make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"
FORMS = ("+447911123456", "447911123456", "07911123456", "07911 123456", "7911123456")
NICK = "Samphire"
PASSWORD = "correct horse battery"


def _open_poll(runtime) -> int:
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
        return result.poll.id


def _set_group(runtime, **settings: Any) -> None:
    make_group(runtime)
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == "oakfield"))
        assert group is not None
        group.settings = {**(group.settings or {}), **settings}


def every_value(runtime) -> list[tuple[str, str, Any]]:
    """(table, column, value) for every cell of every table."""
    cells = []
    with runtime.db.transaction() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    cells.append((table.name, column, value))
    return cells


def assert_forgotten(runtime, *needles: str) -> None:
    """No cell holds the number in any form, an index of it, a ciphertext of it, or a needle."""
    vault = runtime.vault
    secrets = [*FORMS, vault.index(SAM), *needles]
    for table, column, value in every_value(runtime):
        if isinstance(value, bytes | memoryview):
            blob = bytes(value)
            try:
                plain = vault.decrypt(blob)
            except Exception:
                plain = ""
            assert plain != SAM, f"{table}.{column} holds an encrypted copy of the number"
            text = blob.decode("latin-1")
        else:
            text = repr(value)
        for secret in secrets:
            assert secret not in text, f"{table}.{column} still holds {secret!r}"


def _participant(runtime, pid: int) -> Participant:
    with runtime.db.transaction() as s:
        p = s.get(Participant, pid)
        assert p is not None
        return p


def _answer_count(runtime, pid: int) -> int:
    with runtime.db.transaction() as s:
        return s.scalar(sa.select(sa.func.count(Answer.id)).where(Answer.participant_id == pid))


def _start_answering(runtime, phone) -> tuple[Participant, Any]:
    p = make_participant(runtime, SAM, nickname=NICK)
    _open_poll(runtime)
    sam = phone(SAM)
    assert sam.replies("all")[0].startswith(f"Hi {NICK}!")
    sam.replies("a")
    sam.replies("skip")
    with runtime.db.transaction() as s:
        s.add(OutboundMessage(participant_id=p.id, kind="reminder", body="Hi!", backend="outbox"))
    assert _answer_count(runtime, p.id) >= 1
    return p, sam


def test_withdraw_by_text_stops_texts_erases_everything_and_confirms(runtime, phone) -> None:
    p, sam = _start_answering(runtime, phone)
    sam.replies("I want to kill myself")  # a safeguarding record, which is kept
    [confirm] = sam.replies("withdraw")
    assert "deleted your phone number and nickname" in confirm
    assert "answers have been deleted" in confirm

    after = _participant(runtime, p.id)
    assert after.status == "withdrawn" and after.withdrawn_at and after.erased_at
    assert after.phone_ciphertext is None and after.phone_index is None
    assert after.phone_masked is None and after.nickname is None
    assert _answer_count(runtime, p.id) == 0
    with runtime.db.transaction() as s:
        statuses = s.scalars(
            sa.select(OutboundMessage.status).where(OutboundMessage.kind == "reminder")
        ).all()
        assert statuses == [OutboundStatus.CANCELLED]
        flag = s.scalar(sa.select(SafeguardingFlag))
        assert flag is not None and flag.participant_id == p.id
    assert_forgotten(runtime, NICK)

    # They are a stranger now: texts reach no one, and WITHDRAW again says so.
    [again] = sam.replies("WITHDRAW")
    assert "don't hold this number" in again
    assert sam.replies("hello") == []


def test_answers_are_kept_anonymised_where_the_group_consent_allows(runtime, phone) -> None:
    _set_group(runtime, keep_answers_on_withdrawal=True)
    p, sam = _start_answering(runtime, phone)
    kept = _answer_count(runtime, p.id)
    [confirm] = sam.replies("WITHDRAW")
    assert "answers are kept without your name or number" in confirm
    after = _participant(runtime, p.id)
    assert _answer_count(runtime, p.id) == kept
    # A fresh pseudonym: the key and the old number can no longer find these answers.
    assert after.pseudonym != p.pseudonym and re.fullmatch(r"P-[2-9A-HJ-NP-Z]{5}", after.pseudonym)
    assert_forgotten(runtime, NICK, p.pseudonym)
    with runtime.db.transaction() as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "participant.withdraw"))
        assert event is not None and event.subject == after.pseudonym
        assert event.details["via"] == "text" and event.details["answers_kept"] == kept


GUARDIAN = "Pat Guardianson"
EMAIL = "sam.samphire@example.org"


def _sam_in_their_own_words(runtime, phone) -> Participant:
    """Sam answers the free-text question with their number and e-mail, and rows written before
    the provider's text was redacted quote the number: Twilio's refusal, and a text that failed
    before it was matched to Sam (found only by its sender's index)."""
    p = make_participant(runtime, SAM, nickname=NICK)
    with runtime.db.transaction() as s:
        s.execute(sa.update(Participant).where(Participant.id == p.id).values(consent_by=GUARDIAN))
    _open_poll(runtime)
    sam = phone(SAM)
    sam.replies("all")
    sam.replies("a")  # red, so the free-text "why red?" comes next
    sam.replies(f"ring me on 07911 123456 or {EMAIL}")
    with runtime.db.transaction() as s:
        s.add(
            OutboundMessage(
                participant_id=p.id,
                kind="reminder",
                body=f"Hi {NICK}!",
                backend="twilio",
                status=OutboundStatus.FAILED,
                error_code=21211,
                error_message=f"send: The 'To' number {SAM} is not a valid phone number.",
            )
        )
        s.add(
            InboundMessage(
                message_sid="SM" + "7" * 32,
                sender_index=runtime.vault.index(SAM),
                body="it's 07911 123456, did you get it?",
                route="error",
                error="ValueError: could not read '07911 123456'",
            )
        )
    return p


def _why_red(runtime, pid: int) -> Answer:
    with runtime.db.transaction() as s:
        answer = s.scalar(
            sa.select(Answer).where(Answer.participant_id == pid, Answer.question_key == "why_red")
        )
        assert answer is not None
        return answer


def _provider_texts(runtime) -> list[tuple[int | None, str | None]]:
    with runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(OutboundMessage.error_code, OutboundMessage.error_message).where(
                OutboundMessage.error_code.is_not(None)
            )
        )
        return [(code, text) for code, text in rows]


def test_withdrawal_erases_every_column_that_can_hold_the_number(runtime, phone) -> None:
    """Issue 12: error_message kept Twilio's "The 'To' number +44…" after withdrawal, a text
    stored with an error kept its words, and kept answers kept what Sam typed."""
    _set_group(runtime, keep_answers_on_withdrawal=True)
    p = _sam_in_their_own_words(runtime, phone)
    assert "07911 123456" in (_why_red(runtime, p.id).raw_text or "")
    [confirm] = phone(SAM).replies("WITHDRAW")
    assert "answers are kept" in confirm

    assert_forgotten(runtime, NICK, GUARDIAN, EMAIL, p.pseudonym)
    # The code stays for the counts; Twilio's words, which quoted the number, go.
    assert _provider_texts(runtime) == [(21211, None)]
    kept = _why_red(runtime, p.id)
    assert kept.raw_text == kept.value == "ring me on [number] or [email]"
    with runtime.db.transaction() as s:
        assert s.scalars(sa.select(Conversation.state)).all() == [{}]


def test_the_retention_sweep_erases_every_column_that_can_hold_the_number(runtime, phone) -> None:
    p = _sam_in_their_own_words(runtime, phone)
    answers = _answer_count(runtime, p.id)
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == "oakfield"))
        assert group is not None
        end_group(s, group, actor="admin@example.org", at=utcnow() - timedelta(days=91))
    with runtime.db.transaction() as s:
        assert retention_sweep(runtime, s).erased == [p.pseudonym]

    assert_forgotten(runtime, NICK, GUARDIAN, EMAIL)
    assert _provider_texts(runtime) == [(21211, None)]
    # The study keeps the answers, under the same pseudonym, without the number in them.
    assert _answer_count(runtime, p.id) == answers
    assert _why_red(runtime, p.id).raw_text == "ring me on [number] or [email]"
    assert _participant(runtime, p.id).pseudonym == p.pseudonym


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


def _token(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert match
    return match.group(1)


def test_withdraw_button_sends_the_confirmation_before_erasing(runtime, client, phone) -> None:
    p, _ = _start_answering(runtime, phone)
    _login(client, runtime, "safeguarding")
    page = f"/admin/safeguarding/participants/{p.pseudonym}"
    token = _token(client, page)
    refused = client.post(page + "/withdraw", data={"csrf_token": token})  # box not ticked
    assert refused.status_code == 302 and _participant(runtime, p.id).status == "active"
    done = client.post(page + "/withdraw", data={"csrf_token": token, "confirm": "yes"})
    assert done.status_code == 302
    assert _participant(runtime, p.id).status == "withdrawn"
    with runtime.db.transaction() as s:
        sent = s.scalars(
            sa.select(OutboundMessage).where(OutboundMessage.kind == "withdrawal")
        ).all()
        assert [(m.status, m.backend, m.participant_id) for m in sent] == [
            (OutboundStatus.SENT, "outbox", p.id)
        ]
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "participant.withdraw"))
        assert event is not None and event.actor == "safeguarding@example.org"
    assert_forgotten(runtime, NICK)


def test_facilitators_cannot_use_the_withdraw_button(runtime, client) -> None:
    p = make_participant(runtime, SAM)
    _login(client, runtime, "facilitator")
    response = client.get(f"/admin/safeguarding/participants/{p.pseudonym}")
    assert response.status_code == 403


def test_cli_erase_does_the_same(runtime, runner, phone) -> None:
    p, _ = _start_answering(runtime, phone)
    missing = runner.invoke(["participants", "erase", "P-ZZZZZ", "--yes"])
    assert missing.exit_code != 0 and "no participant" in missing.output
    result = runner.invoke(["participants", "erase", p.pseudonym.lower(), "--yes"])
    assert result.exit_code == 0, result.output
    assert "number and nickname erased" in result.output and "confirmation texted" in result.output
    assert _participant(runtime, p.id).status == "withdrawn"
    assert_forgotten(runtime, NICK)
    again = runner.invoke(["participants", "erase", p.pseudonym, "--yes"])
    assert again.exit_code == 0 and "already withdrawn" in again.output


def test_retention_erases_numbers_only_after_every_group_has_ended(runtime, runner) -> None:
    now = utcnow()
    old = make_participant(runtime, SAM, group="oakfield", nickname=NICK)
    recent = make_participant(runtime, "+447911123457", group="elmwood")
    both = make_participant(runtime, "+447911123458", group="oakfield")
    make_group(runtime, "birch", "Birch")
    with runtime.db.transaction() as s:
        groups = {g.slug: g for g in s.scalars(sa.select(Group))}
        groups["oakfield"].ended_at = now - timedelta(days=91)
        groups["elmwood"].ended_at = now - timedelta(days=10)
        groups["birch"].settings = {}
        from smsapp.models import GroupMembership

        s.add(GroupMembership(group_id=groups["birch"].id, participant_id=both.id))
    dry = runner.invoke(["retention", "sweep", "--dry-run"])
    assert dry.exit_code == 0 and "Would erase 1 numbers" in dry.output
    assert _participant(runtime, old.id).phone_ciphertext is not None
    result = runner.invoke(["retention", "sweep"])
    assert (
        result.exit_code == 0
        and "Erased 1 numbers" in result.output
        and "oakfield" in result.output
    )
    erased = _participant(runtime, old.id)
    assert erased.phone_ciphertext is None and erased.status == "erased"
    assert erased.pseudonym == old.pseudonym  # answers stay linked for the researchers
    assert _participant(runtime, recent.id).phone_ciphertext is not None
    assert _participant(runtime, both.id).phone_ciphertext is not None  # birch has not ended
    assert_forgotten(runtime, NICK)
    # A group may set its own, shorter retention.
    with runtime.db.transaction() as s:
        elm = s.scalar(sa.select(Group).where(Group.slug == "elmwood"))
        assert elm is not None
        elm.settings = {"retention_days": 7}
    with runtime.db.transaction() as s:
        assert len(retention_sweep(runtime, s).erased) == 1


def test_ending_a_group_starts_its_retention_clock(runtime, runner) -> None:
    make_participant(runtime, SAM)
    result = runner.invoke(["groups", "end", "oakfield"])
    assert result.exit_code == 0 and "erased after 90 days" in result.output
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == "oakfield"))
        assert group is not None and group.ended_at is not None
        assert retention_sweep(runtime, s).erased == []  # not yet
        later = retention_sweep(runtime, s, now=group.ended_at + timedelta(days=90))
        assert len(later.erased) == 1
    assert runner.invoke(["groups", "end", "nope"]).exit_code != 0

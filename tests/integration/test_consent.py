"""Consent and assent end to end: the JOIN invitation, JOIN (never YES), no poll text before
consent and assent, and the rule the sending path checks (`textable_reason`); recording consent
the same way from the form and the CSV import; and the dashboard counting who the launch and
the send path would text."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from smsapp.models import (
    AuditEvent,
    Conversation,
    Group,
    GroupMembership,
    OutboundMessage,
    OutboundStatus,
    Participant,
)
from smsapp.services.people import consent
from smsapp.services.people.groups import group_by_slug
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.support.factories import make_group, make_participant

DATA = Path(__file__).parent.parent / "data"
SAM = "+447911123456"


def _require_assent(runtime, slug: str = "oakfield") -> None:
    make_group(runtime, slug)
    with runtime.db.transaction() as s:
        group = s.scalar(sa.select(Group).where(Group.slug == slug))
        assert group is not None
        group.settings = {**(group.settings or {}), "assent_by_text": True}


def _open_keyword_poll(runtime) -> int:
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
        return result.poll.id


def _reason(runtime, pid: int, kind: str = "invitation") -> str | None:
    with runtime.db.transaction() as s:
        p = s.get(Participant, pid)
        assert p is not None
        return consent.textable_reason(s, p, kind=kind)


def _conversations(runtime, pid: int) -> int:
    with runtime.db.transaction() as s:
        return (
            s.scalar(
                sa.select(sa.func.count(Conversation.id)).where(Conversation.participant_id == pid)
            )
            or 0
        )


def test_join_is_asked_for_and_nothing_else_is_sent_until_it_comes(runtime, phone) -> None:
    _require_assent(runtime)
    p = make_participant(runtime, SAM, nickname="Sam")
    _open_keyword_poll(runtime)
    sam = phone(SAM)

    assert _reason(runtime, p.id) == "waiting for the young person's assent (reply JOIN)"
    assert _reason(runtime, p.id, consent.JOIN_INVITATION) is None  # the one exception

    [invite] = sam.replies("hi")
    assert "Reply JOIN" in invite and "YES" not in invite
    [again] = sam.replies("ALL")  # the poll's keyword: still no poll text
    assert again == invite
    assert _conversations(runtime, p.id) == 0
    [still] = sam.replies("yes")  # a carrier keyword, not assent
    assert still == invite
    assert _reason(runtime, p.id) is not None

    [joined] = sam.replies(" Join! ")
    assert "you've joined" in joined
    with runtime.db.transaction() as s:
        after = s.get(Participant, p.id)
        assert after is not None and after.assent_at is not None
        assert after.assent_method == "text"
        assert s.scalar(
            sa.select(AuditEvent).where(
                AuditEvent.action == "participant.assent", AuditEvent.subject == p.pseudonym
            )
        )
    assert _reason(runtime, p.id) is None
    assert _reason(runtime, p.id, consent.JOIN_INVITATION) is not None  # no second invitation

    [first] = sam.replies("all")
    assert first.startswith("Hi Sam! A quick poll")
    assert _conversations(runtime, p.id) == 1


def test_without_consent_join_records_assent_but_still_nothing_is_sent(runtime, phone) -> None:
    _require_assent(runtime)
    p = make_participant(runtime, SAM, consent=False)
    _open_keyword_poll(runtime)
    assert _reason(runtime, p.id) == "no guardian consent recorded"
    assert _reason(runtime, p.id, consent.JOIN_INVITATION) == "no guardian consent recorded"
    sam = phone(SAM)
    [reply] = sam.replies("ALL")
    assert "consent" in reply and "JOIN" not in reply  # never told "your carer said yes"
    [joined] = sam.replies("JOIN")
    assert "consent" in joined
    assert _reason(runtime, p.id) == "no guardian consent recorded"
    assert _conversations(runtime, p.id) == 0


def test_a_group_that_does_not_ask_for_assent_texts_on_consent_alone(runtime, phone) -> None:
    p = make_participant(runtime, SAM, nickname="Sam")
    _open_keyword_poll(runtime)
    assert _reason(runtime, p.id) is None
    assert _reason(runtime, p.id, consent.JOIN_INVITATION) is not None
    [first] = phone(SAM).replies("all")
    assert first.startswith("Hi Sam!")


def test_assent_in_person_counts_and_consent_records_who_when_how(runtime) -> None:
    _require_assent(runtime)
    p = make_participant(runtime, SAM, consent=False)
    with runtime.db.transaction() as s:
        row = s.get(Participant, p.id)
        assert row is not None
        with pytest.raises(consent.ConsentError):
            consent.record_consent(s, row, given_by=" ", method="paper form", actor="fac@x.org")
        consent.record_consent(
            s, row, given_by="Mother (J. Smith)", method="paper form", actor="fac@x.org"
        )
        assert consent.record_assent(s, row, method="in-person", actor="fac@x.org")
        assert not consent.record_assent(s, row, method="text", actor="P-X")  # first one stands
    with runtime.db.transaction() as s:
        row = s.get(Participant, p.id)
        assert row is not None
        assert (row.consent_by, row.consent_method) == ("Mother (J. Smith)", "paper form")
        assert (row.assent_method, row.assent_by) == ("in-person", "fac@x.org")
    assert _reason(runtime, p.id) is None


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"status": "opted-out"}, "participant is opted-out"),
        ({"status": "withdrawn"}, "participant is withdrawn"),
        ({"number_status": "invalid"}, "number cannot receive texts"),
        ({"phone_ciphertext": None, "phone_index": None}, "no phone number held"),
        ({"simulated": True}, "simulated participant (the admin page's pretend phone)"),
    ],
)
def test_every_reason_not_to_text(runtime, change: dict, expected: str) -> None:
    p = make_participant(runtime, SAM)
    with runtime.db.transaction() as s:
        row = s.get(Participant, p.id)
        for name, value in change.items():
            setattr(row, name, value)
    assert _reason(runtime, p.id) == expected
    assert _reason(runtime, p.id, consent.JOIN_INVITATION) == expected


def test_the_sending_path_itself_refuses_a_poll_text_before_assent(runtime) -> None:
    from smsapp.services.outbox.sending import send_batch

    _require_assent(runtime)
    waiting = make_participant(runtime, SAM)
    ready = make_participant(runtime, "+447911123457")
    with runtime.db.transaction() as s:
        row = s.get(Participant, ready.id)
        assert row is not None
        consent.record_assent(s, row, method="in-person", actor="fac@x.org")
        for pid in (waiting.id, ready.id):
            s.add(
                OutboundMessage(participant_id=pid, kind="invitation", body="Q?", backend="outbox")
            )
        s.add(
            OutboundMessage(
                participant_id=waiting.id,
                kind=consent.JOIN_INVITATION,
                body="Reply JOIN",
                backend="outbox",
            )
        )
    send_batch(runtime)
    with runtime.db.transaction() as s:
        rows = s.execute(
            sa.select(OutboundMessage.participant_id, OutboundMessage.kind, OutboundMessage.status)
        ).all()
    status = {(pid, kind): st for pid, kind, st in rows}
    assert status[(waiting.id, "invitation")] == OutboundStatus.CANCELLED
    assert status[(waiting.id, consent.JOIN_INVITATION)] == OutboundStatus.SENT
    assert status[(ready.id, "invitation")] == OutboundStatus.SENT


def test_launch_asks_for_join_first_and_the_poll_follows_the_reply(runtime, phone) -> None:
    from smsapp.services.outbox.sending import send_batch
    from smsapp.services.polls.launch import launch_poll, preview_launch

    _require_assent(runtime)
    waiting = make_participant(runtime, SAM, nickname="Sam")
    joined = make_participant(runtime, "+447911123457", nickname="Ali")
    with runtime.db.transaction() as s:
        row = s.get(Participant, joined.id)
        assert row is not None
        consent.record_assent(s, row, method="in-person", actor="fac@x.org")
        import_poll(s, (DATA / "every_kind.yaml").read_text())
        noon = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # outside quiet hours
        plan = preview_launch(runtime, s, "every-kind", now=noon)
        assert plan.awaiting_assent == {waiting.id} and plan.join_texts == {waiting.id}
        assert any("JOIN invitation" in line for line in plan.summary_lines())
        launch_poll(runtime, s, "every-kind", now=noon)
    send_batch(runtime, now=noon)
    with runtime.db.transaction() as s:
        sent = s.execute(
            sa.select(OutboundMessage.participant_id, OutboundMessage.kind, OutboundMessage.body)
            .where(OutboundMessage.status == OutboundStatus.SENT)
            .order_by(OutboundMessage.id)
        ).all()
    kinds = {(pid, kind) for pid, kind, _ in sent}
    assert (joined.id, "invitation") in kinds
    assert (waiting.id, consent.JOIN_INVITATION) in kinds
    assert (waiting.id, "invitation") not in kinds  # no poll text before assent

    replies = phone(SAM).replies("join")
    assert "you've joined" in replies[0]
    assert "Hi Sam! A quick poll" in replies[-1]  # the waiting poll starts at once
    with runtime.db.transaction() as s:
        status = s.scalar(
            sa.select(Conversation.status).where(Conversation.participant_id == waiting.id)
        )
    assert status == "open"


# ---------------------------------------------------------------------------------------------
# Recording consent: one function (consent.record_consent), one list of methods, one date rule
# (consent.consent_time), used by the participant form and the CSV import alike.


def test_a_consent_date_is_noon_utc_never_in_the_future() -> None:
    morning = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    afternoon = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
    assert consent.consent_time(date(2026, 3, 2), morning) == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert consent.consent_time(date(2026, 3, 3), afternoon) == datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert consent.consent_time(date(2026, 3, 3), morning) == morning  # today, before noon
    assert consent.consent_time(None, morning) == morning  # "yes", or no date on the form
    with pytest.raises(consent.ConsentError, match="in the future") as refused:
        consent.consent_time(date(2026, 3, 4), afternoon)
    assert refused.value.field == "consent_date"


def test_today_is_the_staffs_today_not_utcs() -> None:
    """At 00:30 on a British summer night it is still yesterday in UTC: the facilitator's
    today is accepted (recorded no later than now), and the day after it is still refused."""
    late = datetime(2026, 6, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 June in London
    assert consent.consent_time(date(2026, 6, 2), late, "Europe/London") == late
    with pytest.raises(consent.ConsentError, match="in the future"):
        consent.consent_time(date(2026, 6, 2), late, "UTC")
    with pytest.raises(consent.ConsentError, match="in the future"):
        consent.consent_time(date(2026, 6, 3), late, "Europe/London")


def _form_methods(client, slug: str = "oakfield") -> list[str]:
    page = client.get(f"/admin/groups/{slug}/participants/new").get_data(as_text=True)
    select = page[page.index('name="consent_method"') :]
    select = select[: select.index("</select>")]
    return re.findall(r"<option(?: selected)?>([^<]*)</option>", select)  # not value="" Choose


def _add_by_form(client, token: str, number: str, **consent_fields: str):
    return client.post(
        "/admin/groups/oakfield/participants/new",
        data={"csrf_token": token, "phone": number, "nickname": "N", **consent_fields},
    )


def _consent_of(runtime, number: str) -> tuple[datetime | None, str | None, str | None]:
    from smsapp.services.people.participants import find_by_phone

    with runtime.db.transaction() as s:
        p = find_by_phone(s, runtime.vault, number)
        assert p is not None
        return p.consent_at, p.consent_method, p.consent_by


def test_the_form_and_the_import_record_consent_alike(runtime, client, login, runner, tmp_path):
    """One list of methods: the form offers the ones staff choose, the import records
    "import", and both are on it. One date rule: the same day gives the same time either way,
    and today is accepted (before noon UTC the form used to call it "in the future" and the
    import stored a time still to come)."""
    assert consent.CONSENT_METHODS == ("paper form", "online form", "e-mail", "verbal", "import")
    make_group(runtime)
    token = login()
    assert _form_methods(client) == ["paper form", "online form", "e-mail", "verbal"]
    numbers = [f"+4479111234{i:02d}" for i in range(10)]
    for number, method in zip(numbers, consent.FORM_METHODS, strict=False):
        by_form = _add_by_form(
            client, token, number, consent_by="Jo, mother", consent_date="", consent_method=method
        )
        assert by_form.status_code == 302, method
        assert _consent_of(runtime, number)[1:] == (method, "Jo, mother")

    today = datetime.now(UTC).date()
    dated = [("2026-01-05", numbers[5], numbers[6]), (today.isoformat(), numbers[7], numbers[8])]
    rows = "".join(f"{by_csv},N,{day}\n" for day, _, by_csv in dated)
    (tmp_path / "people.csv").write_text("phone,nickname,consent\n" + rows)
    imported = runner.invoke(
        args=["participants", "import", str(tmp_path / "people.csv"), "--group", "oakfield"]
    )
    assert "2 rows accepted" in imported.output, imported.output
    for day, by_form_number, by_csv in dated:
        response = _add_by_form(
            client,
            token,
            by_form_number,
            consent_by="Jo",
            consent_date=day,
            consent_method="verbal",
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        form_at, _, _ = _consent_of(runtime, by_form_number)
        csv_at, csv_method, csv_by = _consent_of(runtime, by_csv)
        assert form_at == csv_at or day == today.isoformat()  # "now" differs by the run time
        assert csv_at is not None and form_at is not None
        assert csv_at <= datetime.now(UTC) and form_at <= datetime.now(UTC)
        assert csv_at.date() == form_at.date() == datetime.fromisoformat(day).date()
        assert (csv_method, csv_by) == ("import", "cli")
    with runtime.db.transaction() as s:
        recorded = s.scalars(
            sa.select(AuditEvent.details).where(AuditEvent.action == "participant.consent")
        ).all()
    assert sorted(d["method"] for d in recorded) == sorted(
        [*consent.FORM_METHODS, "verbal", "verbal", "import", "import"]
    )


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"consent_by": " ", "consent_method": "verbal"}, "consent_by"),
        ({"consent_by": "x" * 201, "consent_method": "verbal"}, "consent_by"),
        ({"consent_by": "Jo", "consent_method": "phone call"}, "consent_method"),
        ({"consent_by": "Jo", "consent_method": "import"}, None),  # on the list, not the form
        ({"consent_by": "Jo", "consent_method": "verbal", "consent_date": "2999-01-01"}, "date"),
        ({"consent_by": "Jo", "consent_method": "verbal", "consent_date": "5/1/26"}, "date"),
    ],
)
def test_a_consent_error_is_shown_by_its_field_and_changes_nothing(
    runtime, client, login, fields, field
) -> None:
    make_group(runtime)
    p = make_participant(runtime, SAM, consent=False)
    token = login()
    response = client.post(f"/admin/participants/{p.id}", data={"csrf_token": token, **fields})
    if field is None:
        assert response.status_code == 302
        return
    field = "consent_date" if field == "date" else field
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    errors = set(re.findall(r'id="([a-z_]+)-error"', page))
    assert errors == {field}, page
    assert _consent_of(runtime, SAM) == (None, None, None)


# ---------------------------------------------------------------------------------------------
# Who may be texted: the dashboard's "can be texted", the launch and the send path's rule agree.


def _dashboard_counts(client, slug: str) -> tuple[int, int]:
    page = client.get("/admin/").get_data(as_text=True)
    found = re.search(
        rf'<span class="muted">{slug}</span></td>\s*<td>(\d+)</td>\s*<td>(\d+)</td>', page
    )
    assert found, page
    return int(found.group(1)), int(found.group(2))


def test_the_dashboard_counts_who_the_launch_and_the_send_path_would_text(
    runtime, client, login
) -> None:
    """A group asking for assent with one member of each kind that is not texted: no consent,
    opted out, withdrawn, invalid number, awaiting assent, and a simulated phone. The dashboard
    used to count everyone active with consent (5 here); the launch texts 2."""
    from smsapp.models import GroupMembership, NumberStatus
    from smsapp.services.polls.launch import preview_launch
    from tests.support.factories import make_poll

    _require_assent(runtime)
    make_group(runtime, "riverside", "Riverside")
    kinds = {
        "ok": {},
        "also ok": {},
        "no consent": {"consent": False},
        "opted out": {"status": "opted-out"},
        "withdrawn": {"status": "withdrawn"},
        "invalid number": {},
        "awaiting assent": {},
        "simulated": {},
    }
    ids = {}
    for i, (kind, options) in enumerate(kinds.items()):
        ids[kind] = make_participant(runtime, f"+4479111235{i:02d}", **options).id
    with runtime.db.transaction() as s:
        for kind, pid in ids.items():
            p = s.get(Participant, pid)
            assert p is not None
            if kind != "awaiting assent":
                consent.record_assent(s, p, method=consent.ASSENT_IN_PERSON, actor="fac@x.org")
            if kind == "invalid number":
                p.number_status = NumberStatus.INVALID
            if kind == "simulated":
                p.simulated = True
        # Riverside asks for no assent, but its member still owes it to Oakfield: the send path
        # holds every text but the JOIN invitation until it comes.
        for kind in ("also ok", "awaiting assent"):
            s.add(GroupMembership(group_id=_group_id(s, "riverside"), participant_id=ids[kind]))
    make_poll(runtime)  # for oakfield

    with runtime.db.transaction() as s:
        plan = preview_launch(runtime, s, "name-our-group")
        launched = {m.id for m in plan.recipients} - plan.awaiting_assent
        by_rule = {
            pid for pid in ids.values() if consent.textable_reason(s, _p(s, pid), kind="x") is None
        }
        members = consent.member_textability(s)
        loaded = {
            (m.group_id, m.participant_id)
            for m in members
            if consent.text_gate(m.facts, "invitation") is None
        }
    assert launched == by_rule == {ids["ok"], ids["also ok"]}
    oakfield, riverside = (_group_id_of(runtime, g) for g in ("oakfield", "riverside"))
    assert loaded == {
        (oakfield, ids["ok"]),
        (oakfield, ids["also ok"]),
        (riverside, ids["also ok"]),
    }
    login()
    assert _dashboard_counts(client, "oakfield") == (7, 2)  # the simulated phone is no member
    assert _dashboard_counts(client, "riverside") == (2, 1)


def _p(s, pid: int) -> Participant:
    p = s.get(Participant, pid)
    assert p is not None
    return p


def _group_id(s, slug: str) -> int:
    group_id = s.scalar(sa.select(Group.id).where(Group.slug == slug))
    assert group_id is not None
    return group_id


def _group_id_of(runtime, slug: str) -> int:
    with runtime.db.transaction() as s:
        return _group_id(s, slug)


def test_a_launch_holds_a_member_who_owes_assent_to_another_group(runtime) -> None:
    """Riverside asks for no assent; Sam is also in Oakfield, which does, and has not replied
    JOIN. The send path holds every poll text for Sam, so the launch must not count Sam as
    texted now: Sam waits for the poll, as in Oakfield's own launch."""
    from smsapp.models import GroupMembership
    from smsapp.services.polls.launch import launch_poll, preview_launch
    from tests.support.factories import POLL_YAML

    _require_assent(runtime)  # oakfield
    make_group(runtime, "riverside", "Riverside")
    sam = make_participant(runtime, SAM, nickname="Sam")
    with runtime.db.transaction() as s:
        s.add(GroupMembership(group_id=_group_id(s, "riverside"), participant_id=sam.id))
        import_poll(s, POLL_YAML.format(slug="name-our-group", group="riverside"))
        plan = preview_launch(runtime, s, "name-our-group")
        assert plan.awaiting_assent == {sam.id} and plan.texted_now == 0
        assert plan.join_texts == set()  # Riverside sends no JOIN invitation of its own
        launch_poll(runtime, s, "name-our-group")
        queued = s.scalars(
            sa.select(OutboundMessage.kind).where(OutboundMessage.participant_id == sam.id)
        ).all()
        held = s.scalar(sa.select(Conversation.status).where(Conversation.participant_id == sam.id))
    assert queued == [] and held == "waiting"


def test_who_owes_assent_is_answered_for_a_launch_to_a_whole_year(runtime) -> None:
    """More ids than PostgreSQL takes parameters in one statement (65,535): still answered."""
    _require_assent(runtime)
    p = make_participant(runtime, SAM, nickname="Sam")
    many = set(range(10_000_000, 10_070_000)) | {p.id}
    with runtime.db.transaction() as s:
        assert consent.awaiting_assent(s, many) == {p.id}


def test_only_a_group_that_asks_makes_its_members_owe_assent(runtime) -> None:
    """Membership of a group that does not ask adds nothing; one that asks is enough."""
    _require_assent(runtime, "asks")
    make_group(runtime, "quiet")
    asked = make_participant(runtime, SAM, group="asks")
    both = make_participant(runtime, "+447911123457", group="quiet")
    only_quiet = make_participant(runtime, "+447911123458", group="quiet")
    with runtime.db.transaction() as s:
        asks = group_by_slug(s, "asks")
        assert asks is not None
        s.add(GroupMembership(group_id=asks.id, participant_id=both.id))
    with runtime.db.transaction() as s:
        owing = consent.awaiting_assent(s, {asked.id, both.id, only_quiet.id})
        assert owing == {asked.id, both.id}
        assert consent.awaiting_assent(s, set()) == set()

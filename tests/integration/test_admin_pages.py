"""The admin pages as facilitators use them: people, consent, import, the poll builder (form,
YAML and live preview), the simulator, staff accounts, and session time-outs."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from itsdangerous import TimestampSigner

from smsapp.models import AuditEvent, Participant, Poll, StaffUser
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll
from tests.support.factories import make_group, make_participant
from tests.support.staff import PASSWORD
from tests.support.staff import csrf_token as _csrf

EVERY_KIND = (Path(__file__).parent.parent / "data" / "every_kind.yaml").read_text()


def _builder_fields(token: str, **top: str) -> dict[str, str]:
    fields = {
        "csrf_token": token,
        "title": "Lunch poll",
        "slug": "lunch",
        "group": "oakfield",
        "intro": "Hi {nickname}!",
        "q-0-key": "food",
        "q-0-kind": "choice",
        "q-0-prompt": "Best lunch?",
        "q-0-options": "Pizza\nPasta\nSalad",
        "q-1-key": "mood",
        "q-1-kind": "scale",
        "q-1-prompt": "How hungry, 1-5?",
        "q-1-max": "5",
        "q-2-key": "why",
        "q-2-kind": "text",
        "q-2-prompt": "Why?",
        "q-2-optional": "1",
        "q-2-when": "food: A, B",
    }
    fields.update(top)
    return fields


# ---------------------------------------------------------------------------------------------
# Participants and groups


def test_participants_are_searchable_masked_and_simulated_phones_hidden(runtime, client, login):
    make_participant(runtime, "07911 123456", nickname="Sam")
    make_participant(runtime, "07911 123457", nickname="Alex", consent=False)
    token = login()
    client.post("/admin/simulator/send", data={"csrf_token": token, "body": "hi"})
    page = client.get("/admin/participants").get_data(as_text=True)
    assert "+44 7••• •••456" in page and "7911123456" not in page
    assert "SIM-" not in page  # the pretend phone is not a participant
    found = client.get("/admin/participants?q=sam").get_data(as_text=True)
    assert "Sam" in found and "Alex" not in found
    group = client.get("/admin/groups/oakfield?q=ale").get_data(as_text=True)
    assert "Alex" in group and "Sam" not in group and ">none<" in group  # no consent shown


def test_add_participant_with_a_bad_number_shows_the_reason_by_the_field(runtime, client, login):
    make_group(runtime)
    token = login()
    response = client.post(
        "/admin/groups/oakfield/participants/new",
        data={"csrf_token": token, "phone": "07911 12", "nickname": "Kim"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="phone-error">[^<]*too few digits', page), page
    assert 'aria-describedby="phone-hint phone-error"' in page


def test_add_participant_with_consent_then_edit(runtime, client, login):
    make_group(runtime)
    token = login()
    response = client.post(
        "/admin/groups/oakfield/participants/new",
        data={
            "csrf_token": token,
            "phone": "07911 123450",
            "nickname": "Kim",
            "consent_by": "Jo Smith, mother",
            "consent_date": "2026-01-05",
            "consent_method": "paper form",
        },
    )
    assert response.status_code == 302
    with runtime.db.transaction() as s:
        kim = s.scalar(sa.select(Participant).where(Participant.nickname == "Kim"))
        assert kim is not None and kim.consent_by == "Jo Smith, mother"
        assert kim.consent_method == "paper form"
        assert kim.consent_at == datetime(2026, 1, 5, 12, tzinfo=UTC)
        actions = set(s.scalars(sa.select(AuditEvent.action)))
        assert {"participant.add", "participant.consent"} <= actions
        pid = kim.id
    again = client.post(
        "/admin/groups/oakfield/participants/new",
        data={"csrf_token": token, "phone": "+447911123450"},
    )
    assert again.status_code == 422 and b"already" in again.data
    edit = client.post(
        f"/admin/participants/{pid}",
        data={
            "csrf_token": token,
            "nickname": "Kimmy",
            "consent_by": "Jo",
            "consent_method": "fax",
        },
    )
    assert edit.status_code == 422 and b"consent_method-error" in edit.data
    ok = client.post(f"/admin/participants/{pid}", data={"csrf_token": token, "nickname": "Kimmy"})
    assert ok.status_code == 302
    with runtime.db.transaction() as s:
        assert s.get(Participant, pid).nickname == "Kimmy"  # type: ignore[union-attr]


def test_csv_import_shows_the_rejected_rows(runtime, client, login):
    make_group(runtime)
    token = login()
    csv = "phone,nickname,consent\n07911 123401,Ana,yes\n12345,Bo,yes\n07911 123402,Cy,maybe\n"
    from io import BytesIO

    response = client.post(
        "/admin/groups/oakfield/import",
        data={"csrf_token": token, "file": (BytesIO(csv.encode()), "people.csv")},
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 rows accepted" in page and "2 rejected" in page
    assert re.search(r"<td>3</td><td>bad number", page), page
    assert re.search(r"<td>4</td><td>consent must be", page), page


def test_group_create(runtime, client, login):
    token = login()
    bad = client.post("/admin/groups", data={"csrf_token": token, "slug": "Bad Slug", "name": "X"})
    assert bad.status_code == 422 and b"slug-error" in bad.data
    good = client.post("/admin/groups", data={"csrf_token": token, "slug": "elm", "name": "Elm"})
    assert good.status_code == 302 and good.headers["Location"].endswith("/admin/groups/elm")


# ---------------------------------------------------------------------------------------------
# Poll builder


def test_builder_saves_a_poll_from_the_form(runtime, client, login):
    make_group(runtime)
    token = login()
    response = client.post("/admin/polls/new", data=_builder_fields(token))
    assert response.status_code == 302, response.get_data(as_text=True)
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "lunch"))
        assert poll is not None and poll.status == "draft"
        questions = poll.definition["questions"]
        assert [q["key"] for q in questions] == ["food", "mood", "why"]
        assert [o["label"] for o in questions[0]["options"]] == ["Pizza", "Pasta", "Salad"]
        assert questions[2]["when"] == {"food": ["A", "B"]} and questions[2]["optional"]
        assert "Pizza" in (poll.source_yaml or "")
    page = client.get("/admin/polls/lunch/edit").get_data(as_text=True)
    assert 'value="food"' in page and "Pizza\nPasta\nSalad</textarea>" in page
    assert "readonly" in page  # a saved poll keeps its slug


def test_builder_puts_each_problem_next_to_its_field(runtime, client, login):
    make_group(runtime)
    token = login()
    fields = _builder_fields(token, **{"q-1-max": "", "q-0-options": "Pizza\nEND) Pasta"})
    response = client.post("/admin/polls/new", data=fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert re.search(r'id="q-1-max-error">a scale question needs max', page), page
    assert re.search(r'id="q-0-options-error">[^<]*END is a reserved word', page), page
    assert 'aria-invalid="true"' in page and "Please fix 3 problems" in page
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(Poll).where(Poll.slug == "lunch")) is None


def test_builder_without_javascript_adds_and_moves_questions(runtime, client, login):
    make_group(runtime)
    token = login()
    added = client.post("/admin/polls/new", data={**_builder_fields(token), "action": "add"})
    assert added.status_code == 200
    assert 'name="q-3-key"' in added.get_data(as_text=True)
    moved = client.post("/admin/polls/new", data={**_builder_fields(token), "action": "up:1"})
    page = moved.get_data(as_text=True)
    assert re.search(r'name="q-0-key" value="mood"', page) and 'name="q-1-key" value="food"' in page


def test_preview_turns_the_form_into_yaml_with_texts_and_cost(runtime, client, login):
    make_group(runtime)
    token = login()
    fields = _builder_fields(token, intro="Hi {nickname} 😀 ready?")
    body = client.post(
        "/admin/polls/preview",
        data={**fields, "source": "form"},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    ).get_json()
    assert body["problems"] == []
    assert "title: Lunch poll" in body["yaml"] and "- Pizza" in body["yaml"]
    first = body["previews"][0]
    assert first["text"].startswith("Hi Sam 😀 ready?\n\nBest lunch?\nA) Pizza")
    assert first["encoding"] == "UCS-2" and first["ucs2_chars"] == ["😀"]
    assert first["cost"] == pytest.approx(first["segments"] * 0.04)
    assert body["total"]["segments"] == sum(p["segments"] for p in body["previews"])
    assert "😀" in body["previews_html"] and "GBP" in body["previews_html"]


def test_preview_turns_yaml_into_form_rows_and_places_problems(runtime, client, login):
    make_group(runtime)
    token = login()
    headers = {"X-CSRFToken": token, "Accept": "application/json"}
    body = client.post(
        "/admin/polls/preview", data={"source": "yaml", "yaml": EVERY_KIND}, headers=headers
    ).get_json()
    assert body["form"]["slug"] == "every-kind" and body["problems"] == []
    assert 'name="q-9-key" value="budget"' in body["rows_html"]
    broken = client.post(
        "/admin/polls/preview",
        data={**_builder_fields(token, **{"q-1-kind": "nope"}), "source": "form"},
        headers=headers,
    ).get_json()
    assert {"input": "q-1-kind", "field": "questions[1].kind"}.items() <= broken["problems"][
        0
    ].items()
    assert broken["previews"] == []


def test_preview_needs_the_csrf_token(runtime, client, login):
    login()
    response = client.post("/admin/polls/preview", data={"source": "yaml", "yaml": EVERY_KIND})
    assert response.status_code == 400


def test_saving_from_yaml_and_launched_polls_are_read_only(runtime, client, login):
    make_group(runtime)
    token = login()
    response = client.post(
        "/admin/polls/new", data={"csrf_token": token, "action": "save-yaml", "yaml": EVERY_KIND}
    )
    assert response.status_code == 302
    bad = client.post(
        "/admin/polls/new",
        data={"csrf_token": token, "action": "save-yaml", "yaml": "slug: [unclosed"},
    )
    assert bad.status_code == 422 and re.search(rb'id="yaml-error">[^<]*line 1', bad.data)
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == "every-kind"))
        assert poll is not None
        poll.status = "open"
    page = client.get("/admin/polls/every-kind/edit").get_data(as_text=True)
    assert "can no longer change" in page and 'name="q-0-key"' not in page
    refused = client.post(
        "/admin/polls/every-kind/edit", data={"csrf_token": token, "yaml": EVERY_KIND}
    )
    assert refused.status_code == 302


# ---------------------------------------------------------------------------------------------
# Simulator


def test_simulator_runs_a_poll_and_shows_html_as_text(runtime, client, login):
    make_group(runtime)
    with runtime.db.transaction() as s:
        import_poll(s, EVERY_KIND)
    token = login()
    start = client.post("/admin/simulator/start", data={"csrf_token": token, "poll": "every-kind"})
    assert start.status_code == 302 and start.headers["Location"].endswith("poll=every-kind")
    evil = "<script>alert(1)</script><b>green</b>"
    client.post("/admin/simulator/send", data={"csrf_token": token, "body": evil})
    page = client.get("/admin/simulator?poll=every-kind").get_data(as_text=True)
    assert "Which colour for our logo?" in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<td>twiml</td>" in page  # the outbox names the backend
    answer = client.post(
        "/admin/simulator/send",
        data={"csrf_token": token, "body": "B"},
        headers={"Accept": "application/json"},
    ).get_json()
    assert "Which snacks?" in answer["chat_html"]
    assert "&lt;b&gt;green&lt;/b&gt;" in answer["chat_html"]


# ---------------------------------------------------------------------------------------------
# Staff accounts, sessions and who sees phone numbers


def test_admin_adds_deactivates_and_resets_users(runtime, client, login):
    token = login("admin")
    short = client.post(
        "/admin/users",
        data={"csrf_token": token, "email": "r@example.org", "role": "researcher", "password": "x"},
    )
    assert short.status_code == 422 and b"password-error" in short.data
    made = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": "r@example.org",
            "role": "researcher",
            "password": PASSWORD,
        },
    )
    assert made.status_code == 302
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "r@example.org"))
        me = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "admin@example.org"))
    reset = client.post(f"/admin/users/{uid}/password", data={"csrf_token": token})
    new_password = re.search(rb'class="secret">([^<]+)<', reset.data)
    assert reset.status_code == 200 and new_password
    client.post(f"/admin/users/{uid}/active", data={"csrf_token": token, "active": "0"})
    client.post(f"/admin/users/{me}/active", data={"csrf_token": token, "active": "0"})
    with runtime.db.transaction() as s:
        assert s.get(StaffUser, uid).active is False  # type: ignore[union-attr]
        assert s.get(StaffUser, me).active is True  # type: ignore[union-attr]
    other = client.application.test_client()
    token2 = _csrf(other, "/login")
    refused = other.post(
        "/login",
        data={
            "email": "r@example.org",
            "password": new_password.group(1).decode(),
            "csrf_token": token2,
        },
    )
    assert refused.status_code == 401  # deactivated, even with the fresh password


def test_researcher_pages_never_show_phone_numbers(runtime, client, login):
    make_participant(runtime, "07911 123456", nickname="Sam")
    login("researcher")
    page = client.get("/admin/").get_data(as_text=True)
    assert "•" not in page and "456" not in page
    assert "/admin/participants" not in page and "/admin/polls" not in page  # no links it can't use


def test_session_times_out_after_the_configured_idle_time(runtime, client, login, monkeypatch):
    login()
    assert client.get("/admin/").status_code == 200
    lifetime = client.application.permanent_session_lifetime
    real = TimestampSigner.get_timestamp
    later = int((datetime.now(UTC) + lifetime + timedelta(seconds=5)).timestamp())
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: later)
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    monkeypatch.setattr(TimestampSigner, "get_timestamp", real)


def test_cookies_are_secure_when_configured(runtime, tmp_path):
    from smsapp import create_app

    runtime.settings = runtime.settings.with_overrides(secure_cookies=True)
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    client = app.test_client()
    with runtime.db.transaction() as s:
        create_user(s, "sec@example.org", PASSWORD, "facilitator")
    page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/login",
        data={"email": "sec@example.org", "password": PASSWORD, "csrf_token": token},
        base_url="https://localhost",
        headers={"Referer": "https://localhost/login"},  # Flask-WTF checks it over HTTPS
    )
    cookie = response.headers["Set-Cookie"]
    assert response.status_code == 302 and "Secure" in cookie and "HttpOnly" in cookie


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "  - {key: pick, kind: choice, prompt: P, options: [{code: X, label: Ex}, {code: Y, label: Why}]}\n"
        "  - {key: more, kind: text, prompt: M, optional: true, when: {again: [true], mood: [4, 5]}}\n",
    ],
)
def test_the_form_holds_every_field_of_a_definition(extra: str) -> None:
    from smsapp.conversation.poll_yaml import parse_poll_yaml
    from smsapp.conversation.serialise import poll_to_dict
    from smsapp.conversation.validation import parse_poll
    from smsapp.services.polls import builder

    defn = parse_poll_yaml(EVERY_KIND + extra)
    form = builder.data_to_form(poll_to_dict(defn))
    assert parse_poll(builder.form_to_data(form)) == defn
    yaml_view = builder.data_to_yaml(builder.form_to_data(form))
    assert parse_poll_yaml(yaml_view) == defn


def test_admin_withdraws_a_participant_with_the_button(runtime, client, login) -> None:
    p = make_participant(runtime, "+447911123456", nickname="Sam")
    token = login("admin")
    page = client.get(f"/admin/participants/{p.id}").get_data(as_text=True)
    assert "coming soon" not in page and f"Withdraw {p.pseudonym}" in page
    # Without the tick box nothing changes.
    client.post(f"/admin/participants/{p.id}/withdraw", data={"csrf_token": token})
    with runtime.db.transaction() as s:
        assert s.get(Participant, p.id).status == "active"  # type: ignore[union-attr]
    done = client.post(
        f"/admin/participants/{p.id}/withdraw", data={"csrf_token": token, "confirm": "yes"}
    )
    assert done.status_code == 302
    with runtime.db.transaction() as s:
        row = s.get(Participant, p.id)
        assert row is not None and row.status == "withdrawn"
        assert row.phone_ciphertext is None and row.phone_index is None and row.nickname is None


def test_a_nul_character_in_any_form_or_address_is_a_clear_400(runtime, app, client, login):
    # PostgreSQL cannot store or even compare text with NUL: each of these was a DataError (500).
    make_group(runtime)
    token = login()
    attempts = [
        client.post("/admin/groups", data={"csrf_token": token, "slug": "x", "name": "Oak\x00"}),
        client.get("/admin/participants", query_string={"q": "\x00"}),
        client.get("/admin/groups/oak%00field"),
        client.post(
            "/admin/groups/oakfield/participants/new",
            data={"csrf_token": token, "phone": "07911 123450", "nickname": "Kim\x00"},
        ),
    ]
    for response in attempts:
        assert response.status_code == 400, response.request.url
        assert "NUL character" in response.get_data(as_text=True)
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(Participant.id))) == 0
    stranger = app.test_client()
    login_page = _csrf(stranger, "/login")
    refused = stranger.post(
        "/login", data={"email": "a\x00@example.org", "password": "x", "csrf_token": login_page}
    )
    assert refused.status_code == 400


def test_a_participant_field_longer_than_its_column_is_named(runtime, client, login):
    # The form cut every field at 60 characters; age_band and language hold 20, and PostgreSQL
    # refused the rest with a DataError (a 500).
    make_group(runtime)
    token = login()
    response = client.post(
        "/admin/groups/oakfield/participants/new",
        data={"csrf_token": token, "phone": "07911 123450", "age_band": "1" * 21},
    )
    assert response.status_code == 422
    assert "at most 20 characters" in response.get_data(as_text=True)
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(Participant.id))) == 0


def test_a_facilitator_cannot_withdraw_and_is_told_who_can(runtime, client, login) -> None:
    p = make_participant(runtime, "+447911123456", nickname="Sam")
    token = login("facilitator")
    page = client.get(f"/admin/participants/{p.id}").get_data(as_text=True)
    assert f"Withdraw {p.pseudonym}" not in page and "/withdraw" not in page
    assert "Only the safeguarding lead or an admin can withdraw" in page
    refused = client.post(
        f"/admin/participants/{p.id}/withdraw", data={"csrf_token": token, "confirm": "yes"}
    )
    assert refused.status_code == 403
    with runtime.db.transaction() as s:
        row = s.get(Participant, p.id)
        assert row is not None and row.status == "active" and row.nickname == "Sam"

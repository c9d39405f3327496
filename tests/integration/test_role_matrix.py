"""Every admin route × every role: each role gets what it should and is refused the rest.

The routes come from app.url_map, so a new /admin/ page is checked the moment it exists, and
this file fails when one is added without roles_required.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

import smsapp.queue
from smsapp.models import StaffUser
from smsapp.services.people import staff
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll
from smsapp.services.polls.launch import launch_poll
from smsapp.services.votes.tally_requests import request_tally
from tests.support.factories import make_participant

PASSWORD = "correct horse battery"
CHEAP = "pbkdf2:sha256:1000"
ROLES = ("admin", "facilitator", "researcher", "safeguarding")
STAFF = set(ROLES)
PEOPLE = {"admin", "facilitator"}
READERS = {"admin", "facilitator", "researcher"}  # results pages: no numbers, no nicknames
ERASE = {"admin", "safeguarding"}  # withdraw and erase: docs/safeguarding.md "Who sees what"
# The decided role sets for the pages that exist; routes added later are held to their own
# `allowed_roles` (and must have one).
DECIDED = {
    "admin.dashboard": STAFF,
    "admin.groups": PEOPLE,
    "admin.group_create": PEOPLE,
    "admin.group_detail": PEOPLE,
    "admin.group_import": PEOPLE,
    "admin.participant_new": PEOPLE,
    "admin.participants": PEOPLE,
    "admin.participant_edit": PEOPLE,
    "admin.participant_withdraw": ERASE,
    "safeguarding.withdraw": ERASE,
    # A disclosure's words: the safeguarding lead only, not admins (issue 12).
    "safeguarding.inbox": {"safeguarding"},
    "safeguarding.acknowledge": {"safeguarding"},
    "admin.polls": PEOPLE,
    "admin.poll_new": PEOPLE,
    "admin.poll_create": PEOPLE,
    "admin.poll_edit": PEOPLE,
    "admin.poll_update": PEOPLE,
    "admin.poll_preview": PEOPLE,
    "admin.simulator": PEOPLE,
    "admin.simulator_send": PEOPLE,
    "admin.simulator_start": PEOPLE,
    "admin.poll_launch_preview": PEOPLE,
    "admin.poll_launch": PEOPLE,
    "admin.poll_status": PEOPLE,
    "admin.poll_close_confirm": PEOPLE,
    "admin.poll_close": PEOPLE,
    "admin.poll_tally": PEOPLE,
    "admin.poll_tally_progress": PEOPLE,
    "admin.poll_announce_preview": PEOPLE,
    "admin.poll_announce": PEOPLE,
    "admin.poll_results": READERS,
    "admin.poll_results_live": READERS,
    "admin.poll_result_png": READERS,
    "admin.poll_templates": PEOPLE,
    "admin.poll_duplicate_form": PEOPLE,
    "admin.poll_duplicate": PEOPLE,
    "admin.poll_schedule": PEOPLE,
    "admin.poll_schedule_cancel": PEOPLE,
    "admin.poll_nominations": PEOPLE,
    "admin.poll_nominations_moderate": PEOPLE,
    "admin.poll_nominations_merge": PEOPLE,
    "admin.poll_nominations_shortlist": PEOPLE,
    "admin.messages": PEOPLE,
    # Young people's questions and youth leads (issue 15): facilitators and admins; a held
    # question's words stay in the safeguarding inbox.
    "admin.group_proposals": PEOPLE,
    "admin.group_proposal_approve": PEOPLE,
    "admin.group_proposal_decline": PEOPLE,
    "admin.group_proposal_limit": PEOPLE,
    "admin.group_youth_lead_appoint": PEOPLE,
    "admin.group_youth_lead_change": PEOPLE,
    "admin.audit_log": {"admin"},
    "admin.users": {"admin"},
    "admin.user_create": {"admin"},
    "admin.user_active": {"admin"},
    "admin.user_password": {"admin"},
    # The group's record: every staff role reads it; celebrating texts the group (issue 15).
    "admin.records": STAFF,
    "admin.group_record_page": STAFF,
    "admin.group_celebrate_preview": PEOPLE,
    "admin.group_celebrate": PEOPLE,
    "admin.poll_growth": READERS,
    # Tagging shows the free-text words: the facilitators' moderation roles, as nominations.
    "admin.poll_growth_tags": PEOPLE,
    "admin.poll_growth_tag": PEOPLE,
}
# Allowed POSTs are sent empty: the view may answer with a redirect, or re-show its form with
# the problems (422) or refuse the input (400); what it must not do is 403 or send to /login.
POST_HANDLED = {200, 302, 303, 400, 422}
# URL arguments whose rows belong to other parts (export runs, safeguarding flags): a value
# that names no row still proves the refusals, which happen before the view looks anything up;
# an allowed role then gets the view's 404. Replace with real rows when fixtures exist.
PLACEHOLDER_ARGS = {"export_id": 987654, "flag_id": 987654, "code": "Q987654"}
POLL = """
slug: matrix-poll
title: Matrix poll
group: oakfield
questions:
  - {key: colour, kind: choice, prompt: "Colour?", options: [Red, Blue]}
"""


def admin_rules(app: Flask) -> list[Rule]:
    return [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin")]


def unguarded(app: Flask) -> list[str]:
    """Admin endpoints whose view does not name its roles."""
    return sorted(
        rule.endpoint
        for rule in admin_rules(app)
        if not hasattr(app.view_functions[rule.endpoint], "allowed_roles")
    )


@pytest.fixture
def world(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Real rows for every URL argument the admin routes take."""
    # Six accounts per test: a cheap hash keeps the matrix quick (log-in still checks it).
    monkeypatch.setattr(
        staff, "generate_password_hash", functools.partial(generate_password_hash, method=CHEAP)
    )
    participant = make_participant(runtime, "07911 123456", nickname="Sam")
    with runtime.db.transaction() as s:
        for role in ROLES:
            create_user(s, f"{role}@example.org", PASSWORD, role)
        target = create_user(s, "target@example.org", PASSWORD, "researcher")
        import_poll(s, POLL)
        s.flush()
        target_id = target.id
    with runtime.db.transaction() as s:
        # Launched, so results, sending and message pages show real rows to every role.
        poll_id = launch_poll(runtime, s, "matrix-poll", actor="matrix").plan.poll_id
    counting = request_tally(runtime, poll_id, actor="matrix")
    return {
        "pid": participant.id,
        "pseudonym": participant.pseudonym,
        "uid": target_id,
        "group": "oakfield",
        "poll": "matrix-poll",
        "kind": "responses",
        "request_id": counting.id,
        "key": "colour",  # a question of matrix-poll (its chart as a PNG)
    }


def url_values(rule: Rule, world: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for arg in rule.arguments:
        if arg == "slug":
            values[arg] = world["poll"] if "/polls/" in rule.rule else world["group"]
        elif arg in world:
            values[arg] = world[arg]
        elif arg in PLACEHOLDER_ARGS:
            values[arg] = PLACEHOLDER_ARGS[arg]
        else:
            pytest.fail(f"{rule.rule}: give the role matrix a real value for <{arg}>")
    return values


def build(app: Flask, rule: Rule, world: dict[str, Any]) -> str:
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **url_values(rule, world))


def log_in(client: FlaskClient, role: str) -> None:
    response = client.post("/login", data={"email": f"{role}@example.org", "password": PASSWORD})
    assert response.status_code == 302, response.data


@pytest.fixture
def matrix_app(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    # CSRF is tested on its own; here it would stop every POST before the role check.
    app.config["WTF_CSRF_ENABLED"] = False
    # A page may queue a job (an export); the embedded queue would run it in a thread on the
    # test's one shared connection. The matrix is about who may ask, so jobs are dropped.
    monkeypatch.setattr(smsapp.queue, "_run_embedded", lambda job, args, kwargs: None)
    yield app


def test_every_admin_route_names_its_roles(matrix_app: Flask) -> None:
    assert admin_rules(matrix_app), "no admin routes found"
    assert unguarded(matrix_app) == []
    for endpoint, roles in DECIDED.items():
        view: Any = matrix_app.view_functions[endpoint]
        assert set(view.allowed_roles) == roles, endpoint


def test_the_guard_check_catches_a_route_without_roles(matrix_app: Flask) -> None:
    matrix_app.add_url_rule("/admin/forgot-the-roles", "forgot", lambda: "oops")
    assert unguarded(matrix_app) == ["forgot"]


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
def test_route_by_role(matrix_app: Flask, world: dict[str, Any], role: str | None) -> None:
    client = matrix_app.test_client()
    if role is not None:
        log_in(client, role)
    checked = 0
    for rule in admin_rules(matrix_app):
        view = matrix_app.view_functions[rule.endpoint]
        allowed = set(getattr(view, "allowed_roles", ()))
        url = build(matrix_app, rule, world)
        placeholder = bool(set(rule.arguments) & set(PLACEHOLDER_ARGS))
        decided = rule.endpoint in DECIDED
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            where = f"{role or 'anonymous'} {method} {url} -> {response.status_code}"
            if role is None:
                assert response.status_code == 302, where
                assert "/login" in response.headers["Location"], where
            elif role not in allowed:
                assert response.status_code == 403, where
            elif placeholder:
                assert response.status_code in {404, *POST_HANDLED}, where
            elif method == "GET":
                if decided:
                    assert response.status_code == 200, where
                else:  # another part's page: it may also redirect (not to /login)
                    assert response.status_code in {200, 302, 303}, where
                    assert "/login" not in response.headers.get("Location", ""), where
                if role == "researcher":
                    # Never a phone number, masked or not, on a page these roles can open.
                    body = response.get_data()  # bytes: a chart or a workbook is not text
                    assert "•".encode() not in body, where
                    assert not re.search(rb"7911\s?123", body), where
            else:
                assert response.status_code in POST_HANDLED, where
                assert "/login" not in response.headers.get("Location", ""), where
            checked += 1
    assert checked >= len(DECIDED)


@pytest.mark.parametrize("role", [*ROLES, None], ids=[*ROLES, "anonymous"])
def test_login_and_logout_by_role(matrix_app: Flask, world: dict[str, Any], role: str | None):
    client = matrix_app.test_client()
    if role is None:
        assert client.get("/login").status_code == 200
        logout = client.post("/logout")
        assert logout.status_code == 302 and "/login" in logout.headers["Location"]
        return
    log_in(client, role)
    again = client.get("/login")
    assert again.status_code == 302 and again.headers["Location"].endswith("/admin/")
    assert client.post("/logout").status_code == 302
    assert client.get("/admin/").status_code == 302


def test_a_deactivated_account_is_logged_out(matrix_app: Flask, world: dict[str, Any], runtime):
    client = matrix_app.test_client()
    log_in(client, "facilitator")
    with runtime.db.transaction() as s:
        user = s.scalar(sa.select(StaffUser).where(StaffUser.email == "facilitator@example.org"))
        assert user is not None
        user.active = False
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ROLES)
def test_the_withdraw_button_shows_exactly_where_its_route_accepts_it(
    matrix_app: Flask, world: dict[str, Any], role: str
) -> None:
    """One rule: the button is on a page the role can open only if the role may press it."""
    client = matrix_app.test_client()
    log_in(client, role)
    pages = {
        "admin.participant_withdraw": f"/admin/participants/{world['pid']}",
        "safeguarding.withdraw": f"/admin/safeguarding/participants/{world['pseudonym']}",
    }
    for endpoint, page in pages.items():
        allowed = role in matrix_app.view_functions[endpoint].allowed_roles
        response = client.get(page)
        if response.status_code == 403:
            continue  # a page this role cannot open shows no button either
        assert response.status_code == 200, (role, page)
        action = build(matrix_app, next(matrix_app.url_map.iter_rules(endpoint)), world)
        assert (f'action="{action}"' in response.get_data(as_text=True)) == allowed, (role, page)

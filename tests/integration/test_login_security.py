"""Log-in hardening: guesses are counted atomically, per source and per e-mail (with or without
an account), a lock binds only the address that guessed, a copied session cookie dies at logout,
password reset and deactivation, and `next` never leads off the site."""

from __future__ import annotations

import functools
import os
import re
import threading
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

from smsapp.db import Database, utcnow
from smsapp.models import AuditEvent, LoginThrottle, StaffUser
from smsapp.services.people import staff
from smsapp.services.people.login_throttle import ACCOUNT_LOCK_AFTER, LOCK_AFTER, SOURCE_LOCK_AFTER

PASSWORD = "correct horse battery"
WRONG = "wrong password!"
LEAD = "lead@example.org"
MISMATCH = "That e-mail and password do not match an account."
LOCKED = "Too many failed attempts. Try again in 15 minutes."
CHEAP = "pbkdf2:sha256:1000"


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts made with a quick hash, for tests that check dozens of passwords."""
    monkeypatch.setattr(
        staff, "generate_password_hash", functools.partial(generate_password_hash, method=CHEAP)
    )


def _user(runtime: Any, email: str = LEAD, role: str = "safeguarding") -> None:
    with runtime.db.transaction() as s:
        staff.create_user(s, email, PASSWORD, role)


def _token(client: FlaskClient, path: str, address: str = "127.0.0.1") -> str:
    page = client.get(path, environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


class Browser:
    """One person's browser, at one client address."""

    def __init__(self, app: Flask, address: str) -> None:
        self.client = app.test_client()
        self.address = address

    def login(self, email: str, password: str, query: str = "") -> Any:
        token = _token(self.client, "/login", self.address)
        return self.client.post(
            "/login" + query,
            data={"email": email, "password": password, "csrf_token": token},
            environ_base={"REMOTE_ADDR": self.address},
        )

    def get(self, path: str) -> Any:
        return self.client.get(path, environ_base={"REMOTE_ADDR": self.address})


def _answer(response: Any) -> tuple[int, str]:
    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    return response.status_code, match.group(1) if match else ""


# ---------------------------------------------------------------------------------------------
# The lockout


def test_an_unknown_email_gets_the_same_answers_and_the_same_lock(app, runtime) -> None:
    _user(runtime)

    def answers(email: str, address: str) -> list[tuple[int, str]]:
        browser = Browser(app, address)
        return [_answer(browser.login(email, WRONG)) for _ in range(LOCK_AFTER + 1)]

    known = answers(LEAD, "198.51.100.1")
    unknown = answers("nobody@example.org", "198.51.100.2")
    assert known == [(401, MISMATCH)] * (LOCK_AFTER - 1) + [(429, LOCKED)] * 2
    assert unknown == known


def test_a_stranger_locks_the_account_for_their_own_address_only(app, runtime) -> None:
    _user(runtime)
    stranger = Browser(app, "203.0.113.9")
    for _ in range(LOCK_AFTER):
        stranger.login(LEAD, WRONG)
    assert stranger.login(LEAD, PASSWORD).status_code == 429  # even the right password
    lead = Browser(app, "198.51.100.20")
    assert lead.login(LEAD, PASSWORD).status_code == 302


def test_one_address_guessing_many_emails_is_stopped(app, runtime) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    sprayer = Browser(app, "203.0.113.10")
    for i in range(SOURCE_LOCK_AFTER - 1):
        assert sprayer.login(f"person{i}@example.org", WRONG).status_code == 401
    assert _answer(sprayer.login("one-more@example.org", WRONG)) == (429, LOCKED)
    assert sprayer.login("fac@example.org", PASSWORD).status_code == 429
    assert Browser(app, "198.51.100.30").login("fac@example.org", PASSWORD).status_code == 302


def test_a_typo_is_forgotten_after_the_right_password(app, runtime, cheap_hashing) -> None:
    _user(runtime)
    lead = Browser(app, "198.51.100.50")
    for _ in range(2):
        for _ in range(LOCK_AFTER - 1):
            assert lead.login(LEAD, WRONG).status_code == 401
        assert lead.login(LEAD, PASSWORD).status_code == 302
        lead.client.post("/logout", data={"csrf_token": _token(lead.client, "/admin/")})


def test_a_lock_runs_out_and_run_out_counts_are_deleted(app, runtime) -> None:
    _user(runtime)
    lead = Browser(app, "198.51.100.55")
    for _ in range(LOCK_AFTER):
        lead.login(LEAD, WRONG)
    assert lead.login(LEAD, PASSWORD).status_code == 429
    stranger = Browser(app, "203.0.113.55")
    for _ in range(3):
        stranger.login("nobody@example.org", WRONG)
    with runtime.db.transaction() as s:  # the 15 minutes pass
        s.execute(sa.update(LoginThrottle).values(until=utcnow() - timedelta(seconds=1)))
    assert lead.login(LEAD, PASSWORD).status_code == 302
    with runtime.db.transaction() as s:  # the lead's counts are cleared, the stranger's swept
        assert s.scalars(sa.select(LoginThrottle.failures)).all() == []


def test_guessing_from_many_addresses_locks_the_account_until_unlocked(
    app, runtime, runner, cheap_hashing
) -> None:
    _user(runtime)
    for n in range(ACCOUNT_LOCK_AFTER // LOCK_AFTER):
        guesser = Browser(app, f"203.0.113.{100 + n}")
        for _ in range(LOCK_AFTER):
            assert guesser.login(LEAD, WRONG).status_code in {401, 429}
    lead = Browser(app, "198.51.100.60")
    assert lead.login(LEAD, PASSWORD).status_code == 429
    result = runner.invoke(["users", "unlock", "Lead@Example.org"])
    assert result.exit_code == 0, result.output
    assert "Unlocked lead@example.org." in result.output
    assert lead.login(LEAD, PASSWORD).status_code == 302
    with runtime.db.transaction() as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.unlock"))
        assert event is not None and event.actor == "cli" and event.subject == LEAD


def test_unlock_names_a_missing_account_and_changes_nothing(app, runtime, runner) -> None:
    stranger = Browser(app, "203.0.113.11")
    for _ in range(LOCK_AFTER):
        stranger.login("nobody@example.org", WRONG)
    with runtime.db.transaction() as s:
        before = s.execute(sa.select(LoginThrottle.account, LoginThrottle.failures)).all()
    result = runner.invoke(["users", "unlock", "nobody@example.org"])
    assert result.exit_code != 0
    assert "there is no staff account nobody@example.org" in result.output
    with runtime.db.transaction() as s:
        assert s.execute(sa.select(LoginThrottle.account, LoginThrottle.failures)).all() == before
        assert s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.unlock")) is None


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="SQLite takes its write lock at BEGIN (BEGIN IMMEDIATE, smsapp/db.py), so log-in "
    "checks run one at a time there and cannot race; the race is PostgreSQL's",
)
def test_guesses_sent_at_once_check_at_most_lock_after_passwords(
    engine: sa.Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many connections guess at once through the real check_login, on committed rows."""
    db = Database(database_url, engine=engine)  # real connections, not the test's savepoint
    email = "race-lead@example.org"
    with db.transaction() as s:
        staff.create_user(s, email, PASSWORD, "safeguarding")
        real_hash = s.scalar(sa.select(StaffUser.password_hash).where(StaffUser.email == email))
    checked: list[str] = []
    lock = threading.Lock()
    real_check = staff.check_password_hash

    def counting_check(pwhash: str, password: str) -> bool:
        if pwhash == real_hash:
            with lock:
                checked.append(password)
        return real_check(pwhash, password)

    monkeypatch.setattr(staff, "check_password_hash", counting_check)
    threads = 16
    start = threading.Barrier(threads)
    results: list[staff.LoginResult] = []
    errors: list[BaseException] = []

    def guess(n: int) -> None:
        try:
            start.wait()
            with db.transaction() as s:
                results.append(staff.check_login(s, email, f"wrong guess {n:02d}", "203.0.113.7"))
        except BaseException as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)

    try:
        for batch in range(3):
            workers = [
                threading.Thread(target=guess, args=(batch * threads + i,)) for i in range(threads)
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
        assert errors == []
        assert len(results) == 3 * threads and all(r.user is None for r in results)
        assert len(checked) <= LOCK_AFTER, f"{len(checked)} wrong guesses were checked"
        with db.transaction() as s:
            right = staff.check_login(s, email, PASSWORD, "203.0.113.7")
        assert right.user is None and right.locked
        assert len(checked) <= LOCK_AFTER  # refused without looking at the password
    finally:
        with db.transaction() as s:
            s.execute(sa.delete(LoginThrottle))
            s.execute(sa.delete(AuditEvent).where(AuditEvent.subject == email))
            s.execute(sa.delete(StaffUser).where(StaffUser.email == email))


# ---------------------------------------------------------------------------------------------
# Sessions end


def _logged_in(app: Flask, runtime: Any, email: str, role: str) -> tuple[FlaskClient, FlaskClient]:
    """A logged-in browser, and a second one holding a copy of its session cookie."""
    _user(runtime, email, role)
    owner = Browser(app, "198.51.100.70")
    assert owner.login(email, PASSWORD).status_code == 302
    cookie = owner.client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    assert thief.get("/admin/").status_code == 200
    return owner.client, thief


def _refused(client: FlaskClient) -> bool:
    response = client.get("/admin/")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_copied_cookie_dies_at_logout(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    bye = owner.post("/logout", data={"csrf_token": _token(owner, "/admin/")})
    assert bye.status_code == 302
    assert _refused(thief) and _refused(owner)


def test_a_password_reset_ends_every_session_of_the_account(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    admin = Browser(app, "198.51.100.71")
    _user(runtime, "admin@example.org", "admin")
    admin.login("admin@example.org", PASSWORD)
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    token = _token(admin.client, "/admin/users")
    reset = admin.client.post(f"/admin/users/{uid}/password", data={"csrf_token": token})
    assert reset.status_code == 200
    assert _refused(thief) and _refused(owner)
    assert admin.get("/admin/users").status_code == 200  # the admin's own session goes on


def test_deactivation_ends_sessions_for_good(app, runtime) -> None:
    owner, thief = _logged_in(app, runtime, "fac@example.org", "facilitator")
    admin = Browser(app, "198.51.100.72")
    _user(runtime, "admin@example.org", "admin")
    admin.login("admin@example.org", PASSWORD)
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    token = _token(admin.client, "/admin/users")
    for active in ("0", "1"):  # switched off, then on again: the old cookies stay dead
        admin.client.post(
            f"/admin/users/{uid}/active", data={"csrf_token": token, "active": active}
        )
    assert _refused(thief) and _refused(owner)


def test_a_cookie_from_before_session_versions_is_refused(app, runtime) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    with runtime.db.transaction() as s:
        uid = s.scalar(sa.select(StaffUser.id).where(StaffUser.email == "fac@example.org"))
    old = app.test_client()
    with old.session_transaction() as session:
        session["_user_id"] = str(uid)  # what a cookie held before the version was added
        session["_fresh"] = True
    assert _refused(old)


# ---------------------------------------------------------------------------------------------
# Where the log-in page sends you


OFF_SITE = [
    "/%09/evil.example",  # a tab, once decoded: browsers drop it and go to //evil.example
    "%5C%5Cevil.example",
    "/%5Cevil.example",
    "//evil",
    "http://evil",
    "https://evil.example/admin/",
    "/%09evil",
    "/admin/%0A/evil",  # a newline in Location used to be a 500
    "/%0D%0ASet-Cookie:%20x=1",
    "javascript:alert(1)",
    "%20//evil.example",
    "/%E2%80%8B/evil.example",
]


@pytest.mark.parametrize("raw", OFF_SITE)
def test_next_never_leaves_the_site(app, runtime, raw: str) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    response = Browser(app, "198.51.100.80").login("fac@example.org", PASSWORD, "?next=" + raw)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


@pytest.mark.parametrize("target", ["/admin/polls?x=1", "/admin/participants?q=Sam#list"])
def test_next_within_the_site_is_kept(app, runtime, target: str) -> None:
    _user(runtime, "fac@example.org", "facilitator")
    query = "?next=" + quote(target, safe="")
    response = Browser(app, "198.51.100.81").login("fac@example.org", PASSWORD, query)
    assert response.status_code == 302 and response.headers["Location"] == target

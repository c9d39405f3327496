"""Staff accounts: create, check a log-in (throttled: services/people/login_throttle.py), end sessions."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from smsapp.db import utcnow
from smsapp.models import ROLES, StaffUser
from smsapp.services import audit
from smsapp.services.people import login_throttle

MIN_PASSWORD = 10
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# Spend the same hashing time for unknown e-mails, so timing does not reveal who has an account.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class StaffError(ValueError):
    pass


def create_user(
    session: Session, email: str, password: str, role: str, actor: str = "system"
) -> StaffUser:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise StaffError(f"{email!r} is not an e-mail address")
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must be at least {MIN_PASSWORD} characters")
    if session.scalar(sa.select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise StaffError(f"a user {email} already exists")
    user = StaffUser(email=email, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    audit.record(session, actor, "user.create", email, role=role)
    return user


def session_user(session: Session, user_id: int, version: int) -> StaffUser | None:
    """The account a session cookie names, if it is active and the cookie is still current."""
    user = session.get(StaffUser, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def end_sessions(session: Session, user: StaffUser) -> None:
    """End every session of this account, on every device, a copied cookie included.

    Cookies carry the version they were made under; bumping it (in SQL, so two bumps at once
    both count) makes them all stale. Called wherever what a session may do must change:
    logout, a password reset, deactivation.
    """
    user.session_version = StaffUser.session_version + 1  # type: ignore[assignment]
    session.flush()


def log_out(session: Session, user: StaffUser) -> None:
    end_sessions(session, user)
    audit.record(session, user.email, "logout", user.email)


@dataclass
class LoginResult:
    user: StaffUser | None
    message: str | None = None
    locked: bool = False


MISMATCH = "That e-mail and password do not match an account."


def _locked(until: datetime, now: datetime) -> LoginResult:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return LoginResult(
        None, f"Too many failed attempts. Try again in {minutes} minutes.", locked=True
    )


def check_login(session: Session, email: str, password: str, source: str) -> LoginResult:
    """Check a log-in from `source` (the client's address).

    An e-mail with no account (or a deactivated one) gets exactly the answers a real one gets:
    the same message, the same hashing time, the same lock after the same number of guesses.
    Commits: see the comment below.
    """
    now = utcnow()
    email = email.strip().lower()
    attempt = login_throttle.take(session, email, source, now)
    # The guess is counted and committed before its password is checked, so guesses sent at
    # once see each other's counts (at most LOCK_AFTER are ever checked), none waits for
    # another's hashing while holding a counter's row, and an error later in the request
    # cannot roll the count back.
    session.commit()
    if attempt.refused_until is not None:
        return _locked(attempt.refused_until, now)
    user = session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        user = None
        right = False
    else:
        right = check_password_hash(user.password_hash, password)
    if user is None or not right:
        lock_end = login_throttle.failed(session, attempt, now)
        if lock_end is None:
            return LoginResult(None, MISMATCH)
        if user is not None:
            audit.record(session, email, "login.locked", email)
        return _locked(lock_end, now)
    # The account's row before the counters' rows: the order a password reset takes them in.
    user.last_login_at = now
    session.flush()
    login_throttle.succeeded(session, attempt, now)
    audit.record(session, user.email, "login", user.email)
    return LoginResult(user)


def unlock_user(session: Session, email: str, actor: str) -> StaffUser:
    """Let an account log in again at once, from anywhere (`smsapp users unlock`)."""
    email = email.strip().lower()
    user = session.scalar(sa.select(StaffUser).where(StaffUser.email == email))
    if user is None:
        raise StaffError(f"there is no staff account {email}")
    cleared = login_throttle.unlock(session, email)
    audit.record(session, actor, "user.unlock", email, cleared=cleared)
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.scalars(sa.select(StaffUser).order_by(StaffUser.email)))


def deactivate_user(session: Session, user: StaffUser, actor: StaffUser) -> None:
    """Switch an account off (kept for the audit log); nobody can lock themselves out."""
    if user.id == actor.id:
        raise StaffError("you cannot deactivate your own account")
    if user.role == "admin" and user.active:
        others = session.scalar(
            sa.select(sa.func.count(StaffUser.id)).where(
                StaffUser.role == "admin", StaffUser.active.is_(True), StaffUser.id != user.id
            )
        )
        if not others:
            raise StaffError("this is the last active admin")
    user.active = False
    end_sessions(session, user)
    audit.record(session, actor.email, "user.deactivate", user.email)


def reactivate_user(session: Session, user: StaffUser, actor: StaffUser) -> None:
    user.active = True
    login_throttle.unlock(session, user.email)
    audit.record(session, actor.email, "user.reactivate", user.email)


def reset_password(session: Session, user: StaffUser, actor: StaffUser) -> str:
    """Give the account a fresh random password (shown once to the admin) and unlock it.

    Every session of the account ends: whoever held the old password may hold a cookie too.
    """
    password = secrets.token_urlsafe(12)
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)
    login_throttle.unlock(session, user.email)
    audit.record(session, actor.email, "user.password_reset", user.email)
    return password

"""Staff accounts (facilitators, researchers, admins, safeguarding leads) and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from smsapp.db import Base, UTCDateTime, utcnow

ROLES = ("admin", "facilitator", "researcher", "safeguarding")


class StaffUser(Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    # No longer read or written: failed guesses are counted in login_throttle (0004), which
    # also covers e-mails that have no account. Kept so that code from before 0004 still runs
    # during a deploy; a later migration drops them.
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of the session cookie (get_id); bumping it ends every session of the account, so a
    # copied cookie dies at logout, a password reset or deactivation (services/people/staff.py).
    session_version: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Flask-Login's user protocol, kept here so the model needs no Flask import.
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # Flask-Login's "alternative token": the session holds id and version together, and
        # the user loader (web/auth.py) refuses a cookie whose version is no longer current.
        return f"{self.id}:{self.session_version}"


class LoginThrottle(Base):
    """Failed log-in guesses counted per e-mail and source, per e-mail, and per source.

    One row per counter: (account, source) for one source guessing one e-mail, (account, "")
    for an e-mail from every source, ("", source) for one source guessing any e-mail. Both keys
    are SHA-256 digests (services/people/login_throttle.py), so the table holds no readable e-mail
    (nor a password typed into the e-mail box) and no client address.
    """

    __tablename__ = "login_throttle"

    account: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(sa.Integer)
    # The count is forgotten at this time; once the limit is reached it is also the lock's end.
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(sa.String(254))  # staff e-mail, a pseudonym, or "system"
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    subject: Mapped[str | None] = mapped_column(sa.String(200))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

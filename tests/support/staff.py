"""Staff log-in for page tests: a CSRF token from a page, and a client logged in as a role."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from smsapp.models import StaffUser
from smsapp.services.people.staff import create_user

PASSWORD = "correct horse battery"


def csrf_token(client: Any, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def log_in(runtime: Any, client: Any, role: str = "facilitator") -> str:
    """Log `client` in as `{role}@example.org` (created if needed); returns a fresh CSRF token."""
    email = f"{role}@example.org"
    with runtime.db.transaction() as s:
        if s.scalar(sa.select(StaffUser).where(StaffUser.email == email)) is None:
            create_user(s, email, PASSWORD, role)
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return csrf_token(client, "/admin/")

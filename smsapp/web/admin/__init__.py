"""The admin pages. Every view names the roles that may use it (roles_required)."""

from __future__ import annotations

import importlib
from typing import Any

from flask import Blueprint, request
from flask_login import current_user

from smsapp.web import db_session

bp = Blueprint("admin", __name__, url_prefix="/admin")

STAFF = ("admin", "facilitator", "researcher", "safeguarding")
PEOPLE = ("admin", "facilitator")  # participants, groups, polls, the simulator
ADMINS = ("admin",)


def wants_json() -> bool:
    """A fetch() from static/*.js asks for JSON; a plain form post gets a page or a redirect."""
    return request.accept_mimetypes.best == "application/json"


def release_request_session() -> int:
    """End the request's own transaction before a service opens its own, and return the staff id.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE), so a request session
    left open by the log-in check would block the service's session until it timed out.
    """
    staff_id = int(current_user.id)
    db_session().commit()
    return staff_id


def form_values() -> dict[str, Any]:
    return {k: v for k, v in request.form.items() if k != "csrf_token"}


# The views register themselves on bp when imported (after bp exists: they import it).
for _module in (
    "dashboard",
    "people",
    "polls",
    "simulator",
    "users",
    "launch",
    "results",
    "moderation",
    "messages",
    "record",
    "agenda",
    "poll_tools",
    "results_live",
):
    importlib.import_module(f"{__name__}.{_module}")

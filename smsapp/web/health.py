"""GET /healthz: is the database answering, and the queue?"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from smsapp.queue import queue_health
from smsapp.web import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    rt = runtime()
    try:
        with rt.db.session() as session:
            session.execute(sa.text("SELECT 1"))
        database = "ok"
    except Exception as exc:
        database = f"down: {type(exc).__name__}"
    queue = queue_health(rt)
    body = {"database": database, "queue": queue}
    ok = database == "ok" and queue == "ok"
    return jsonify(body), (200 if ok else 503)

"""The phone simulator page: a pretend phone that texts through the webhook's own pipeline.

Without JavaScript every button is a normal POST and redirect; static/simulator.js posts the
same forms with fetch and swaps in the re-rendered chat and outbox.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.models import OutboundMessage, Poll
from smsapp.services.polls import simulator as phone
from smsapp.services.polls.definitions import poll_by_slug
from smsapp.web import request_transaction, runtime
from smsapp.web.admin import PEOPLE, bp, release_request_session, wants_json
from smsapp.web.auth import roles_required

OUTBOX_ROWS = 30


def _state() -> dict[str, Any]:
    with request_transaction() as s:
        lines = phone.history(s, current_user.id)
        participant = phone.simulator_participant(s, current_user.id)
        outbox = s.scalars(
            sa.select(OutboundMessage)
            .where(OutboundMessage.participant_id == participant.id)
            .order_by(OutboundMessage.id.desc())
            .limit(OUTBOX_ROWS)
        ).all()
        return {"lines": lines, "outbox": outbox}


def _answer(slug: str | None, notice: str | None = None) -> ResponseReturnValue:
    if wants_json():
        state = _state()
        return jsonify(
            notice=notice,
            chat_html=render_template("admin/_sim_chat.html", lines=state["lines"]),
            outbox_html=render_template("admin/_sim_outbox.html", outbox=state["outbox"]),
        )
    if notice:
        flash(notice)
    return redirect(url_for("admin.simulator", poll=slug) if slug else url_for("admin.simulator"))


@bp.get("/simulator")
@roles_required(*PEOPLE)
def simulator() -> ResponseReturnValue:
    slug = request.args.get("poll") or None
    state = _state()
    with request_transaction() as s:
        polls = s.scalars(sa.select(Poll).order_by(Poll.title)).all()
        chosen = poll_by_slug(s, slug) if slug else None
    return render_template("admin/simulator.html", polls=polls, chosen=chosen, **state)


@bp.post("/simulator/send")
@roles_required(*PEOPLE)
def simulator_send() -> ResponseReturnValue:
    slug = request.form.get("poll") or None
    body = (request.form.get("body") or "").strip()
    if not body:
        return _answer(slug, "Type a text to send.")
    phone.send_text(runtime(), release_request_session(), body)
    return _answer(slug)


@bp.post("/simulator/start")
@roles_required(*PEOPLE)
def simulator_start() -> ResponseReturnValue:
    slug = request.form.get("poll") or None
    with request_transaction() as s:
        poll = poll_by_slug(s, slug) if slug else None
        poll_id = poll.id if poll is not None else None
    if poll_id is None:
        return _answer(None, "Choose a poll to try.")
    phone.try_poll(runtime(), release_request_session(), poll_id)
    return _answer(slug)

"""Twilio's webhooks: incoming texts and delivery status callbacks. Always TwiML back."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, abort, request
from twilio.twiml.messaging_response import MessagingResponse

from smsapp.services import delivery, inbound
from smsapp.sms.signatures import is_valid_twilio_request
from smsapp.web import runtime

bp = Blueprint("webhooks", __name__)


def twiml(replies: list[str] | None = None, status: int = 200) -> Response:
    response = MessagingResponse()
    for reply in replies or []:
        response.message(reply)
    return Response(str(response), status=status, content_type="text/xml; charset=utf-8")


def signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL behind a proxy, else what the request says."""
    base = runtime().settings.public_base_url
    if base:
        query = request.query_string.decode()
        return base + request.path + (f"?{query}" if query else "")
    return request.url


def twilio_signed(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def checked(*args: Any, **kwargs: Any) -> Any:
        settings = runtime().settings
        if settings.signatures_required:
            url = signed_url()
            # During a token rotation Twilio may still sign with the previous token.
            tokens = [settings.twilio_auth_token or "", *settings.twilio_previous_auth_tokens]
            if not any(
                is_valid_twilio_request(
                    token,
                    url,
                    request.form,
                    request.headers,
                    shared_key_secret=settings.twilio_webhook_shared_key,
                )
                for token in tokens
            ):
                abort(403, description="The X-Twilio-Signature is missing or does not match.")
        return view(*args, **kwargs)

    return checked


@bp.post("/sms/inbound")
@twilio_signed
def sms_inbound() -> Response:
    form = {k: v for k, v in request.form.items()}
    try:
        text = inbound.validate(form)
    except inbound.BadInbound as exc:
        response = twiml([], status=400)
        response.headers["X-Smsapp-Error"] = str(exc)
        return response
    outcome = inbound.receive_text(runtime(), text)
    return twiml(outcome.replies)


@bp.post("/sms/status")
@twilio_signed
def sms_status() -> Response:
    sid = (request.form.get("MessageSid") or "").strip()
    status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip()
    if not sid or not status:
        return twiml([], status=400)
    code_text = (request.form.get("ErrorCode") or "").strip()
    code = int(code_text) if code_text.isdigit() else None
    delivery.record_status(runtime(), sid, status, code, request.form.get("ErrorMessage"))
    return twiml([])


@bp.errorhandler(403)
def forbidden(exc: Any) -> Response:
    return twiml([], status=403)

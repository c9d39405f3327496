"""Twilio's webhooks: incoming texts and delivery status callbacks. Always TwiML back."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, abort, request
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import RequestEntityTooLarge

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from smsapp.services.inbox import receive
from smsapp.services.outbox import callbacks
from smsapp.sms.signatures import is_valid_twilio_request
from smsapp.web import runtime

bp = Blueprint("webhooks", __name__)

# What Twilio can send, with room to spare. The fullest inbound webhook has about 40 fields
# (some 22 named ones plus MediaUrl0-9 and MediaContentType0-9) and a Body of at most 1,600
# characters, which percent-encodes to at most ~14.4 KB (three-byte UTF-8, 9 bytes each);
# tests/integration/test_webhook_limits.py posts that at about 17 KB. A status callback is
# under 1 KB. 64 KiB and 200 fields leave four times that and more; a forged body bigger than
# that used to be parsed (up to MAX_CONTENT_LENGTH, 12 MiB) and signed once per token before
# its 403. Twilio Add-ons can add a large AddOns field: smsapp uses none.
MAX_WEBHOOK_BYTES = 64 * 1024
MAX_WEBHOOK_FIELDS = 200
WEBHOOK_PREFIX = "/sms/"
_TOO_LARGE = "smsapp.webhook_too_large"


def _read_capped(environ: WSGIEnvironment) -> tuple[bytes, str | None]:
    """The body, read no further than the cap, and why it is refused (None when it is not)."""
    try:
        length: int | None = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        length = None
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"
    if length is not None and length < 0:
        length = None
    if length is not None and not chunked:
        if length > MAX_WEBHOOK_BYTES:
            return b"", f"a body of {length} bytes"  # refused unread
        want = length
    elif environ.get("wsgi.input_terminated"):
        want = MAX_WEBHOOK_BYTES + 1  # no length (chunked): one byte over the cap says enough
    else:
        return b"", None  # no length and a stream the server does not end: read nothing
    stream, parts, got = environ["wsgi.input"], [], 0
    while got < want:
        part = stream.read(want - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    body = b"".join(parts)
    if len(body) > MAX_WEBHOOK_BYTES:
        return b"", f"a body over {MAX_WEBHOOK_BYTES} bytes"
    if body.count(b"&") + 1 > MAX_WEBHOOK_FIELDS:
        return b"", f"more than {MAX_WEBHOOK_FIELDS} form fields"
    return body, None


class WebhookBodyCap:
    """WSGI middleware: a /sms/* body is read here, at most MAX_WEBHOOK_BYTES of it, before
    Werkzeug parses a form or a signature is computed; `refuse_oversized` answers 413.

    Werkzeug alone would not do: past `max_content_length` a chunked body is silently cut
    short rather than refused.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(WEBHOOK_PREFIX):
            body, refused = _read_capped(environ)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            if refused:
                environ[_TOO_LARGE] = refused
        return self.app(environ, start_response)


@bp.before_request
def refuse_oversized() -> None:
    """413 for a body WebhookBodyCap refused: more than Twilio would ever send."""
    request.max_form_parts = MAX_WEBHOOK_FIELDS  # the same limit for a multipart body
    refused = request.environ.get(_TOO_LARGE)
    if refused:
        raise RequestEntityTooLarge(f"{refused}: more than a Twilio webhook holds")


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
        text = receive.validate(form)
    except receive.BadInbound as exc:
        response = twiml([], status=400)
        response.headers["X-Smsapp-Error"] = str(exc)
        return response
    outcome = receive.receive_text(runtime(), text)
    return twiml(outcome.replies)


@bp.post("/sms/status")
@twilio_signed
def sms_status() -> Response:
    sid = (request.form.get("MessageSid") or "").strip()
    status = (request.form.get("MessageStatus") or request.form.get("SmsStatus") or "").strip()
    if not sid or not status:
        return twiml([], status=400)
    code_text = (request.form.get("ErrorCode") or "").strip()
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; and at most six,
    # which fits the column (Twilio's codes have five).
    code = int(code_text) if re.fullmatch(r"[0-9]{1,6}", code_text) else None
    callbacks.record_status(runtime(), sid, status, code, request.form.get("ErrorMessage"))
    return twiml([])


@bp.errorhandler(403)
def forbidden(exc: Any) -> Response:
    return twiml([], status=403)


@bp.errorhandler(413)
def too_large(exc: Any) -> Response:
    return twiml([], status=413)

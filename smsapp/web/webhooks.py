"""Twilio's webhooks: incoming texts and delivery status callbacks. Always TwiML back.

They are a plain WSGI app in front of Flask (`Webhooks`), not Flask views: a webhook needs the
body cap, the signature check (once), the form and one use case, and none of the session,
CSRF, template or per-request admin machinery. Every other path goes on to Flask. What each
response carries is the same as any page's: the security headers (`security.header_pairs`) and
the request id, with one log line per request (`logs.log_request`).
"""

from __future__ import annotations

import io
import logging
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from werkzeug.datastructures import EnvironHeaders, MultiDict
from werkzeug.formparser import parse_form_data
from werkzeug.wsgi import get_current_url

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

from smsapp.logs import (
    log_request,
    new_request_id,
    reset_request_id,
    sane_request_id,
    set_request_id,
)
from smsapp.runtime import Runtime
from smsapp.services.inbox import receive
from smsapp.services.outbox import callbacks
from smsapp.sms.signatures import is_valid_twilio_request
from smsapp.web.security import header_pairs

log = logging.getLogger(__name__)

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
INBOUND, STATUS = "/sms/inbound", "/sms/status"
URLENCODED = "application/x-www-form-urlencoded"


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


TWIML_TYPE = "text/xml; charset=utf-8"
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
_STATUS_LINES = {
    200: "200 OK",
    400: "400 BAD REQUEST",
    403: "403 FORBIDDEN",
    405: "405 METHOD NOT ALLOWED",
    413: "413 REQUEST ENTITY TOO LARGE",
    500: "500 INTERNAL SERVER ERROR",
}


def twiml(replies: Iterable[str] = ()) -> bytes:
    """TwiML with one <Message> per reply (what the SDK's MessagingResponse renders)."""
    messages = "".join(f"<Message>{escape(reply)}</Message>" for reply in replies)
    return f"{_XML_HEAD}<Response>{messages}</Response>".encode()


class Answer:
    """A webhook's response: a status, TwiML replies and any extra headers."""

    __slots__ = ("status", "replies", "headers")

    def __init__(
        self, status: int, replies: Iterable[str] = (), headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.status, self.replies, self.headers = status, list(replies), list(headers)


class Webhooks:
    """WSGI: /sms/inbound and /sms/status served here; every other path goes to `app` (Flask).

    A /sms/* body is read here, at most MAX_WEBHOOK_BYTES of it, before any form is parsed or
    a signature computed; more than that (or more than MAX_WEBHOOK_FIELDS fields) is a 413.
    Werkzeug alone would not do: past `max_content_length` a chunked body is silently cut
    short rather than refused.
    """

    def __init__(self, app: WSGIApplication, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(WEBHOOK_PREFIX):
            return self.app(environ, start_response)
        body, refused = _read_capped(environ)
        if path not in (INBOUND, STATUS):
            environ["wsgi.input"] = io.BytesIO(b"" if refused else body)
            environ["CONTENT_LENGTH"] = "0" if refused else str(len(body))
            environ.pop("HTTP_TRANSFER_ENCODING", None)
            return self.app(environ, start_response)

        started = time.perf_counter()
        request_id = sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        token = set_request_id(request_id)
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            try:
                answer = self.answer(environ, path, method, body, refused)
            except Exception:
                log.exception("webhook %s failed", path)
                answer = Answer(500)
            secure = environ.get("wsgi.url_scheme") == "https"
            payload = twiml(answer.replies)
            headers = [
                ("Content-Type", TWIML_TYPE),
                ("Content-Length", str(len(payload))),
                *answer.headers,
                *header_pairs(secure),
                ("X-Request-Id", request_id),
            ]
            start_response(_STATUS_LINES[answer.status], headers)
            log_request(method, path, answer.status, started)
            return [payload]
        finally:
            reset_request_id(token)

    def answer(
        self, environ: WSGIEnvironment, path: str, method: str, body: bytes, refused: str | None
    ) -> Answer:
        if refused:
            log.info("webhook refused: %s, more than a Twilio webhook holds", refused)
            return Answer(413)
        if method != "POST":
            return Answer(405, headers=[("Allow", "POST")])
        form = _form(environ, body)
        if not self.signed(environ, path, form):
            return Answer(403)
        if path == INBOUND:
            return self.inbound(form)
        return self.status(form)

    def signed(self, environ: WSGIEnvironment, path: str, form: MultiDict[str, str]) -> bool:
        settings = self.runtime.settings
        if not settings.signatures_required:
            return True
        url = signed_url(environ, path, settings.public_base_url)
        headers = EnvironHeaders(environ)
        # During a token rotation Twilio may still sign with the previous token.
        tokens = [settings.twilio_auth_token or "", *settings.twilio_previous_auth_tokens]
        return any(
            is_valid_twilio_request(
                token, url, form, headers, shared_key_secret=settings.twilio_webhook_shared_key
            )
            for token in tokens
        )

    def inbound(self, form: MultiDict[str, str]) -> Answer:
        try:
            text = receive.validate(form.to_dict())
        except receive.BadInbound as exc:
            return Answer(400, headers=[("X-Smsapp-Error", str(exc))])
        return Answer(200, receive.receive_text(self.runtime, text).replies)

    def status(self, form: MultiDict[str, str]) -> Answer:
        sid = (form.get("MessageSid") or "").strip()
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip()
        if not sid or not status:
            return Answer(400)
        code_text = (form.get("ErrorCode") or "").strip()
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses; and at most
        # six, which fits the column (Twilio's codes have five).
        code = int(code_text) if re.fullmatch(r"[0-9]{1,6}", code_text) else None
        callbacks.record_status(self.runtime, sid, status, code, form.get("ErrorMessage"))
        return Answer(200)


def _form(environ: WSGIEnvironment, body: bytes) -> MultiDict[str, str]:
    """The posted form: Twilio's urlencoded body parsed directly; anything else by Werkzeug."""
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.split(";", 1)[0].strip().lower() == URLENCODED:
        text = body.decode("utf-8", "replace")
        return MultiDict(parse_qsl(text, keep_blank_values=True, errors="replace"))
    environ = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    _, form, _ = parse_form_data(environ, max_form_parts=MAX_WEBHOOK_FIELDS)
    return form


def signed_url(environ: WSGIEnvironment, path: str, public_base_url: str | None) -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL behind a proxy, else what the request says."""
    if public_base_url:
        query = environ.get("QUERY_STRING", "")
        return public_base_url + path + (f"?{query}" if query else "")
    return get_current_url(environ)

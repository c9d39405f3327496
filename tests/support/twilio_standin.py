"""A local stand-in of Twilio's Messages REST API that the real twilio SDK can talk to.

Point the SDK at it with TWILIO_API_BASE_URL (TwilioTransport's ``base_url``). It records the
messages it accepts and can be told to fail, slow down or refuse given numbers, in-process
(``with TwilioStandin() as standin:``) or as a process with a small HTTP control API::

    python -m tests.support.twilio_standin --port 8099 [--quiet]

Control endpoints (both modes): ``GET /_standin/messages``, ``GET /_standin/stats``,
``POST /_standin/reset``, ``POST /_standin/fail?n=&status=&code=``,
``POST /_standin/delay?seconds=``, ``POST /_standin/number_error?to=&status=&code=``.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import secrets
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from smsapp.sms.segments import count_segments

API_VERSION = "2010-04-01"
_MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>AC\w+)/Messages\.json$")
_MESSAGE = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>AC\w+)/Messages/(?P<sid>(SM|MM)\w+)\.json$"
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# Twilio's own wording. Those about the recipient quote its number, as the real API does
# ({to}, and {sender} for the From number or Messaging Service): what smsapp stores or logs
# from them must not keep it.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: (
        "The 'To' phone number: {to}, is not currently reachable using the 'From' phone "
        "number: {sender} via SMS."
    ),
    21614: "To number: {to}, is not a mobile number",
}


class StandinError(Exception):
    """An answer in Twilio's JSON error shape."""

    def __init__(
        self, status: int, code: int, message: str | None = None, *, to: str = "", sender: str = ""
    ) -> None:
        template = ERROR_MESSAGES.get(code, "Error")
        super().__init__(message or template.format(to=to, sender=sender))
        self.status = status
        self.code = code

    def payload(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": str(self),
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def _parse_filter_date(value: str) -> datetime:
    """Twilio's DateSent filters take YYYY-MM-DD; the SDK may also send a full ISO instant."""
    if len(value) == 10:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TwilioStandin:
    """The stand-in server plus its recorded state; thread-safe."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        auth_token: str | None = None,
        quiet: bool = True,
    ) -> None:
        self.host, self.port = host, port
        self.auth_token = auth_token  # when set, the Basic auth password must match
        self.quiet = quiet
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.number_errors: dict[str, tuple[int, int]] = {}
        self.request_count = 0
        self._failures: list[tuple[int, int]] = []
        self._delay = 0.0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- fault injection -----------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 429, code: int = 20429) -> None:
        """Refuse the next ``n`` message creations with ``status``/``code``."""
        with self.lock:
            self._failures.extend([(status, code)] * n)

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering each API request (not control requests)."""
        with self.lock:
            self._delay = seconds

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.number_errors.clear()
            self._failures.clear()
            self._delay = 0.0
            self.request_count = 0

    def recorded(self) -> list[dict[str, Any]]:
        """A snapshot of the accepted messages, oldest first."""
        with self.lock:
            return list(self.messages)

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("stand-in not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _bind(self) -> ThreadingHTTPServer:
        handler = type("BoundHandler", (_Handler,), {"standin": self})
        server = ThreadingHTTPServer((self.host, self.port), handler)
        server.daemon_threads = True
        self._server = server
        return server

    def start(self) -> TwilioStandin:
        server = self._bind()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> TwilioStandin:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Process mode: serve in the foreground until interrupted or sent SIGTERM."""
        server = self._bind()
        # SIGTERM should end the server like Ctrl-C does, so benchmarks can stop it cleanly.
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        print(f"twilio stand-in listening on {self.base_url}", flush=True)
        try:
            server.serve_forever(poll_interval=0.05)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

    # -- the API -------------------------------------------------------------------------
    def _before_api_call(self) -> None:
        with self.lock:
            self.request_count += 1
            delay = self._delay
        if delay:
            time.sleep(delay)

    def _check_auth(self, account: str, authorization: str | None) -> None:
        try:
            scheme, _, encoded = (authorization or "").partition(" ")
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            raise StandinError(401, 20003) from None
        if scheme.lower() != "basic" or user != account:
            raise StandinError(401, 20003)
        if self.auth_token is not None and password != self.auth_token:
            raise StandinError(401, 20003)

    def create_message(self, account: str, form: dict[str, list[str]]) -> dict[str, Any]:
        def field(name: str) -> str | None:
            values = form.get(name)
            return values[0] if values else None

        to, body = field("To"), field("Body")
        sender, service = field("From"), field("MessagingServiceSid")
        if not to:
            raise StandinError(400, 21604)
        if not (sender or service):
            raise StandinError(400, 21603)
        if not body:
            raise StandinError(400, 21602)
        quoted = {"to": to, "sender": sender or service or ""}
        with self.lock:
            if self._failures:
                status, code = self._failures.pop(0)
                raise StandinError(status, code, **quoted)
            refusal = self.number_errors.get(to)
        if refusal is not None:
            raise StandinError(*refusal, **quoted)
        if not _E164.match(to):
            raise StandinError(400, 21211, **quoted)
        now = datetime.now(UTC).replace(microsecond=0)
        sid = "SM" + secrets.token_hex(16)
        uri = f"/{API_VERSION}/Accounts/{account}/Messages/{sid}.json"
        message = {
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": _rfc2822(now),
            # The stand-in hands messages over at once, so they count as sent immediately.
            "date_sent": _rfc2822(now),
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(count_segments(body).segments),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # Twilio answers "accepted" when a Messaging Service will pick the sender.
            "status": "queued" if sender else "accepted",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
            # Not part of Twilio's answer: kept for tests that check what was asked for.
            "status_callback": field("StatusCallback"),
            "validity_period": field("ValidityPeriod"),
        }
        with self.lock:
            self.messages.append(message)
        return message

    def list_messages(self, account: str, path: str, query: dict[str, list[str]]) -> dict:
        def first(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        to, sender = first("To"), first("From")
        on, after, before = first("DateSent"), first("DateSent>"), first("DateSent<")
        page_size = min(int(first("PageSize") or 50), 1000)
        page = int(first("Page") or 0)
        with self.lock:
            rows = [m for m in self.messages if m["account_sid"] == account]
        if to:
            rows = [m for m in rows if m["to"] == to]
        if sender:
            rows = [m for m in rows if m["from"] == sender]
        if on or after or before:
            dated = [(parsedate_to_datetime(m["date_sent"]), m) for m in rows]
            if on:
                day = _parse_filter_date(on).date()
                dated = [(d, m) for d, m in dated if d.date() == day]
            if after:
                dated = [(d, m) for d, m in dated if d >= _parse_filter_date(after)]
            if before:
                dated = [(d, m) for d, m in dated if d <= _parse_filter_date(before)]
            rows = [m for _, m in dated]
        rows.reverse()  # Twilio lists newest first
        chunk = rows[page * page_size : (page + 1) * page_size]

        def page_uri(number: int) -> str:
            params = {k: v[0] for k, v in query.items() if k not in ("Page", "PageToken")}
            params.update(Page=str(number), PageSize=str(page_size))
            return f"{path}?{urlencode(params)}"

        has_next = (page + 1) * page_size < len(rows)
        return {
            "messages": chunk,
            "end": page * page_size + max(len(chunk) - 1, 0),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": page * page_size,
            "uri": page_uri(page),
        }

    def fetch_message(self, account: str, sid: str) -> dict[str, Any]:
        with self.lock:
            for message in self.messages:
                if message["sid"] == sid and message["account_sid"] == account:
                    return message
        raise StandinError(404, 20404)

    def control(self, method: str, action: str, query: dict[str, list[str]]) -> Any:
        def arg(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        if method == "GET" and action == "messages":
            return self.recorded()
        if method == "GET" and action == "stats":
            with self.lock:
                return {"requests": self.request_count, "messages": len(self.messages)}
        if method == "POST" and action == "reset":
            self.reset()
            return {"ok": True}
        if method == "POST" and action == "fail":
            self.fail_next(int(arg("n", "1")), int(arg("status", "429")), int(arg("code", "20429")))
            return {"ok": True}
        if method == "POST" and action == "delay":
            self.set_delay(float(arg("seconds", "0")))
            return {"ok": True}
        if method == "POST" and action == "number_error":
            with self.lock:
                self.number_errors[arg("to", "")] = (
                    int(arg("status", "400")),
                    int(arg("code", "21610")),
                )
            return {"ok": True}
        raise StandinError(404, 20404)


class _Handler(BaseHTTPRequestHandler):
    standin: TwilioStandin
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's requests session expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        if not self.standin.quiet:
            super().log_message(format, *args)

    def _reply(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, list[str]]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        return parse_qs(raw, keep_blank_values=True)

    def _dispatch(self, method: str) -> None:
        standin = self.standin
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        try:
            form = self._form() if method == "POST" else {}
            if parts.path.startswith("/_standin/"):
                self._reply(200, standin.control(method, parts.path[len("/_standin/") :], query))
                return
            standin._before_api_call()
            if match := _MESSAGES.match(parts.path):
                account = match["account"]
                standin._check_auth(account, self.headers.get("Authorization"))
                if method == "POST":
                    self._reply(201, standin.create_message(account, form))
                else:
                    self._reply(200, standin.list_messages(account, parts.path, query))
            elif method == "GET" and (match := _MESSAGE.match(parts.path)):
                standin._check_auth(match["account"], self.headers.get("Authorization"))
                self._reply(200, standin.fetch_message(match["account"], match["sid"]))
            else:
                raise StandinError(404, 20404)
        except StandinError as exc:
            self._reply(exc.status, exc.payload())

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--auth-token", default=None, help="require this Basic auth password")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    TwilioStandin(
        args.host, args.port, auth_token=args.auth_token, quiet=args.quiet
    ).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])

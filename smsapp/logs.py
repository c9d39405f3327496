"""Log lines for people and machines: JSON lines or readable text, each carrying a request id.

Standard library and the pure core only: the web shell and the RQ worker set the id (a contextvar); any log record
emitted while it is set carries it, whatever logger emitted it.

Both formats pass the message, any extra text and any traceback through the one redaction rule
(smsapp.privacy.redact) as a last line of defence: a phone number or e-mail address that some
library's error text quotes never reaches the log. Code that logs provider text redacts it
itself too, so other handlers (pytest's capture, a host's own) never see a number either.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from smsapp.privacy.redact import redact

_request_id: ContextVar[str | None] = ContextVar("smsapp_request_id", default=None)

# Letters, digits and a few separators, up to 128: what proxies and load balancers send
# (UUIDs, hex, Heroku's/AWS's ids). Anything else could forge or break a log line.
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@=+/-]{0,127}")

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"

# Loggers that would write phone numbers or message bodies at INFO: the Twilio SDK logs every
# API request's query parameters (`To=+44…` when checking a stuck send).
QUIET_LOGGERS = {"twilio.http_client": logging.WARNING}

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "request_id", "taskName"}
)


def sane_request_id(value: str | None) -> str | None:
    """The incoming id if it is a short plain token, else None (the caller makes a new one)."""
    if value is None:
        return None
    value = value.strip()
    return value if _SANE_ID.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> Any:
    """Bind the id for this context; returns a token for reset_request_id."""
    return _request_id.set(value)


def reset_request_id(token: Any) -> None:
    _request_id.reset(token)


_request_log = logging.getLogger("smsapp.request")
# Polled every few seconds by the platform: only worth a line when debugging.
_QUIET_PATHS = ("/healthz", "/static/")


def log_request(method: str, path: str, status: int, started: float) -> None:
    """The one line each request gets (pages and webhooks alike). The path only: a query
    string may hold a search for a number or a name. `started` is time.perf_counter()."""
    _request_log.log(
        logging.DEBUG if path.startswith(_QUIET_PATHS) else logging.INFO,
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )


@contextmanager
def request_context(value: str | None) -> Iterator[None]:
    """Every log line inside the block carries `value` as its request id."""
    token = _request_id.set(value)
    try:
        yield
    finally:
        _request_id.reset(token)


def _record_request_id(record: logging.LogRecord) -> str | None:
    explicit = record.__dict__.get("request_id")
    return explicit if isinstance(explicit, str) else current_request_id()


class _RedactingFormatter(logging.Formatter):
    """Tracebacks and stacks redacted: an exception's text may quote a number."""

    def formatException(self, ei: Any) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:  # noqa: N802 (logging's name)
        return redact(super().formatStack(stack_info))


class JsonFormatter(_RedactingFormatter):
    """One JSON object per record: time, level, logger, message, request_id, then extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": _record_request_id(record),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry.setdefault(key, redact(value) if isinstance(value, str) else value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an extra that JSON cannot hold is logged as its text, never dropped.
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(_RedactingFormatter):
    """The readable format for a terminal, with the request id in brackets ("-" outside one)."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        # A copy: the record is shared with any other handler, which must see it unchanged.
        values = dict(
            record.__dict__,
            message=redact(record.message),
            request_id=_record_request_id(record) or "-",
        )
        return TEXT_FORMAT % values


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test capture swaps it between tests)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(
    log_format: str = "text", level: str | int = "INFO", *, force: bool = False
) -> logging.Handler | None:
    """Send every log record to stderr in `log_format`; calling again replaces our handler.

    Like logging.basicConfig, it leaves a host's own logging set-up alone (gunicorn's
    --log-config, pytest's capture): when the root logger has handlers that are not ours,
    nothing changes unless `force`. Returns the handler installed, or None.
    """
    # Whatever else is configured, these never log numbers or texts.
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, StderrHandler)]
    if len(ours) != len(root.handlers) and not force:
        return None
    for old in ours:
        root.removeHandler(old)
    handler = StderrHandler()
    handler.setFormatter(make_formatter(log_format))
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler

"""Send texts through Twilio's Messages API with the official SDK, mapping failures to SendError.

``base_url`` points the real SDK at a local stand-in of api.twilio.com (TWILIO_API_BASE_URL).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from smsapp.privacy.redact import redact
from smsapp.sms.codes import INVALID_NUMBER_CODES, OPTED_OUT_CODES

TWILIO_API_ORIGIN = "https://api.twilio.com"

RATE_LIMITED_CODES = frozenset({20429})
FIND_SENT_CLOCK_SLACK = timedelta(seconds=30)
RECENT_LIMIT = 50  # newest messages to one number checked for one not sent yet


@dataclass(frozen=True)
class SentMessage:
    """What Twilio answered for an accepted message."""

    sid: str
    status: str
    segments: int | None


class SendError(Exception):
    """A send that Twilio refused or that never reached it.

    Twilio's error texts quote the number ("The 'To' number +447911123456 is not a valid phone
    number."), and this message goes to the database, the logs and staff pages: it is redacted
    here, where the provider's text comes in, so no copy of it holds the number.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        timed_out: bool = False,
        connection_failed: bool = False,
    ) -> None:
        message = redact(message)
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        # Worth trying again later: throttled, Twilio's own fault, or never got an answer.
        self.retryable = (
            timed_out
            or connection_failed
            or http_status == 429
            or code in RATE_LIMITED_CODES
            or (http_status is not None and http_status >= 500)
        )
        self.opted_out = code in OPTED_OUT_CODES
        self.invalid_number = code in INVALID_NUMBER_CODES

    def __repr__(self) -> str:
        return (
            f"SendError({self.message!r}, code={self.code}, http_status={self.http_status}, "
            f"retryable={self.retryable})"
        )


class RebasingHttpClient(TwilioHttpClient):
    """The SDK's HTTP client, with api.twilio.com swapped for ``base_url`` when one is given."""

    def __init__(self, *, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/") if base_url else None
        self.session = EnvironmentOnceSession()

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.base_url and url.startswith(TWILIO_API_ORIGIN):
            url = self.base_url + url[len(TWILIO_API_ORIGIN) :]
        return super().request(method, url, *args, **kwargs)

    # The SDK formats its request and response log lines (headers and all) before asking the
    # logger whether it wants them: a few per cent of a send's CPU, spent for nothing while
    # "twilio.http_client" is quiet, as smsapp keeps it (logs.QUIET_LOGGERS).
    def log_request(self, kwargs: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)


class EnvironmentOnceSession(requests.Session):
    """A requests session that reads the environment (proxies, CA bundle) once per origin.

    requests walks every environment variable on every call to find them: a fifth of a send's
    CPU. A process's environment does not change while it runs, so the answer is kept.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        origin = urlsplit(str(url))[:2]
        key = (origin, tuple(sorted((proxies or {}).items())), stream, verify, cert)
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = found
        return {**found, "proxies": dict(found["proxies"])}


def _num_segments(message: Any) -> int | None:
    try:
        return int(message.num_segments)
    except (TypeError, ValueError):
        return None


def _sent(message: Any) -> SentMessage:
    status = message.status
    return SentMessage(
        sid=message.sid,
        status=str(getattr(status, "value", status)),
        segments=_num_segments(message),
    )


class TwilioTransport:
    """Sends one text at a time from one sender (number or Messaging Service)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError("a Twilio sender needs from_number or messaging_service_sid")
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.http_client = RebasingHttpClient(base_url=base_url, timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=self.http_client)
        # The SDK loads its API modules on first use: load them now, not between a send's turn
        # in the shared rate and its call, and keep the account's message list for every call.
        self.messages = self.client.messages

    def _call(self, action: str, fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        # Twilio's own exception is not chained: its text quotes the number, and a chained
        # traceback would carry it into a log or RQ's failed-job record.
        except TwilioRestException as exc:
            raise SendError(f"{action}: {exc.msg}", code=exc.code, http_status=exc.status) from None
        except TwilioServiceException as exc:
            raise SendError(f"{action}: {exc}", code=exc.code, http_status=exc.status) from None
        except requests.Timeout as exc:
            raise SendError(f"{action}: timed out", timed_out=True) from exc
        except requests.ConnectionError as exc:
            raise SendError(f"{action}: cannot reach Twilio", connection_failed=True) from exc

    def send(
        self,
        to: str,
        body: str,
        *,
        status_callback: str | None = None,
        validity_period: int | None = None,
    ) -> SentMessage:
        """Hand one text to Twilio; raises SendError when it is not accepted."""
        kwargs: dict[str, Any] = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.from_number
        if status_callback:
            kwargs["status_callback"] = status_callback
        if validity_period is not None:
            kwargs["validity_period"] = validity_period
        message = self._call("send", self.messages.create, **kwargs)
        return _sent(message)

    def find_sent(self, to: str, body: str, since: datetime) -> SentMessage | None:
        """A message to ``to`` with exactly ``body`` created since ``since``, if Twilio has one.

        The one look-up before a text is sent again whose earlier attempt may have reached
        Twilio (a timeout, a worker that died mid-call), so a retry does not text the same
        young person twice. ``since`` is our clock's earliest moment the text could have been
        created; FIND_SENT_CLOCK_SLACK is the only allowance made for Twilio's clock.
        """
        since_utc = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        # Twilio stamps whole seconds and its clock is not ours: allow a little slack rather
        # than miss the message and text someone twice.
        earliest = since_utc - FIND_SENT_CLOCK_SLACK
        # Twilio documents the DateSent filter at day granularity, so ask for the day and
        # check the time here.
        kwargs: dict[str, Any] = {
            "to": to,
            "date_sent_after": earliest.date().isoformat(),
            "page_size": 100,
        }
        if self.from_number and not self.messaging_service_sid:
            kwargs["from_"] = self.from_number
        found = _matching(self._call("find_sent", self.messages.list, **kwargs), body, earliest)
        if found is not None:
            return found
        # The DateSent filter misses a message Twilio accepted but has not sent yet (no
        # DateSent): the newest messages to the number are checked by body and DateCreated.
        recent = self._call("find_sent", self.messages.list, to=to, limit=RECENT_LIMIT)
        return _matching(recent, body, earliest)


def _matching(messages: Any, body: str, earliest: datetime) -> SentMessage | None:
    for message in messages:
        created = message.date_created
        if message.body == body and (created is None or created >= earliest):
            return _sent(message)
    return None

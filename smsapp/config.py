"""Settings read from the environment, with the defaults named in docs/interfaces.md.

Flat and explicit: one dataclass, small parse helpers, no side effects at import time.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _float(value: str | None, default: float) -> float:
    if value is None or value.strip() == "":
        return default
    return float(value)


def _int(value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    return int(value)


def _instance_secret(instance_path: Path, name: str, make: Any) -> str:
    """A development-only secret kept in instance/ so it survives restarts."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / name
    if path.exists():
        return path.read_text().strip()
    value = make()
    # Created with owner-only permissions: this file holds a key.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def new_data_key() -> str:
    """A fresh 256-bit data key, urlsafe base64, as SMSAPP_DATA_KEY expects."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    secret_key: str
    data_key: str
    old_data_keys: tuple[str, ...] = ()
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_previous_auth_tokens: tuple[str, ...] = ()  # still accepted on webhooks (rotation)
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_api_base_url: str | None = None
    twilio_webhook_shared_key: str | None = None
    twilio_timeout: float = 10.0
    public_base_url: str | None = None
    sms_backend: str = "outbox"
    timezone: str = "Europe/London"
    send_rate: float = 10.0
    max_concurrent_sends: int = 8
    stuck_send_seconds: float = 180.0  # a claim this old means its worker died (maybe mid-call)
    send_jobs: int = 4  # send jobs that may run at once; one per worker is the useful most
    send_threads: int = 8  # API calls one send job makes at once (within the shared limits)
    price_per_segment: float = 0.04
    currency: str = "GBP"
    queue_mode: str = "redis"  # "redis", "embedded" (no Redis), or "manual" (tests)
    session_minutes: int = 60
    conversation_timeout_hours: float = 168.0  # a week without a reply ends a conversation
    max_attempts: int = 3  # failed tries before a question is skipped
    secure_cookies: bool = False
    # Proxies in front of the app whose X-Forwarded-For/-Proto are believed (0: none, so a
    # client cannot claim HTTPS or another address). Heroku-style routers and one nginx: 1.
    trusted_proxies: int = 0
    service_name: str = "smsapp"
    help_text: str = (
        "This is {service}, texts for your youth group. Reply STOP to stop all texts, "
        "LEAVE to leave a poll, WITHDRAW to remove your data, ASK and a question to suggest one "
        "for your group. Questions? Ask your group leader."
    )
    # Safeguarding and privacy (docs/safeguarding.md).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    smtp_starttls: bool = True  # off only for a relay on a trusted local network
    safeguarding_email: str | None = None  # where a new flag is announced (no message text)
    flag_ack_hours: float = 24.0  # a flag must be acknowledged within this many hours
    support_reply: str = (
        "Thank you for telling us. You don't have to cope with this on your own. You can talk "
        "to Childline free, any time, on 0800 1111 or at childline.org.uk. If you are in danger "
        "now, call 999. An adult from the project who looks after your safety will read this."
    )
    safeguarding_phrases: str | None = None  # a YAML file adding to (or replacing) the lists
    retention_days: int = 90  # numbers are erased this many days after a group ends
    small_count: int = 5  # counts below this are hidden from participants and the group
    log_format: str = "text"  # "text" or "json" (smsapp/logs.py); see load_settings
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signatures_required(self) -> bool:
        return bool(self.twilio_auth_token)

    def with_overrides(self, **changes: Any) -> Settings:
        known = {f.name for f in fields(self)}
        extra = dict(self.extra)
        direct = {}
        for key, value in changes.items():
            name = key.lower()
            if name in known:
                direct[name] = value
            else:
                extra[key] = value
        return replace(self, extra=extra, **direct)


def unsigned_webhooks_refusal(env: Mapping[str, str]) -> str | None:
    """Why a production web process must not start, or None.

    Without TWILIO_AUTH_TOKEN the webhooks accept anyone's requests: fine on a laptop (`make
    run`), dangerous on the internet. gunicorn.conf.py asks this; `smsapp serve` does not.
    SMS_BACKEND=outbox, set explicitly, says running without Twilio is meant.
    """
    if env.get("TWILIO_AUTH_TOKEN"):
        return None
    if (env.get("SMS_BACKEND") or "").strip().lower() == "outbox":
        return None
    return (
        "TWILIO_AUTH_TOKEN is not set, so /sms/inbound and /sms/status would accept requests "
        "from anyone. Set it to the Twilio account's Auth Token, or set SMS_BACKEND=outbox to "
        "run without Twilio on purpose (nothing is texted; webhooks are not signed)."
    )


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    """True when a Redis server answers PING at url (used to pick the queue mode)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except Exception:  # any failure means "not available"; the caller falls back
        return False


def load_settings(instance_path: Path, env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    get = env.get
    database_url = get("DATABASE_URL") or f"sqlite:///{instance_path / 'smsapp.db'}"
    if database_url.startswith("postgres://"):
        # Platforms still hand out the old scheme; SQLAlchemy needs the driver named.
        database_url = "postgresql+psycopg://" + database_url[len("postgres://") :]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://") :]

    queue_mode = (get("SMSAPP_QUEUE") or "").strip().lower()
    redis_url = get("REDIS_URL") or None
    if queue_mode not in {"redis", "embedded"}:
        if redis_url:
            queue_mode = "redis"
        elif redis_answers(DEFAULT_REDIS_URL):
            redis_url, queue_mode = DEFAULT_REDIS_URL, "redis"
        else:
            queue_mode = "embedded"
    elif queue_mode == "redis" and not redis_url:
        redis_url = DEFAULT_REDIS_URL

    secret_key = get("SECRET_KEY") or _instance_secret(
        instance_path, "secret_key", lambda: secrets.token_hex(32)
    )
    data_key = get("SMSAPP_DATA_KEY") or _instance_secret(instance_path, "data_key", new_data_key)
    old_keys = tuple(k.strip() for k in (get("SMSAPP_OLD_DATA_KEYS") or "").split(",") if k.strip())

    token = get("TWILIO_AUTH_TOKEN") or None
    backend = (get("SMS_BACKEND") or ("twilio" if token else "outbox")).strip().lower()
    if backend not in {"twilio", "outbox"}:
        raise ValueError(f"SMS_BACKEND must be 'twilio' or 'outbox', not {backend!r}")

    # JSON lines where nobody reads a terminal (a platform's log drain), readable text at one.
    log_format = (get("SMSAPP_LOG_FORMAT") or "").strip().lower() or (
        "text" if sys.stderr is not None and sys.stderr.isatty() else "json"
    )
    if log_format not in {"text", "json"}:
        raise ValueError(f"SMSAPP_LOG_FORMAT must be 'text' or 'json', not {log_format!r}")
    proxies = (get("SMSAPP_TRUSTED_PROXIES") or "").strip() or "0"
    if not re.fullmatch(r"[0-9]{1,2}", proxies):
        raise ValueError(
            "SMSAPP_TRUSTED_PROXIES must be how many proxies are in front of the app "
            f"(0, 1, 2 ...), not {proxies!r}"
        )
    log_level = (get("SMSAPP_LOG_LEVEL") or "INFO").strip().upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError(f"SMSAPP_LOG_LEVEL must be a logging level name, not {log_level!r}")

    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=secret_key,
        data_key=data_key,
        old_data_keys=old_keys,
        twilio_account_sid=get("TWILIO_ACCOUNT_SID") or None,
        twilio_auth_token=token,
        twilio_previous_auth_tokens=tuple(
            t.strip() for t in (get("TWILIO_PREVIOUS_AUTH_TOKENS") or "").split(",") if t.strip()
        ),
        twilio_from_number=get("TWILIO_FROM_NUMBER") or None,
        twilio_messaging_service_sid=get("TWILIO_MESSAGING_SERVICE_SID") or None,
        twilio_api_base_url=(get("TWILIO_API_BASE_URL") or None),
        twilio_webhook_shared_key=get("TWILIO_WEBHOOK_SHARED_KEY") or None,
        twilio_timeout=_float(get("TWILIO_TIMEOUT"), 10.0),
        public_base_url=(get("PUBLIC_BASE_URL") or "").rstrip("/") or None,
        sms_backend=backend,
        timezone=get("SMSAPP_TIMEZONE") or "Europe/London",
        send_rate=_float(get("SMSAPP_SEND_RATE"), 10.0),
        max_concurrent_sends=_int(get("SMSAPP_MAX_CONCURRENT_SENDS"), 8),
        stuck_send_seconds=_float(get("SMSAPP_STUCK_SEND_SECONDS"), 180.0),
        send_jobs=_int(get("SMSAPP_SEND_JOBS"), 4),
        send_threads=_int(get("SMSAPP_SEND_THREADS"), 8),
        price_per_segment=_float(get("SMSAPP_PRICE_PER_SEGMENT"), 0.04),
        currency=get("SMSAPP_CURRENCY") or "GBP",
        queue_mode=queue_mode,
        session_minutes=_int(get("SMSAPP_SESSION_MINUTES"), 60),
        conversation_timeout_hours=_float(get("SMSAPP_CONVERSATION_TIMEOUT_HOURS"), 168.0),
        max_attempts=_int(get("SMSAPP_MAX_ATTEMPTS"), 3),
        secure_cookies=_bool(get("SMSAPP_SECURE_COOKIES"), default=False),
        trusted_proxies=int(proxies),
        smtp_host=get("SMSAPP_SMTP_HOST") or None,
        smtp_port=_int(get("SMSAPP_SMTP_PORT"), 587),
        smtp_user=get("SMSAPP_SMTP_USER") or None,
        smtp_password=get("SMSAPP_SMTP_PASSWORD") or None,
        smtp_from=get("SMSAPP_SMTP_FROM") or None,
        smtp_starttls=_bool(get("SMSAPP_SMTP_STARTTLS"), default=True),
        safeguarding_email=get("SMSAPP_SAFEGUARDING_EMAIL") or None,
        flag_ack_hours=_float(get("SMSAPP_FLAG_ACK_HOURS"), 24.0),
        safeguarding_phrases=get("SMSAPP_SAFEGUARDING_PHRASES") or None,
        retention_days=_int(get("SMSAPP_RETENTION_DAYS"), 90),
        small_count=_int(get("SMSAPP_SMALL_COUNT"), 5),
        support_reply=get("SMSAPP_SUPPORT_REPLY") or Settings.support_reply,
        log_format=log_format,
        log_level=log_level,
    )

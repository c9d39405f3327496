"""smsapp: SMS surveys and prioritisation votes for young people's co-production groups."""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

from smsapp.config import Settings, load_settings
from smsapp.logs import (
    configure_logging,
    log_request,
    new_request_id,
    reset_request_id,
    sane_request_id,
    set_request_id,
)
from smsapp.runtime import (
    DEFAULT_INSTANCE_PATH,
    PROJECT_ROOT,
    Runtime,
    build_runtime,
    install_runtime,
)

__all__ = ["create_app"]


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The one place the app is assembled.

    `config` overrides settings by name (e.g. {"DATABASE_URL": …, "TWILIO_AUTH_TOKEN": …}); a
    ready `Runtime` may be passed as config["RUNTIME"] (tests share one database connection).
    """
    config = dict(config or {})
    app = Flask(
        __name__,
        instance_path=str(config.pop("INSTANCE_PATH", DEFAULT_INSTANCE_PATH)),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    runtime: Runtime | None = config.pop("RUNTIME", None)
    if runtime is None:
        env_overrides = {k: str(v) for k, v in config.items() if k.isupper() and isinstance(v, str)}
        import os

        env = dict(os.environ)
        env.update(env_overrides)
        settings: Settings = load_settings(Path(app.instance_path), env)
        runtime = build_runtime(settings)
    install_runtime(runtime)
    settings = runtime.settings

    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes),
        MAX_CONTENT_LENGTH=12 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the session lifetime already bounds a form's life
    )
    app.config.update({k: v for k, v in config.items() if k.isupper()})
    app.extensions["smsapp"] = runtime

    configure_logging(settings.log_format, settings.log_level)
    _install_request_ids(app)

    from smsapp.web import register

    register(app)
    if settings.trusted_proxies:
        # The client's address and scheme as the proxy saw them: HTTPS then counts for HSTS,
        # Secure cookies and the URL a webhook signature covers. The host stays the Host
        # header (PUBLIC_BASE_URL covers a proxy that rewrites it).
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app


def _install_request_ids(app: Flask) -> None:
    """Every request gets an id: in each log line it causes and in `X-Request-Id` back.

    A sane incoming `X-Request-Id` (from a proxy) is kept so lines join up across services.
    Twilio's `I-Twilio-Idempotency-Token` is deliberately not used: it repeats on retries.
    """

    @app.before_request
    def bind_request_id() -> None:
        request_id = sane_request_id(request.headers.get("X-Request-Id")) or new_request_id()
        g.request_id = request_id
        g.request_id_token = set_request_id(request_id)
        g.request_started = time.perf_counter()

    @app.after_request
    def send_request_id(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is None:  # a request that failed before before_request ran
            return response
        response.headers["X-Request-Id"] = request_id
        log_request(request.method, request.path, response.status_code, g.request_started)
        return response

    @app.teardown_request
    def unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            reset_request_id(token)

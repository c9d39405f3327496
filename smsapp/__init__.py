"""smsapp: SMS surveys and prioritisation votes for young people's co-production groups."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from smsapp.config import Settings, load_settings
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

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    from smsapp.web import register

    register(app)
    return app

"""Blueprints: Twilio webhooks, health, staff log-in and the admin pages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from smsapp.runtime import Runtime


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["smsapp"]
    return rt


def db_session() -> Session:
    """The request's session, closed when the request ends."""
    if "db_session" not in g:
        g.db_session = runtime().db.session()
    session: Session = g.db_session
    return session


@contextmanager
def request_transaction() -> Iterator[Session]:
    session = db_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def register(app: Flask) -> None:
    from smsapp.web import (
        admin,
        auth,
        downloads,
        health,
        queue_page,
        safeguarding,
        security,
        webhooks,
    )

    app.teardown_appcontext(_close_session)
    # /sms/* are served before Flask: no session, CSRF or admin work for a webhook.
    app.wsgi_app = webhooks.Webhooks(app.wsgi_app, app.extensions["smsapp"])  # type: ignore[method-assign]
    security.init_app(app)
    auth.init_app(app)
    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(downloads.bp)
    app.register_blueprint(safeguarding.bp)
    app.register_blueprint(queue_page.bp)

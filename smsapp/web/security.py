"""CSRF on every form, no NUL character in any input, and security headers on every response."""

from __future__ import annotations

from flask import Flask, Response, abort, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)
_HSTS = (("Strict-Transport-Security", "max-age=31536000"),)


def header_pairs(secure: bool) -> tuple[tuple[str, str], ...]:
    """The security headers every response carries (the pages here, the webhooks in
    web/webhooks.py); HSTS over HTTPS only."""
    return _HEADERS + _HSTS if secure else _HEADERS


def _headers(response: Response) -> Response:
    for name, value in header_pairs(request.is_secure):
        response.headers.setdefault(name, value)
    return response


NUL_REFUSED = (
    "The form or address holds a NUL character (\\0), which cannot be stored. "
    "Remove it (it often comes with text pasted from another program) and try again."
)


def _refuse_nul() -> None:
    """400 for a NUL anywhere in the address or a form field, before a page acts on it.

    PostgreSQL refuses NUL in text, even to compare: a search, a log-in or a saved name with one
    was a DataError and a 500. One check here covers every admin form and query. Uploaded files
    are checked by what reads them (the participant import, the poll YAML). The webhooks keep
    what Twilio sent (they are served before Flask, in web/webhooks.py).
    """
    fields = list(request.args.items(multi=True))
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        fields += request.form.items(multi=True)
    if "\x00" in request.path or any("\x00" in k or "\x00" in v for k, v in fields):
        abort(400, description=NUL_REFUSED)


class _SessionInterface(SecureCookieSessionInterface):
    """The session cookie is Secure on every HTTPS request (behind a proxy: with
    SMSAPP_TRUSTED_PROXIES set), and always with SMSAPP_SECURE_COOKIES."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(super().get_cookie_secure(app)) or request.is_secure


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.session_interface = _SessionInterface()
    app.before_request(_refuse_nul)
    app.after_request(_headers)
    # The webhooks never reach Flask (web/webhooks.py): Twilio cannot carry a CSRF token, its
    # requests are signed instead, and what it sent is kept as sent (the text without a NUL).

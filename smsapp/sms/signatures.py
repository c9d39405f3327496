"""Check that a webhook really came from Twilio (X-Twilio-Signature).

Two modes exist. By default Twilio signs with the account Auth Token using HMAC-SHA1. When a
Webhook Rule matches the URL, Twilio signs with that Setting's SharedKey secret and the Setting's
algorithm (HMAC_SHA1 or HMAC_SHA256) and announces it with
``X-Twilio-Webhooks-Signature-Settings: key=<sharedKeyId>,algorithm=HMAC_SHA256``. The signed
string is the same in both: the full URL followed by the sorted POST parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)


class HeaderLookup(Protocol):
    """A dict of headers, or Werkzeug's case-insensitive Headers."""

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


def _header(headers: HeaderLookup, name: str) -> str | None:
    # Werkzeug's Headers are case-insensitive already; a plain dict may not be.
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def is_valid_twilio_request(
    auth_token: str,
    url: str,
    params: Mapping[str, Any],
    headers: HeaderLookup,
    *,
    shared_key_secret: str | None = None,
) -> bool:
    """True when ``headers`` carry a valid Twilio signature for ``url`` and form ``params``.

    ``params`` may be a MultiDict (repeated keys are all signed). A request announcing the
    SharedKey mode is checked against ``shared_key_secret`` with the announced algorithm
    (HMAC_SHA1 or HMAC_SHA256); without that secret configured it is rejected, because the
    Auth Token is not what signed it. The SDK compares in constant time.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        return False
    settings = _header(headers, SIGNATURE_SETTINGS_HEADER)
    if settings:
        if not shared_key_secret:
            return False
        secret = shared_key_secret
    else:
        secret = auth_token
    if not secret:
        return False
    algorithm = get_signature_algorithm(settings)
    return bool(RequestValidator(secret).validate(url, params, signature, algorithm))

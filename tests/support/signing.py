"""Sign test webhook requests exactly as Twilio does, so tests can post genuine-looking ones."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Literal

from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
)

SHARED_KEY_ID = "webhooks_sharedkey_test"


def signed_headers(
    url: str,
    params: Mapping[str, Any],
    auth_token: str,
    *,
    mode: Literal["sha1", "sha256"] = "sha1",
    shared_key_id: str = SHARED_KEY_ID,
) -> dict[str, str]:
    """Headers Twilio would send with a form POST of ``params`` to ``url``.

    ``mode="sha1"`` is the default Auth Token signature. ``mode="sha256"`` is the Webhook
    Settings (SharedKey) signature: ``auth_token`` is then the SharedKey secret and the settings
    header announces the algorithm.
    """
    if mode == "sha1":
        signature = RequestValidator(auth_token).compute_signature(url, params, HMAC_SHA1)
        return {SIGNATURE_HEADER: signature}
    # Written out by hand rather than through the SDK, so the tests check the validator
    # against Twilio's published recipe and not against itself.
    digest = hmac.new(auth_token.encode(), _signed_string(url, params).encode(), hashlib.sha256)
    return {
        SIGNATURE_HEADER: base64.b64encode(digest.digest()).decode(),
        SIGNATURE_SETTINGS_HEADER: f"key={shared_key_id},algorithm={HMAC_SHA256}",
    }


def _signed_string(url: str, params: Mapping[str, Any]) -> str:
    """The URL followed by each parameter name and value, sorted by name then value."""
    getall = getattr(params, "getall", None) or getattr(params, "getlist", None)
    parts = [url]
    for name in sorted(set(params)):
        values = getall(name) if getall else [params[name]]
        parts.extend(name + value for value in sorted(set(values)))
    return "".join(parts)

"""Twilio error codes that say something about the number itself, not about one send."""

from __future__ import annotations

OPTED_OUT_CODES = frozenset({21610})  # the recipient texted STOP to this sender
INVALID_NUMBER_CODES = frozenset({21211, 21612, 21614})  # invalid, unreachable, not a mobile

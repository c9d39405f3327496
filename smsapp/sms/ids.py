"""What Twilio's identifiers look like, checked before any is stored or looked up."""

from __future__ import annotations

import re


def is_message_sid(sid: str) -> bool:
    """What a Twilio MessageSid (or our simulator's) looks like; anything else is not looked up."""
    return len(sid) <= 64 and re.fullmatch(r"[A-Za-z0-9_-]+", sid) is not None

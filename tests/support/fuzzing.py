"""Random webhook texts for fuzzing /sms/inbound: odd bodies, odd senders, repeated deliveries.

Shared by tests/faults/test_webhook_faults.py (a few thousand) and bench/fuzz_webhook.py (100,000+).
"""

from __future__ import annotations

import random
import secrets
from collections import Counter
from dataclasses import dataclass, field

ACCOUNT_SID = "AC" + "0" * 32
OUR_NUMBER = "+447700900001"

# Words the router gives meaning to, and answers each kind of question accepts.
MEANINGFUL = [
    "STOP", "stop", "START", "HELP", "JOIN", "WITHDRAW", "SKIP", "ALL", "a", "B", "c", "A B",
    "C A B", "1", "5", "17", "yes", "No", "A3 C2", "a, c", "0", "-1", "99999999999999999999",
    "unsubscribe", "Team Spark", "", " ", "\u00a0",
]  # fmt: skip
INVALID_SENDERS = [
    "12", "abc", "+", "+44", "+4479", "07911 123456", "whatsapp:+447911123456", "+1 (555) 0100",
    "+447911123456789012345", "\u0661\u0662\u0663", "+44 7911 ", "sip:kid@example.org",
    "++447911123456", "0", "x" * 80,
]  # fmt: skip
EMOJI = "😀🎉👍🏽🇬🇧👨‍👩‍👧❤️🔥🙈"
CONTROL = "".join(chr(c) for c in range(0, 32)) + "\x7f\u200b\u200e\u202e\ufeff"


def random_unicode(rng: random.Random, n: int) -> str:
    """Any code point but surrogates (a form cannot carry a lone one in UTF-8)."""
    out = []
    for _ in range(n):
        c = rng.randrange(0x110000) if rng.random() < 0.3 else rng.randrange(0x20, 0x3000)
        if 0xD800 <= c <= 0xDFFF:
            c = 0xFFFD
        out.append(chr(c))
    return "".join(out)


def random_body(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.35:
        return rng.choice(MEANINGFUL)
    if kind < 0.5:
        return "".join(rng.choice(EMOJI) for _ in range(rng.randrange(1, 20)))
    if kind < 0.6:
        return "".join(rng.choice(CONTROL + "ab ") for _ in range(rng.randrange(1, 40)))
    if kind < 0.7:
        return random_unicode(rng, rng.randrange(1, 200))
    if kind < 0.78:
        # Longer than Twilio's 1,600 characters, sometimes far longer.
        return random_unicode(rng, rng.choice([1601, 2000, 5000]))
    if kind < 0.9:
        return " ".join(rng.choice(MEANINGFUL) for _ in range(rng.randrange(1, 6)))
    return rng.choice(MEANINGFUL) + rng.choice(EMOJI + CONTROL) + random_unicode(rng, 3)


@dataclass
class FuzzPlan:
    """Senders to draw from; ``known`` are participants with open conversations."""

    known: list[str]
    seed: int = 0
    duplicate_rate: float = 0.1
    rng: random.Random = field(init=False)
    sent: list[dict[str, str]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def sender(self) -> tuple[str, str]:
        r = self.rng.random()
        if r < 0.55:
            return "known", self.rng.choice(self.known)
        if r < 0.75:
            return "unknown", f"+4479{self.rng.randrange(10**8):08d}"
        if r < 0.95:
            return "invalid", self.rng.choice(INVALID_SENDERS)
        return "empty", self.rng.choice(["", " "])

    def next(self) -> dict[str, str]:
        """The next form to post: a fresh text, or (sometimes) one already sent, again."""
        if self.sent and self.rng.random() < self.duplicate_rate:
            self.kinds["duplicate"] += 1
            return self.rng.choice(self.sent)
        kind, sender = self.sender()
        self.kinds[kind] += 1
        sid = "SM" + secrets.token_hex(16) if self.rng.random() > 0.01 else self.odd_sid()
        params = {
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": sender,
            "To": OUR_NUMBER,
            "Body": random_body(self.rng),
            "NumSegments": str(self.rng.randrange(1, 11)),
        }
        if len(self.sent) < 5000:  # duplicates come from a bounded pool
            self.sent.append(params)
        return params

    def odd_sid(self) -> str:
        self.kinds["odd-sid"] += 1
        return self.rng.choice(["", "SM' OR 1=1", "SM" + "0" * 80, "SM🙈", "sm-lower_case"])


def expected_status(params: dict[str, str]) -> set[int]:
    """The answers a text may get: 200, or 400 when it is not a usable text at all."""
    sid, sender = params["MessageSid"].strip(), params["From"].strip()
    if (
        not sid
        or not sender
        or len(sid) > 64
        or not sid.replace("_", "").replace("-", "").isalnum()
    ):
        return {400}
    if not sid.isascii():
        return {400}
    return {200}

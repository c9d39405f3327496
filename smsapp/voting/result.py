"""The outcome of a tally, its fingerprint of the input, and its JSON form."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from importlib import metadata
from typing import Any

from smsapp.voting.ballots import Profile


@cache
def package_version() -> str:
    """The installed smsapp version, so a published result says which code counted it."""
    try:
        return metadata.version("smsapp")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def input_sha256(
    method: str, options: list[str], max_ranks: int | None, seed: str, profile: Profile
) -> str:
    """SHA-256 of a canonical JSON of everything that decides the result.

    Ballots are aggregated and sorted first, so the order they arrive in never matters. They
    sort by their codes joined with a unit separator, which sorts as the code tuples would.
    """
    canonical = {
        "method": method,
        "options": sorted(options),
        "max_ranks": max_ranks,
        "seed": seed,
        "ballots": [[list(r), profile[r]] for r in sorted(profile, key="\x1f".join)],
    }
    return fingerprint(canonical)


def fingerprint(canonical: dict[str, Any]) -> str:
    """SHA-256 of `canonical` as compact JSON with sorted keys: the one spelling of a count's
    input that a published result's input_sha256 can be checked against."""
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class TallyResult:
    """What a tally decided and why; `order` lists every option, best first."""

    method: str
    ballots: int
    order: list[str]
    winners: list[str]
    scores: dict[str, int]
    rounds: list[dict[str, Any]] = field(default_factory=list)
    tie_breaks: list[dict[str, Any]] = field(default_factory=list)
    input_sha256: str = ""
    version: str = field(default_factory=package_version)
    pairwise: dict[str, dict[str, int]] | None = None

    def to_json_dict(self) -> dict[str, Any]:
        """The --json keys docs/interfaces.md lists, plus the version that counted them."""
        return {
            "method": self.method,
            "ballots": self.ballots,
            "order": list(self.order),
            "winners": list(self.winners),
            "scores": dict(self.scores),
            "rounds": list(self.rounds),
            "tie_breaks": list(self.tie_breaks),
            "input_sha256": self.input_sha256,
            "version": self.version,
        }

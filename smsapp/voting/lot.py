"""The lot: a reproducible order of options from the poll's seed, used as the last tie-break."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def lot_key(seed: str, code: str) -> str:
    """SHA-256 hex of "{seed}:{code}"; lower sorts earlier and so wins a tie."""
    return hashlib.sha256(f"{seed}:{code}".encode()).hexdigest()


def lot_order(options: Sequence[str], seed: str) -> list[str]:
    """Options sorted by their lot key, ascending (earlier wins a tie)."""
    return sorted(options, key=lambda code: (lot_key(seed, code), code))

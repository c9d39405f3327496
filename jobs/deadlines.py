"""RQ job: close polls whose deadline passed and end conversations idle for too long."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.polls import closing


def run_deadlines() -> dict[str, int]:
    """Closing asks for each tally and starts the send jobs itself (services/polls/closing.py)."""
    runtime = get_runtime()
    closed = closing.close_due_polls(runtime)
    expired = closing.expire_idle(runtime)
    return {"closed": len(closed), "expired": expired}

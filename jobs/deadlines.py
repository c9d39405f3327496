"""RQ job: close polls whose deadline passed and end conversations idle for too long."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.outbox import sending
from smsapp.services.polls import closing


def run_deadlines() -> dict[str, int]:
    runtime = get_runtime()
    closed = closing.close_due_polls(runtime)
    expired = closing.expire_idle(runtime)
    if closed or expired:
        sending.kick_senders(runtime)
    return {"closed": len(closed), "expired": expired}

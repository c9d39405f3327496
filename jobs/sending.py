"""RQ jobs that send queued texts and recover sends left half-done by a crashed worker."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.outbox import callbacks, reconcile, sending
from smsapp.services.outbox.claims import has_due


def send_due() -> dict[str, int]:
    """Send due texts for up to a minute, keeping the other send job slots busy meanwhile."""
    return vars(sending.run_send_job(get_runtime()))


def reconcile_stuck() -> dict[str, int]:
    """Rows left in `sending` by a dead worker: checked at Twilio, then recorded or queued.
    Also the delivery callbacks kept because they overtook their send: applied if their text
    has its SID by now (found here, say), dropped after a day if it never will."""
    runtime = get_runtime()
    report = reconcile.reconcile_stuck(runtime)
    if report.requeued:
        sending.kick_senders(runtime)
    return {**vars(report), "early_dropped": callbacks.prune_early(runtime)}


def kick() -> int:
    """The clock's prompt: start the send jobs when something is due (quick, never stuck)."""
    runtime = get_runtime()
    return sending.kick_senders(runtime) if has_due(runtime) else 0

"""RQ job: queue the reminders that are due; the send jobs deliver them."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.outbox import sending
from smsapp.services.polls import reminders


def queue_reminders() -> dict[str, int]:
    runtime = get_runtime()
    report = reminders.queue_due_reminders(runtime)
    if report.queued:
        sending.kick_senders(runtime)
    return vars(report)

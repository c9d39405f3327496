"""RQ jobs for young people's proposals: the results to the proposer first when their quick
poll closes."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.agenda import proposals


def results_to_proposer(poll_id: int) -> bool:
    """Count the closed quick poll and queue its results to the proposer (once)."""
    runtime = get_runtime()
    sent = proposals.send_results_to_proposer(runtime, poll_id)
    if sent:
        from smsapp.services.outbox.sending import try_kick_senders

        try_kick_senders(runtime)
    return sent


def sweep_proposer_results() -> int:
    """Find closed quick polls whose proposer has not had the results (a lost queue entry)."""
    runtime = get_runtime()
    sent = 0
    for poll_id in proposals.proposer_results_due(runtime):
        if proposals.send_results_to_proposer(runtime, poll_id):
            sent += 1
    if sent:
        from smsapp.services.outbox.sending import try_kick_senders

        try_kick_senders(runtime)
    return sent

"""RQ jobs: count a poll (at close, or "tally now") and keep provisional counts of open polls
fresh without recounting on every text."""

from __future__ import annotations

import logging

from smsapp.models import Poll, PollStatus
from smsapp.runtime import get_runtime
from smsapp.services.votes import tally_requests, tallying

log = logging.getLogger(__name__)


def tally_poll(poll_id: int, final: bool = False) -> int:
    """Count poll `poll_id`; the count is final whenever the poll has closed. Returns runs."""
    runtime = get_runtime()
    with runtime.db.transaction() as session:
        poll = session.get(Poll, poll_id)
        if poll is None or poll.status == PollStatus.DRAFT:
            return 0
        final = final and poll.status == PollStatus.CLOSED
        return len(tallying.tally_poll(session, poll, final=final, actor="tally-job"))


def count_requested(request_id: int) -> str:
    """Run one "Tally now" request; its row keeps the progress the page shows."""
    return tally_requests.run_tally_request(get_runtime(), request_id)


def refresh_provisional() -> int:
    """Recount each open poll that has had a ballot since its last provisional count, and run
    any "Tally now" request whose job was lost."""
    runtime = get_runtime()
    tally_requests.run_lost_requests(runtime)
    with runtime.db.transaction() as session:
        due = tallying.polls_needing_provisional(session)
    for poll_id in due:
        try:
            tally_poll(poll_id)
        except Exception:  # one broken poll must not starve the others
            log.exception("provisional count of poll %s failed", poll_id)
    return len(due)

"""RQ job: launch the drafts whose scheduled time has come (services/polls/scheduling.py)."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.polls import scheduling


def launch_due() -> dict[str, int]:
    """Each due poll is claimed once (a conditional UPDATE) and launched as a launch by hand."""
    return scheduling.launch_due_polls(get_runtime())

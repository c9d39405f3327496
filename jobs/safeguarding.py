"""RQ jobs for safeguarding: e-mail the lead about a flag; erase numbers past retention."""

from __future__ import annotations

from smsapp.runtime import get_runtime
from smsapp.services.people.withdrawal import retention_sweep
from smsapp.services.safeguarding.email_alert import email_flag_once


def email_flag(flag_id: int) -> bool:
    """E-mail the safeguarding lead about one flag, once."""
    runtime = get_runtime()
    with runtime.db.transaction() as session:
        return email_flag_once(runtime.settings, session, flag_id)


def sweep_retention() -> int:
    """Erase the numbers whose groups ended more than the retention period ago."""
    runtime = get_runtime()
    with runtime.db.transaction() as session:
        return len(retention_sweep(runtime, session).erased)

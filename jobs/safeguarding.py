"""RQ jobs for safeguarding: e-mail the lead about a flag; erase numbers past retention."""

from __future__ import annotations

from smsapp.db import utcnow
from smsapp.models.safeguarding import SafeguardingFlag
from smsapp.runtime import get_runtime
from smsapp.services.people.withdrawal import retention_sweep
from smsapp.services.safeguarding.email_alert import email_configured, send_flag_email


def email_flag(flag_id: int) -> bool:
    """E-mail the safeguarding lead about one flag, once."""
    runtime = get_runtime()
    with runtime.db.transaction() as session:
        flag = session.get(SafeguardingFlag, flag_id)
        if flag is None or flag.emailed_at is not None or not email_configured(runtime.settings):
            return False
        send_flag_email(runtime.settings, flag)
        flag.emailed_at = utcnow()
        return True


def sweep_retention() -> int:
    """Erase the numbers whose groups ended more than the retention period ago."""
    runtime = get_runtime()
    with runtime.db.transaction() as session:
        return len(retention_sweep(runtime, session).erased)

"""Read what the real ballots export writes, for recount round trips."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from sqlalchemy.orm import Session

from smsapp.models import Poll
from smsapp.services.research.exports import ExportRequest, write_csv


def exported_ballots(
    session: Session, poll: Poll, path: Path | None = None
) -> list[dict[str, str]]:
    """The ballots CSV exactly as `smsapp export ballots` writes it (also saved to `path`)."""
    out = io.StringIO()
    write_csv(out, session, poll, ExportRequest("ballots"), bom=False)
    if path is not None:
        path.write_text(out.getvalue(), encoding="utf-8")
    return list(csv.DictReader(io.StringIO(out.getvalue())))

"""Large exports: recorded as an ExportRun, written to a file by a job, with progress the page
can show."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from smsapp.db import Database, utcnow
from smsapp.models import ExportRun, ExportStatus, Poll
from smsapp.privacy.redact import redact
from smsapp.services import audit
from smsapp.services.research.exports.flow_results import write_floip
from smsapp.services.research.exports.request import ExportRequest, export_filename
from smsapp.services.research.exports.writing import count_answers, write_csv
from smsapp.services.research.exports.xlsx import write_xlsx


def create_run(
    session: Session, poll: Poll, request: ExportRequest, actor: str, directory: Path
) -> ExportRun:
    """Record a large export to be written under `directory`; the caller commits and enqueues."""
    filename = export_filename(poll.slug, request, utcnow().date())
    run = ExportRun(
        kind=request.label,
        poll_id=poll.id,
        requested_by=actor,
        options=request.to_json(),
        status=ExportStatus.QUEUED,
        filename=filename,
    )
    session.add(run)
    session.flush()
    run.path = str(directory / f"{run.id}-{filename}")
    audit.record(session, actor, "export.requested", f"poll:{poll.slug}", export_id=run.id)
    return run


def write_run(db: Database, export_id: int, *, bom: bool = True) -> ExportRun | None:
    """Write the file of a queued ExportRun, updating its progress as rows go out.

    Progress is committed in its own short transactions so the page sees it while the long
    read goes on. A failure leaves no partial file and marks the run failed with the reason.
    """
    with db.transaction() as session:
        run = session.get(ExportRun, export_id)
        if run is None or run.status != ExportStatus.QUEUED or not run.path:
            return run
        poll = session.get(Poll, run.poll_id)
        if poll is None:
            run.status, run.error = ExportStatus.FAILED, "the poll no longer exists"
            return run
        request = ExportRequest.from_json(run.options)
        run.status = ExportStatus.RUNNING
        run.rows_total = count_answers(session, poll, request)
        path = Path(run.path)

    def progress(done: int) -> None:
        with db.transaction() as s:
            s.execute(sa.update(ExportRun).where(ExportRun.id == export_id).values(rows_done=done))

    partial = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with db.transaction() as session:
            poll = session.get(Poll, poll.id)
            assert poll is not None
            if request.kind == "floip":
                with partial.open("wb") as binary:
                    rows = write_floip(binary, session, poll, progress=progress)
            elif request.xlsx:
                rows = write_xlsx(partial, session, poll, request, progress=progress)
            else:
                with partial.open("w", encoding="utf-8", newline="") as text:
                    rows = write_csv(text, session, poll, request, bom=bom, progress=progress)
        os.replace(partial, path)
    except Exception as error:
        partial.unlink(missing_ok=True)
        with db.transaction() as session:
            failed = session.get(ExportRun, export_id)
            assert failed is not None
            # An exception may quote the data it choked on: a cell of free text.
            failed.status, failed.error = ExportStatus.FAILED, redact(str(error))[:500]
            failed.finished_at = utcnow()
        raise
    with db.transaction() as session:
        done = session.get(ExportRun, export_id)
        assert done is not None
        done.status, done.rows_done, done.finished_at = ExportStatus.DONE, rows, utcnow()
        done.rows_total = max(done.rows_total or 0, rows)
        return done

"""Research export downloads: streamed CSVs for researchers and facilitators, and a job with a
progress page for large ones. Every download is written to the audit log."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_login import current_user

from smsapp.db import Database, utcnow
from smsapp.models import ExportRun, ExportStatus, Poll
from smsapp.queue import enqueue
from smsapp.services.research import exports
from smsapp.web import db_session, request_transaction, runtime
from smsapp.web.auth import roles_required
from smsapp.web.lookups import poll_or_404

bp = Blueprint("exports", __name__)

EXPORT_ROLES = ("admin", "facilitator", "researcher")
CSV_KINDS = {
    "responses": exports.ExportRequest("responses"),
    "responses-wide": exports.ExportRequest("responses", wide=True),
    "ballots": exports.ExportRequest("ballots"),
    "tally": exports.ExportRequest("tally"),
    "codebook": exports.ExportRequest("codebook"),
}
DEFAULT_INLINE_LIMIT = 100_000  # answer rows; above this the file is written by a job
CHUNK = 64 * 1024  # bytes per piece of a workbook sent
XLSX_SLOWER = 5  # an XLSX download goes to the job above DEFAULT_INLINE_LIMIT / 5 rows
JOB = "jobs.exports.export_to_file"


def _request_for(kind: str, *, xlsx: bool = False) -> exports.ExportRequest:
    base = CSV_KINDS.get(kind)
    if base is None:
        abort(404)
    question = request.args.get("question") or None
    below = request.args.get("suppress_below", type=int)
    try:
        return exports.ExportRequest(
            base.kind, wide=base.wide, question=question, suppress_below=below, xlsx=xlsx
        )
    except exports.ExportError as error:
        abort(400, str(error))


def _attachment(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    }


def _inline_limit() -> int:
    return int(current_app.config.get("EXPORT_INLINE_LIMIT", DEFAULT_INLINE_LIMIT))


def _exports_dir() -> Path:
    return Path(current_app.instance_path) / "exports"


def start_job(export_id: int) -> None:
    """Hand the run to the queue (a separate function so tests can run it in-line)."""
    enqueue(runtime(), JOB, export_id, job_id=f"export-{export_id}", timeout=3600)


@bp.get("/admin/polls/<slug>/exports")
@roles_required(*EXPORT_ROLES)
def export_index(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    runs = (
        db_session()
        .scalars(
            sa.select(ExportRun)
            .where(ExportRun.poll_id == poll.id)
            .order_by(ExportRun.id.desc())
            .limit(10)
        )
        .all()
    )  # a list: a result object is always true, so the empty card always showed
    return render_template("exports/index.html", poll=poll, kinds=list(CSV_KINDS), runs=runs)


@bp.get("/admin/polls/<slug>/export/<kind>.csv")
@roles_required(*EXPORT_ROLES)
def export_csv(slug: str, kind: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    wanted = _request_for(kind)
    return _download(poll, wanted)


@bp.get("/admin/polls/<slug>/export/<kind>.xlsx")
@roles_required(*EXPORT_ROLES)
def export_xlsx(slug: str, kind: str) -> ResponseReturnValue:
    """The same cells as the CSV of that kind, as an Excel workbook."""
    poll = poll_or_404(slug)
    return _download(poll, _request_for(kind, xlsx=True))


@bp.get("/admin/polls/<slug>/export/floip.zip")
@roles_required(*EXPORT_ROLES)
def export_floip(slug: str) -> ResponseReturnValue:
    poll = poll_or_404(slug)
    return _download(poll, exports.ExportRequest("floip"))


def _download(poll: Poll, wanted: exports.ExportRequest) -> ResponseReturnValue:
    session = db_session()
    actor = current_user.email
    try:
        exports.check_request(poll, wanted)
    except exports.ExportError as error:
        abort(400, str(error))
    # A workbook is written about ten times slower than its CSV (docs/benchmarks.md): a job
    # writes it from a fifth of the CSV's size, so no request runs much over a few seconds.
    limit = _inline_limit() // XLSX_SLOWER if wanted.xlsx else _inline_limit()
    large = wanted.kind == "floip" or (
        wanted.kind in ("responses", "ballots")
        and exports.count_answers(session, poll, wanted) > limit
    )
    if large:
        # A zip or a big file is written by a job; the page shows its progress.
        with request_transaction() as s:
            run = exports.create_run(s, poll, wanted, actor, _exports_dir())
        start_job(run.id)
        return redirect(url_for("exports.export_progress", export_id=run.id))
    filename = exports.export_filename(poll.slug, wanted, utcnow().date())
    with request_transaction() as s:
        exports.record_download(s, actor, poll, wanted, via="web")
    db = runtime().db
    poll_id = poll.id
    if wanted.xlsx:
        return _xlsx_response(db, poll_id, wanted, filename)

    def body() -> Iterator[bytes]:
        # Its own session: the request's one is closed when the view returns, before streaming.
        with db.transaction() as stream_session:
            streaming_poll = stream_session.get(Poll, poll_id)
            assert streaming_poll is not None
            for chunk in exports.csv_text(stream_session, streaming_poll, wanted, bom=True):
                yield chunk.encode("utf-8")

    return Response(
        body(),
        mimetype="text/csv",
        content_type="text/csv; charset=utf-8",
        headers=_attachment(filename),
    )


def _xlsx_response(
    db: Database, poll_id: int, wanted: exports.ExportRequest, filename: str
) -> ResponseReturnValue:
    """A workbook is a zip, finished before its first byte can go: write it to a temporary
    file (row by row, so memory stays flat), send that, and remove it once sent."""
    folder = _exports_dir()
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="download-", suffix=".xlsx", dir=folder)
    os.close(handle)
    path = Path(name)
    try:
        with db.transaction() as session:
            poll = session.get(Poll, poll_id)
            assert poll is not None
            exports.write_xlsx(path, session, poll, wanted)
    except exports.ExportError as error:
        path.unlink(missing_ok=True)
        abort(400, str(error))
    except BaseException:
        path.unlink(missing_ok=True)
        raise

    def body() -> Iterator[bytes]:
        try:
            with path.open("rb") as workbook:
                while chunk := workbook.read(CHUNK):
                    yield chunk
        finally:
            path.unlink(missing_ok=True)

    response = Response(body(), mimetype=exports.XLSX_MIME, headers=_attachment(filename))
    response.headers["Content-Length"] = str(path.stat().st_size)
    response.call_on_close(lambda: path.unlink(missing_ok=True))  # a download never read
    return response


@bp.get("/admin/exports/<int:export_id>")
@roles_required(*EXPORT_ROLES)
def export_progress(export_id: int) -> ResponseReturnValue:
    run = db_session().get(ExportRun, export_id)
    if run is None:
        abort(404)
    poll = db_session().get(Poll, run.poll_id)
    page = render_template("exports/progress.html", run=run, poll=poll)
    if run.status in (ExportStatus.DONE, ExportStatus.FAILED):
        return page
    # A Refresh header rather than a script: the CSP allows no inline scripts, and the page
    # needs nothing more than to reload until the file is ready.
    return page, 200, {"Refresh": "2", "Cache-Control": "no-store"}


@bp.get("/admin/exports/<int:export_id>/download")
@roles_required(*EXPORT_ROLES)
def export_file(export_id: int) -> ResponseReturnValue:
    session = db_session()
    run = session.get(ExportRun, export_id)
    if run is None or run.status != ExportStatus.DONE or not run.path:
        abort(404)
    path = Path(run.path)
    if not path.is_file():
        abort(410, "the file has been removed; export it again")
    poll = session.get(Poll, run.poll_id)
    if poll is None:
        abort(404)
    with request_transaction() as s:
        exports.record_download(
            s,
            current_user.email,
            poll,
            exports.ExportRequest.from_json(run.options),
            via="web-file",
            rows=run.rows_done,
        )
    mimetype = {".zip": "application/zip", ".xlsx": exports.XLSX_MIME}.get(
        path.suffix, "text/csv; charset=utf-8"
    )
    response = send_file(
        path, mimetype=mimetype, as_attachment=True, download_name=run.filename or path.name
    )
    response.headers["Cache-Control"] = "no-store"
    return response

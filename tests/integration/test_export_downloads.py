"""Export downloads from the web: who may take them, Excel-friendly streamed CSVs, the audit
record, and large exports written by a job behind a progress page."""

from __future__ import annotations

import csv
import io
import re
import zipfile

import pytest
import sqlalchemy as sa

from smsapp.formats import columns
from smsapp.models import AuditEvent, ExportRun
from smsapp.services.people.staff import create_user
from smsapp.web import downloads
from tests.support.every_kind import SAM_ANSWERS, build_every_kind

PASSWORD = "correct horse battery"


def login(runtime, client, role: str) -> str:
    email = f"{role}@example.org"
    with runtime.db.transaction() as s:
        create_user(s, email, PASSWORD, role)
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert response.status_code in (302, 303), response.data
    return email


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM, so Excel reads UTF-8
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def downloads_logged(runtime) -> list[AuditEvent]:
    with runtime.db.transaction() as s:
        return list(
            s.scalars(
                sa.select(AuditEvent)
                .where(AuditEvent.action == "export.download")
                .order_by(AuditEvent.id)
            )
        )


@pytest.mark.parametrize("role", ["researcher", "facilitator", "admin"])
def test_staff_who_analyse_can_download_every_export(runtime, client, role) -> None:
    built = build_every_kind(runtime)
    email = login(runtime, client, role)
    page = client.get(f"/admin/polls/{built.slug}/exports")
    assert page.status_code == 200
    for kind in ("responses", "responses-wide", "ballots", "tally", "codebook"):
        assert f"/admin/polls/{built.slug}/export/{kind}.csv" in page.get_data(as_text=True)
        response = client.get(f"/admin/polls/{built.slug}/export/{kind}.csv")
        assert response.status_code == 200, (kind, response.data[:300])
        assert response.mimetype == "text/csv"
        disposition = response.headers["Content-Disposition"]
        assert re.fullmatch(
            rf'attachment; filename="every-kind-{kind}-\d{{4}}-\d\d-\d\d\.csv"', disposition
        ), disposition
        rows = read_csv(response.data)
        assert rows[0], kind
    events = downloads_logged(runtime)
    assert [e.details["export"] for e in events] == [
        "responses",
        "responses-wide",
        "ballots",
        "tally",
        "codebook",
    ]
    assert all(e.actor == email and e.details["via"] == "web" for e in events)


def test_streamed_responses_match_the_cli_file_and_keep_emoji(runtime, client, runner, tmp_path):
    built = build_every_kind(runtime)
    login(runtime, client, "researcher")
    response = client.get(f"/admin/polls/{built.slug}/export/responses.csv")
    rows = read_csv(response.data)
    assert rows[0] == [*columns.RESPONSES, *columns.RESPONSES_EXTRA]
    assert len(rows) - 1 == len(SAM_ANSWERS) + 8
    out = tmp_path / "cli.csv"
    assert runner.invoke(["export", "responses", built.slug, "-o", str(out)]).exit_code == 0
    with out.open(encoding="utf-8", newline="") as handle:
        assert list(csv.reader(handle)) == rows
    assert "+44" not in response.data.decode("utf-8")


@pytest.mark.parametrize("role", ["safeguarding"])
def test_other_roles_and_strangers_cannot_download(runtime, client, role) -> None:
    built = build_every_kind(runtime)
    anonymous = client.get(f"/admin/polls/{built.slug}/export/responses.csv")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
    login(runtime, client, role)
    assert client.get(f"/admin/polls/{built.slug}/export/responses.csv").status_code == 403
    assert client.get(f"/admin/polls/{built.slug}/exports").status_code == 403
    assert downloads_logged(runtime) == []


def test_unknown_poll_kind_or_question(runtime, client) -> None:
    build_every_kind(runtime)
    login(runtime, client, "researcher")
    assert client.get("/admin/polls/nope/export/responses.csv").status_code == 404
    assert client.get("/admin/polls/every-kind/export/secrets.csv").status_code == 404
    bad = client.get("/admin/polls/every-kind/export/ballots.csv?question=mood")
    assert bad.status_code == 400
    assert downloads_logged(runtime) == []


def test_ballots_of_one_question_and_suppressed_tally(runtime, client) -> None:
    build_every_kind(runtime)
    login(runtime, client, "researcher")
    response = client.get("/admin/polls/every-kind/export/ballots.csv?question=name")
    assert 'filename="every-kind-ballots-name-' in response.headers["Content-Disposition"]
    rows = read_csv(response.data)
    assert {r[2] for r in rows[1:]} == {"name"} and len(rows) == 3
    tally = client.get("/admin/polls/every-kind/export/tally.csv?suppress_below=5")
    assert tally.status_code == 200
    [event] = [e for e in downloads_logged(runtime) if e.details["export"] == "tally"]
    assert event.details["suppress_below"] == 5


def test_large_export_runs_as_a_job_with_progress_then_downloads(
    runtime, app, client, monkeypatch
) -> None:
    built = build_every_kind(runtime)
    app.config["EXPORT_INLINE_LIMIT"] = 5  # this poll has 18 answers: "large"
    started: list[int] = []
    monkeypatch.setattr(downloads, "start_job", started.append)
    login(runtime, client, "researcher")
    response = client.get(f"/admin/polls/{built.slug}/export/responses.csv")
    assert response.status_code == 302
    [export_id] = started
    assert response.headers["Location"].endswith(f"/admin/exports/{export_id}")

    waiting = client.get(f"/admin/exports/{export_id}")
    assert waiting.status_code == 200 and waiting.headers["Refresh"] == "2"
    assert "<progress" in waiting.get_data(as_text=True)
    assert client.get(f"/admin/exports/{export_id}/download").status_code == 404

    from jobs.exports import export_to_file

    assert export_to_file(export_id) == {"export_id": export_id, "status": "done", "rows": 18}
    done = client.get(f"/admin/exports/{export_id}")
    page = done.get_data(as_text=True)
    assert "Refresh" not in done.headers and f"/admin/exports/{export_id}/download" in page
    file = client.get(f"/admin/exports/{export_id}/download")
    assert file.status_code == 200
    assert re.search(
        r'filename="?every-kind-responses-\d{4}-\d\d-\d\d\.csv', file.headers["Content-Disposition"]
    )
    rows = read_csv(file.data)
    file.close()  # send_file keeps the file open until the response is closed
    assert rows[0] == [*columns.RESPONSES, *columns.RESPONSES_EXTRA] and len(rows) == 19
    with runtime.db.transaction() as s:
        run = s.get(ExportRun, export_id)
        assert run is not None and run.rows_done == run.rows_total == 18
    [event] = downloads_logged(runtime)
    assert event.details["via"] == "web-file" and event.details["rows"] == 18
    # running the job again (a repeated queue entry) changes nothing
    assert export_to_file(export_id)["status"] == "done"


def test_floip_package_downloads_through_the_job(runtime, client, monkeypatch) -> None:
    built = build_every_kind(runtime)
    started: list[int] = []
    monkeypatch.setattr(downloads, "start_job", started.append)
    login(runtime, client, "facilitator")
    response = client.get(f"/admin/polls/{built.slug}/export/floip.zip")
    assert response.status_code == 302
    from jobs.exports import export_to_file

    export_to_file(started[0])
    file = client.get(f"/admin/exports/{started[0]}/download")
    assert file.status_code == 200 and file.mimetype == "application/zip"
    data = file.data
    file.close()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["datapackage.json", "responses.csv"]

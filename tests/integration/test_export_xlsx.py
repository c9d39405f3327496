"""The XLSX beside each CSV: the same cells (pseudonyms, redaction, neutralised formula starts,
suppressed counts), text never turned into a formula or a link, from the page, the job and the
CLI; and memory that stays level as the poll grows."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import pytest
import sqlalchemy as sa

from smsapp.models import AuditEvent, ExportRun, Poll
from smsapp.services.research import exports
from smsapp.services.research.exports import reading
from smsapp.services.votes.tallying import tally_poll
from smsapp.web import downloads
from tests.integration.test_export_downloads import login, read_csv
from tests.support.every_kind import add_people, build_every_kind, open_every_kind
from tests.support.xlsx import read_xlsx, sheet_xml

KINDS = ["responses", "responses-wide", "ballots", "tally", "codebook", "tally?suppress_below=5"]


def _pad(rows: list[list[str]]) -> list[list[str]]:
    width = max(len(r) for r in rows)
    return [r + [""] * (width - len(r)) for r in rows]


@pytest.mark.parametrize("kind", KINDS)
def test_each_workbook_has_the_csv_cells(runtime, client, kind: str) -> None:
    built = build_every_kind(runtime)
    with runtime.db.transaction() as s:
        poll = s.scalar(sa.select(Poll).where(Poll.slug == built.slug))
        assert poll is not None
        tally_poll(s, poll, actor="t")  # the tally exports need a stored count
    login(runtime, client, "researcher")
    name, _, query = kind.partition("?")
    suffix = f"?{query}" if query else ""
    csv_rows = read_csv(client.get(f"/admin/polls/{built.slug}/export/{name}.csv{suffix}").data)
    response = client.get(f"/admin/polls/{built.slug}/export/{name}.xlsx{suffix}")
    assert response.status_code == 200, response.data[:300]
    data = response.data
    response.close()  # send_file keeps the file open until the response is closed
    assert response.mimetype == exports.XLSX_MIME
    disposition = response.headers["Content-Disposition"]
    assert re.search(rf'filename="?every-kind-{name}-\d{{4}}-\d\d-\d\d\.xlsx', disposition)
    assert len(csv_rows) > 1, kind
    assert _pad(read_xlsx(data)) == _pad(csv_rows)
    xml = sheet_xml(data)
    assert "<f>" not in xml and "<hyperlinks" not in xml  # no formula, no link
    assert "+44" not in xml
    with runtime.db.transaction() as s:
        [event] = s.scalars(sa.select(AuditEvent).where(AuditEvent.details["xlsx"].as_boolean()))
        assert event.action == "export.download" and event.details["export"] == name


def test_a_formula_a_young_person_typed_stays_neutralised_text(runtime, client) -> None:
    built = build_every_kind(runtime)
    login(runtime, client, "researcher")
    response = client.get(f"/admin/polls/{built.slug}/export/responses.xlsx")
    rows = read_xlsx(response.data)
    response.close()
    typed = [cell for row in rows for cell in row if "HYPERLINK" in cell]
    assert typed and all(cell.startswith("'=") for cell in typed)


def test_the_exports_page_offers_excel_beside_each_csv(runtime, client) -> None:
    built = build_every_kind(runtime)
    login(runtime, client, "facilitator")
    page = client.get(f"/admin/polls/{built.slug}/exports").get_data(as_text=True)
    for kind in ("responses", "responses-wide", "ballots", "tally", "codebook"):
        assert f"/admin/polls/{built.slug}/export/{kind}.xlsx" in page
    assert client.get("/admin/polls/every-kind/export/floip.xlsx").status_code == 404
    assert (
        client.get("/admin/polls/every-kind/export/ballots.xlsx?question=mood").status_code == 400
    )


def test_a_large_workbook_is_written_by_the_job(runtime, app, client, monkeypatch) -> None:
    built = build_every_kind(runtime)
    app.config["EXPORT_INLINE_LIMIT"] = 50  # 18 answers: a CSV inline, a workbook by the job
    started: list[int] = []
    monkeypatch.setattr(downloads, "start_job", started.append)
    login(runtime, client, "researcher")
    inline = client.get(f"/admin/polls/{built.slug}/export/responses.csv")
    assert inline.status_code == 200 and started == []
    csv_rows = read_csv(inline.data)
    response = client.get(f"/admin/polls/{built.slug}/export/responses.xlsx")
    assert response.status_code == 302
    [export_id] = started
    from jobs.exports import export_to_file

    assert export_to_file(export_id)["rows"] == 18
    with runtime.db.transaction() as s:
        run = s.get(ExportRun, export_id)
        assert run is not None and run.filename and run.filename.endswith(".xlsx")
    file = client.get(f"/admin/exports/{export_id}/download")
    assert file.status_code == 200 and file.mimetype == exports.XLSX_MIME
    rows = read_xlsx(file.data)
    file.close()
    assert _pad(rows) == _pad(csv_rows)  # header + 18 answers, the same cells


def test_cli_writes_a_workbook_when_the_file_ends_in_xlsx(runtime, runner, tmp_path: Path) -> None:
    built = build_every_kind(runtime)
    as_csv, as_xlsx = tmp_path / "r.csv", tmp_path / "r.xlsx"
    assert runner.invoke(["export", "ballots", built.slug, "-o", str(as_csv)]).exit_code == 0
    done = runner.invoke(["export", "ballots", built.slug, "-o", str(as_xlsx)])
    assert done.exit_code == 0, done.output
    import csv

    with as_csv.open(encoding="utf-8", newline="") as handle:
        expected = list(csv.reader(handle))
    assert _pad(read_xlsx(as_xlsx.read_bytes())) == _pad(expected)
    bad = runner.invoke(["export", "floip", built.slug, "-o", str(tmp_path / "f.xlsx")])
    assert bad.exit_code != 0 and "XLSX is for the CSV exports" in bad.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.xlsx"]  # no half file


def _peak(runtime, poll_id: int, path: Path) -> tuple[int, int]:
    with runtime.db.transaction() as s:
        poll = s.get(Poll, poll_id)
        assert poll is not None
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            base = tracemalloc.get_traced_memory()[0]
            rows = exports.write_xlsx(path, s, poll, exports.ExportRequest("responses", xlsx=True))
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
    return rows, peak


def test_workbook_memory_does_not_grow_with_rows(runtime, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(reading, "STREAM_BATCH", 100)
    poll_id = open_every_kind(runtime)
    add_people(runtime, poll_id, 0, 100)  # 1,000 answers
    rows_small, peak_small = _peak(runtime, poll_id, tmp_path / "small.xlsx")
    add_people(runtime, poll_id, 100, 400)  # 5,000 answers
    rows_large, peak_large = _peak(runtime, poll_id, tmp_path / "large.xlsx")
    assert rows_large == 5 * rows_small
    assert peak_large < peak_small * 1.2 + 64 * 1024, (peak_small, peak_large)

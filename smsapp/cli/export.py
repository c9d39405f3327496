"""`smsapp export`: write a research export of one poll to a file, or nothing at all on error."""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path

import click

from smsapp.cli.base import cli, fail, runtime
from smsapp.services.polls.definitions import PollError, require_poll
from smsapp.services.research import exports


@cli.command("export")
@click.argument("kind", type=click.Choice(exports.KINDS))
@click.argument("slug")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The file to write (.csv, or .xlsx for an Excel workbook; .zip for floip).",
)
@click.option("--wide", is_flag=True, help="responses: one row per participant.")
@click.option("--question", help="ballots: only this question's ballots, ready for smsapp tally.")
@click.option(
    "--suppress-below",
    type=int,
    metavar="K",
    help="tally: show counts from 1 to K-1 as <K.",
)
@click.option("--bom", is_flag=True, help="Start with a UTF-8 byte-order mark, for Excel.")
def export_command(
    kind: str,
    slug: str,
    output: Path,
    wide: bool,
    question: str | None,
    suppress_below: int | None,
    bom: bool,
) -> None:
    """Export KIND (responses, ballots, tally, codebook, floip) of poll SLUG to a file."""
    try:
        request = exports.ExportRequest(
            kind,
            wide=wide,
            question=question,
            suppress_below=suppress_below,
            xlsx=output.suffix.lower() == ".xlsx",  # the same cells as an Excel workbook
        )
    except exports.ExportError as error:
        fail(str(error))
    target = output.resolve()
    if not target.parent.is_dir():
        fail(f"{target.parent} is not a folder")
    # Write beside the target and rename at the end, so an error never leaves half a file.
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        with runtime().db.transaction() as session:
            poll = require_poll(session, slug)
            if request.kind == "floip":
                with temp.open("wb") as binary:
                    rows = exports.write_floip(binary, session, poll)
            elif request.xlsx:
                rows = exports.write_xlsx(temp, session, poll, request)
            else:
                with temp.open("w", encoding="utf-8", newline="") as text:
                    rows = exports.write_csv(text, session, poll, request, bom=bom)
            exports.record_download(session, _actor(), poll, request, via="cli", rows=rows)
        os.replace(temp, target)
    except (exports.ExportError, PollError) as error:
        temp.unlink(missing_ok=True)
        fail(str(error))
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    click.echo(f"Wrote {rows} rows to {output}.", err=True)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"

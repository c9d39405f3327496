"""`smsapp tally BALLOTS.csv`: count a ballots CSV from the terminal with the same core the
service uses; it recounts what `smsapp polls tally` stored."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from smsapp.cli.base import cli
from smsapp.voting import METHODS, BallotFileError, consensus_check, read_ballots_csv, tally
from smsapp.voting.report import render_report


def _read_labels(path: Path) -> dict[str, str]:
    """A CSV with `code` and `label` columns, for friendlier names in the printed table."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "code" not in rows[0] or "label" not in rows[0]:
        raise click.ClickException(f"{path}: a labels file needs 'code' and 'label' columns")
    return {row["code"].strip().upper(): row["label"].strip() for row in rows}


@click.command("tally")
@click.argument("ballots_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--method", type=click.Choice(METHODS), required=True, help="How to count.")
@click.option("--max-ranks", type=click.IntRange(min=1), help="K places for points.")
@click.option("--seed", default="", help="The poll's tie seed, used by the lot.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--skip-unknown", is_flag=True, help="Drop unknown codes instead of failing.")
@click.option("--options", "options_text", help="The option codes, e.g. A,B,C.")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV of code,label for the table.",
)
def tally_command(
    ballots_file: Path,
    method: str,
    max_ranks: int | None,
    seed: str,
    as_json: bool,
    skip_unknown: bool,
    options_text: str | None,
    labels: Path | None,
) -> None:
    """Count BALLOTS_FILE (a CSV with a `ranking` column, optionally `count`)."""
    declared = None
    if options_text is not None:
        declared = [code.strip().upper() for code in options_text.split(",") if code.strip()]
        if not declared:
            raise click.ClickException("--options lists no codes")
    try:
        with ballots_file.open(encoding="utf-8", newline="") as handle:
            options, ballots = read_ballots_csv(handle, options=declared, skip_unknown=skip_unknown)
        result = tally(method, options, ballots, seed=seed, max_ranks=max_ranks)
    except BallotFileError as error:
        raise click.ClickException(f"{ballots_file}: {error}") from error
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{ballots_file}: not UTF-8 text ({error.reason})") from error
    except ValueError as error:
        raise click.ClickException(str(error)) from error

    if as_json:
        if not seed:
            click.echo("Note: no seed was given; the lot used the empty seed.", err=True)
        click.echo(json.dumps(result.to_json_dict(), ensure_ascii=False, indent=2))
        return
    consensus = None if method == "schulze" else consensus_check(options, ballots, seed, result)
    click.echo(
        render_report(
            result,
            labels=_read_labels(labels) if labels else None,
            consensus=consensus,
            seed=seed,
        ),
        nl=False,
    )


cli.add_command(tally_command)

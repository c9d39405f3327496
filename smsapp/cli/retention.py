"""`smsapp retention …`: erase the numbers of groups past their retention days."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, runtime


@cli.group("retention")
def retention_group() -> None:
    """How long numbers are kept after a group ends."""


@retention_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list who would be erased.")
def retention_sweep(dry_run: bool) -> None:
    """Erase the numbers of everyone whose groups all ended more than the retention days ago."""
    from smsapp.services.people.withdrawal import retention_sweep as sweep

    rt = runtime()
    with rt.db.transaction() as s:
        report = sweep(rt, s, dry_run=dry_run)
    verb = "Would erase" if dry_run else "Erased"
    click.echo(
        f"{verb} {len(report.erased)} numbers from groups past retention: "
        f"{', '.join(report.groups) or 'none'}."
    )

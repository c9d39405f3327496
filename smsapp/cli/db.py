"""`smsapp db …`: the database schema."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, runtime


@cli.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the database to the latest schema."""
    from smsapp.migrate import upgrade

    upgrade(runtime().settings.database_url, revision)
    click.echo("Database is up to date.")

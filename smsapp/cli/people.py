"""Commands for the schema, staff accounts, groups and participants."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from smsapp.cli.base import cli, fail, runtime


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


@cli.group("users")
def users_group() -> None:
    """Staff accounts."""


@users_group.command("create")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["admin", "facilitator", "researcher", "safeguarding"]),
)
def users_create(email: str, role: str) -> None:
    """Create a staff account; the password is read from stdin."""
    from smsapp.services.people.staff import StaffError, create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with runtime().db.transaction() as s:
            create_user(s, email, password, role, actor="cli")
    except StaffError as exc:
        fail(str(exc))
    click.echo(f"Created {role} {email.strip().lower()}.")


@users_group.command("unlock")
@click.argument("email")
def users_unlock(email: str) -> None:
    """Let a locked-out account log in again now, from anywhere (clears its failed guesses)."""
    from smsapp.services.people.staff import StaffError, unlock_user

    try:
        with runtime().db.transaction() as s:
            user = unlock_user(s, email, actor="cli")
            state = "" if user.active else " (the account is deactivated: reactivate it too)"
    except StaffError as exc:
        fail(str(exc))
    click.echo(f"Unlocked {email.strip().lower()}{state}.")


@users_group.command("ensure-demo")
def users_ensure_demo() -> None:
    """Create a demo facilitator when there are no users at all (used by `make run`)."""
    import secrets

    import sqlalchemy as sa

    from smsapp.models import StaffUser
    from smsapp.services.people.staff import create_user

    with runtime().db.transaction() as s:
        if s.scalar(sa.select(sa.func.count(StaffUser.id))):
            return
        password = secrets.token_urlsafe(12)
        create_user(s, "demo@example.org", password, "facilitator", actor="make run")
    click.echo("")
    click.echo("  A demo facilitator was created:")
    click.echo("    e-mail:   demo@example.org")
    click.echo(f"    password: {password}")
    click.echo("")


@cli.group("groups")
def groups_group() -> None:
    """Groups of participants."""


@groups_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name")
def groups_create(slug: str, name: str) -> None:
    """Create a group."""
    from smsapp.services.people.groups import GroupError, create_group

    try:
        with runtime().db.transaction() as s:
            create_group(s, slug, name, actor="cli")
    except GroupError as exc:
        fail(str(exc))
    click.echo(f"Created group {slug}.")


@cli.group("participants")
def participants_group() -> None:
    """Young participants."""


@participants_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--group", "group_slug", required=True)
def participants_import(file: Path, group_slug: str) -> None:
    """Import participants from CSV (phone, nickname, age_band, consent, language)."""
    from smsapp.services.people.groups import group_by_slug
    from smsapp.services.people.participant_import import ImportFileError, import_participants

    rt = runtime()
    try:
        with rt.db.transaction() as s:
            group = group_by_slug(s, group_slug)
            if group is None:
                fail(f"no group called {group_slug!r}; create it with `smsapp groups create`")
                return
            report = import_participants(s, rt.vault, group, file.read_bytes(), actor="cli")
    except ImportFileError as exc:
        fail(f"{file.name}: {exc}. Nothing was imported.")
        return
    click.echo(report.summary())

"""The `smsapp` command: a Flask CLI group whose commands call the same services as the pages."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from smsapp import create_app
from smsapp.runtime import Runtime


def _runtime() -> Runtime:
    rt: Runtime = current_app.extensions["smsapp"]
    return rt


def fail(message: str) -> None:
    raise click.ClickException(message)


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True)
def cli() -> None:
    """smsapp: SMS surveys and prioritisation votes for young people's groups."""


@cli.group("db")
def db_group() -> None:
    """The database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the database to the latest schema."""
    from smsapp.migrate import upgrade

    upgrade(_runtime().settings.database_url, revision)
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
    from smsapp.services.staff import StaffError, create_user

    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        with _runtime().db.transaction() as s:
            create_user(s, email, password, role, actor="cli")
    except StaffError as exc:
        fail(str(exc))
    click.echo(f"Created {role} {email.strip().lower()}.")


@users_group.command("ensure-demo")
def users_ensure_demo() -> None:
    """Create a demo facilitator when there are no users at all (used by `make run`)."""
    import secrets

    import sqlalchemy as sa

    from smsapp.models import StaffUser
    from smsapp.services.staff import create_user

    with _runtime().db.transaction() as s:
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
    from smsapp.services.participants import GroupError, create_group

    try:
        with _runtime().db.transaction() as s:
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
    from smsapp.services.participants import ImportFileError, group_by_slug, import_participants

    rt = _runtime()
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


@cli.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for smsapp's queue (needs Redis)."""
    from rq import Worker

    from smsapp.queue import QUEUE_NAME

    rt = _runtime()
    redis = rt.redis()
    if redis is None:
        fail("no Redis configured (set REDIS_URL); without Redis, jobs run inside the web process")
        return
    Worker([QUEUE_NAME], connection=redis).work(burst=burst, with_scheduler=False)


@cli.command("clock")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between ticks.")
@click.option("--once", is_flag=True, help="One tick, then exit.")
def clock(interval: float, once: bool) -> None:
    """Enqueue due work (sends, reminders, deadlines, stuck sends) every few seconds."""
    from smsapp.services.clock import run_clock

    run_clock(_runtime(), interval=interval, once=once)


@cli.command("serve")
@click.option("--port", default=5000, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def serve(port: int, host: str) -> None:
    """Run web, worker and clock together for development (what `make run` calls)."""
    from smsapp.devserver import run_all

    run_all(current_app, host=host, port=port)


def _register_optional() -> None:
    try:
        from smsapp.cli_tally import tally_command
    except ImportError:  # pragma: no cover - the voting package is part of the project
        return
    cli.add_command(tally_command)


_register_optional()


def main() -> None:
    cli(prog_name="smsapp")

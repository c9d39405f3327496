"""`smsapp users …`: staff accounts (create, unlock, the demo account)."""

from __future__ import annotations

import sys

import click

from smsapp.cli.base import cli, fail, runtime


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

"""The `smsapp` command group and the small helpers every command module shares."""

from __future__ import annotations

from typing import NoReturn, Protocol

import click
from flask import current_app
from flask.cli import FlaskGroup

from smsapp import create_app
from smsapp.runtime import Runtime


def runtime() -> Runtime:
    rt: Runtime = current_app.extensions["smsapp"]
    return rt


def fail(message: str) -> NoReturn:
    raise click.ClickException(message)


class Plan(Protocol):
    """What a preview shows before texts go: a launch, a results text, an approved question."""

    @property
    def refusal(self) -> str | None: ...

    def summary_lines(self) -> list[str]: ...


def confirmed(plan: Plan, question: str, *, yes: bool, declined: str) -> bool:
    """Show the preview, refuse what the plan refuses, then ask (unless --yes): the one
    preview-then-confirm step of every command that sends texts to a group."""
    for line in plan.summary_lines():
        click.echo(line)
    if plan.refusal:
        fail(plan.refusal)
    if yes or click.confirm(question, default=False):
        return True
    click.echo(declined)
    return False


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True)
def cli() -> None:
    """smsapp: SMS surveys and prioritisation votes for young people's groups."""

"""The `smsapp` command group and the small helpers every command module shares."""

from __future__ import annotations

from typing import NoReturn

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


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True)
def cli() -> None:
    """smsapp: SMS surveys and prioritisation votes for young people's groups."""

"""The `smsapp` console script. Each module adds its commands to the one Flask CLI group."""

from __future__ import annotations

from smsapp.cli import exports, launching, nominations, people, polls, privacy, processes  # noqa: F401  (importing registers the commands)
from smsapp.cli.base import cli


def main() -> None:
    cli(prog_name="smsapp")

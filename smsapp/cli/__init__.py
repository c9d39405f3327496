"""The `smsapp` console script. One module per command group (`smsapp polls …` is polls.py,
`smsapp tally` is tally.py); importing a module adds its commands to the one Flask CLI group."""

from __future__ import annotations

from smsapp.cli import (  # noqa: F401  (importing registers the commands)
    db,
    export,
    groups,
    keys,
    nominations,
    participants,
    polls,
    processes,
    proposals,
    retention,
    tally,
    users,
)
from smsapp.cli.base import cli


def main() -> None:
    cli(prog_name="smsapp")

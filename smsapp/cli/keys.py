"""`smsapp keys …`: the data key that encrypts phone numbers (rotate, new)."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, fail, runtime


@cli.group("keys")
def keys_group() -> None:
    """The data key that encrypts phone numbers."""


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every number and recompute every look-up index with SMSAPP_DATA_KEY.

    Set the new key as SMSAPP_DATA_KEY and the old one in SMSAPP_OLD_DATA_KEYS first.
    """
    from smsapp.privacy.vault import VaultError
    from smsapp.services.people.keys import rotate

    try:
        report = rotate(runtime(), actor="cli")
    except VaultError as exc:
        fail(f"{exc}. Add the key it was made with to SMSAPP_OLD_DATA_KEYS and run again.")
    click.echo(report.summary())
    if report.remaining_old:
        fail("some numbers are still under an old key; run `smsapp keys rotate` again")


@keys_group.command("new")
def keys_new() -> None:
    """Print a fresh random data key (for SMSAPP_DATA_KEY)."""
    from smsapp.config import new_data_key

    click.echo(new_data_key())

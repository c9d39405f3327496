"""Commands that protect participants' data: erase one person, rotate the data key, and the
retention sweep."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, fail, runtime
from smsapp.cli.people import groups_group, participants_group


@participants_group.command("erase")
@click.argument("pseudonym")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def participants_erase(pseudonym: str, yes: bool) -> None:
    """Withdraw a participant: stop all texts, erase their number and nickname (and their
    answers unless the group's consent keeps them), and text them a confirmation."""
    from smsapp.services.people.withdrawal import find_by_pseudonym, withdraw

    rt = runtime()
    with rt.db.transaction() as s:
        participant = find_by_pseudonym(s, pseudonym)
        if participant is None:
            fail(f"no participant {pseudonym.strip().upper()!r}")
        if participant.status == "withdrawn":
            click.echo(f"{participant.pseudonym} has already withdrawn; nothing to do.")
            return
    if not yes:
        click.confirm(
            f"Erase {pseudonym.strip().upper()}'s personal data? This cannot be undone",
            abort=True,
        )
    with rt.db.transaction() as s:
        participant = find_by_pseudonym(s, pseudonym)
        assert participant is not None
        result = withdraw(rt, s, participant, via="cli", actor="cli")
    kept = (
        f"{result.answers_kept} answers kept, anonymised"
        if result.answers_kept
        else f"{result.answers_erased} answers erased"
    )
    sent = {"sent": "confirmation texted", "failed": "the confirmation text FAILED"}.get(
        result.confirmation_status, "no confirmation text"
    )
    click.echo(f"Withdrew {pseudonym.strip().upper()}: number and nickname erased, {kept}; {sent}.")


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


@cli.group("retention")
def retention_group() -> None:
    """How long numbers are kept after a group ends."""


@groups_group.command("end")
@click.argument("slug")
def groups_end(slug: str) -> None:
    """Mark a group as ended; numbers are erased the retention days after this."""
    from smsapp.services.people.groups import end_group, group_by_slug
    from smsapp.services.people.withdrawal import retention_days

    rt = runtime()
    with rt.db.transaction() as s:
        group = group_by_slug(s, slug)
        if group is None:
            fail(f"no group called {slug!r}")
        end_group(s, group, actor="cli")
        days = retention_days(group, rt.settings.retention_days)
    click.echo(
        f"Ended {slug}; its numbers will be erased after {days} days (smsapp retention sweep)."
    )


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

"""`smsapp participants …`: import young participants from CSV, and erase one on withdrawal."""

from __future__ import annotations

from pathlib import Path

import click

from smsapp.cli.base import cli, fail, runtime


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
            report = import_participants(
                s, rt.vault, group, file.read_bytes(), actor="cli", zone=rt.settings.timezone
            )
    except ImportFileError as exc:
        fail(f"{file.name}: {exc}. Nothing was imported.")
        return
    click.echo(report.summary())


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

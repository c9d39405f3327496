"""`smsapp polls …`: import a poll file, and read its results in the terminal."""

from __future__ import annotations

from pathlib import Path

import click

from smsapp.cli.base import cli, fail, runtime
from smsapp.conversation.definition import PollDefinitionError


@cli.group("polls")
def polls_group() -> None:
    """Polls: import, launch, close, results."""


@polls_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def polls_import(file: Path) -> None:
    """Create or update a draft poll from YAML; validates everything first."""
    from smsapp.services.polls.definitions import PollError, import_poll

    try:
        source = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{file.name} is not UTF-8 text")
        return
    try:
        with runtime().db.transaction() as s:
            result = import_poll(s, source, actor="cli")
            slug, created, n = result.poll.slug, result.created, len(result.definition.questions)
            seed = result.poll.tie_seed
    except PollDefinitionError as exc:
        lines = [f"{file.name}: {len(exc.problems)} problem(s); nothing was imported:"]
        lines += [f"  - {p.field}: {p.message}" for p in exc.problems]
        fail("\n".join(lines))
        return
    except PollError as exc:
        fail(f"{file.name}: {exc}. Nothing was imported.")
        return
    click.echo(f"{'Created' if created else 'Updated'} draft poll {slug} with {n} questions.")
    click.echo(f"Tie-break seed (fixed before voting opens): {seed}")


@polls_group.command("open")
@click.argument("slug")
def polls_open(slug: str) -> None:
    """Open a keyword poll without inviting anyone (texting its keyword starts it)."""
    from smsapp.services.polls.definitions import PollError, open_poll, require_poll

    try:
        with runtime().db.transaction() as s:
            open_poll(s, require_poll(s, slug), actor="cli")
    except PollError as exc:
        fail(str(exc))
    click.echo(f"Poll {slug} is open.")


@polls_group.command("results")
@click.argument("slug")
def polls_results(slug: str) -> None:
    """A readable summary per question: counts and response rate."""
    from smsapp.services.polls.definitions import PollError, require_poll
    from smsapp.services.research.results import format_summary, summarise

    try:
        with runtime().db.transaction() as s:
            summary = summarise(s, require_poll(s, slug))
    except PollError as exc:
        fail(str(exc))
        return
    click.echo(format_summary(summary), nl=False)

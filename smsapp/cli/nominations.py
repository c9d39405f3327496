"""`smsapp nominations …`: list, moderate, suggest merges and shortlist into a vote: the
naming story from the terminal."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, fail, runtime


@cli.group("nominations")
def nominations_group() -> None:
    """Nominations: list, approve, reject, suggest merges, shortlist into a vote."""


@nominations_group.command("list")
@click.argument("slug")
def nominations_list(slug: str) -> None:
    """One line per nomination: code, text, the author's pseudonym, status."""
    from smsapp.services.polls.definitions import PollError, require_poll
    from smsapp.services.votes.nominations import format_line, list_nominations

    try:
        with runtime().db.transaction() as s:
            lines = list_nominations(s, require_poll(s, slug))
    except PollError as exc:
        fail(str(exc))
    if not lines:
        click.echo(f"No nominations in {slug} yet.")
    for line in lines:
        click.echo(format_line(line))


def _moderate(slug: str, codes: tuple[str, ...], action: str, reason: str | None = None) -> None:
    from smsapp.services.polls.definitions import PollError, require_poll
    from smsapp.services.votes import nominations

    try:
        with runtime().db.transaction() as s:
            poll = require_poll(s, slug)
            if action == "approve":
                rows = nominations.approve(s, poll, codes, actor="cli")
            else:
                rows = nominations.reject(s, poll, codes, actor="cli", reason=reason)
            done = [n.code for n in rows]
    except PollError as exc:
        fail(str(exc))
    click.echo(f"{action.capitalize()}d {', '.join(done)}.")


@nominations_group.command("approve")
@click.argument("slug")
@click.argument("codes", nargs=-1, required=True)
def nominations_approve(slug: str, codes: tuple[str, ...]) -> None:
    """Approve nominations by code (N1 N2 …)."""
    _moderate(slug, codes, "approve")


@nominations_group.command("reject")
@click.argument("slug")
@click.argument("codes", nargs=-1, required=True)
@click.option("--reason", help="Why (kept in the audit log, never shown to participants).")
def nominations_reject(slug: str, codes: tuple[str, ...], reason: str | None) -> None:
    """Reject nominations: they never reach a ballot or a results page."""
    _moderate(slug, codes, "reject", reason)


@nominations_group.command("suggest")
@click.argument("slug")
def nominations_suggest(slug: str) -> None:
    """Near-duplicates worth merging (confirm each with `shortlist --merge DUP=KEPT`)."""
    from smsapp.services.polls.definitions import PollError, require_poll
    from smsapp.services.votes.nominations import list_nominations, merge_suggestions

    try:
        with runtime().db.transaction() as s:
            poll = require_poll(s, slug)
            texts = {line.code: line.text for line in list_nominations(s, poll)}
            suggestions = merge_suggestions(s, poll)
    except PollError as exc:
        fail(str(exc))
    if not suggestions:
        click.echo("No near-duplicates found.")
    for sg in suggestions:
        dups = ", ".join(f"{d} \u201c{texts[d]}\u201d" for d in sg.duplicates)
        merges = " ".join(f"--merge {d}={sg.keep}" for d in sg.duplicates)
        click.echo(f"{sg.keep} \u201c{texts[sg.keep]}\u201d <- {dups}  (similarity {sg.score})")
        click.echo(f"    {merges}")


def _shortlist_args(words: tuple[str, ...]) -> tuple[list[str], dict[str, str], str | None]:
    """--keep CODE... --merge DUP=KEPT... --into SLUG (also --keep=N1,N2 and repeated flags)."""
    keep: list[str] = []
    merges: dict[str, str] = {}
    into: str | None = None
    current: str | None = None
    for word in words:
        if word.startswith("--"):
            name, _, inline = word.partition("=")
            if name not in ("--keep", "--merge", "--into"):
                fail(f"no such option: {name} (use --keep, --merge and --into)")
            current = name
            values = [inline] if inline else []
        else:
            if current is None:
                fail(f"{word!r} needs an option before it: --keep, --merge or --into")
            values = [word]
        for value in (v for item in values for v in item.split(",") if v.strip()):
            if current == "--keep":
                keep.append(value.strip().upper())
            elif current == "--merge":
                dup, eq, kept = value.partition("=")
                if not eq or not dup.strip() or not kept.strip():
                    fail(f"--merge takes DUP=KEPT, e.g. N4=N1; got {value!r}")
                merges[dup.strip().upper()] = kept.strip().upper()
            else:
                if into is not None:
                    fail("--into takes one vote poll")
                into = value.strip()
    return keep, merges, into


@nominations_group.command(
    "shortlist", context_settings={"ignore_unknown_options": True, "allow_extra_args": False}
)
@click.argument("slug")
@click.argument("words", nargs=-1, type=click.UNPROCESSED)
def nominations_shortlist(slug: str, words: tuple[str, ...]) -> None:
    """SLUG --keep CODE... [--merge DUP=KEPT...] --into VOTE_SLUG

    Folds each DUP into KEPT and makes the kept nominations (in the order given) the options
    A, B, C… of the draft vote poll whose question says `options_from: SLUG.QUESTION`.
    """
    from smsapp.conversation.definition import PollDefinitionError
    from smsapp.services.polls.definitions import PollError
    from smsapp.services.votes.nominations import shortlist

    keep, merges, into = _shortlist_args(words)
    if not keep:
        fail("give the nominations to keep: --keep N1 N2 …")
    if into is None:
        fail("give the vote poll: --into VOTE_SLUG")
    try:
        with runtime().db.transaction() as s:
            made = shortlist(s, slug, keep=keep, merges=merges, into=into, actor="cli")
    except (PollError, PollDefinitionError) as exc:
        fail(f"{exc}. Nothing was changed.")
    click.echo(f"Shortlist for {made.vote_slug}.{made.question_key}:")
    for code, label, nomination in made.options:
        click.echo(f"  {code}) {label}  (from {nomination})")
    if merges:
        click.echo("Merged: " + ", ".join(f"{d} into {k}" for d, k in merges.items()))

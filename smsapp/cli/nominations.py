"""`smsapp nominations …` (list, moderate, suggest merges, shortlist) and `smsapp polls tally` /
`smsapp polls announce`: the naming story from the terminal."""

from __future__ import annotations

import json

import click

from smsapp.cli.base import cli, fail, runtime
from smsapp.cli.polls import polls_group
from smsapp.cli_tally import tally_command

# `smsapp tally BALLOTS.csv` (contract.md) recounts what `smsapp polls tally` stored
if "tally" not in cli.commands:
    cli.add_command(tally_command)


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


@polls_group.command("tally")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print the stored results as JSON.")
def polls_tally(slug: str, as_json: bool) -> None:
    """Count now: final if the poll has closed, provisional while it is open."""
    from smsapp.services.polls.definitions import PollError, load_definition, require_poll
    from smsapp.services.votes.tallying import reproduce_args, tally_poll

    try:
        with runtime().db.transaction() as s:
            poll = require_poll(s, slug)
            runs = tally_poll(s, poll, actor="cli")
            questions = {q.key: q for q in load_definition(poll).ballot_questions()}
            shown = [
                (r.question_key, r.method, r.provisional, r.result, r.consensus, r.ballots)
                for r in runs
            ]
            seed, slug_, status = poll.tie_seed, poll.slug, poll.status
            repro = {
                (r.question_key, r.method): reproduce_args(
                    poll, questions[r.question_key], r.method
                )
                for r in runs
                if questions[r.question_key].kind != "points"
            }
    except PollError as exc:
        fail(str(exc))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {"question": k, "method": m, "provisional": p, "result": res, "consensus": c}
                    for k, m, p, res, c, _ in shown
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(f"{slug_} ({status}), tie seed {seed}")
    for key, method, provisional, result, consensus, ballots in shown:
        labels = {o.code: o.label for o in questions[key].options}
        kind = "provisional" if provisional else "final"
        click.echo(f"[{key}] {method}, {ballots} ballot(s), {kind}:")
        for place, code in enumerate(result["order"], 1):
            click.echo(f"  {place}. {code} {labels.get(code, code)}  {result['scores'].get(code)}")
        for tb in result.get("tie_breaks", []):
            click.echo(f"  tie: {tb['explanation']}")
        if consensus is not None:
            agrees = "agrees" if consensus["agrees"] else "DISAGREES"
            click.echo(f"  Schulze check {agrees} (winner {consensus['schulze_winner']})")
        if (key, method) in repro:
            click.echo("  recount: smsapp tally BALLOTS.csv " + " ".join(repro[(key, method)]))


@polls_group.command("announce")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Queue without asking for confirmation.")
def polls_announce(slug: str, yes: bool) -> None:
    """Preview the results text and who gets it; then queue it to everyone who took part."""
    from smsapp.services.polls.definitions import PollError, require_poll
    from smsapp.services.votes.announce import preview, queue_results

    rt = runtime()
    try:
        with rt.db.transaction() as s:
            plan = preview(rt, s, require_poll(s, slug))
    except PollError as exc:
        fail(str(exc))
    for line in plan.summary_lines():
        click.echo(line)
    if not plan.recipients:
        fail("nobody who took part can be texted; nothing was queued")
    if not yes and not click.confirm(
        f"Send the results to {len(plan.recipients)} people?", default=False
    ):
        click.echo("Not sent.")
        return
    try:
        with rt.db.transaction() as s:
            done = queue_results(rt, s, require_poll(s, slug), actor="cli")
    except PollError as exc:
        fail(str(exc))
    try:
        from smsapp.services.outbox.sending import kick_senders

        kick_senders(rt)
    except Exception:  # the clock's send job finds the queued rows anyway
        pass
    click.echo(f"Queued the results to {len(done.recipients)} people.")

"""`smsapp polls …`: import a poll file, open, launch and close it, count it, read its results
in the terminal, and send the results to participants."""

from __future__ import annotations

import json
from pathlib import Path

import click

from smsapp.cli.base import cli, confirmed, fail, runtime
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


@polls_group.command("launch")
@click.argument("slug")
@click.option("--yes", is_flag=True, help="Launch without asking for confirmation.")
def polls_launch(slug: str, yes: bool) -> None:
    """Show recipients, exclusions, segments and cost; then text everyone eligible."""
    from smsapp.services.outbox.sending import try_kick_senders
    from smsapp.services.polls.definitions import PollError
    from smsapp.services.polls.launch import launch_poll, preview_launch

    rt = runtime()
    try:
        with rt.db.transaction() as s:
            plan = preview_launch(rt, s, slug)
    except PollError as exc:
        fail(str(exc))
    if not confirmed(plan, f"Send {plan.texts} texts now?", yes=yes, declined="Not launched."):
        return
    try:
        with rt.db.transaction() as s:
            result = launch_poll(rt, s, slug, actor="cli")
    except PollError as exc:
        fail(str(exc))
    if not try_kick_senders(rt):
        click.echo("The queue could not be reached: the texts go out at the clock's next kick.")
    click.echo(
        f"Launched {slug}: {result.messages} texts queued to {result.conversations - result.waiting}"
        f" people"
        + (f", {result.waiting} waiting for another poll" if result.waiting else "")
        + "."
    )


@polls_group.command("close")
@click.argument("slug")
def polls_close(slug: str) -> None:
    """Close an open poll: conversations end, unsent invitations are cancelled, tally queued."""
    from smsapp.services.polls.closing import close_by_slug
    from smsapp.services.polls.definitions import PollError

    rt = runtime()
    try:
        result = close_by_slug(rt, slug, actor="cli")
    except PollError as exc:
        fail(str(exc))
    click.echo(
        f"Closed {slug}: {result.ended} conversation(s) ended, {result.cancelled} unsent text(s) "
        "cancelled."
    )
    if result.queue_problem:
        click.echo(f"Note: {result.queue_problem}.")


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
    question = f"Send the results to {len(plan.recipients)} people?"
    if not confirmed(plan, question, yes=yes, declined="Not sent."):
        return
    try:
        with rt.db.transaction() as s:
            done = queue_results(rt, s, require_poll(s, slug), actor="cli")
    except PollError as exc:
        fail(str(exc))
    from smsapp.services.outbox.sending import try_kick_senders

    try_kick_senders(rt)  # if the queue is down, the clock's kick finds the rows
    click.echo(f"Queued the results to {len(done.recipients)} people.")


@polls_group.command("duplicate")
@click.argument("slug")
@click.argument("new_slug")
def polls_duplicate(slug: str, new_slug: str) -> None:
    """Copy a poll (closed ones too) into a new draft with the same questions and settings.

    Never copies answers, the schedule or the launch; the copy gets its own tie-break seed."""
    from smsapp.services.polls.definitions import PollError
    from smsapp.services.polls.duplicate import duplicate_poll

    try:
        with runtime().db.transaction() as s:
            done = duplicate_poll(s, slug, new_slug, actor="cli")
            seed = done.poll.tie_seed
    except PollError as exc:
        fail(f"{exc}. Nothing was copied.")
    click.echo(f"Created draft poll {new_slug} from {slug}.")
    click.echo(f"Tie-break seed (its own, fixed before voting opens): {seed}")
    for note in done.notes:
        click.echo(f"Note: {note}.")


@polls_group.command("schedule")
@click.argument("slug")
@click.option("--at", "at_text", metavar='"YYYY-MM-DD HH:MM"', help="Local time to launch.")
@click.option("--cancel", is_flag=True, help="Take the scheduled launch off the poll.")
def polls_schedule(slug: str, at_text: str | None, cancel: bool) -> None:
    """Launch a draft at a local time (SMSAPP_TIMEZONE); quiet hours still apply.

    The clock launches it as `polls launch` would: the same recipients and refusals. Scheduling
    again moves the time; --cancel removes it."""
    from smsapp.schedule.launch_time import local_text
    from smsapp.services.polls.definitions import PollError
    from smsapp.services.polls.scheduling import cancel_schedule, schedule_launch

    if cancel == (at_text is not None):
        fail('give either --at "YYYY-MM-DD HH:MM" or --cancel')
    rt = runtime()
    tz = rt.settings.timezone
    if cancel:
        try:
            with rt.db.transaction() as s:
                was = cancel_schedule(s, slug, actor="cli")
        except PollError as exc:
            fail(str(exc))
        click.echo(f"Cancelled the launch of {slug} scheduled for {local_text(was, tz)}.")
        return
    assert at_text is not None
    try:
        with rt.db.transaction() as s:
            done = schedule_launch(rt, s, slug, at_text, actor="cli")
    except PollError as exc:
        fail(f"{exc}. Nothing was scheduled.")
    click.echo(f"Poll {slug} launches at {done.when}.")
    if done.plan is not None:
        for line in done.plan.summary_lines()[1:]:
            click.echo(f"  {line}")
    if done.warning:
        click.echo(
            f"Warning: a launch now would be refused ({done.warning}). The clock tries at the "
            "scheduled time and records why if it still cannot."
        )
    click.echo(f"To cancel: smsapp polls schedule {slug} --cancel")


@polls_group.command("templates")
@click.argument("name", required=False)
def polls_templates(name: str | None) -> None:
    """List the ready-made polls; with NAME, print that template's YAML (edit it, then import)."""
    from smsapp.services.polls.definitions import PollError
    from smsapp.services.polls.templates import list_templates, template_source

    if name is not None:
        try:
            click.echo(template_source(name), nl=False)
        except PollError as exc:
            fail(str(exc))
        return
    for template in list_templates():
        click.echo(f"{template.name:<20} {template.title} ({template.questions} questions)")
        if template.description:
            click.echo(f"{'':<20} {template.description}")

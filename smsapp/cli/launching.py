"""`smsapp polls launch` and `smsapp polls close`: invite a group to a poll, and end it."""

from __future__ import annotations

import click

from smsapp.cli.base import fail, runtime
from smsapp.cli.polls import polls_group


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
    for line in plan.summary_lines():
        click.echo(line)
    if plan.refusal:
        fail(plan.refusal)
    if not yes and not click.confirm(f"Send {plan.texts} texts now?", default=False):
        click.echo("Not launched.")
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

"""`smsapp proposals …`: the questions young people proposed by texting ASK: list a group's,
approve one into a quick poll and launch it (preview, then y/N), or decline it kindly."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, confirmed, fail, runtime


@cli.group("proposals")
def proposals_group() -> None:
    """Young people's proposed questions (ASK): list, approve, decline."""


@proposals_group.command("list")
@click.argument("group")
def proposals_list(group: str) -> None:
    """One line per proposal: its code first (Q1, Q2…), then status, then text.

    A proposal held for safeguarding shows its code and "held" only, never its words.
    """
    from smsapp.services.agenda.proposals import ProposalError, list_proposals

    try:
        with runtime().db.transaction() as s:
            lines = list_proposals(s, group)
    except ProposalError as exc:
        fail(str(exc))
    if not lines:
        click.echo(f"No proposals in {group} yet.")
    for line in lines:
        text = "" if line.text is None else line.text
        extra = []
        if line.edited:
            extra.append("edited")
        if line.poll_slug:
            extra.append(f"poll {line.poll_slug}")
        suffix = f"\t({', '.join(extra)})" if extra else ""
        click.echo(f"{line.code}\t{line.status}\t{text}{suffix}")


@proposals_group.command("approve")
@click.argument("group")
@click.argument("code")
@click.option("--text", "text", default=None, help="The question as edited (the proposer is told).")
@click.option("--options", default=None, help='Comma-separated options (default "Yes,No").')
@click.option("--yes", is_flag=True, help="Launch without asking for confirmation.")
@click.option(
    "--for-youth-lead",
    is_flag=True,
    help="Approve and make the quick poll, but leave its launch to a youth lead's SEND.",
)
def proposals_approve(
    group: str, code: str, text: str | None, options: str | None, yes: bool, for_youth_lead: bool
) -> None:
    """Make a proposal a quick poll to GROUP, credited "a group member's question", and launch it
    (recipients, segments and cost shown first, as for any launch)."""
    from smsapp.services.agenda import moderation
    from smsapp.services.agenda.proposals import ProposalError
    from smsapp.services.outbox.sending import try_kick_senders
    from smsapp.services.polls.definitions import PollError

    rt = runtime()
    errors = (ProposalError, PollError)
    if for_youth_lead:
        try:
            with rt.db.transaction() as s:
                done = moderation.approve(
                    rt, s, group, code, actor="cli", text=text, options=options
                )
        except errors as exc:
            fail(str(exc))
        try_kick_senders(rt)
        click.echo(
            f"Approved {done.code} as {done.poll_slug}{' (edited)' if done.edited else ''}; "
            "a youth lead can send it with SEND (or: smsapp polls launch "
            f"{done.poll_slug})."
        )
        return
    try:
        with rt.db.transaction() as s:
            plan = moderation.preview_approval(
                rt, s, group, code, actor="cli", text=text, options=options
            )
    except errors as exc:
        fail(str(exc))
    question = f"Approve and send {plan.texts} texts now?"
    if not confirmed(plan, question, yes=yes, declined="Not approved; nothing changed."):
        return
    try:
        with rt.db.transaction() as s:
            done, result = moderation.approve_and_launch(
                rt, s, group, code, actor="cli", text=text, options=options
            )
    except errors as exc:
        fail(str(exc))
    if not try_kick_senders(rt):
        click.echo("The queue could not be reached: the texts go out at the clock's next kick.")
    click.echo(
        f"Approved {done.code}{' (edited; the proposer is told)' if done.edited else ''} and "
        f"launched {done.poll_slug}: {result.messages} texts queued."
    )


@proposals_group.command("decline")
@click.argument("group")
@click.argument("code")
@click.option("--reason", default=None, help="A note for staff; the proposer gets a kind reply.")
def proposals_decline(group: str, code: str, reason: str | None) -> None:
    """Decline a proposal: the proposer gets a kind reply (never the reason)."""
    from smsapp.services.agenda import moderation
    from smsapp.services.agenda.proposals import ProposalError
    from smsapp.services.outbox.sending import try_kick_senders

    rt = runtime()
    try:
        with rt.db.transaction() as s:
            moderation.decline(rt, s, group, code, actor="cli", reason=reason)
    except ProposalError as exc:
        fail(str(exc))
    try_kick_senders(rt)
    click.echo(f"Declined {code.upper()}; the proposer gets a kind reply.")

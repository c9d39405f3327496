"""`smsapp groups …`: create a group, end one (its numbers are erased after retention), and
print its record."""

from __future__ import annotations

import click

from smsapp.cli.base import cli, fail, runtime


@cli.group("groups")
def groups_group() -> None:
    """Groups of participants."""


@groups_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="Display name")
def groups_create(slug: str, name: str) -> None:
    """Create a group."""
    from smsapp.services.people.groups import GroupError, create_group

    try:
        with runtime().db.transaction() as s:
            create_group(s, slug, name, actor="cli")
    except GroupError as exc:
        fail(str(exc))
    click.echo(f"Created group {slug}.")


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


@groups_group.command("record")
@click.argument("slug")
def groups_record(slug: str) -> None:
    """Print the group's record: what it decided, participation by month, agreed terms."""
    from smsapp.services.people.groups import group_by_slug
    from smsapp.services.record.page import format_record, group_record

    rt = runtime()
    with rt.db.transaction() as s:
        group = group_by_slug(s, slug)
        if group is None:
            fail(f"no group called {slug!r}")
        record = group_record(s, group, k=rt.settings.small_count, timezone=rt.settings.timezone)
    click.echo(format_record(record), nl=False)

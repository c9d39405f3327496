"""`smsapp users create` and `smsapp groups create`: clear errors, nothing changed on error."""

from __future__ import annotations

import sqlalchemy as sa

from smsapp.models import Group, StaffUser


def test_users_create_reads_password_from_stdin(runtime, runner) -> None:
    result = runner.invoke(
        ["users", "create", "Ann@Example.org", "--role", "researcher"],
        input="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    with runtime.db.transaction() as s:
        user = s.scalar(sa.select(StaffUser))
        assert user is not None and user.email == "ann@example.org" and user.role == "researcher"
        assert "a long enough password" not in user.password_hash


def test_users_create_errors(runtime, runner) -> None:
    short = runner.invoke(["users", "create", "a@example.org", "--role", "admin"], input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    bad_role = runner.invoke(
        ["users", "create", "a@example.org", "--role", "king"], input="x" * 12 + "\n"
    )
    assert bad_role.exit_code != 0
    runner.invoke(["users", "create", "a@example.org", "--role", "admin"], input="x" * 12 + "\n")
    dup = runner.invoke(
        ["users", "create", "a@example.org", "--role", "admin"], input="x" * 12 + "\n"
    )
    assert dup.exit_code != 0 and "already exists" in dup.output
    with runtime.db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count(StaffUser.id))) == 1


def test_groups_create(runtime, runner) -> None:
    ok = runner.invoke(["groups", "create", "oakfield", "--name", "Oakfield Youth Panel"])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(["groups", "create", "Oak Field!", "--name", "x"])
    assert bad.exit_code != 0 and "lower-case" in bad.output
    dup = runner.invoke(["groups", "create", "oakfield", "--name", "again"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    with runtime.db.transaction() as s:
        assert s.scalars(sa.select(Group.name)).all() == ["Oakfield Youth Panel"]


def test_ensure_demo_only_when_no_users(runtime, runner) -> None:
    first = runner.invoke(["users", "ensure-demo"])
    assert "demo@example.org" in first.output and "password:" in first.output
    second = runner.invoke(["users", "ensure-demo"])
    assert second.output == ""

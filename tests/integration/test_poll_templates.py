"""Ready-made polls: every template passes the one validator, the builder opens a new draft from
one, and `smsapp polls templates` lists them and prints one to import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsapp.conversation.poll_yaml import parse_poll_yaml
from smsapp.runtime import Runtime
from smsapp.services.polls.definitions import PollError, import_poll
from smsapp.services.polls.templates import (
    TEMPLATE_DIR,
    list_templates,
    template_definition,
    template_source,
)

EVERY_FILE = sorted(TEMPLATE_DIR.glob("*.yaml"))
OURS = {"session-feedback", "name-the-group", "priorities"}


@pytest.mark.parametrize("path", EVERY_FILE, ids=lambda p: p.stem)
def test_every_template_file_is_a_valid_poll(path: Path) -> None:
    defn = parse_poll_yaml(path.read_text(encoding="utf-8"))  # raises every problem it finds
    assert defn.slug == path.stem
    assert defn.group is None  # the facilitator picks the group
    assert defn.keyword is None  # a keyword would clash between two copies
    assert defn.tie_seed is None  # each poll made from it gets its own


def test_the_list_has_every_file_with_its_description() -> None:
    listed = {t.name: t for t in list_templates()}
    assert set(listed) >= OURS
    assert set(listed) == {p.stem for p in EVERY_FILE}
    assert listed["session-feedback"].questions == 4
    assert "after a session" in listed["session-feedback"].description


def test_an_unknown_or_path_like_name_is_refused() -> None:
    for name in ("missing", "../pyproject", "priorities.yaml", ""):
        with pytest.raises(PollError, match="no template called"):
            template_source(name)


def test_the_builder_opens_a_template_as_a_new_draft(
    runtime: Runtime, client: Any, login: Any
) -> None:
    login("facilitator")
    listing = client.get("/admin/polls/templates").get_data(as_text=True)
    for name in OURS:
        assert f"/admin/polls/new?template={name}" in listing
    assert "/admin/polls/templates" in client.get("/admin/polls").get_data(as_text=True)
    page = client.get("/admin/polls/new?template=priorities").get_data(as_text=True)
    assert 'value="What should we work on this year?"' in page
    assert "Safe places to meet" in page
    assert client.get("/admin/polls/new?template=../secrets").status_code == 404


def test_cli_lists_templates_and_prints_one_to_import(runtime: Runtime, runner: Any) -> None:
    listed = runner.invoke(["polls", "templates"])
    assert listed.exit_code == 0, listed.output
    for name in OURS:
        assert name in listed.output
    printed = runner.invoke(["polls", "templates", "session-feedback"])
    assert printed.exit_code == 0
    assert printed.output == template_source("session-feedback")
    with runtime.db.transaction() as s:
        result = import_poll(s, printed.output)
    assert result.definition == template_definition("session-feedback")
    missing = runner.invoke(["polls", "templates", "nope"])
    assert missing.exit_code != 0 and "session-feedback" in missing.output

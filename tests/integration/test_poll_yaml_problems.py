"""Poll YAML that used to crash: deep nesting (a RecursionError traceback in the CLI, a 500 on
the builder preview), duplicate keys (silently the last one), a NUL (a PostgreSQL DataError) and
a date that does not exist. Each is now a problem in the list, with its place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from smsapp.models import Poll
from tests.support.factories import make_group

EVERY_KIND = (Path(__file__).parent.parent / "data" / "every_kind.yaml").read_text()
DEEP = "title: " + "[" * 3000 + "]" * 3000 + "\n"
DUPLICATE = EVERY_KIND.replace("\ntitle: ", "\ntitle: First title\ntitle: ", 1)
NUL = EVERY_KIND.replace("\ntitle: ", '\ntitle: "Zero\\0"\nintro: ', 1)


def _polls(runtime) -> list[str]:
    with runtime.db.transaction() as s:
        return list(s.scalars(sa.select(Poll.slug)))


def _import(runner, tmp_path, text: str):
    path = tmp_path / "poll.yaml"
    path.write_text(text)
    return runner.invoke(args=["polls", "import", str(path)])


def _title_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("title:"))


def test_cli_lists_deep_nesting_as_a_problem(runtime, runner, tmp_path) -> None:
    result = _import(runner, tmp_path, DEEP)
    assert result.exit_code == 1, result.output
    assert "1 problem(s); nothing was imported" in result.output
    assert re.search(r"- yaml: line 1, column \d+: nested too deeply", result.output)
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert _polls(runtime) == []


def test_cli_names_a_duplicate_key_with_its_lines(runtime, runner, tmp_path) -> None:
    make_group(runtime)
    assert "\nintro:" in EVERY_KIND
    text = DUPLICATE.replace("\nintro:", "\nintro:\nintro:", 1)
    first = _title_line(text)
    result = _import(runner, tmp_path, text)
    assert result.exit_code == 1, result.output
    assert f"- title: is given twice (lines {first} and {first + 1}); keep one" in result.output
    assert "- intro: is given twice" in result.output  # every problem, not just the first
    assert _polls(runtime) == []


def test_cli_refuses_a_nul_character_by_its_field(runtime, runner, tmp_path) -> None:
    # On PostgreSQL the title reached a text column and the import died with a DataError.
    make_group(runtime)
    result = _import(runner, tmp_path, NUL)
    assert result.exit_code == 1, result.output
    assert "- title: holds a NUL character" in result.output
    assert _polls(runtime) == []


def test_cli_refuses_a_date_that_does_not_exist(runtime, runner, tmp_path) -> None:
    result = _import(runner, tmp_path, "slug: x\ntitle: x\ncloses: 2026-13-45\n")
    assert result.exit_code == 1, result.output
    assert "- yaml: line 3, column 9: '2026-13-45' is not a real date" in result.output


@pytest.fixture
def token(request) -> str:
    """A facilitator's CSRF token, logged in by test_admin_pages' `login` fixture."""
    return str(request.getfixturevalue("login")())


def _preview(client, token: str, text: str) -> dict:
    response = client.post(
        "/admin/polls/preview",
        data={"source": "yaml", "yaml": text},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )
    assert response.status_code == 200, response.status_code
    body: dict = response.get_json()
    return body


def test_builder_preview_shows_deep_nesting_as_a_problem(runtime, client, token) -> None:
    body = _preview(client, token, DEEP)
    [problem] = body["problems"]
    assert problem["field"] == "yaml" and "nested too deeply" in problem["message"]
    assert body["previews"] == []


def test_builder_preview_places_a_duplicate_key_at_its_field(runtime, client, token) -> None:
    make_group(runtime)
    body = _preview(client, token, DUPLICATE)
    first = _title_line(DUPLICATE)
    assert {
        "field": "title",
        "input": "title",
        "message": f"is given twice (lines {first} and {first + 1}); keep one",
    } in body["problems"]


def test_builder_save_refuses_deep_and_duplicate_yaml(runtime, client, token) -> None:
    make_group(runtime)
    for text, words in ((DEEP, b"nested too deeply"), (DUPLICATE, b"is given twice")):
        response = client.post(
            "/admin/polls/new", data={"csrf_token": token, "action": "save-yaml", "yaml": text}
        )
        assert response.status_code == 422
        assert words in response.data
    assert _polls(runtime) == []

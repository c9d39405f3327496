"""Live results and result charts as pictures.

Live: the open poll's results page asks for changes every few seconds; unchanged results are a
304 that never summarises the answers (checked by the SQL it runs), and a new answer sent
through the signed webhook changes what the next look returns. PNG: the page's own numbers,
with small counts hidden by privacy.suppression.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from PIL import Image

from smsapp import queue
from smsapp.db import utcnow
from smsapp.runtime import Runtime
from smsapp.services.polls.closing import close_by_slug
from smsapp.web import chart_png
from tests.support.factories import launch, make_poll, people

RESULTS = "/admin/polls/name-our-group/results"
LIVE = RESULTS + "/live"
PNG = RESULTS + "/name.png"
NUMBERS = [f"+447911123{100 + i:03d}" for i in range(12)]


@pytest.fixture(autouse=True)
def no_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queue, "enqueue", lambda *a, **kw: None)


@pytest.fixture
def open_poll(runtime: Runtime) -> None:
    make_poll(runtime)
    people(runtime, len(NUMBERS))
    launch(runtime, now=utcnow())  # now: its 7-day deadline must not have passed


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = runtime.db.engine
    sa.event.listen(engine, "before_cursor_execute", spy)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", spy)


def look(client: Any, version: str) -> Any:
    return client.get(LIVE, headers={"If-None-Match": f'"{version}"', "Accept": "application/json"})


def test_the_open_results_page_updates_itself_and_unchanged_looks_are_cheap(
    runtime: Runtime, client: Any, login: Any, phone: Any, open_poll: None
) -> None:
    login("facilitator")
    page = client.get(RESULTS)
    html = page.get_data(as_text=True)
    assert "Refresh" not in page.headers  # the script updates it; no reload
    assert '<noscript><meta http-equiv="refresh" content="30"></noscript>' in html
    assert "live_results.js" in html and f'data-live-url="{LIVE}"' in html
    match = re.search(r'data-version="([^"]+)"', html)
    assert match
    version = match.group(1)

    with statements(runtime) as seen:
        unchanged = look(client, version)
    assert unchanged.status_code == 304 and unchanged.data == b""
    assert unchanged.headers["ETag"] == f'"{version}"'
    assert not [s for s in seen if "conversation" in s.lower()], seen  # no summary was made
    assert len([s for s in seen if "answer" in s.lower()]) == 1

    assert phone(NUMBERS[0]).replies("B")  # someone answers by text
    changed = look(client, version)
    assert changed.status_code == 200
    data = changed.get_json()
    assert data["open"] is True and data["version"] != version
    assert data["every"] == 5  # a small poll redraws fast: the page looks every 5 s
    assert "Which name do you like best?" in data["html"]
    day = data["html"].split("Which name do you like best?")[1]
    assert ">B Health Voices</text>" in day and ">1</text>" in day
    assert "<script" not in data["html"]
    assert look(client, data["version"]).status_code == 304

    close_by_slug(runtime, "name-our-group", actor="t")
    closed = look(client, data["version"]).get_json()
    assert closed["open"] is False and closed["status"] == "closed"
    assert "live_results.js" not in client.get(RESULTS).get_data(as_text=True)


@pytest.mark.parametrize(("role", "status"), [("researcher", 200), ("safeguarding", 403)])
def test_live_results_are_for_the_results_roles_only(
    runtime: Runtime, client: Any, login: Any, open_poll: None, role: str, status: int
) -> None:
    login(role)
    assert client.get(LIVE).status_code == status
    assert client.get(PNG).status_code == (403 if status == 403 else 200)


def _answer(phone: Any, choices: str) -> None:
    for number, choice in zip(NUMBERS, choices, strict=False):
        assert phone(number).replies(choice)


def test_the_png_has_the_page_numbers_with_small_counts_hidden(
    runtime: Runtime, client: Any, login: Any, phone: Any, open_poll: None, monkeypatch: Any
) -> None:
    _answer(phone, "AAAAAABBBBBC")  # 6 A, 5 B, 1 C
    login("facilitator")
    page = client.get(RESULTS).get_data(as_text=True)
    chart = page.split("Which name do you like best?")[1].split("</svg>")[0]
    assert re.findall(r">\d+</text>", chart) == [">6</text>", ">5</text>", ">1</text>"]
    assert f'href="{PNG}"' in page

    response = client.get(PNG)
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert 'filename="name-our-group-name.png"' in response.headers["Content-Disposition"]
    image = Image.open(io.BytesIO(response.data))
    assert image.format == "PNG" and image.width == chart_png.WIDTH

    drawn: list[Any] = []
    real = chart_png.bar_chart_png
    monkeypatch.setattr(
        chart_png, "bar_chart_png", lambda bars, **kw: drawn.append((bars, kw)) or real(bars, **kw)
    )
    client.get(PNG)
    [(bars, kw)] = drawn
    # C's 1 is hidden, and B's 5 with it: otherwise 12 - 6 - 5 would give C away.
    assert bars == [("A Young Researchers", 6.0), ("B Health Voices", None), ("C Team Spark", None)]
    assert kw["hidden_text"] == "fewer than 5" and "answered by 12" in kw["subtitle"]


def test_a_png_of_fewer_than_k_answers_hides_every_count(
    runtime: Runtime, client: Any, login: Any, phone: Any, open_poll: None, monkeypatch: Any
) -> None:
    _answer(phone, "AAB")
    login("facilitator")
    drawn: list[Any] = []
    monkeypatch.setattr(
        chart_png, "bar_chart_png", lambda bars, **kw: drawn.append((bars, kw)) or b""
    )
    client.get(PNG)
    [(bars, kw)] = drawn
    assert [value for _, value in bars] == [None, None, None]
    assert "answered by fewer than 5" in kw["subtitle"]
    assert client.get(RESULTS + "/why.png").status_code == 404  # free text is never drawn
    assert client.get(RESULTS + "/nope.png").status_code == 404


def test_a_slow_redraw_makes_the_page_look_less_often() -> None:
    from smsapp.web.admin.results_live import next_look

    assert next_look(0.05) == 5
    assert next_look(2.9) == 29  # a 100,000-answer poll (docs/benchmarks.md): 10% at most

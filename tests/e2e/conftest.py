"""Fixtures of the e2e tests: the app served for real on a free port against its own committed
database, Debian's Chromium driven by Playwright (screenshots go to test-artifacts/, gitignored),
and a Redis of each test's own for the tests that start worker and clock processes."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

import smsapp.models  # noqa: F401  (registers the tables)
from smsapp import create_app
from smsapp.db import Base
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.people.groups import create_group
from smsapp.services.people.staff import create_user
from tests.conftest import make_test_settings, require_service
from tests.support.browser import FACILITATOR, STAFF_PASSWORD
from tests.support.databases import throwaway_database
from tests.support.stack import own_redis_url  # noqa: F401  (the redis_url fixture)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class LiveServer:
    url: str
    runtime: Runtime


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with throwaway_database("smsapp_browser", tmp_path) as database_url:
        runtime = build_runtime(make_test_settings(database_url))
        Base.metadata.create_all(runtime.db.engine)
        with runtime.db.transaction() as s:
            create_user(s, FACILITATOR, STAFF_PASSWORD, "facilitator")
            create_group(s, "oakfield", "Oakfield Youth Panel")
        app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path / "instance")})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield LiveServer(f"http://127.0.0.1:{server.server_port}", runtime)
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
            runtime.db.engine.dispose()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    """A fresh Chromium profile and page; the system Chromium only, never a downloaded one."""
    if not Path(CHROMIUM).exists():
        require_service("chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def shoot() -> Any:
    """Save a full-page screenshot as a test artefact: test-artifacts/<name>.png."""
    ARTIFACTS.mkdir(exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save

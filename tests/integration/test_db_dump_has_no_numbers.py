"""A dump of the whole database holds no participant's phone number in plain text: not in
E.164 (+447911123456), national (07911 123456, 07911123456) or digits-only (447911123456,
7911123456) form. The dump is pg_dump's on PostgreSQL (TEST_DATABASE_URL), and on SQLite every
table and column, `iterdump()`, and the raw bytes of the database file itself."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from smsapp import create_app
from smsapp.db import Base, Database, make_engine
from smsapp.models import Group
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.participants import create_group, import_participants
from smsapp.services.polls import import_poll, open_poll
from smsapp.services.staff import create_user
from tests.conftest import Phone, SmsappRunner, make_test_settings, require_service
from tests.support.databases import throwaway_database

DATA = Path(__file__).parent.parent / "data"
# As a facilitator's spreadsheet has them: every common way of writing a UK mobile.
ROWS = [
    ("07911 123401", "Ava"),
    ("+44 7911 123402", "Ben"),
    ("447911123403", "Cal"),
    ("07911-123-404", "Dee"),
    ("(07911) 123405", "Eli"),
    ("0044 7911 123406", "Fay"),
]
NATIONAL = [f"7911123{400 + i + 1}" for i in range(len(ROWS))]


def forms(national: str) -> list[str]:
    """Every way the number could appear if it had been stored in clear."""
    return [
        f"+44{national}",
        f"44{national}",
        f"0{national}",
        f"0{national[:4]} {national[4:]}",
        f"+44 {national[:4]} {national[4:]}",
        national,
    ]


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A database of its own, committed to for real, so an outside dump can read it."""
    with throwaway_database("smsapp_dump", tmp_path) as url:
        yield url


def _scenario(runtime: Runtime, tmp_path: Path) -> None:
    """Everything that touches a number: import, texts in and out, a poll, a flag, a reveal,
    STOP, WITHDRAW, an unknown sender, a key rotation."""
    with runtime.db.transaction() as s:
        group = create_group(s, "oakfield", "Oakfield")
        s.flush()
        csv = "phone,nickname,consent\n" + "".join(f"{p},{n},yes\n" for p, n in ROWS)
        report = import_participants(s, runtime.vault, group, csv)
        assert len(report.accepted) == len(ROWS), report.summary()
        create_user(s, "dsl@example.org", "correct horse battery", "safeguarding")
    with runtime.db.transaction() as s:
        result = import_poll(s, (DATA / "every_kind.yaml").read_text())
        open_poll(s, result.poll)
        g = s.scalar(sa.select(Group))
        assert g is not None
        g.settings = {"keep_answers_on_withdrawal": True}
    app = create_app({"RUNTIME": runtime, "INSTANCE_PATH": str(tmp_path), "TESTING": True})
    client = app.test_client()
    phones = [Phone(client, "+44" + n) for n in NATIONAL]
    for phone in phones[:4]:
        phone.replies("all")
        phone.replies("a")
    assert phones[0].replies("I want to kill myself")[0].startswith("Thank you for telling us")
    phones[1].replies("STOP")
    assert "withdrawn" in phones[2].replies("WITHDRAW")[0]
    Phone(client, "+447911123999").replies("hi who is this")
    Phone(client, "07911 123405").replies("HELP")  # national format in From
    runner = SmsappRunner(app)
    assert runner.invoke(["keys", "rotate"]).exit_code == 0


def _dump(url: str) -> str:
    if url.startswith("sqlite"):
        path = url[len("sqlite:///") :]
        conn = sqlite3.connect(path)
        try:
            text = "\n".join(conn.iterdump())
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"):
                for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (own tables)
                    text += "\n" + " | ".join(
                        bytes(v).decode("latin-1") if isinstance(v, bytes) else str(v) for v in row
                    )
        finally:
            conn.close()
        # The file itself, free pages and write-ahead log included.
        for suffix in ("", "-wal"):
            if os.path.exists(path + suffix):
                text += "\n" + Path(path + suffix).read_bytes().decode("latin-1")
        return text
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        require_service("pg_dump")
    parsed = make_url(url)
    env = dict(os.environ, PGPASSWORD=parsed.password or "")
    done = subprocess.run(
        [
            pg_dump or "pg_dump",
            "--no-owner",
            "-h",
            parsed.host or "127.0.0.1",
            "-p",
            str(parsed.port or 5432),
            "-U",
            parsed.username or "postgres",
            parsed.database or "",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_a_database_dump_holds_no_phone_number(fresh_database: str, tmp_path: Path) -> None:
    engine = make_engine(fresh_database)
    Base.metadata.create_all(engine)
    try:
        runtime = build_runtime(
            make_test_settings(fresh_database), database=Database(fresh_database, engine=engine)
        )
        _scenario(runtime, tmp_path)
        dump = _dump(fresh_database)
    finally:
        engine.dispose()
    assert "inbound_message" in dump and "P-" in dump  # the dump really has the data
    leaks = [f for national in NATIONAL for f in forms(national) if f in dump]
    leaks += [f for f in ("+447911123999", "7911123999") if f in dump]  # the stranger too
    assert leaks == []
    # Staff see masked numbers only, and that is all the database has in readable form.
    assert "\u2022\u2022\u2022401" in dump

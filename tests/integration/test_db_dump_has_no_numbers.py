"""After a whole run, no participant's phone number is anywhere in plain text: not in a dump
of the whole database, not in the log lines (pytest's capture and the production JSON lines),
in any way a number can be written (E.164, 0044, national 07911 123456, with spaces, dashes,
dots or commas, digits only: tests/support/leaks.py).

The run: a CSV import in many spellings, texts in and out, a poll, a safeguarding flag, STOP,
WITHDRAW, a stranger, a launch sent through the real Twilio SDK to the stand-in, which refuses
three numbers with 21211, 21612 and 21614 in Twilio's words (each quoting the number), a
delivery callback whose error text quotes one, an erasure from the command line whose
confirmation Twilio refuses, the retention sweep, and a key rotation.

The dump is pg_dump's on PostgreSQL (TEST_DATABASE_URL); on SQLite it is every table and
column, `iterdump()`, and the raw bytes of the database file itself."""

from __future__ import annotations

import io
import logging
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from smsapp import create_app
from smsapp.db import Base, Database, make_engine, utcnow
from smsapp.logs import JsonFormatter
from smsapp.models import Group, OutboundMessage, Participant
from smsapp.runtime import Runtime, build_runtime
from smsapp.services.outbox import sending
from smsapp.services.people.groups import create_group, end_group, group_by_slug
from smsapp.services.people.participant_import import import_participants
from smsapp.services.people.staff import create_user
from smsapp.services.polls.definitions import import_poll, open_poll
from tests.conftest import (
    ACCOUNT_SID,
    Phone,
    SmsappRunner,
    make_test_settings,
    post_signed,
    require_service,
)
from tests.support.databases import throwaway_database
from tests.support.factories import NOON, launch, make_poll
from tests.support.leaks import numbers_in
from tests.support.twilio_standin import TwilioStandin

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
# A second group, texted through Twilio: three numbers it refuses, one it takes.
BIRCH = [
    ("07911.123.407", "Gus", 21211),
    ("+44-7911-123408", "Hal", 21612),
    ("7911 123 409", "Ivy", 21614),
    ("07911 123 410", "Jo", None),
]
BIRCH_NATIONAL = [f"7911123{407 + i}" for i in range(len(BIRCH))]
STRANGER = "+447911123999"
EVERYONE = [f"+44{n}" for n in NATIONAL + BIRCH_NATIONAL] + [STRANGER]


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


def _scenario(runtime: Runtime, tmp_path: Path, standin: TwilioStandin) -> None:
    """Everything that touches a number: import, texts in and out, a poll, a flag, STOP,
    WITHDRAW, an unknown sender, Twilio's refusals, an erasure, the sweep, a key rotation."""
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
    Phone(client, STRANGER).replies("hi who is this")
    Phone(client, "07911 123405").replies("HELP")  # national format in From
    runner = SmsappRunner(app)
    _twilio_refusals_erasure_and_sweep(runtime, client, runner, standin)
    assert runner.invoke(["keys", "rotate"]).exit_code == 0


def _twilio_refusals_erasure_and_sweep(
    runtime: Runtime, client: FlaskClient, runner: SmsappRunner, standin: TwilioStandin
) -> None:
    make_poll(runtime, group="birch")
    with runtime.db.transaction() as s:
        birch = group_by_slug(s, "birch")
        assert birch is not None
        csv = "phone,nickname,consent\n" + "".join(f"{p},{n},yes\n" for p, n, _ in BIRCH)
        report = import_participants(s, runtime.vault, birch, csv)
        assert len(report.accepted) == len(BIRCH), report.summary()
    for national, (_, _, code) in zip(BIRCH_NATIONAL, BIRCH, strict=True):
        if code is not None:
            standin.number_errors[f"+44{national}"] = (400, code)
    launch(runtime)
    report = sending.send_due(runtime, now=NOON, budget=20)
    assert report.failed == 3 and report.sent == 1, report
    with runtime.db.transaction() as s:
        codes = s.scalars(
            sa.select(OutboundMessage.error_code).where(OutboundMessage.error_code.is_not(None))
        ).all()
        assert sorted(codes) == [21211, 21612, 21614]
        rows = s.execute(sa.select(Participant.nickname, Participant.pseudonym))
        pseudonyms = {nickname: pseudonym for nickname, pseudonym in rows}
    # Twilio says later that Jo's text did not arrive, in words that quote the number.
    [taken] = standin.recorded()
    callback = {
        "MessageSid": taken["sid"],
        "MessageStatus": "undelivered",
        "ErrorCode": "30003",
        "ErrorMessage": f"Unreachable destination handset {taken['to']}",
        "AccountSid": ACCOUNT_SID,
    }
    assert post_signed(client, "/sms/status", callback).status_code == 200
    # Gus is erased from the command line; the confirmation is refused with 21211 again.
    erased = runner.invoke(["participants", "erase", pseudonyms["Gus"], "--yes"])
    assert erased.exit_code == 0, erased.output
    # Birch ended long ago: the sweep erases the rest of it.
    with runtime.db.transaction() as s:
        birch = group_by_slug(s, "birch")
        assert birch is not None
        end_group(s, birch, actor="admin@example.org", at=utcnow() - timedelta(days=91))
    swept = runner.invoke(["retention", "sweep"])
    assert swept.exit_code == 0 and "Erased 3 numbers" in swept.output, swept.output


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


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Every record at DEBUG and above, as the production JSON lines."""
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


def test_no_phone_number_in_the_database_or_the_logs_after_a_whole_run(
    fresh_database: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    json_lines: io.StringIO,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = make_engine(fresh_database)
    Base.metadata.create_all(engine)
    try:
        with TwilioStandin() as standin:
            settings = make_test_settings(fresh_database).with_overrides(
                sms_backend="twilio", twilio_api_base_url=standin.base_url, send_rate=1000.0
            )
            runtime = build_runtime(settings, database=Database(fresh_database, engine=engine))
            _scenario(runtime, tmp_path, standin)
        dump = _dump(fresh_database)
    finally:
        engine.dispose()
    assert "inbound_message" in dump and "P-" in dump  # the dump really has the data
    assert "21211" in dump and "21614" in dump  # ... and Twilio's refusals
    assert numbers_in(dump, EVERYONE) == []
    leaks = [f for national in NATIONAL for f in forms(national) if f in dump]
    assert leaks == []
    # Staff see masked numbers only, and that is all the database has in readable form.
    assert "\u2022\u2022\u2022401" in dump

    messages = [record.getMessage() for record in caplog.records]
    assert any("refused" in message for message in messages)  # the refusals were logged
    assert numbers_in("\n".join(messages), EVERYONE) == []
    assert numbers_in(caplog.text, EVERYONE) == []
    assert "refused" in json_lines.getvalue()
    assert numbers_in(json_lines.getvalue(), EVERYONE) == []

"""`upgrade head` on an empty database gives exactly the models' schema, and 0002 scrubs the
numbers that rows written before it quote."""

from __future__ import annotations

import os
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smsapp.db import Base, make_engine
from smsapp.migrate import upgrade
from tests.support.databases import throwaway_database


def test_upgrade_head_matches_models(tmp_path) -> None:
    with throwaway_database("smsapp_migrate", tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        engine.dispose()
        assert diff == [], f"migrations and models differ: {diff}"
        upgrade(url)  # running it again is harmless


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_postgres_url_given_without_driver_is_accepted(tmp_path) -> None:
    from smsapp.config import load_settings

    settings = load_settings(
        tmp_path, {"DATABASE_URL": "postgres://u@h/db", "SMSAPP_QUEUE": "embedded"}
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"


def test_0002_scrubs_numbers_stored_before_they_were_redacted(tmp_path) -> None:
    """Issue 12: rows written by the old send path quote the number (Twilio's words), and
    erasure used to leave free text behind. Upgrading from 0001 scrubs both."""
    from smsapp.db import utcnow
    from smsapp.models import (
        Answer,
        AuditEvent,
        Conversation,
        ExportRun,
        InboundMessage,
        OutboundMessage,
        Participant,
        Poll,
    )

    def insert(conn: sa.Connection, model: Any, **values: Any) -> int:
        return conn.execute(sa.insert(model.__table__).values(**values)).inserted_primary_key[0]

    with throwaway_database("smsapp_migrate", tmp_path) as url:
        upgrade(url, "0001")
        engine = make_engine(url)
        with engine.begin() as conn:
            now = utcnow()
            active = insert(conn, Participant, pseudonym="P-AAAAA", phone_masked="+44 7••• •••456")
            gone = insert(conn, Participant, pseudonym="P-BBBBB", erased_at=now, consent_by="Pat")
            poll = insert(conn, Poll, slug="p", title="P", definition={}, tie_seed="s")
            out = {"kind": "invitation", "body": "", "backend": "twilio", "status": "failed"}
            refused = insert(
                conn,
                OutboundMessage,
                participant_id=active,
                error_code=21211,
                error_message="send: The 'To' number +447911123456 is not a valid phone number.",
                **out,
            )
            cancelled = insert(
                conn,
                OutboundMessage,
                participant_id=active,
                error_message="cancelled: opted out",
                **out,
            )
            erased_refusal = insert(
                conn,
                OutboundMessage,
                participant_id=gone,
                error_code=21614,
                error_message="send: To number: +447911123457, is not a mobile number",
                **out,
            )
            their_text = insert(
                conn,
                InboundMessage,
                message_sid="SM1",
                participant_id=gone,
                body="ring 07911 123457",
                replies=["Thanks!"],
                error="ValueError: '07911 123457'",
            )
            stray = insert(
                conn,
                InboundMessage,
                message_sid="SM2",
                body="hi",
                error="KeyError: '+447911123458'",
            )
            export = insert(
                conn,
                ExportRun,
                kind="responses",
                poll_id=poll,
                requested_by="r@example.org",
                error="could not write '07911 123459'",
            )
            reveal = insert(
                conn,
                AuditEvent,
                actor="dsl@example.org",
                action="participant.reveal_number",
                subject="P-AAAAA",
                details={"reason": "rang 07911 123456 back"},
            )
            chat = insert(
                conn,
                Conversation,
                poll_id=poll,
                participant_id=gone,
                status="stopped",
                started_by="keyword",
                state={"answers": {"why": "07911 123457"}},
            )
            kept = insert(
                conn,
                Answer,
                poll_id=poll,
                conversation_id=chat,
                participant_id=gone,
                question_key="why",
                kind="text",
                value="ring 07911 123457",
                raw_text="ring 07911 123457",
            )
        upgrade(url)
        with engine.connect() as conn:

            def get(model: Any, row_id: int, column: str) -> Any:
                table = model.__table__
                return conn.scalar(sa.select(table.c[column]).where(table.c.id == row_id))

            assert get(OutboundMessage, refused, "error_message") == (
                "send: The 'To' number [number] is not a valid phone number."
            )
            assert get(OutboundMessage, cancelled, "error_message") == "cancelled: opted out"
            assert get(OutboundMessage, erased_refusal, "error_message") is None
            assert get(OutboundMessage, erased_refusal, "error_code") == 21614
            assert get(InboundMessage, their_text, "body") == ""
            assert get(InboundMessage, their_text, "replies") == []
            assert get(InboundMessage, their_text, "error") is None
            assert get(InboundMessage, stray, "error") == "KeyError: '[number]'"
            assert get(InboundMessage, stray, "body") == "hi"
            assert get(ExportRun, export, "error") == "could not write '[number]'"
            assert get(AuditEvent, reveal, "details") == {"reason": "rang [number] back"}
            assert get(Conversation, chat, "state") == {}
            assert get(Answer, kept, "value") == get(Answer, kept, "raw_text") == "ring [number]"
            assert get(Participant, gone, "consent_by") is None
        engine.dispose()

"""`upgrade head` on an empty database gives exactly the models' schema."""

from __future__ import annotations

import os

import pytest
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

"""`upgrade head` on an empty database gives exactly the models' schema."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smsapp.db import Base, make_engine
from smsapp.migrate import upgrade


def _empty_database(tmp_path) -> tuple[str, object]:
    base = os.environ.get("TEST_DATABASE_URL")
    if not base:
        return f"sqlite:///{tmp_path / 'migrate.db'}", None
    name = f"smsapp_migrate_{uuid.uuid4().hex[:8]}"
    admin = make_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    return base.rsplit("/", 1)[0] + "/" + name, (admin, name)


def test_upgrade_head_matches_models(tmp_path) -> None:
    url, cleanup = _empty_database(tmp_path)
    try:
        upgrade(url)
        engine = make_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        engine.dispose()
        assert diff == [], f"migrations and models differ: {diff}"
        upgrade(url)  # running it again is harmless
    finally:
        if cleanup:
            admin, name = cleanup  # type: ignore[misc]
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL only")
def test_postgres_url_given_without_driver_is_accepted(tmp_path) -> None:
    from smsapp.config import load_settings

    settings = load_settings(
        tmp_path, {"DATABASE_URL": "postgres://u@h/db", "SMSAPP_QUEUE": "embedded"}
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"

"""Migrations and models agree, on SQLite and PostgreSQL; the database is set up as designed."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.core import migrations
from app.core.database import make_engine
from app.models import Base
from tests.conftest import BACKENDS


def schema_differences(url: str) -> list:
    engine = create_engine(url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "compare_server_default": True,
                "include_name": migrations.ours,  # not the job queue's own tables
            },
        )
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    return differences


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_migrations_build_exactly_the_models(empty_database_url: str) -> None:
    config = migrations.alembic_config(empty_database_url)
    command.upgrade(config, "head")
    assert schema_differences(empty_database_url) == []
    engine = create_engine(empty_database_url)
    assert migrations.schema_is_current(engine)
    engine.dispose()


@pytest.mark.parametrize("empty_database_url", BACKENDS, indirect=True)
def test_migrations_go_down_and_up_again(empty_database_url: str) -> None:
    config = migrations.alembic_config(empty_database_url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    engine = create_engine(empty_database_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    command.upgrade(config, "head")
    assert schema_differences(empty_database_url) == []


def test_audit_log_is_append_only(database_url: str, db, admin) -> None:
    count = db.execute(text("SELECT count(*) FROM audit_events")).scalar()
    assert count >= 1
    db.commit()
    for statement in ("UPDATE audit_events SET action = 'forged'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"):
            db.execute(text(statement))
        db.rollback()
    assert db.execute(text("SELECT count(*) FROM audit_events")).scalar() == count


def test_sqlite_runs_with_wal_and_foreign_keys(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_foreign_keys_are_enforced(database_url: str, db) -> None:
    with pytest.raises(DBAPIError):
        db.execute(
            text(
                "INSERT INTO api_tokens (token_digest, user_id, label, created_at, expires_at) "
                "VALUES ('x', 424242, 'l', '2026-01-01', '2026-02-01')"
            )
        )
    db.rollback()

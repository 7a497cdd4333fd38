"""Alembic, driven from code: the CLI, the server's start-up check and the tests use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from app.core.config import Settings
from app.core.resources import MIGRATIONS_DIR

QUEUE_PREFIX = "procrastinate"  # the job queue's own tables (migration 0014 applies them)


def ours(name: str | None, type_: str, parent_names: object) -> bool:
    """Whether autogenerate compares this object: not the job queue's tables, which are
    procrastinate's schema, not our models."""
    return not (type_ == "table" and name is not None and name.startswith(QUEUE_PREFIX))


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # ConfigParser interpolates '%': escape it so URL-encoded passwords survive.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    settings.ensure_data_dir()
    command.upgrade(alembic_config(settings.resolved_database_url), revision)


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()

"""What every ``mammoread`` command shares: settings and database access, turning a service's
refusal into a command-line error, and the core commands (``config``, ``db``).

Each domain registers its own commands on the one group (``app.cli`` builds it)."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.core import migrations
from app.core.config import Settings, mask_url_password
from app.core.database import make_engine, make_session_factory
from app.core.errors import AppError

T = TypeVar("T")


class Context:
    """Settings and database access for one command, built when first needed."""

    @cached_property
    def settings(self) -> Settings:
        return Settings()

    @contextmanager
    def db(self) -> Iterator[Session]:
        self.settings.ensure_data_dir()
        engine = self.current_engine()
        session = make_session_factory(engine)()
        try:
            yield session
        finally:
            session.close()
            engine.dispose()

    def current_engine(self) -> Engine:
        """An engine on the configured database, refusing one whose schema is behind."""
        engine = make_engine(self.settings.resolved_database_url)
        if not migrations.schema_is_current(engine):
            engine.dispose()
            raise click.ClickException(
                "The database schema is not up to date: run `mammoread db upgrade` first."
            )
        return engine

    @property
    def actor_name(self) -> str:
        """How the audit log names whoever runs the command."""
        return f"cli:{getpass.getuser()}"[:64]


pass_context = click.make_pass_decorator(Context, ensure=True)


def or_fail(action: Callable[[], T]) -> T:
    """Run a service call; its refusal becomes a clear command-line error."""
    try:
        return action()
    except AppError as error:
        raise click.ClickException(error.message) from None


def files_under(paths: tuple[Path, ...]) -> Iterator[Path]:
    """The files named, and those in the folders named (recursively, hidden ones skipped)."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        for child in path.rglob("*"):
            if child.is_file() and not any(part.startswith(".") for part in child.parts):
                yield child


@click.command("config")
@pass_context
def show_config(context: Context) -> None:
    """Print the effective configuration (secrets masked)."""
    rows = context.settings.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, description in rows:
        click.echo(f"{name:<{width}}  {value}")
        if description:
            click.secho(f"{'':<{width}}  {description}", dim=True)


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def db_upgrade(context: Context, revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    migrations.upgrade(context.settings, revision)
    where = mask_url_password(context.settings.resolved_database_url)
    click.echo(f"Database at revision {revision}: {where}")


@db.command("current")
@pass_context
def db_current(context: Context) -> None:
    """Print the schema revision the database is at, and the latest one."""
    engine = make_engine(context.settings.resolved_database_url)
    click.echo(f"current: {migrations.current_revision(engine)}")
    click.echo(f"latest:  {migrations.head_revision()}")
    engine.dispose()


@db.command("revision")
@click.option("-m", "--message", required=True, help="What the migration changes.")
@pass_context
def db_revision(context: Context, message: str) -> None:
    """(Developers) autogenerate a migration from the models' differences."""
    from alembic import command

    config = migrations.alembic_config(context.settings.resolved_database_url)
    command.revision(config, message=message, autogenerate=True)


def register(group: click.Group) -> None:
    group.add_command(show_config)
    group.add_command(db)

"""The ``mammoread`` command. Domains add their own groups (import, demo, export) here."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import Role, User
from app.auth.service import AuthKit
from app.auth.users import NewUser, count_users, create_user, find_user, list_users, update_user
from app.auth.users import reset_password as reset_user_password
from app.core import migrations
from app.core.config import Settings, mask_url_password
from app.core.database import make_engine, make_session_factory
from app.core.errors import AppError
from app.core.private import restrict_umask
from app.imaging.importer import Source

ADMIN_PASSWORD_ENV = "MAMMOREAD_ADMIN_PASSWORD"
T = TypeVar("T")


class Context:
    """Settings and database access for one command, built when first needed."""

    @cached_property
    def settings(self) -> Settings:
        return Settings()

    @cached_property
    def kit(self) -> AuthKit:
        return AuthKit.from_settings(self.settings)

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
    def actor(self) -> Actor:
        return Actor(None, None, name=f"cli:{getpass.getuser()}"[:64])


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mammoread")
def main() -> None:
    """MammoRead: double reading, pairwise masking sort and dataset export for mammography."""
    restrict_umask()  # the data directory and everything in it are for this user only


@main.command("config")
@pass_context
def show_config(context: Context) -> None:
    """Print the effective configuration (secrets masked)."""
    rows = context.settings.describe()
    width = max(len(name) for name, _, _ in rows)
    for name, value, description in rows:
        click.echo(f"{name:<{width}}  {value}")
        if description:
            click.secho(f"{'':<{width}}  {description}", dim=True)


@main.group()
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


@main.command()
@click.option("--username", required=True, help="User name of the first administrator.")
@click.option("--display-name", default="", help="Full name shown in the interface.")
@click.option(
    "--generate-password",
    is_flag=True,
    help=f"Generate the password and print it (instead of ${ADMIN_PASSWORD_ENV} or a prompt).",
)
@pass_context
def init(context: Context, username: str, display_name: str, generate_password: bool) -> None:
    """Migrate the database and create the first administrator (once)."""
    migrations.upgrade(context.settings)
    with context.db() as session:
        if count_users(session) > 0:
            click.echo("Already initialised: users exist. Manage them with `mammoread user`.")
            return
        password = None if generate_password else _admin_password()
        new = NewUser(username, display_name, Role.ADMIN, password, must_change_password=False)
        user, password = _or_fail(lambda: create_user(session, context.kit, context.actor, new))
    click.echo(f"Administrator {user.username!r} created.")
    if generate_password:
        click.echo(f"Password: {password}")


def _admin_password() -> str:
    from_env = os.environ.get(ADMIN_PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise click.ClickException(
            f"Set {ADMIN_PASSWORD_ENV}, pass --generate-password, or run in a terminal."
        )
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _or_fail(action: Callable[[], T]) -> T:
    """Run a service call; its refusal becomes a clear command-line error."""
    try:
        return action()
    except AppError as error:
        raise click.ClickException(error.message) from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Worker processes [default: MAMMOREAD_WORKERS]"
)
@pass_context
def serve(context: Context, host: str, port: int, workers: int | None) -> None:
    """Serve pages and API (uvicorn)."""
    import uvicorn

    workers = workers or context.settings.workers
    context.current_engine().dispose()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=context.settings.forwarded_allow_ips,
        log_level="info",
    )


@main.command("sweep")
@click.option("--dry-run", is_flag=True, help="Only list what would be ended and removed.")
@pass_context
def sweep_command(context: Context, dry_run: bool) -> None:
    """End the work of processes that stopped (export jobs, import batches) and remove the
    files nothing references (drafts, images without a row, exports of failed jobs). Also
    done at every server start-up."""
    from app import sweep

    with context.db() as session:
        factory = make_session_factory(session.get_bind())
        report = sweep.sweep(factory, context.settings.data_dir, dry_run=dry_run)
    verb = "would" if dry_run else "did"
    for job_id in report.failed_jobs:
        click.echo(f"export job {job_id}: {verb} fail (its server stopped)")
    for batch_id in report.finished_batches:
        click.echo(f"import batch {batch_id}: {verb} finish (its server stopped)")
    for path in report.removed:
        click.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    click.echo(("Dry run: " if dry_run else "") + report.summary(dry_run))


@main.group()
def user() -> None:
    """User accounts."""


@user.command("list")
@pass_context
def user_list(context: Context) -> None:
    """List users."""
    with context.db() as session:
        for row in list_users(session):
            status = "active" if row.is_active else "disabled"
            click.echo(
                f"{row.id:>5}  {row.username:<24} {row.role:<7} {status:<9} {row.display_name}"
            )


@user.command("add")
@click.argument("username")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.READER.value,
    show_default=True,
)
@click.option("--display-name", default="", help="Full name shown in the interface.")
@pass_context
def user_add(context: Context, username: str, role: str, display_name: str) -> None:
    """Add a user with a generated password, printed once; they must change it."""
    with context.db() as session:
        new = NewUser(username, display_name, Role(role), None)
        created, password = _or_fail(lambda: create_user(session, context.kit, context.actor, new))
    click.echo(f"User {created.username!r} ({created.role}) created. Password: {password}")


@user.command("disable")
@click.argument("username")
@pass_context
def user_disable(context: Context, username: str) -> None:
    """Disable a user; their sessions and tokens end."""
    _set_active(context, username, active=False)


@user.command("enable")
@click.argument("username")
@pass_context
def user_enable(context: Context, username: str) -> None:
    """Re-enable a disabled user."""
    _set_active(context, username, active=True)


def _set_active(context: Context, username: str, *, active: bool) -> None:
    with context.db() as session:
        target = _or_fail(lambda: find_user(session, username))
        _or_fail(lambda: update_user(session, context.actor, target, is_active=active))
    click.echo(f"User {target.username!r} {'enabled' if active else 'disabled'}.")


@user.command("reset-password")
@click.argument("username")
@pass_context
def user_reset_password(context: Context, username: str) -> None:
    """Give a user a new generated password, printed once; they must change it."""
    with context.db() as session:
        target = _or_fail(lambda: find_user(session, username))
        password = _or_fail(
            lambda: reset_user_password(session, context.kit, context.actor, target)
        )
    click.echo(f"New password for {target.username!r}: {password}")


@main.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@pass_context
def import_command(context: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Import DICOM files, folders (recursively) and zip archives."""
    from app.imaging.importer import import_sources
    from app.imaging.kit import ImagingKit

    files = sorted(_files_under(paths))
    sources = [Source(str(path), path.read_bytes) for path in files]
    kit = ImagingKit.from_settings(context.settings)
    with (
        context.db() as session,
        click.progressbar(
            length=len(sources), label="Importing", file=sys.stderr, show_pos=True
        ) as bar,
    ):
        report = import_sources(
            session,
            kit,
            sources,
            actor=context.actor,
            channel="cli",
            progress=lambda _: bar.update(1),
        )
    if as_json:
        outcomes = [outcome.__dict__ for outcome in report.outcomes]
        document = {"batch_id": report.batch_id, **report.summary(), "outcomes": outcomes}
        click.echo(json.dumps(document, indent=2, default=list))
        return
    for outcome in report.outcomes:
        if outcome.status == "rejected":
            click.echo(f"rejected  {outcome.name}: {outcome.reason}")
    summary = report.summary()
    click.echo(
        f"{summary['imported']} imported, {summary['already_present']} already present, "
        f"{summary['rejected']} rejected (import batch {report.batch_id})."
    )


def _files_under(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for child in path.rglob("*"):
            if child.is_file() and not any(part.startswith(".") for part in child.parts):
                yield child


@main.command()
@click.option("--studies", default=5, show_default=True, type=click.IntRange(1, 10000))
@click.option("--size", default="3328x2560", show_default=True, help="ROWSxCOLUMNS per image.")
@click.option("--if-empty", is_flag=True, help="Do nothing when studies exist already.")
@click.option(
    "--with-readers",
    is_flag=True,
    help="Also create demo accounts reader1, reader2 and arbiter1 (passwords printed once).",
)
@pass_context
def demo(context: Context, studies: int, size: str, if_empty: bool, with_readers: bool) -> None:
    """Generate synthetic four-view exams and import them."""
    from app.imaging.demo import demo_sources
    from app.imaging.importer import import_sources
    from app.imaging.kit import ImagingKit
    from app.imaging.service import StudyQuery, list_studies

    try:
        rows, columns = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise click.BadParameter("use ROWSxCOLUMNS, e.g. 3328x2560", param_hint="--size") from None
    kit = ImagingKit.from_settings(context.settings)
    with context.db() as session:
        if with_readers:
            _demo_readers(context, session)
        if if_empty and list_studies(session, StudyQuery(), limit=1, offset=0)[1]:
            click.echo("Demo data skipped: studies exist already.")
            return
        with click.progressbar(
            length=studies * 4, label="Generating and importing", file=sys.stderr
        ) as bar:
            report = import_sources(
                session,
                kit,
                demo_sources(studies, rows=rows, columns=columns),
                actor=context.actor,
                channel="demo",
                progress=lambda _: bar.update(1),
            )
    summary = report.summary()
    click.echo(
        f"Demo: {summary['imported']} images imported, "
        f"{summary['already_present']} already present, {summary['rejected']} rejected."
    )


DEMO_READERS = (
    ("reader1", "Dr. Demo Reader One"),
    ("reader2", "Dr. Demo Reader Two"),
    ("arbiter1", "Dr. Demo Arbiter"),
)


def _demo_readers(context: Context, session: Session) -> None:
    """Demo accounts to try double reading with; existing ones are left alone."""
    for username, display_name in DEMO_READERS:
        if session.scalar(select(User.id).where(User.username == username)) is not None:
            continue
        new = NewUser(username, display_name, Role.READER, None, must_change_password=False)
        _, password = _or_fail(
            lambda new=new: create_user(session, context.kit, context.actor, new)
        )
        click.echo(f"Demo reader {username!r} created. Password: {password}")


@main.command("export")
@click.argument("project")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["vindr", "json", "reads", "csaw", "comparisons"]),
    default="vindr",
    show_default=True,
    help="vindr|json|reads export a reading project; csaw|comparisons a masking project.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A folder, or a file name ending in .zip for an archive.",
)
@click.option("--non-final", is_flag=True, help="vindr: also list the studies not final yet.")
@click.option("--images", is_flag=True, help="Add the DICOM files (images/<study>/<image>.dicom).")
@click.option(
    "--split-ratio", default=0.8, show_default=True, help="Training share of a new split."
)
@click.option("--split-seed", default=0, show_default=True, help="Seed of a new split.")
@pass_context
def export_command(
    context: Context,
    project: str,
    fmt: str,
    out: Path,
    non_final: bool,
    images: bool,
    split_ratio: float,
    split_seed: int,
) -> None:
    """Export PROJECT (its id or name) as a dataset."""
    from app.export import jobs, release
    from app.export.targets import open_target
    from app.imaging.kit import ImagingKit

    kind = jobs.KIND_OF_FORMAT[fmt]
    options = release.Options(non_final, images, split_ratio, split_seed)
    store = ImagingKit.from_settings(context.settings).store
    with context.db() as session:
        project_id = _or_fail(lambda: _project_id(session, kind, project))
        wanted = jobs.Request(kind, project_id, fmt, options)
        with (
            click.progressbar(length=1, label="Exporting", file=sys.stderr) as bar,
            open_target(out) as target,
        ):
            written = _or_fail(
                lambda: jobs.write(session, store, wanted, target, _bar_progress(bar))
            )
    click.echo(f"Wrote {', '.join(written)} to {out}.")


def _bar_progress(bar: Any) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    return update


def _project_id(session: Session, kind: str, wanted: str) -> int:
    from app.masking.models import MaskingProject
    from app.reading.models import ReadingProject

    model = ReadingProject if kind == "reading" else MaskingProject
    column = model.id if wanted.isdigit() else model.name
    found = session.scalar(
        select(model.id).where(column == (int(wanted) if wanted.isdigit() else wanted))
    )
    if found is None:
        raise click.ClickException(f"There is no {kind} project {wanted!r}.")
    return found


@main.command("import-release")
@click.option("--project", "project_name", required=True, help="Name of the new reading project.")
@click.option(
    "--breast",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="breast-level_annotations.csv",
)
@click.option(
    "--finding",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="finding_annotations.csv",
)
@click.option(
    "--dicom",
    "dicom_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="DICOM files, folders or zips (may be given several times).",
)
@click.option(
    "--start-as",
    type=click.Choice(["final", "first_read"]),
    default="final",
    show_default=True,
    help="first_read: each label is a first read; a second reader and arbitration follow.",
)
@click.option("--first-reader", default="", help="first_read: the user the labels belong to.")
@pass_context
def import_release_command(
    context: Context,
    project_name: str,
    breast: Path,
    finding: Path,
    dicom_paths: tuple[Path, ...],
    start_as: str,
    first_reader: str,
) -> None:
    """Import a VinDr-format release as a project whose studies start final (or as first
    reads to be read again)."""
    from app.export.intake import import_release
    from app.imaging.kit import ImagingKit

    kit = ImagingKit.from_settings(context.settings)
    sources = [Source(str(path), path.read_bytes) for path in sorted(_files_under(dicom_paths))]
    with context.db() as session:
        try:
            intake = import_release(
                session,
                kit,
                context.actor,
                project_name=project_name,
                breast_csv=breast.read_text(encoding="utf-8"),
                finding_csv=finding.read_text(encoding="utf-8"),
                dicom=sources,
                start_as=start_as,
                first_reader=find_user(session, first_reader) if first_reader else None,
            )
        except AppError as error:
            for detail in error.details or []:
                click.echo(f"{detail.get('field')}: {detail.get('message')}", err=True)
            raise click.ClickException(error.message) from None
    click.echo(
        f"Project {intake.project.name!r} (id {intake.project.id}): {intake.studies} "
        f"{'final studies' if start_as == 'final' else 'studies with a first read'}, "
        f"{intake.images_imported} DICOM files imported."
    )

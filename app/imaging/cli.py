"""Images from the command line: ``mammoread import`` (DICOM files, folders, zips) and
``mammoread demo`` (synthetic exams)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from app.auth.cli import cli_actor, create_demo_readers
from app.core.cli import Context, files_under, pass_context
from app.imaging.importer import ImportReport, Source
from app.imaging.states import ImportChannel, OutcomeStatus


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary.")
@pass_context
def import_command(context: Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Import DICOM files, folders (recursively) and zip archives."""
    from app.imaging.importer import import_sources
    from app.imaging.kit import ImagingKit

    files = sorted(files_under(paths))
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
            actor=cli_actor(context),
            channel=ImportChannel.CLI,
            progress=lambda _: bar.update(1),
        )
    if as_json:
        _echo_json(report)
        return
    for outcome in report.outcomes:
        if outcome.status == OutcomeStatus.REJECTED:
            click.echo(f"rejected  {outcome.name}: {outcome.reason}")
    summary = report.summary()
    click.echo(
        f"{summary['imported']} imported, {summary['already_present']} already present, "
        f"{summary['rejected']} rejected (import batch {report.batch_id})."
    )


def _echo_json(report: ImportReport) -> None:
    outcomes = [outcome.__dict__ for outcome in report.outcomes]
    document = {"batch_id": report.batch_id, **report.summary(), "outcomes": outcomes}
    click.echo(json.dumps(document, indent=2, default=list))


@click.command()
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
            create_demo_readers(context, session)
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
                actor=cli_actor(context),
                channel=ImportChannel.DEMO,
                progress=lambda _: bar.update(1),
            )
    summary = report.summary()
    click.echo(
        f"Demo: {summary['imported']} images imported, "
        f"{summary['already_present']} already present, {summary['rejected']} rejected."
    )


def register(group: click.Group) -> None:
    group.add_command(import_command)
    group.add_command(demo)

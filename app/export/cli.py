"""Datasets from the command line: ``mammoread export`` (a reading or masking project as
files) and ``mammoread import-release`` (a VinDr-format release as a reading project)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.cli import cli_actor
from app.auth.users import find_user
from app.core.cli import Context, files_under, or_fail, pass_context
from app.core.errors import AppError
from app.export.states import ExportFormat, ProjectKind, StartAs
from app.imaging.importer import Source


@click.command("export")
@click.argument("project")
@click.option(
    "--format",
    "fmt",
    type=click.Choice([fmt.value for fmt in ExportFormat]),
    default=ExportFormat.VINDR.value,
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
    from app.export import jobs, reading_export
    from app.export.targets import open_target
    from app.imaging.kit import ImagingKit

    kind = ExportFormat(fmt).kind
    options = reading_export.Options(non_final, images, split_ratio, split_seed)
    store = ImagingKit.from_settings(context.settings).store
    with context.db() as session:
        project_id = or_fail(lambda: _project_id(session, kind, project))
        wanted = jobs.Request(kind, project_id, fmt, options)
        with (
            click.progressbar(length=1, label="Exporting", file=sys.stderr) as bar,
            open_target(out) as target,
        ):
            written = or_fail(
                lambda: jobs.write(session, store, wanted, target, _bar_progress(bar))
            )
    click.echo(f"Wrote {', '.join(written)} to {out}.")


def _bar_progress(bar: Any) -> Callable[[int, int], None]:
    def update(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - bar.pos)

    return update


def _project_id(session: Session, kind: ProjectKind, wanted: str) -> int:
    from app.masking.models import MaskingProject
    from app.reading.models import ReadingProject

    model = ReadingProject if kind == ProjectKind.READING else MaskingProject
    column = model.id if wanted.isdigit() else model.name
    found = session.scalar(
        select(model.id).where(column == (int(wanted) if wanted.isdigit() else wanted))
    )
    if found is None:
        raise click.ClickException(f"There is no {kind} project {wanted!r}.")
    return found


@click.command("import-release")
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
    type=click.Choice([start.value for start in StartAs]),
    default=StartAs.FINAL.value,
    show_default=True,
    help="first_read: each label is a first read; a second reader and arbitration follow.",
)
@click.option("--first-reader", default="", help="first_read: the user the labels belong to.")
@click.option(
    "--override-reason",
    default="",
    help="Import incomplete studies anyway (recorded with each study and in the audit log).",
)
@pass_context
def import_release_command(
    context: Context,
    project_name: str,
    breast: Path,
    finding: Path,
    dicom_paths: tuple[Path, ...],
    start_as: str,
    first_reader: str,
    override_reason: str,
) -> None:
    """Import a VinDr-format release as a project whose studies start final (or as first
    reads to be read again)."""
    from app.export.release_import import import_release
    from app.imaging.kit import ImagingKit

    kit = ImagingKit.from_settings(context.settings)
    sources = [Source(str(path), path.read_bytes) for path in sorted(files_under(dicom_paths))]
    with context.db() as session:
        try:
            intake = import_release(
                session,
                kit,
                cli_actor(context),
                project_name=project_name,
                breast_csv=breast.read_text(encoding="utf-8"),
                finding_csv=finding.read_text(encoding="utf-8"),
                dicom=sources,
                start_as=start_as,
                first_reader=find_user(session, first_reader) if first_reader else None,
                override_reason=override_reason.strip() or None,
            )
        except AppError as error:
            for detail in error.details or []:
                click.echo(f"{detail.get('field')}: {detail.get('message')}", err=True)
            raise click.ClickException(error.message) from None
    click.echo(
        f"Project {intake.project.name!r} (id {intake.project.id}): {intake.studies} "
        f"{'final studies' if start_as == StartAs.FINAL else 'studies with a first read'}, "
        f"{intake.images_imported} DICOM files imported."
    )


def register(group: click.Group) -> None:
    group.add_command(export_command)
    group.add_command(import_release_command)

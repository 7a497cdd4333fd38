"""A VinDr-format release in: its CSV pair (and DICOM files) as a reading project whose
studies start final with the released labels, their split and their row order, so that
exporting the project again gives the same bytes.

Everything is checked before anything is written: any problem in the CSVs, an image id
without a DICOM file, or image facts that differ from the DICOM (size, laterality, view,
series) refuses the whole release with every problem and its line number.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import pydicom
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.database import utcnow
from app.core.errors import Conflict, Invalid
from app.export import vindr
from app.imaging.importer import Source, expand, import_sources
from app.imaging.kit import ImagingKit
from app.imaging.models import Image
from app.imaging.pseudonymise import identifiers
from app.reading import service as reading_service
from app.reading.models import FINAL, ProjectStudy, ReadingProject

IMPORTED = "imported"
HEADER_FACTS = ("study_id", "series_id", "height", "width")
FACTS = (*HEADER_FACTS, "laterality", "view_position")
MAX_LISTED = 200


@dataclass(frozen=True)
class Intake:
    project: ReadingProject
    studies: int
    images_imported: int


def import_release(
    db: Session,
    kit: ImagingKit,
    actor: Actor,
    *,
    project_name: str,
    breast_csv: str,
    finding_csv: str,
    dicom: Sequence[Source] = (),
) -> Intake:
    """Create ``project_name`` from a release; DICOM files may be imported already."""
    if db.scalar(select(ReadingProject.id).where(ReadingProject.name == project_name.strip())):
        raise Conflict(f"A project named {project_name!r} exists already.", code="name_taken")
    dicom = list(expand(dicom, kit))
    carried = _ids_in(dicom)
    present = set(db.scalars(select(Image.image_id)))
    parsed = vindr.parse_release(
        io.StringIO(breast_csv, newline=""),
        io.StringIO(finding_csv, newline=""),
        known_image_ids=present | set(carried),
    )
    problems = list(parsed.problems)
    if not problems:
        problems = _fact_problems(db, parsed.studies, carried, breast_csv)
    if problems:
        raise _refusal(problems)
    report = import_sources(db, kit, dicom, actor=actor, channel="release") if dicom else None
    if report is not None and report.count("rejected"):
        rejected = [o for o in report.outcomes if o.status == "rejected"]
        raise Invalid(
            f"{len(rejected)} DICOM files were refused; nothing else was imported.",
            details=[{"field": o.name[:200], "message": o.reason or ""} for o in rejected[:50]],
        )
    project = reading_service.create_project(
        db, actor, reading_service.NewProject(project_name, "Imported VinDr-format release.")
    )
    _add_final_studies(db, project, parsed.studies)
    record(
        db,
        actor,
        "release.imported",
        object_type="reading_project",
        object_id=project.id,
        studies=len(parsed.studies),
    )
    db.commit()
    imported = report.count("imported") if report else 0
    return Intake(project, len(parsed.studies), imported)


def _ids_in(dicom: Sequence[Source]) -> dict[str, vindr.ImageFacts]:
    """The ids and size each DICOM file will be stored with, read from its header only."""
    carried: dict[str, vindr.ImageFacts] = {}
    for source in dicom:
        ds = _header(source)
        if ds is None:
            continue
        ids = identifiers(ds)
        carried[ids.image_id] = vindr.ImageFacts(
            study_id=ids.study_id,
            series_id=ids.series_id,
            image_id=ids.image_id,
            laterality="",
            view_position="",
            height=int(ds.get("Rows", 0) or 0),
            width=int(ds.get("Columns", 0) or 0),
        )
    return carried


def _header(source: Source) -> pydicom.Dataset | None:
    """None for an unreadable file: the import itself refuses it, with a reason."""
    try:
        ds = pydicom.dcmread(io.BytesIO(source.read()), stop_before_pixels=True)
        identifiers(ds)
    except Exception:  # any unreadable file
        return None
    return ds


def _fact_problems(
    db: Session,
    studies: Sequence[vindr.ParsedStudy],
    carried: dict[str, vindr.ImageFacts],
    breast_csv: str,
) -> list[vindr.Problem]:
    lines = _image_lines(breast_csv)
    wanted = [image for study in studies for image in study.images]
    stored = {
        image.image_id: image
        for image in db.scalars(
            select(Image).where(Image.image_id.in_([i.image_id for i in wanted]))
        )
    }
    problems = []
    for image in wanted:
        actual = _stored_facts(stored.get(image.image_id))
        # Before import only the header's own values are sure; laterality and view are
        # normalised by the importer, so they are compared with stored images only.
        names = FACTS if actual else HEADER_FACTS
        actual = actual or carried.get(image.image_id)
        if actual is None:
            continue
        differences = [
            f"{name} {getattr(image, name)!r} but the DICOM has {getattr(actual, name)!r}"
            for name in names
            if getattr(image, name) != getattr(actual, name)
        ]
        if not differences:
            continue
        problems.append(
            vindr.Problem(
                vindr.BREAST_FILE,
                lines.get(image.image_id, 0),
                f"image {image.image_id}: " + "; ".join(differences),
            )
        )
    return problems


def _stored_facts(image: Image | None) -> vindr.ImageFacts | None:
    if image is None:
        return None
    return vindr.ImageFacts(
        study_id=image.study.study_id,
        series_id=image.series_id,
        image_id=image.image_id,
        laterality=image.laterality or "",
        view_position=image.view or "",
        height=image.rows,
        width=image.columns,
    )


def _image_lines(breast_csv: str) -> dict[str, int]:
    reader = csv.reader(io.StringIO(breast_csv, newline=""))
    lines: dict[str, int] = {}
    for row in reader:
        if len(row) > 2:
            lines.setdefault(row[2], reader.line_num)
    return lines


def _refusal(problems: Sequence[vindr.Problem]) -> Invalid:
    shown = [{"field": f"{p.file}:{p.line}", "message": p.message} for p in problems[:MAX_LISTED]]
    more = f" (the first {MAX_LISTED} are listed)" if len(problems) > MAX_LISTED else ""
    return Invalid(
        f"The release has {len(problems)} problems{more}; nothing was imported.",
        code="invalid_release",
        details=shown,
    )


def _add_final_studies(
    db: Session, project: ReadingProject, studies: Sequence[vindr.ParsedStudy]
) -> None:
    study_pks = dict(
        db.execute(
            select(Image.image_id, Image.study_pk).where(
                Image.image_id.in_([s.images[0].image_id for s in studies])
            )
        ).all()
    )
    now = utcnow()
    for study in studies:
        db.add(
            ProjectStudy(
                project_id=project.id,
                study_pk=study_pks[study.images[0].image_id],
                status=FINAL,
                final_label=study.label,
                final_source=IMPORTED,
                finalized_at=now,
                split=study.split,
                image_order=[image.image_id for image in study.images],
            )
        )
    db.flush()

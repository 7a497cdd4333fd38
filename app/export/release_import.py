"""A VinDr-format release in: its CSV pair (and DICOM files) as a reading project whose
studies start final with the released labels, their split and their row order, so that
exporting the project again gives the same bytes.

Everything is checked before anything is written: any problem in the CSVs, an image id
without a DICOM file, a referenced file that is not readable DICOM, or image facts that differ
from the DICOM (size, laterality, view, series) refuses the whole release with every problem
and its line number. Files the CSVs do not reference (a README, a checksum list) are ignored.

A study enters the project as studies picked on the project page do
(``app/reading/rules/admission.py``): the four standard views and no open QC flag, else only
with the import's override (a reason, recorded on each such study as its
``admission_override`` and in the audit log). The views the release and the store show are
checked before any file is imported; the QC flags that only the images reveal, once they are
stored: a study refused then leaves no project, and the images stay stored, recognised when
the release is sent again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pydicom
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.core.database import utcnow
from app.core.errors import Invalid, field_error
from app.export import reading_export, vindr_format
from app.export.states import StartAs
from app.imaging.importer import Source, expand, import_sources, inflation_refusal
from app.imaging.kit import ImagingKit
from app.imaging.models import Image, Study
from app.imaging.pseudonymise import IdScheme, identifiers
from app.imaging.qc import VIEW_FLAGS
from app.imaging.states import ImportChannel, OutcomeStatus
from app.reading import service as reading_service
from app.reading.models import ReadingProject
from app.reading.rules import DEFAULT_RULES, AdmissionCheck, check_study, parse_label

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
    start_as: StartAs | str = StartAs.FINAL,
    first_reader: User | None = None,
    override_reason: str | None = None,
) -> Intake:
    """Create ``project_name`` from a release; DICOM files may be imported already.

    ``start_as`` final: the studies are final with the released labels. first_read: each
    released label is ``first_reader``'s submitted read 1; assigning the project gives every
    study a second reader, and discordant pairs go to arbitration as usual.

    A study that is not complete refuses the release (422 ``incomplete_studies``, each study
    named with what it lacks) unless ``override_reason`` gives why it is imported anyway."""
    try:
        start = StartAs(start_as)
    except ValueError:
        raise field_error("start_as", f"start_as must be {' or '.join(StartAs)}.") from None
    try:
        override = reading_service.rules.checked_override(override_reason)
    except ValueError as error:
        raise field_error("override_reason", str(error)) from None
    if start == StartAs.FIRST_READ and (first_reader is None or not first_reader.is_active):
        raise field_error("first_reader", "Name the active user the released reads belong to.")
    reading_service.checked_project_name(db, project_name)
    lines = _image_lines(breast_csv)
    dicom, carried, unreadable = _ids_in(list(expand(dicom, kit)), kit.pseudonyms, lines)
    present = _stored_ids(db, list(lines))
    parsed = vindr_format.parse_release(
        io.StringIO(breast_csv, newline=""), io.StringIO(finding_csv, newline="")
    )
    missing = _missing(lines, present | set(carried))
    problems = list(parsed.problems)
    if not problems and not unreadable and not missing:
        problems = _fact_problems(db, parsed.studies, carried, lines)
    if problems or unreadable or missing:
        raise _refusal(problems, unreadable, missing)
    _refuse_incomplete(_checks_before_import(db, parsed.studies, present), override)
    report = (
        import_sources(db, kit, dicom, actor=actor, channel=ImportChannel.RELEASE)
        if dicom
        else None
    )
    if report is not None and report.count(OutcomeStatus.REJECTED):
        rejected = [o for o in report.outcomes if o.status == OutcomeStatus.REJECTED]
        raise Invalid(
            f"{len(rejected)} DICOM files were refused, so the project was not created. The "
            f"{report.count(OutcomeStatus.IMPORTED)} accepted images are stored and will be "
            "recognised when the release is sent again.",
            code="invalid_release",
            details=[{"field": o.name[:200], "message": o.reason or ""} for o in rejected[:50]],
        )
    imported = report.count(OutcomeStatus.IMPORTED) if report else 0
    checks = _checks_when_stored(db, parsed.studies)
    _refuse_incomplete(checks.values(), override, imported)
    overrides = {
        study_id: None if check.complete else override for study_id, check in checks.items()
    }
    project = reading_service.add_project(
        db, actor, reading_service.NewProject(project_name, "Imported VinDr-format release.")
    )
    if start == StartAs.FINAL:
        _add_final_studies(db, project, parsed.studies, overrides)
    else:
        assert first_reader is not None
        _add_first_reads(db, project, parsed.studies, first_reader, overrides)
    overridden = [study_id for study_id, reason in overrides.items() if reason is not None]
    reading_service.record_admitted_incomplete(db, actor, project, overridden, override)
    record(
        db,
        actor,
        "release.imported",
        object_type="reading_project",
        object_id=project.id,
        studies=len(parsed.studies),
        start_as=start,
    )
    db.commit()
    return Intake(project, len(parsed.studies), imported)


def _checks_before_import(
    db: Session, studies: Sequence[vindr_format.ParsedStudy], stored: Container[str]
) -> list[AdmissionCheck]:
    """Each study's admission as far as it is known before any file is imported: its views
    are those of its stored images and those the release gives for the images not stored
    yet; its open QC flags are its stored ones, but for the view flags, which the views
    decide here (the import refreshes them)."""
    ids = [study.study_id for study in studies]
    pks = dict(db.execute(select(Study.study_id, Study.id).where(Study.study_id.in_(ids))).all())
    views: dict[int, list[tuple[str | None, str | None]]] = {pk: [] for pk in pks.values()}
    if pks:
        for study_pk, laterality, view in db.execute(
            select(Image.study_pk, Image.laterality, Image.view).where(
                Image.study_pk.in_(list(pks.values()))
            )
        ):
            views[study_pk].append((laterality, view))
    flags = reading_service.open_flags(db, list(pks.values()))
    checks = []
    for study in studies:
        pk = pks.get(study.study_id)
        known = list(views[pk]) if pk is not None else []
        known += [
            (image.laterality.upper(), image.view_position.upper())
            for image in study.images
            if image.image_id not in stored
        ]
        words = [w for kind, w in (flags[pk] if pk is not None else []) if kind not in VIEW_FLAGS]
        checks.append(check_study(study.study_id, known, words))
    return checks


def _checks_when_stored(
    db: Session, studies: Sequence[vindr_format.ParsedStudy]
) -> dict[str, AdmissionCheck]:
    """Each study's admission from its stored images and open QC flags, by study id (the
    check of the project page's picking and pasting)."""
    pks = _study_pks(db, studies)
    stored = {s.id: s for s in db.scalars(select(Study).where(Study.id.in_(list(pks.values()))))}
    checks = reading_service.admission_checks(db, list(stored.values()))
    return {study.study_id: checks[pks[study.study_id]] for study in studies}


def _refuse_incomplete(
    checks: Iterable[AdmissionCheck], override: str | None, imported: int = 0
) -> None:
    """422 ``incomplete_studies`` naming each study that may not enter the project and what
    it lacks; the images imported already (``imported``) are said to stay."""
    kept = (
        f" The {imported} accepted images are stored and will be recognised when the release "
        "is sent again."
        if imported
        else ""
    )
    reading_service.refuse_incomplete(
        checks,
        override,
        breast_not_imaged=DEFAULT_RULES.breast_not_imaged,  # the new project's rules
        nothing="The release was not imported",
        then=kept,
    )


def _ids_in(
    dicom: Sequence[Source], scheme: IdScheme, referenced: Container[str]
) -> tuple[list[Source], dict[str, vindr_format.ImageFacts], list[str]]:
    """The files the CSVs reference (by the image id a DICOM file carries, or by the name of
    a file that is not readable DICOM), with the ids and size each will be stored with, read
    from its header only; and the names of the referenced files that are not readable DICOM.
    Other files (a README, a checksum list, images outside the release) are ignored."""
    wanted: list[Source] = []
    carried: dict[str, vindr_format.ImageFacts] = {}
    unreadable: list[str] = []
    for source in dicom:
        ds = _header(source, scheme)
        if ds is None:
            if PurePosixPath(source.name.replace("\\", "/")).stem in referenced:
                unreadable.append(source.name)
            continue
        ids = identifiers(ds, scheme)
        if ids.image_id not in referenced:
            continue
        wanted.append(source)
        carried[ids.image_id] = vindr_format.ImageFacts(
            study_id=ids.study_id,
            series_id=ids.series_id,
            image_id=ids.image_id,
            laterality="",
            view_position="",
            height=int(ds.get("Rows", 0) or 0),
            width=int(ds.get("Columns", 0) or 0),
        )
    return wanted, carried, unreadable


def _missing(lines: dict[str, int], known: Container[str]) -> list[tuple[str, int]]:
    """The referenced images with no DICOM file, stored or sent, and their line."""
    return [(image_id, line) for image_id, line in lines.items() if image_id not in known]


def _header(source: Source, scheme: IdScheme) -> pydicom.Dataset | None:
    """None for an unreadable file: the import itself refuses it, with a reason."""
    try:
        data = source.read()
        if inflation_refusal(data):  # a deflate bomb is not inflated to read its header
            return None
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        identifiers(ds, scheme)
    except Exception:  # any unreadable file
        return None
    return ds


def _fact_problems(
    db: Session,
    studies: Sequence[vindr_format.ParsedStudy],
    carried: dict[str, vindr_format.ImageFacts],
    lines: dict[str, int],
) -> list[vindr_format.Problem]:
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
            vindr_format.Problem(
                vindr_format.BREAST_FILE,
                lines.get(image.image_id, 0),
                f"image {image.image_id}: " + "; ".join(differences),
            )
        )
    return problems


def _stored_ids(db: Session, image_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(image_ids), 5000):
        chunk = image_ids[start : start + 5000]
        found.update(db.scalars(select(Image.image_id).where(Image.image_id.in_(chunk))))
    return found


def _stored_facts(image: Image | None) -> vindr_format.ImageFacts | None:
    return None if image is None else reading_export.facts(image)


def _image_lines(breast_csv: str) -> dict[str, int]:
    """The image ids of the breast-level file and their line (none if its header is not
    VinDr's: the parser reports that)."""
    reader = csv.reader(io.StringIO(breast_csv, newline=""))
    header = next(reader, [])
    if len(header) < 3 or header[2].strip() != "image_id":
        return {}
    lines: dict[str, int] = {}
    for row in reader:
        if len(row) > 2 and row[2]:
            lines.setdefault(row[2], reader.line_num)
    return lines


def _refusal(
    problems: Sequence[vindr_format.Problem],
    unreadable: Sequence[str] = (),
    missing: Sequence[tuple[str, int]] = (),
) -> Invalid:
    """Every referenced file that is missing or unreadable, by name, then the first
    MAX_LISTED other problems."""
    files = [
        {"field": name[:200], "message": "referenced by the CSVs but not a readable DICOM file"}
        for name in unreadable
    ] + [
        {
            "field": f"{vindr_format.BREAST_FILE}:{line}",
            "message": f"image_id {image_id} has no DICOM file ({image_id}.dicom is missing)",
        }
        for image_id, line in missing
    ]
    shown = [{"field": f"{p.file}:{p.line}", "message": p.message} for p in problems[:MAX_LISTED]]
    more = f" (the first {MAX_LISTED} are listed)" if len(problems) > MAX_LISTED else ""
    count = len(problems) + len(files)
    return Invalid(
        f"The release has {count} problems{more}; nothing was imported.",
        code="invalid_release",
        details=files + shown,
    )


def _study_pks(db: Session, studies: Sequence[vindr_format.ParsedStudy]) -> dict[str, int]:
    first_images = [s.images[0].image_id for s in studies]
    rows = db.execute(
        select(Image.image_id, Image.study_pk).where(Image.image_id.in_(first_images))
    ).all()
    by_image = dict(rows)
    return {s.study_id: by_image[s.images[0].image_id] for s in studies}


def _released(study_pk: int, study: vindr_format.ParsedStudy) -> reading_service.ReleasedStudy:
    return reading_service.ReleasedStudy(
        study_pk=study_pk,
        split=study.split,
        image_order=[image.image_id for image in study.images],
    )


def _add_final_studies(
    db: Session,
    project: ReadingProject,
    studies: Sequence[vindr_format.ParsedStudy],
    overrides: Mapping[str, str | None],
) -> None:
    now = utcnow()
    for study in studies:
        released = _released(_study_pks(db, [study])[study.study_id], study)
        label = parse_label(study.label)
        reading_service.add_released_study(
            db,
            project,
            released,
            final_label=label,
            at=now,
            admission_override=overrides[study.study_id],
        )
    db.flush()


def _add_first_reads(
    db: Session,
    project: ReadingProject,
    studies: Sequence[vindr_format.ParsedStudy],
    reader: User,
    overrides: Mapping[str, str | None],
) -> None:
    now = utcnow()
    pks = _study_pks(db, studies)
    for study in studies:
        added = reading_service.add_released_study(
            db,
            project,
            _released(pks[study.study_id], study),
            admission_override=overrides[study.study_id],
        )
        reading_service.record_imported_read(db, added, reader, parse_label(study.label), now)
    db.flush()

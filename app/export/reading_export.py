"""Reading projects out as datasets: the VinDr-Mammo CSV pair, the same content as JSON, and
every individual read with its provenance. Streamed study by study: memory stays bounded
whatever the project's size.

Row order (stable, documented): studies in the order they entered the project; within a
study, images in the order of the imported release when there was one, else L-CC, L-MLO,
R-CC, R-MLO (ties by image id); within an image, boxes in the label's order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.export import split, vindr_format
from app.export.targets import Target, copy_stored
from app.imaging.models import Image, Study
from app.imaging.storage import BlobStore
from app.reading import service as reading_service
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission, ReadTask
from app.reading.states import StudyStatus

BREAST_FILE = vindr_format.BREAST_FILE
FINDING_FILE = vindr_format.FINDING_FILE
NON_FINAL_FILE = "non_final_studies.csv"
NON_FINAL_HEADER = [*vindr_format.BREAST_HEADER[:7], "status"]
READS_FILE = "reads.csv"
READS_HEADER = [
    *vindr_format.FINDING_HEADER[:3],
    "rad_id",
    "role",
    *vindr_format.FINDING_HEADER[3:],
    "started_at",
    "submitted_at",
    "active_seconds",
    # the woman (longitudinal pseudonymisation): her key and the shifted study date
    "patient_key",
    "study_date",
]
JSON_FILE = "annotations.json"
JSON_FORMAT = "mammoread-vindr-json"
JSON_VERSION = 1
BATCH = 500
ROLES = {1: "reader_1", 2: "reader_2", 0: "arbiter"}  # reads.csv's role of a read, by slot
FINAL_ROLE = "final"  # and of the final label

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Options:
    include_non_final: bool = False
    with_images: bool = False
    split_ratio: float = 0.8
    split_seed: int = 0


@dataclass(frozen=True)
class StudyRows:
    """One study as the writers need it: plain values, read column by column (no ORM
    objects, no image display data), its images in export order."""

    id: int
    study_id: str
    status: StudyStatus
    label: dict[str, Any] | None
    finalized_at: datetime | None
    stored_split: str | None
    patient_age: int | None
    patient_key: str | None
    study_date: date | None
    images: list[vindr_format.ImageFacts]
    image_keys: list[tuple[str, str]]  # (image id, storage key)

    def split(self, splits: Mapping[str, str]) -> str:
        return splits.get(self.study_id, "")


def _no_progress(done: int, total: int) -> None:
    return None


# --- reading the project in batches ------------------------------------------------------------


def study_ids(
    db: Session, project: ReadingProject, statuses: Sequence[StudyStatus] | None
) -> list[int]:
    """The project's studies (with these statuses), in the order they entered it."""
    statement = select(ProjectStudy.id).where(ProjectStudy.project_id == project.id)
    if statuses is not None:
        statement = statement.where(ProjectStudy.status.in_(statuses))
    return list(db.scalars(statement.order_by(ProjectStudy.id)))


STUDY_COLUMNS = (
    ProjectStudy.id,
    ProjectStudy.study_pk,
    Study.study_id,
    ProjectStudy.status,
    ProjectStudy.final_label,
    ProjectStudy.finalized_at,
    ProjectStudy.split,
    ProjectStudy.image_order,
    Study.patient_age,
    Study.patient_key,
    Study.study_date,
)
IMAGE_COLUMNS = (
    Image.study_pk,
    Image.series_id,
    Image.image_id,
    Image.laterality,
    Image.view,
    Image.rows,
    Image.columns,
    Image.file_key,
)


def batches(db: Session, ids: Sequence[int]) -> Iterator[list[StudyRows]]:
    """The studies ``ids`` with their images, BATCH at a time: memory stays bounded."""
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        studies = db.execute(
            select(*STUDY_COLUMNS).join(Study).where(ProjectStudy.id.in_(chunk))
        ).all()
        images: dict[int, list[Any]] = {}
        statement = select(*IMAGE_COLUMNS).where(Image.study_pk.in_([s[1] for s in studies]))
        for row in db.execute(statement.order_by(Image.id)):
            images.setdefault(row[0], []).append(row)
        yield [_rows(study, images.get(study[1], [])) for study in sorted(studies)]


def _rows(study: Any, images: Sequence[Any]) -> StudyRows:
    ps_id, _, study_id, status, label, finalized_at, split_value, image_order, age = study[:9]
    keys = {image[2]: image[7] for image in images}
    facts_of = [
        vindr_format.ImageFacts(study_id, i[1], i[2], i[3] or "", i[4] or "", i[5], i[6])
        for i in images
    ]
    ordered = _ordered(facts_of, image_order)
    return StudyRows(
        id=ps_id,
        study_id=study_id,
        status=status,
        label=label,
        finalized_at=finalized_at,
        stored_split=split_value,
        patient_age=age,
        patient_key=study.patient_key,
        study_date=study.study_date,
        images=ordered,
        image_keys=[(f.image_id, keys[f.image_id]) for f in ordered],
    )


def _ordered(
    images: list[vindr_format.ImageFacts], image_order: list[str] | None
) -> list[vindr_format.ImageFacts]:
    """The imported release's order when there was one, else L-CC, L-MLO, R-CC, R-MLO."""
    if not image_order:
        return vindr_format.default_image_order(images)
    rank = {image_id: n for n, image_id in enumerate(image_order)}
    return sorted(images, key=lambda f: (rank.get(f.image_id, len(rank)), f.image_id))


def facts(image: Image) -> vindr_format.ImageFacts:
    return vindr_format.ImageFacts(
        study_id=image.study.study_id,
        series_id=image.series_id,
        image_id=image.image_id,
        laterality=image.laterality or "",
        view_position=image.view or "",
        height=image.rows,
        width=image.columns,
    )


def study_splits(
    db: Session,
    project: ReadingProject,
    options: Options,
    statuses: Sequence[StudyStatus] | None = (StudyStatus.FINAL,),
) -> dict[str, str]:
    """The split of every study with these statuses (None: every study): the stored one
    where there is one (an imported release, or an earlier export), and for the others an
    iterative stratification balanced around the stored ones (seeded, so reproducible). A
    study not final yet counts by its images alone (it has no label yet)."""
    features: dict[str, list[int]] = {}
    women: dict[str, str | None] = {}
    wanted = study_ids(db, project, statuses)
    kept = (
        dict(
            db.execute(
                select(Study.study_id, ProjectStudy.split)
                .join(Study)
                .where(ProjectStudy.id.in_(wanted), ProjectStudy.split.is_not(None))
            ).all()
        )
        if wanted
        else {}
    )
    if len(kept) == len(wanted):
        return kept
    stored: dict[str, str] = {}
    for batch in batches(db, wanted):
        for study in batch:
            if study.stored_split:
                stored[study.study_id] = study.stored_split
            image_ids = [image.image_id for image in study.images]
            label = (study.label or {}) if study.status == StudyStatus.FINAL else {}
            features[study.study_id] = split.study_features(label, image_ids)
            women[study.study_id] = study.patient_key
    return split.assign_split(
        features, ratio=options.split_ratio, seed=options.split_seed, kept=stored, women=women
    )


def keep_splits(
    db: Session,
    project: ReadingProject,
    options: Options,
    statuses: Sequence[StudyStatus] | None = (StudyStatus.FINAL,),
) -> int:
    """Store the split of the studies (with these statuses; None: all) that have none, so
    that a study never moves between training and test from one export (dataset version) to
    the next."""
    splits = study_splits(db, project, options, statuses)
    return reading_service.keep_splits(db, project, splits, statuses)


# --- writers -----------------------------------------------------------------------------------


def export_vindr(
    db: Session,
    project: ReadingProject,
    target: Target,
    store: BlobStore | None,
    options: Options = Options(),
    progress: Progress = _no_progress,
) -> list[str]:
    """The VinDr-Mammo CSV pair of the final studies (headers only when there are none),
    optionally the non-final studies with their status, and the pseudonymised DICOM files as
    ``images/<study_id>/<image_id>.dicom``."""
    splits = study_splits(db, project, options)
    ids = study_ids(db, project, [StudyStatus.FINAL])
    written = [BREAST_FILE, FINDING_FILE]
    total = len(ids)
    with target.text(BREAST_FILE) as breast_file, target.text(FINDING_FILE) as finding_file:
        breasts, findings = (
            vindr_format.csv_writer(breast_file),
            vindr_format.csv_writer(finding_file),
        )
        breasts.writerow(vindr_format.BREAST_HEADER)
        findings.writerow(vindr_format.FINDING_HEADER)
        done = 0
        for batch in batches(db, ids):
            for rows in batch:
                label, split_name = rows.label or {}, rows.split(splits)
                breasts.writerows(vindr_format.breast_rows(rows.images, label, split_name))
                findings.writerows(vindr_format.finding_rows(rows.images, label, split_name))
                if options.with_images and store is not None:
                    _copy_images(target, store, rows)
            done += len(batch)
            progress(done, total)
    if options.include_non_final:
        written.append(_write_non_final(db, project, target))
    return written


def _copy_images(target: Target, store: BlobStore, rows: StudyRows) -> None:
    for image_id, key in rows.image_keys:
        copy_stored(target, f"images/{rows.study_id}/{image_id}.dicom", store, key)


def _write_non_final(db: Session, project: ReadingProject, target: Target) -> str:
    ids = study_ids(db, project, StudyStatus.open())
    with target.text(NON_FINAL_FILE) as handle:
        writer = vindr_format.csv_writer(handle)
        writer.writerow(NON_FINAL_HEADER)
        for batch in batches(db, ids):
            for rows in batch:
                for image in rows.images:
                    row = vindr_format.breast_rows([image], {}, "")[0][:7]
                    writer.writerow([*row, rows.status])
    return NON_FINAL_FILE


def export_json(
    db: Session,
    project: ReadingProject,
    target: Target,
    options: Options = Options(),
    progress: Progress = _no_progress,
) -> list[str]:
    """The same content as the CSV pair, nested: studies -> breasts and images -> findings,
    with real numbers, arrays and nulls. Schema: ``app/export/schemas/vindr.schema.json``."""
    splits = study_splits(db, project, options)
    ids = study_ids(db, project, [StudyStatus.FINAL])
    with target.text(JSON_FILE) as handle:
        head = {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "project": {"id": project.id, "name": project.name},
            "categories": list(vindr_format.VINDR_CATEGORIES),
        }
        handle.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "studies": [')
        first = True
        done = 0
        for batch in batches(db, ids):
            for rows in batch:
                handle.write(("\n" if first else ",\n") + json.dumps(study_json(rows, splits)))
                first = False
            done += len(batch)
            progress(done, len(ids))
        handle.write("\n]}\n")
    return [JSON_FILE]


def study_json(rows: StudyRows, splits: Mapping[str, str]) -> dict[str, Any]:
    label = rows.label or {}
    breasts = label.get("breasts", {})
    boxes = label.get("boxes", [])
    return {
        "study_id": rows.study_id,
        "split": rows.split(splits) or None,
        "patient_key": rows.patient_key,
        "study_date": rows.study_date.isoformat() if rows.study_date else None,
        "breasts": [
            {
                "laterality": lat,
                "birads": breasts.get(lat, {}).get("birads"),
                "density": breasts.get(lat, {}).get("density"),
                # a breast without any image (issue 11): said so, never a BI-RADS
                **({"not_imaged": True} if breasts.get(lat, {}).get("not_imaged") else {}),
            }
            for lat in ("L", "R")
        ],
        "images": [
            {
                "image_id": image.image_id,
                "series_id": image.series_id,
                "laterality": image.laterality,
                "view_position": image.view_position,
                "height": image.height,
                "width": image.width,
                "findings": [
                    {
                        "categories": list(box["categories"]),
                        "birads": box.get("birads"),
                        "xmin": float(box["xmin"]),
                        "ymin": float(box["ymin"]),
                        "xmax": float(box["xmax"]),
                        "ymax": float(box["ymax"]),
                    }
                    for box in boxes
                    if box["image_id"] == image.image_id
                ],
            }
            for image in rows.images
        ],
    }


def export_reads(
    db: Session,
    project: ReadingProject,
    target: Target,
    options: Options = Options(),
    progress: Progress = _no_progress,
) -> list[str]:
    """Every submitted read (reader 1, reader 2, arbiter) and the final label, in the
    finding-file shape with ``rad_id`` and ``role`` after the id columns and the read's
    times after the split. The final rows, without those columns, are the VinDr rows.
    Studies not final yet have their split too (kept from then on, like the final ones')."""
    splits = study_splits(db, project, options, None)
    ids = study_ids(db, project, None)
    rad_ids = _rad_ids(db, project)
    with target.text(READS_FILE) as handle:
        writer = vindr_format.csv_writer(handle)
        writer.writerow(READS_HEADER)
        done = 0
        for batch in batches(db, ids):
            reads = _submissions(db, [rows.id for rows in batch])
            for rows in batch:
                for submission in reads.get(rows.id, []):
                    provenance = (rad_ids.get(submission.user_id, ""), ROLES[submission.slot])
                    times = (
                        _time(submission.started_at),
                        _time(submission.submitted_at),
                        f"{submission.active_seconds:.1f}",
                    )
                    _write_read(writer, rows, splits, submission.label, provenance, times)
                if rows.status == StudyStatus.FINAL and rows.label is not None:
                    times = ("", _time(rows.finalized_at), "")
                    _write_read(writer, rows, splits, rows.label, ("", FINAL_ROLE), times)
            done += len(batch)
            progress(done, len(ids))
    return [READS_FILE]


def _write_read(
    writer: Any,
    rows: StudyRows,
    splits: Mapping[str, str],
    label: dict[str, Any],
    provenance: tuple[str, str],
    times: tuple[str, str, str],
) -> None:
    woman = (rows.patient_key or "", rows.study_date.isoformat() if rows.study_date else "")
    for row in vindr_format.finding_rows(rows.images, label, rows.split(splits)):
        writer.writerow([*row[:3], *provenance, *row[3:], *times, *woman])


def _submissions(db: Session, project_study_ids: Sequence[int]) -> dict[int, list[Any]]:
    statement = (
        select(
            ReadSubmission.project_study_id,
            ReadSubmission.user_id,
            ReadSubmission.slot,
            ReadSubmission.label,
            ReadSubmission.started_at,
            ReadSubmission.submitted_at,
            ReadSubmission.active_seconds,
        )
        .where(ReadSubmission.project_study_id.in_(project_study_ids))
        .order_by(ReadSubmission.id)
    )
    grouped: dict[int, list[Any]] = {}
    for submission in db.execute(statement):
        grouped.setdefault(submission.project_study_id, []).append(submission)
    return grouped


def _rad_ids(db: Session, project: ReadingProject) -> dict[int, str]:
    """R1, R2, ... in the order people first worked in the project (stable as it grows)."""
    statement = (
        select(ReadTask.user_id, func.min(ReadTask.id))
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id)
        .group_by(ReadTask.user_id)
        .order_by(func.min(ReadTask.id))
    )
    return {user_id: f"R{n}" for n, (user_id, _) in enumerate(db.execute(statement).all(), 1)}


def _time(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""

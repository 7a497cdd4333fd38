"""Reading projects out as datasets: the VinDr-Mammo CSV pair, the same content as JSON, and
every individual read with its provenance. Streamed study by study: memory stays bounded
whatever the project's size.

Row order (stable, documented): studies in the order they entered the project; within a
study, images in the order of the imported release when there was one, else L-CC, L-MLO,
R-CC, R-MLO (ties by image id); within an image, boxes in the label's order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.export import split, vindr
from app.export.targets import Target
from app.imaging.models import Image, Study
from app.imaging.storage import LocalStore
from app.reading.models import FINAL, ProjectStudy, ReadingProject, ReadSubmission, ReadTask

BREAST_FILE = "breast-level_annotations.csv"
FINDING_FILE = "finding_annotations.csv"
NON_FINAL_FILE = "non_final_studies.csv"
NON_FINAL_HEADER = [*vindr.BREAST_HEADER[:7], "status"]
READS_FILE = "reads.csv"
READS_HEADER = [
    *vindr.FINDING_HEADER[:3],
    "rad_id",
    "role",
    *vindr.FINDING_HEADER[3:],
    "started_at",
    "submitted_at",
    "active_seconds",
]
JSON_FILE = "annotations.json"
JSON_FORMAT = "mammoread-vindr-json"
JSON_VERSION = 1
BATCH = 500
ROLES = {1: "reader_1", 2: "reader_2", 0: "arbiter"}

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Options:
    include_non_final: bool = False
    with_images: bool = False
    split_ratio: float = 0.8
    split_seed: int = 0


@dataclass(frozen=True)
class StudyRows:
    """One study as the writers need it."""

    study_id: str
    status: str
    images: list[vindr.ImageFacts]
    label: dict[str, Any] | None
    split: str
    finalized_at: datetime | None
    image_keys: list[tuple[str, str]]  # (image id, storage key)


def _no_progress(done: int, total: int) -> None:
    return None


# --- reading the project in batches ------------------------------------------------------------


def _study_ids(db: Session, project: ReadingProject, statuses: Sequence[str] | None) -> list[int]:
    statement = select(ProjectStudy.id).where(ProjectStudy.project_id == project.id)
    if statuses is not None:
        statement = statement.where(ProjectStudy.status.in_(statuses))
    return list(db.scalars(statement.order_by(ProjectStudy.id)))


def _batches(db: Session, ids: Sequence[int]) -> Iterator[list[ProjectStudy]]:
    """Project studies with their images, BATCH at a time; the session forgets each batch."""
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        rows = db.scalars(
            select(ProjectStudy)
            .where(ProjectStudy.id.in_(chunk))
            .options(joinedload(ProjectStudy.study).selectinload(Study.images))
            .order_by(ProjectStudy.id)
        ).unique()
        yield list(rows)
        db.expunge_all()


def facts(image: Image) -> vindr.ImageFacts:
    return vindr.ImageFacts(
        study_id=image.study.study_id,
        series_id=image.series_id,
        image_id=image.image_id,
        laterality=image.laterality or "",
        view_position=image.view or "",
        height=image.rows,
        width=image.columns,
    )


def ordered_images(project_study: ProjectStudy) -> list[Image]:
    images = list(project_study.study.images)
    if project_study.image_order:
        rank = {image_id: n for n, image_id in enumerate(project_study.image_order)}
        return sorted(images, key=lambda i: (rank.get(i.image_id, len(rank)), i.image_id))
    by_id = {i.image_id: i for i in images}
    return [by_id[f.image_id] for f in vindr.default_image_order([facts(i) for i in images])]


def _study_rows(project_study: ProjectStudy, splits: dict[str, str]) -> StudyRows:
    images = ordered_images(project_study)
    study_id = project_study.study.study_id
    return StudyRows(
        study_id=study_id,
        status=project_study.status,
        images=[facts(i) for i in images],
        label=project_study.final_label,
        split=splits.get(study_id, ""),
        finalized_at=project_study.finalized_at,
        image_keys=[(i.image_id, i.file_key) for i in images],
    )


def study_splits(db: Session, project: ReadingProject, options: Options) -> dict[str, str]:
    """The stored split of every final study when all have one (an imported release, or a
    split made before); otherwise a fresh iterative stratification of the final studies,
    seeded and so reproducible."""
    ids = _study_ids(db, project, [FINAL])
    stored: dict[str, str] = {}
    features: dict[str, list[int]] = {}
    for batch in _batches(db, ids):
        for project_study in batch:
            study_id = project_study.study.study_id
            if project_study.split:
                stored[study_id] = project_study.split
            image_ids = [i.image_id for i in project_study.study.images]
            features[study_id] = split.study_features(project_study.final_label or {}, image_ids)
    if len(stored) == len(ids):
        return stored
    return split.assign_split(features, ratio=options.split_ratio, seed=options.split_seed)


# --- writers -----------------------------------------------------------------------------------


def export_vindr(
    db: Session,
    project: ReadingProject,
    target: Target,
    store: LocalStore | None,
    options: Options = Options(),
    progress: Progress = _no_progress,
) -> list[str]:
    """The VinDr-Mammo CSV pair of the final studies (headers only when there are none),
    optionally the non-final studies with their status, and the pseudonymised DICOM files as
    ``images/<study_id>/<image_id>.dicom``."""
    splits = study_splits(db, project, options)
    ids = _study_ids(db, project, [FINAL])
    written = [BREAST_FILE, FINDING_FILE]
    total = len(ids)
    with target.text(BREAST_FILE) as breast_file, target.text(FINDING_FILE) as finding_file:
        breasts, findings = vindr.csv_writer(breast_file), vindr.csv_writer(finding_file)
        breasts.writerow(vindr.BREAST_HEADER)
        findings.writerow(vindr.FINDING_HEADER)
        done = 0
        for batch in _batches(db, ids):
            for project_study in batch:
                rows = _study_rows(project_study, splits)
                breasts.writerows(vindr.breast_rows(rows.images, rows.label or {}, rows.split))
                findings.writerows(vindr.finding_rows(rows.images, rows.label or {}, rows.split))
                if options.with_images and store is not None:
                    _copy_images(target, store, rows)
            done += len(batch)
            progress(done, total)
    if options.include_non_final:
        written.append(_write_non_final(db, project, target))
    return written


def _copy_images(target: Target, store: LocalStore, rows: StudyRows) -> None:
    for image_id, key in rows.image_keys:
        source = store.local_path(key)
        if source is not None:
            target.copy(f"images/{rows.study_id}/{image_id}.dicom", Path(source))


def _write_non_final(db: Session, project: ReadingProject, target: Target) -> str:
    ids = _study_ids(db, project, ["unassigned", "reading", "arbitration"])
    with target.text(NON_FINAL_FILE) as handle:
        writer = vindr.csv_writer(handle)
        writer.writerow(NON_FINAL_HEADER)
        for batch in _batches(db, ids):
            for project_study in batch:
                for image in ordered_images(project_study):
                    row = vindr.breast_rows([facts(image)], {}, "")[0][:7]
                    writer.writerow([*row, project_study.status])
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
    ids = _study_ids(db, project, [FINAL])
    with target.text(JSON_FILE) as handle:
        head = {
            "format": JSON_FORMAT,
            "version": JSON_VERSION,
            "project": {"id": project.id, "name": project.name},
            "categories": list(vindr.VINDR_CATEGORIES),
        }
        handle.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "studies": [')
        first = True
        done = 0
        for batch in _batches(db, ids):
            for project_study in batch:
                rows = _study_rows(project_study, splits)
                handle.write(("\n" if first else ",\n") + json.dumps(study_json(rows)))
                first = False
            done += len(batch)
            progress(done, len(ids))
        handle.write("\n]}\n")
    return [JSON_FILE]


def study_json(rows: StudyRows) -> dict[str, Any]:
    label = rows.label or {}
    breasts = label.get("breasts", {})
    boxes = label.get("boxes", [])
    return {
        "study_id": rows.study_id,
        "split": rows.split or None,
        "breasts": [
            {
                "laterality": lat,
                "birads": breasts.get(lat, {}).get("birads"),
                "density": breasts.get(lat, {}).get("density"),
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
    times after the split. The final rows, without those columns, are the VinDr rows."""
    splits = study_splits(db, project, options)
    ids = _study_ids(db, project, None)
    rad_ids = _rad_ids(db, project)
    with target.text(READS_FILE) as handle:
        writer = vindr.csv_writer(handle)
        writer.writerow(READS_HEADER)
        done = 0
        for batch in _batches(db, ids):
            reads = _submissions(db, [ps.id for ps in batch])
            for project_study in batch:
                rows = _study_rows(project_study, splits)
                for submission in reads.get(project_study.id, []):
                    provenance = (rad_ids[submission.user_id], ROLES[submission.slot])
                    times = (
                        _time(submission.started_at),
                        _time(submission.submitted_at),
                        f"{submission.active_seconds:.1f}",
                    )
                    _write_read(writer, rows, submission.label, provenance, times)
                if project_study.status == FINAL and rows.label is not None:
                    times = ("", _time(rows.finalized_at), "")
                    _write_read(writer, rows, rows.label, ("", "final"), times)
            done += len(batch)
            progress(done, len(ids))
    return [READS_FILE]


def _write_read(
    writer: Any,
    rows: StudyRows,
    label: dict[str, Any],
    provenance: tuple[str, str],
    times: tuple[str, str, str],
) -> None:
    for row in vindr.finding_rows(rows.images, label, rows.split):
        writer.writerow([*row[:3], *provenance, *row[3:], *times])


def _submissions(db: Session, project_study_ids: Sequence[int]) -> dict[int, list[ReadSubmission]]:
    statement = (
        select(ReadSubmission)
        .where(ReadSubmission.project_study_id.in_(project_study_ids))
        .order_by(ReadSubmission.id)
    )
    grouped: dict[int, list[ReadSubmission]] = {}
    for submission in db.scalars(statement):
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

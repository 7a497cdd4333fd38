"""Masking projects out: labels in the CSAW-M layout and the raw comparison log."""

from __future__ import annotations

import csv
import json
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from app.export.targets import Target
from app.imaging.display import DisplayParams, DisplayProtocol
from app.imaging.models import Image
from app.masking import results, search, service
from app.masking.models import MaskingComparison, MaskingProject, MaskingUndo
from app.masking.states import ImageRole

LABELS_FILE = "masking_labels.csv"
METADATA_FILE = "masking_project.json"
COMPARISONS_FILE = "comparisons.csv"
DICOM_COLUMNS = [
    "Dicom_image_laterality",
    "Dicom_window_center",
    "Dicom_window_width",
    "Dicom_photometric_interpretation",
]
COMPARISON_HEADER = [
    "comparison_id",
    "expert",
    "kind",
    "query_image_id",
    "reference_image_id",
    "query_side",
    "answer",
    "reason",
    "rule",
    "phase",
    "interval_low",
    "interval_high",
    "reference_position",
    "attempt",
    "outcome",
    "outcome_position",
    "probe_of",
    "undone",
    "served_at",
    "answered_at",
    "response_ms",
]


def semicolon_writer(handle: TextIO) -> Any:
    return csv.writer(handle, delimiter=";", lineterminator="\n")


def experts(db: Session, project: MaskingProject) -> dict[int, str]:
    """Expert_1 ... Expert_N: the readers in the order they joined the project."""
    ordered = sorted(service.readers(db, project), key=lambda reader: reader.id)
    return {reader.user_id: f"Expert_{n}" for n, reader in enumerate(ordered, start=1)}


def export_labels(db: Session, project: MaskingProject, target: Target) -> list[str]:
    """One row per image to place: ``Filename;Label;Expert_1;...;Expert_N`` then the DICOM
    laterality, default window and photometric interpretation. Label is the median level;
    the expert columns hold levels (level projects) or ranks in each reader's list (full
    sort, where Label is the median of the lists cut into the project's levels)."""
    outcome = results.project_results(db, project)
    names = experts(db, project)
    usernames = {r.user_id: r.user.username for r in service.readers(db, project)}
    columns = [usernames[user_id] for user_id in names]
    full_sort = project.mode == search.FULL_SORT
    images = service.images_by_pk(db, service.project_images(db, project, ImageRole.QUERY))
    by_id = {image.image_id: image for image in images.values()}
    with target.text(LABELS_FILE) as handle:
        writer = semicolon_writer(handle)
        writer.writerow(["Filename", "Label", *names.values(), *DICOM_COLUMNS])
        for row in outcome.images:
            image = by_id[row.image_id]
            given = row.ranks if full_sort else row.levels
            writer.writerow(
                [
                    f"images/{row.study_id}/{row.image_id}.dicom",
                    "" if row.median_level is None else row.median_level,
                    *(given.get(name, "") for name in columns),
                    *dicom_columns(image),
                ]
            )
    with target.text(METADATA_FILE) as handle:
        json.dump(metadata(project, names), handle, indent=2)
        handle.write("\n")
    return [LABELS_FILE, METADATA_FILE]


def metadata(project: MaskingProject, names: dict[int, str]) -> dict[str, Any]:
    """How the labels were made: the mode and rule, and the display protocol both images of
    every pair went through (``header``: each image's own VOI, as projects before it had)."""
    protocol = DisplayProtocol(project.display_protocol)
    return {
        "project": project.name,
        "mode": project.mode.value,
        "level_rule": project.level_rule.value,
        "levels": project.levels,
        "display_protocol": protocol.value,
        "display_function": protocol.common_function or "per image (header)",
        "randomise_sides": project.randomise_sides,
        "experts": len(names),
    }


def dicom_columns(image: Image) -> list[str]:
    windows = DisplayParams.from_json(image.display).windows
    centre, width = (repr(windows[0].center), repr(windows[0].width)) if windows else ("", "")
    return [image.laterality or "", centre, width, image.photometric]


def export_comparisons(db: Session, project: MaskingProject, target: Target) -> list[str]:
    """Every answer, probes and undone ones included (flagged), oldest first."""
    names = experts(db, project)
    query, reference = aliased(Image), aliased(Image)
    original = aliased(MaskingComparison)
    statement = (
        select(
            MaskingComparison,
            query.image_id,
            reference.image_id,
            original.uid,
            MaskingUndo.id,
        )
        .join(query, query.id == MaskingComparison.query_pk)
        .join(reference, reference.id == MaskingComparison.reference_pk)
        .outerjoin(original, original.id == MaskingComparison.probe_of)
        .outerjoin(MaskingUndo, MaskingUndo.comparison_id == MaskingComparison.id)
        .where(MaskingComparison.project_id == project.id)
        .order_by(MaskingComparison.id)
        .execution_options(yield_per=2000)
    )
    with target.text(COMPARISONS_FILE) as handle:
        writer = semicolon_writer(handle)
        writer.writerow(COMPARISON_HEADER)
        for c, query_id, reference_id, probe_uid, undo_id in db.execute(statement):
            writer.writerow(
                [
                    c.uid,
                    names.get(c.user_id, ""),
                    c.kind,
                    query_id,
                    reference_id,
                    c.query_side,
                    c.answer,
                    c.reason or "",
                    c.rule,
                    c.phase,
                    c.interval_low,
                    c.interval_high,
                    c.reference_position,
                    c.attempt,
                    c.outcome,
                    "" if c.outcome_position is None else c.outcome_position,
                    probe_uid or "",
                    "yes" if undo_id else "no",
                    c.served_at.isoformat(timespec="milliseconds"),
                    c.answered_at.isoformat(timespec="milliseconds"),
                    c.response_ms,
                ]
            )
    return [COMPARISONS_FILE]

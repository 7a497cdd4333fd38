"""Rows of an imported file checked against a reading project (the reference standard, a
model's predictions): each study exists and is in the project, each image is one of that
study's images of that breast, each box stays within its image. One place for the checks both
imports make; each import wraps the problems in its own shape."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging.models import Image, Study
from app.reading.models import ProjectStudy, ReadingProject

BATCH = 500
SHOWN = 40


class NamedRow(Protocol):
    @property
    def study_id(self) -> str | None: ...
    @property
    def image_id(self) -> str | None: ...
    @property
    def laterality(self) -> str | None: ...


class PlacedBox(Protocol):
    @property
    def image_id(self) -> str: ...
    @property
    def xmax(self) -> float: ...
    @property
    def ymax(self) -> float: ...


R = TypeVar("R", bound=NamedRow)
B = TypeVar("B", bound=PlacedBox)


@dataclass(frozen=True)
class Checked(Generic[R, B]):
    """The project's studies the rows name, and each problem as (row or box, field, message)."""

    in_project: dict[str, ProjectStudy]
    row_problems: list[tuple[R, str, str]]
    box_problems: list[tuple[B, str, str]]


def short(value: str) -> str:
    """A value quoted in a message, cut to a readable length."""
    return repr(value if len(value) <= SHOWN else value[:SHOWN] + "...")


def _batches(values: Iterable[str]) -> list[list[str]]:
    ordered = sorted(set(values))
    return [ordered[i : i + BATCH] for i in range(0, len(ordered), BATCH)]


def check_against_project(
    db: Session, project: ReadingProject, rows: Sequence[R], boxes: Sequence[B] = ()
) -> Checked[R, B]:
    in_project: dict[str, ProjectStudy] = {}
    existing: set[str] = set()
    for batch in _batches(row.study_id for row in rows if row.study_id):
        for project_study in db.scalars(
            select(ProjectStudy)
            .join(Study, ProjectStudy.study_pk == Study.id)
            .where(ProjectStudy.project_id == project.id, Study.study_id.in_(batch))
        ):
            in_project[project_study.study.study_id] = project_study
        existing.update(db.scalars(select(Study.study_id).where(Study.study_id.in_(batch))))
    # image id -> (study id, laterality, columns, rows)
    images: dict[str, tuple[str, str | None, int, int]] = {}
    for batch in _batches(row.image_id for row in rows if row.image_id):
        for image_id, study_id, laterality, columns, height in db.execute(
            select(Image.image_id, Study.study_id, Image.laterality, Image.columns, Image.rows)
            .join(Study, Image.study_pk == Study.id)
            .where(Image.image_id.in_(batch))
        ):
            images[image_id] = (study_id, laterality, columns, height)
    row_problems: list[tuple[R, str, str]] = []
    for row in rows:
        if row.study_id is None:
            continue
        if row.study_id not in existing:
            row_problems.append((row, "study_id", f"There is no study {short(row.study_id)}."))
            continue
        if row.study_id not in in_project:
            message = f"Study {short(row.study_id)} is not in this project."
            row_problems.append((row, "study_id", message))
            continue
        if row.image_id is None:
            continue
        found = images.get(row.image_id)
        if found is None or found[0] != row.study_id:
            message = f"Image {short(row.image_id)} is not an image of study {short(row.study_id)}."
            row_problems.append((row, "image_id", message))
        elif found[1] is not None and row.laterality and found[1] != row.laterality:
            message = f"Image {short(row.image_id)} shows breast {found[1]}, not {row.laterality}."
            row_problems.append((row, "image_id", message))
    box_problems: list[tuple[B, str, str]] = []
    for box in boxes:
        found = images.get(box.image_id)
        if found is not None and (box.xmax > found[2] or box.ymax > found[3]):
            field = "xmax" if box.xmax > found[2] else "ymax"
            message = (
                f"The box reaches beyond image {short(box.image_id)} "
                f"({found[2]} x {found[3]} pixels)."
            )
            box_problems.append((box, field, message))
    return Checked(in_project, row_problems, box_problems)

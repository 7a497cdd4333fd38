"""Finding a project, its images and its readers; a reader's row lock and search setup."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from app.auth.models import User
from app.core.database import serialise_on
from app.core.errors import NotFound
from app.imaging.models import Image, Study
from app.masking import search
from app.masking.models import MaskingImage, MaskingProject, MaskingReader
from app.masking.states import TERNARY_BINARY, ImageRole, SortMode


def get_project(db: Session, project_id: int) -> MaskingProject:
    project = db.get(MaskingProject, project_id)
    if project is None:
        raise NotFound(f"There is no masking project {project_id}.")
    return project


def list_projects(db: Session, user: User | None = None) -> list[MaskingProject]:
    """Every project, or those ``user`` reads in."""
    statement = select(MaskingProject).order_by(MaskingProject.id.desc())
    if user is not None:
        statement = statement.join(
            MaskingReader, MaskingReader.project_id == MaskingProject.id
        ).where(MaskingReader.user_id == user.id)
    return list(db.scalars(statement))


def reading_in(db: Session, user: User) -> list[tuple[MaskingProject, MaskingReader]]:
    """The projects ``user`` reads in, newest first, with their reader row."""
    statement = (
        select(MaskingProject, MaskingReader)
        .join(MaskingReader, MaskingReader.project_id == MaskingProject.id)
        .where(MaskingReader.user_id == user.id)
        .order_by(MaskingProject.id.desc())
    )
    return [(project, reader) for project, reader in db.execute(statement).all()]


def project_images(
    db: Session, project: MaskingProject, role: ImageRole | None = None
) -> list[int]:
    statement = select(MaskingImage.image_pk).where(MaskingImage.project_id == project.id)
    if role is not None:
        statement = statement.where(MaskingImage.role == role)
    return list(db.scalars(statement.order_by(MaskingImage.image_pk)))


def image_count(db: Session, project: MaskingProject) -> int:
    statement = select(func.count()).where(MaskingImage.project_id == project.id)
    return db.scalar(statement) or 0


def images_by_pk(db: Session, pks: Iterable[int]) -> dict[int, Image]:
    wanted = set(pks)
    if not wanted:
        return {}
    statement = select(Image).where(Image.id.in_(wanted)).options(joinedload(Image.study))
    return {image.id: image for image in db.scalars(statement)}


def readers(db: Session, project: MaskingProject) -> list[MaskingReader]:
    statement = select(MaskingReader).where(MaskingReader.project_id == project.id)
    return sorted(db.scalars(statement), key=lambda r: r.user.username)


def reader_of(db: Session, project: MaskingProject, user: User) -> MaskingReader:
    reader = db.scalar(
        select(MaskingReader).where(
            MaskingReader.project_id == project.id, MaskingReader.user_id == user.id
        )
    )
    if reader is None:
        raise NotFound(f"You are not a reader in masking project {project.id}.")
    return reader


def locked(db: Session, reader: MaskingReader) -> MaskingReader:
    """``reader`` fresh from the database, its row locked until the commit."""
    serialise_on(db, MaskingReader.version, reader.id)
    db.refresh(reader)
    return reader


def setup_for(project: MaskingProject, reader: MaskingReader) -> search.Setup:
    return search.Setup(
        mode=project.mode,
        seed=reader.seed,
        rule=project.level_rule,
        level_seeds=tuple(tuple(level) for level in reader.level_seeds or ()),
        max_attempts=project.max_attempts,
        randomise_sides=project.randomise_sides,
    )


def rule_name(project: MaskingProject) -> str:
    """The rule the project's comparisons are logged under."""
    return TERNARY_BINARY if project.mode == SortMode.FULL_SORT else project.level_rule


def can_view_study(db: Session, user: User, study: Study) -> bool:
    """Readers see the images of the projects they read in."""
    statement = (
        select(MaskingImage.id)
        .join(MaskingReader, MaskingReader.project_id == MaskingImage.project_id)
        .join(Image, Image.id == MaskingImage.image_pk)
        .where(MaskingReader.user_id == user.id, Image.study_pk == study.id)
        .limit(1)
    )
    return db.scalar(statement) is not None

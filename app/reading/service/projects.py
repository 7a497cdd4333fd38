"""Reading projects: creating them, their reader and arbiter pools, and their studies.

Every use case commits its own transaction, except :func:`add_project`, which a caller
building more in the same transaction (a release import) commits itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.auth.users import active_users
from app.core.errors import Conflict, NotFound, field_error
from app.imaging.models import Study
from app.reading import rules
from app.reading.models import ProjectMember, ProjectStudy, ReadingProject
from app.reading.states import StudyStatus


@dataclass(frozen=True)
class NewProject:
    name: str
    instructions: str = ""
    vocabulary: list[dict[str, Any]] | None = None
    rules: dict[str, Any] | None = None
    idle_limit_seconds: int = 60


def checked_project_name(db: Session, name: str) -> str:
    """The name, stripped, or a 4xx: 1 to 120 characters, not taken."""
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise field_error("name", "A project needs a name of 1 to 120 characters.")
    if db.scalar(select(ReadingProject.id).where(ReadingProject.name == name)) is not None:
        raise Conflict(f"A project named {name!r} exists already.", code="name_taken")
    return name


def create_project(db: Session, actor: Actor, new: NewProject) -> ReadingProject:
    project = add_project(db, actor, new)
    db.commit()
    return project


def add_project(db: Session, actor: Actor, new: NewProject) -> ReadingProject:
    """The project, added to the session's transaction (the caller commits)."""
    name = checked_project_name(db, new.name)
    try:
        vocabulary = rules.Vocabulary.from_json(new.vocabulary) if new.vocabulary else None
    except (ValueError, TypeError, KeyError) as error:
        raise field_error("vocabulary", f"The vocabulary is not valid: {error}") from None
    try:
        project_rules = rules.ProjectRules.from_json(new.rules or {})
    except (ValueError, TypeError) as error:
        raise field_error("rules", f"The rules are not valid: {error}") from None
    if not 10 <= new.idle_limit_seconds <= 3600:
        raise field_error("idle_limit_seconds", "The idle limit must be 10 to 3600 seconds.")
    project = ReadingProject(
        name=name,
        instructions=new.instructions.strip()[:20000],
        vocabulary=(vocabulary or rules.DEFAULT_VOCABULARY).to_json(),
        rules=project_rules.to_json(),
        idle_limit_seconds=new.idle_limit_seconds,
        created_by=actor.user.id if actor.user else None,
    )
    db.add(project)
    db.flush()
    record(
        db, actor, "project.created", object_type="reading_project", object_id=project.id, name=name
    )
    return project


def get_project(db: Session, project_id: int) -> ReadingProject:
    project = db.get(ReadingProject, project_id)
    if project is None:
        raise NotFound(f"There is no reading project {project_id}.")
    return project


def list_projects(db: Session) -> list[ReadingProject]:
    return list(db.scalars(select(ReadingProject).order_by(ReadingProject.id.desc())))


def members(db: Session, project: ReadingProject, pool: str) -> list[User]:
    statement = select(ProjectMember).where(
        ProjectMember.project_id == project.id, ProjectMember.pool == pool
    )
    return sorted((m.user for m in db.scalars(statement)), key=lambda u: u.username)


def set_pool(
    db: Session, actor: Actor, project: ReadingProject, pool: str, user_ids: Iterable[int]
) -> list[User]:
    users = active_users(db, user_ids, pool, f"put these users in the {pool} pool")
    wanted = {u.id for u in users}
    current = db.scalars(
        select(ProjectMember).where(
            ProjectMember.project_id == project.id, ProjectMember.pool == pool
        )
    ).all()
    for member in current:
        if member.user_id not in wanted:
            db.delete(member)
    for user_id in wanted - {m.user_id for m in current}:
        db.add(ProjectMember(project_id=project.id, user_id=user_id, pool=pool))
    record(
        db,
        actor,
        "project.pool_set",
        object_type="reading_project",
        object_id=project.id,
        pool=pool,
        users=sorted(u.username for u in users),
    )
    db.commit()
    return members(db, project, pool)


def add_studies(
    db: Session, actor: Actor, project: ReadingProject, study_ids: Sequence[str]
) -> int:
    """Add studies by VinDr study id, in the order given (the project's order, which exports
    follow; a repeated id counts once, where it first occurs). Unknown ids refuse the whole
    request; studies already in the project are skipped."""
    wanted = list(dict.fromkeys(s.strip().lower() for s in study_ids if s.strip()))
    if not wanted:
        raise field_error("study_ids", "Give at least one study id.")
    found = {s.study_id: s for s in db.scalars(select(Study).where(Study.study_id.in_(wanted)))}
    unknown = [s for s in wanted if s not in found]
    if unknown:
        listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise field_error("study_ids", f"Unknown study ids ({len(unknown)}): {listed}")
    present = set(
        db.scalars(select(ProjectStudy.study_pk).where(ProjectStudy.project_id == project.id))
    )
    added = [found[s] for s in wanted if found[s].id not in present]
    for study in added:
        db.add(
            ProjectStudy(project_id=project.id, study_pk=study.id, status=StudyStatus.UNASSIGNED)
        )
    record(
        db,
        actor,
        "project.studies_added",
        object_type="reading_project",
        object_id=project.id,
        count=len(added),
    )
    db.commit()
    return len(added)


def get_project_study(db: Session, project: ReadingProject, study_id: str) -> ProjectStudy:
    project_study = db.scalar(
        select(ProjectStudy)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id, Study.study_id == study_id.lower())
    )
    if project_study is None:
        raise NotFound(f"Study {study_id[:40]!r} is not in this project.")
    return project_study

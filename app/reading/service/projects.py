"""Reading projects: creating them, their reader and arbiter pools, and their studies.

Every use case commits its own transaction, except :func:`add_project`, which a caller
building more in the same transaction (a release import) commits itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.auth.users import active_users
from app.core.errors import Conflict, Invalid, NotFound, field_error
from app.imaging import qc
from app.imaging.models import Image, QcFlag, Study
from app.reading import rules
from app.reading.models import ProjectMember, ProjectStudy, ReadingProject, ReadSubmission
from app.reading.service.reader_study import StudyDesign, apply_design, refuse_leaving_readers
from app.reading.states import StudyStatus


@dataclass(frozen=True)
class NewProject:
    name: str
    instructions: str = ""
    vocabulary: list[dict[str, Any]] | None = None
    rules: dict[str, Any] | None = None
    idle_limit_seconds: int = 60
    design: StudyDesign | None = None


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
    vocabulary = _checked_vocabulary(new.vocabulary) if new.vocabulary else None
    project_rules = _checked_rules(new.rules or {})
    project = ReadingProject(
        name=name,
        instructions=new.instructions.strip()[:20000],
        vocabulary=(vocabulary or rules.DEFAULT_VOCABULARY).to_json(),
        rules=project_rules.to_json(),
        idle_limit_seconds=_checked_idle_limit(new.idle_limit_seconds),
        created_by=actor.user.id if actor.user else None,
    )
    db.add(project)
    db.flush()
    apply_design(db, project, new.design or StudyDesign())
    record(
        db,
        actor,
        "project.created",
        object_type="reading_project",
        object_id=project.id,
        name=name,
        design=project.design,
    )
    return project


def _checked_vocabulary(data: list[dict[str, Any]]) -> rules.Vocabulary:
    try:
        return rules.Vocabulary.from_json(data)
    except (ValueError, TypeError, KeyError) as error:
        raise field_error("vocabulary", f"The vocabulary is not valid: {error}") from None


def _checked_rules(data: dict[str, Any]) -> rules.ProjectRules:
    try:
        return rules.ProjectRules.from_json(data)
    except (ValueError, TypeError) as error:
        raise field_error("rules", f"The rules are not valid: {error}") from None


def _checked_idle_limit(seconds: int) -> int:
    if not 10 <= seconds <= 3600:
        raise field_error("idle_limit_seconds", "The idle limit must be 10 to 3600 seconds.")
    return seconds


@dataclass(frozen=True)
class SettingsChange:
    """New settings of a project; None leaves one as it is. ``rules`` may name some rules
    only (the others keep their values)."""

    instructions: str | None = None
    vocabulary: list[dict[str, Any]] | None = None
    rules: dict[str, Any] | None = None
    idle_limit_seconds: int | None = None


def settings_lock(db: Session, project: ReadingProject) -> str | None:
    """Why the project's settings can no longer change (None while they can): once a read is
    submitted, or a study is final, changing how reads are judged would split the project."""
    submitted = db.scalar(
        select(ReadSubmission.id)
        .join(ProjectStudy, ReadSubmission.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id)
        .limit(1)
    )
    if submitted is not None:
        return "A read of this project has been submitted: its reads were judged by these settings."
    final = db.scalar(
        select(ProjectStudy.id)
        .where(ProjectStudy.project_id == project.id, ProjectStudy.status == StudyStatus.FINAL)
        .limit(1)
    )
    if final is not None:
        return "A study of this project is final already: its label was judged by these settings."
    return None


def update_settings(
    db: Session, actor: Actor, project: ReadingProject, change: SettingsChange
) -> ReadingProject:
    """Change the project's vocabulary, rules, instructions or idle limit; refused (409) once a
    read is submitted (:func:`settings_lock`)."""
    reason = settings_lock(db, project)
    if reason is not None:
        raise Conflict(f"The settings can no longer change. {reason}", code="settings_locked")
    changed: list[str] = []
    if change.vocabulary is not None:
        vocabulary = _checked_vocabulary(change.vocabulary).to_json()
        if vocabulary != project.vocabulary:
            project.vocabulary = vocabulary
            changed.append("vocabulary")
    if change.rules is not None:
        checked = _checked_rules({**project.rules, **change.rules})
        if project.rules.get("breast_not_imaged") and not checked.breast_not_imaged:
            _refuse_unimaged_breasts(db, project)
        project_rules = checked.to_json()
        if project_rules != project.rules:
            project.rules = project_rules
            changed.append("rules")
    if change.instructions is not None:
        instructions = change.instructions.strip()[:20000]
        if instructions != project.instructions:
            project.instructions = instructions
            changed.append("instructions")
    if change.idle_limit_seconds is not None:
        idle = _checked_idle_limit(change.idle_limit_seconds)
        if idle != project.idle_limit_seconds:
            project.idle_limit_seconds = idle
            changed.append("idle_limit_seconds")
    if changed:
        record(
            db,
            actor,
            "project.settings_changed",
            object_type="reading_project",
            object_id=project.id,
            changed=changed,
        )
    db.commit()
    return project


def studies_with_a_breast_not_imaged(db: Session, project: ReadingProject) -> list[str]:
    """The ids of the project's studies with a breast that has no image at all, in the
    project's order (only a project that allows "breast not imaged" may hold them)."""

    def imaged(laterality: str) -> Any:
        return exists().where(Image.study_pk == Study.id, Image.laterality == laterality)

    statement = (
        select(Study.study_id)
        .join(ProjectStudy, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id)
        .where(or_(*(~imaged(laterality) for laterality in rules.LATERALITIES)))
        .order_by(ProjectStudy.id)
    )
    return list(db.scalars(statement))


def _refuse_unimaged_breasts(db: Session, project: ReadingProject) -> None:
    """Turning "breast not imaged" off is refused (409) while the project holds a study that
    needs it: its readers could answer that breast neither way."""
    held = studies_with_a_breast_not_imaged(db, project)
    if not held:
        return
    listed = ", ".join(held[:10]) + (" ..." if len(held) > 10 else "")
    count = "1 study" if len(held) == 1 else f"{len(held)} studies"
    raise Conflict(
        f"'Breast not imaged' must stay allowed: the project holds {count} with a breast "
        f"without any image ({listed}), whose readers answer that breast 'not imaged'.",
        code="breast_not_imaged_needed",
        details=[
            {
                "field": "rules.breast_not_imaged",
                "study_id": study_id,
                "message": f"{study_id}: a breast without any image",
            }
            for study_id in held
        ],
    )


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
    refuse_leaving_readers(db, project, pool, wanted)
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
    db: Session,
    actor: Actor,
    project: ReadingProject,
    study_ids: Sequence[str],
    *,
    override: str | None = None,
) -> int:
    """Add studies by VinDr study id, in the order given (the project's order, which exports
    follow; a repeated id counts once, where it first occurs). Unknown ids refuse the whole
    request; studies already in the project are skipped.

    All or nothing: a study that is not complete (the four standard views, no open QC flag)
    refuses the whole request, each refused study named with why (422 ``incomplete_studies``),
    unless ``override`` gives a reason, which is then recorded on each such study and in the
    audit log. A study with a breast without any image needs, besides, a project whose rules
    allow "breast not imaged"; one without any image is never added."""
    wanted = list(dict.fromkeys(s.strip().lower() for s in study_ids if s.strip()))
    if not wanted:
        raise field_error("study_ids", "Give at least one study id.")
    try:
        reason = rules.checked_override(override)
    except ValueError as error:
        raise field_error("override_reason", str(error)) from None
    found = {s.study_id: s for s in db.scalars(select(Study).where(Study.study_id.in_(wanted)))}
    unknown = [s for s in wanted if s not in found]
    if unknown:
        listed = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        raise field_error("study_ids", f"Unknown study ids ({len(unknown)}): {listed}")
    present = set(
        db.scalars(select(ProjectStudy.study_pk).where(ProjectStudy.project_id == project.id))
    )
    added = [found[s] for s in wanted if found[s].id not in present]
    checks = admission_checks(db, added)
    allows = rules.ProjectRules.from_json(project.rules).breast_not_imaged
    refuse_incomplete(checks.values(), reason, breast_not_imaged=allows)
    overridden = [check.study_id for check in checks.values() if not check.complete]
    for study in added:
        db.add(
            ProjectStudy(
                project_id=project.id,
                study_pk=study.id,
                status=StudyStatus.UNASSIGNED,
                admission_override=None if checks[study.id].complete else reason,
            )
        )
    record(
        db,
        actor,
        "project.studies_added",
        object_type="reading_project",
        object_id=project.id,
        count=len(added),
    )
    record_admitted_incomplete(db, actor, project, overridden, reason)
    db.commit()
    return len(added)


def admission_checks(db: Session, studies: Sequence[Study]) -> dict[int, rules.AdmissionCheck]:
    """What keeps each study from being complete, by the study's primary key."""
    pks = [study.id for study in studies]
    views: dict[int, list[tuple[str | None, str | None]]] = {pk: [] for pk in pks}
    if pks:
        for study_pk, laterality, view in db.execute(
            select(Image.study_pk, Image.laterality, Image.view).where(Image.study_pk.in_(pks))
        ):
            views[study_pk].append((laterality, view))
    flags = open_flags(db, pks)
    return {study.id: _check(study, views[study.id], flags[study.id]) for study in studies}


def open_flags(db: Session, study_pks: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """Each study's open QC flags, oldest first, as (kind, the flag in words), by primary key."""
    flags: dict[int, list[tuple[str, str]]] = {pk: [] for pk in study_pks}
    if not study_pks:
        return flags
    statement = select(QcFlag.study_pk, QcFlag.kind, QcFlag.detail).where(
        QcFlag.study_pk.in_(study_pks), QcFlag.cleared_at.is_(None)
    )
    for study_pk, kind, detail in db.execute(statement.order_by(QcFlag.id)):
        words = qc.KINDS.get(kind, kind)
        detail = detail.strip().rstrip(".")
        flags[study_pk].append((kind, f"{words} ({detail})" if detail else words))
    return flags


def _check(
    study: Study, views: list[tuple[str | None, str | None]], flags: list[tuple[str, str]]
) -> rules.AdmissionCheck:
    """The study's check; an open view flag is left out where the views say it already."""
    views_only = rules.check_study(study.study_id, views)
    said = bool(views_only.missing_views or views_only.repeated_views)
    kept = [words for kind, words in flags if not (said and kind in qc.VIEW_FLAGS)]
    return rules.check_study(study.study_id, views, kept)


def refuse_incomplete(
    checks: Iterable[rules.AdmissionCheck],
    override: str | None,
    *,
    breast_not_imaged: bool,
    nothing: str = "Nothing was added",
    then: str = "",
) -> None:
    """Refuse (422 ``incomplete_studies``, each refused study named with why) when a study may
    not enter a project whose rules say ``breast_not_imaged``, given the ``override`` reason
    (None: no override). ``nothing`` opens the message (what was not done); ``then`` ends it."""
    refused = [
        found
        for check in checks
        if (
            found := rules.refusal(
                check, override=override is not None, breast_not_imaged=breast_not_imaged
            )
        )
    ]
    if not refused:
        return
    listed = " ".join(refusal.message for refusal in refused[:10])
    more = f" And {len(refused) - 10} more." if len(refused) > 10 else ""
    hint = (
        " To add them anyway, give a reason for the override."
        if any(refusal.override_allowed for refusal in refused)
        else ""
    )
    count = "1 study is" if len(refused) == 1 else f"{len(refused)} studies are"
    message = f"{nothing}: {count} not complete. {listed}{more}{hint}{then}"
    raise Invalid(
        message,
        code="incomplete_studies",
        details=[refusal.to_json() for refusal in refused],
    )


def _complete_studies() -> Select[tuple[str]]:
    """The ids of complete studies: each standard view exactly once, no open QC flag."""
    open_flag = exists().where(QcFlag.study_pk == Study.id, QcFlag.cleared_at.is_(None))
    conditions = [~open_flag]
    for name in qc.STANDARD_VIEWS:
        laterality, view = name.split("-")
        images = (
            select(func.count(Image.id))
            .where(Image.study_pk == Study.id, Image.laterality == laterality, Image.view == view)
            .scalar_subquery()
        )
        conditions.append(images == 1)
    return select(Study.study_id).where(*conditions)


def complete_study_ids(db: Session) -> list[str]:
    """Every complete study (the four standard views, no open QC flag), oldest first."""
    return list(db.scalars(_complete_studies().order_by(Study.id)))


def complete_study_count(db: Session, project: ReadingProject | None = None) -> int:
    """How many complete studies there are (not yet in ``project``, when one is given)."""
    statement = _complete_studies()
    if project is not None:
        in_project = exists().where(
            ProjectStudy.project_id == project.id, ProjectStudy.study_pk == Study.id
        )
        statement = statement.where(~in_project)
    return db.scalar(select(func.count()).select_from(statement.subquery())) or 0


def get_project_study(db: Session, project: ReadingProject, study_id: str) -> ProjectStudy:
    project_study = db.scalar(
        select(ProjectStudy)
        .join(Study, ProjectStudy.study_pk == Study.id)
        .where(ProjectStudy.project_id == project.id, Study.study_id == study_id.lower())
    )
    if project_study is None:
        raise NotFound(f"Study {study_id[:40]!r} is not in this project.")
    return project_study


def record_admitted_incomplete(
    db: Session, actor: Actor, project: ReadingProject, study_ids: list[str], reason: str | None
) -> None:
    """The audit event of studies let in despite the admission rule (picked, pasted, added
    all, or from a release), with the override's reason; nothing when none was."""
    if study_ids:
        record(
            db,
            actor,
            "project.studies_admitted_incomplete",
            object_type="reading_project",
            object_id=project.id,
            study_ids=study_ids,
            reason=reason,
        )

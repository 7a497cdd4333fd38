"""A read from draft to final: saving drafts (versioned), submitting a read to the append-only
log, then the study's next state in the same transaction: final when the two reads agree
(merged) or an arbiter has answered, else arbitration; and an admin reopening a final study.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.auth.models import User
from app.core.database import serialise_on, utcnow
from app.core.errors import Conflict, Invalid, field_error
from app.reading import rules
from app.reading.models import (
    FinalLabelHistory,
    ProjectStudy,
    ReadingProject,
    ReadSubmission,
    ReadTask,
)
from app.reading.service.assignment import assign_arbiter
from app.reading.service.reader_study import (
    checked_exclusion,
    complete_if_read,
    is_reader_study,
    refuse_waiting,
)
from app.reading.service.tasks import own_task, touch
from app.reading.states import FinalSource, StudyStatus, TaskKind, TaskStatus

MAX_AID_MARKS = 500

#: Checks of an aided read's accepted marks against what the screen showed with the case,
#: registered by the package that holds the model's marks (app.studies.aid), which reading
#: does not import. Each raises a 4xx naming ``aid``.
AidCheck = Callable[[Session, ReadTask, list[int]], None]
_aid_checks: list[AidCheck] = []


def register_aid_check(check: AidCheck) -> None:
    if check not in _aid_checks:
        _aid_checks.append(check)


def images_of(project_study: ProjectStudy) -> dict[str, str]:
    return {i.image_id: i.laterality or "?" for i in project_study.study.images}


def image_sizes_of(project_study: ProjectStudy) -> dict[str, tuple[int, int]]:
    """Each image's pixel grid, (columns, rows): a box must cover some of its image."""
    return {i.image_id: (i.columns, i.rows) for i in project_study.study.images}


def _context(project: ReadingProject) -> tuple[rules.Vocabulary, rules.ProjectRules]:
    return rules.Vocabulary.from_json(project.vocabulary), rules.ProjectRules.from_json(
        project.rules
    )


def _parse(data: dict[str, Any]) -> rules.Label:
    try:
        return rules.parse_label(data)
    except rules.LabelError as error:
        raise field_error(error.field, error.message) from None


def _check_version(task: ReadTask, version: int) -> None:
    if version != task.version:
        raise Conflict(
            "This case was changed elsewhere (another tab or window) since you loaded it. "
            "Reload to continue from the newest version.",
            code="version_conflict",
            details=[{"field": "version", "message": f"current version is {task.version}"}],
        )


def _violations(task: ReadTask, label: rules.Label) -> list[rules.Violation]:
    vocabulary, project_rules = _context(task.project_study.project)
    project_study = task.project_study
    return rules.validate(
        label, images_of(project_study), vocabulary, project_rules, image_sizes_of(project_study)
    )


def save_draft(
    db: Session, user: User, task_id: int, data: dict[str, Any], version: int
) -> tuple[ReadTask, list[rules.Violation]]:
    """Keep the work so far (every change). Returns the new version and live hints."""
    serialise_on(db, ReadTask.version, task_id)  # two tabs saving at once: one wins, one 409
    task = own_task(db, user, task_id)
    if task.status == TaskStatus.SUBMITTED:
        raise Conflict("This case is submitted; it can no longer change.", code="submitted")
    refuse_waiting(db, task)
    label = _parse(data)
    _check_version(task, version)
    task.draft = label.to_json()
    task.version += 1
    touch(task)
    db.commit()
    return task, _violations(task, label)


@dataclass(frozen=True)
class SubmitResult:
    task: ReadTask
    study_status: str
    warnings: list[rules.Violation]
    repeated: bool = False


def checked_aid(task: ReadTask, aid: dict[str, Any] | None) -> dict[str, Any] | None:
    """What an aided read says of the model's marks: ``{"accepted": [mark ids]}`` (the marks
    the reader took into their read). Only in an aided session's task."""
    if aid is None:
        return None
    if task.session is None or not task.session.aided:
        raise field_error("aid", "Only a read in an aided session says which model marks it took.")
    accepted = aid.get("accepted", []) if isinstance(aid, dict) else None
    if (
        not isinstance(aid, dict)
        or set(aid) - {"accepted"}
        or not isinstance(accepted, list)
        or len(accepted) > MAX_AID_MARKS
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in accepted)
    ):
        raise field_error(
            "aid",
            f'Give the accepted model marks as {{"accepted": [mark ids]}} '
            f"(at most {MAX_AID_MARKS} positive whole numbers).",
        )
    return {"accepted": sorted(set(accepted))}


def submit(
    db: Session,
    actor: Actor,
    task_id: int,
    data: dict[str, Any],
    version: int,
    aid: dict[str, Any] | None = None,
) -> SubmitResult:
    assert actor.user is not None
    serialise_on(db, ReadTask.version, task_id)  # a double-clicked submit is applied once
    task = own_task(db, actor.user, task_id)
    if task.status == TaskStatus.SUBMITTED:
        return SubmitResult(task, task.project_study.status, [], repeated=True)
    # both reads of a study submitted at once: the second must see the first to compare them
    serialise_on(db, ProjectStudy.status, task.project_study_id)
    db.refresh(task.project_study)
    refuse_waiting(db, task)
    label = _parse(data)
    _check_version(task, version)
    accepted = checked_aid(task, aid)
    if accepted and accepted["accepted"]:
        for check in _aid_checks:
            check(db, task, accepted["accepted"])
    violations = _violations(task, label)
    errors = [v for v in violations if v.severity == "error"]
    if errors:
        raise Invalid(
            f"The read cannot be submitted yet: {len(errors)} problem(s) to fix.",
            code="read_invalid",
            details=[{"field": v.field, "message": v.message} for v in errors],
        )
    touch(task)
    task.draft = label.to_json()
    task.version += 1
    task.status = TaskStatus.SUBMITTED
    task.submitted_at = utcnow()
    warnings = [v for v in violations if v.severity != "error"]
    log_submission(
        db, task, label, [{"field": w.field, "message": w.message} for w in warnings], aid=accepted
    )
    action = "arbitration.submitted" if task.kind == TaskKind.ARBITRATE else "read.submitted"
    record(
        db,
        actor,
        action,
        object_type="read_task",
        object_id=task.id,
        study_id=task.project_study.study.study_id,
    )
    _advance(db, actor, task.project_study, label if task.kind == TaskKind.ARBITRATE else None)
    try:
        db.commit()
    except IntegrityError:  # the same task submitted concurrently: the other one won
        db.rollback()
        task = own_task(db, actor.user, task_id)
        return SubmitResult(task, task.project_study.status, [], repeated=True)
    return SubmitResult(task, task.project_study.status, warnings)


def exclude(db: Session, actor: Actor, task_id: int, reason: str, version: int) -> SubmitResult:
    """A reader study's reader sets a case aside (unreadable images...) with a reason: the
    task is done, its answer in the log is the exclusion, listed with the study's results."""
    assert actor.user is not None
    serialise_on(db, ReadTask.version, task_id)
    task = own_task(db, actor.user, task_id)
    if task.status == TaskStatus.SUBMITTED:
        raise Conflict("This case is submitted already; it can no longer change.", code="submitted")
    if not is_reader_study(task.project_study.project):
        raise Conflict(
            "Only a reader study's cases can be excluded; in double reading every case is read "
            "(flag an unreadable image in QC instead).",
            code="not_reader_study",
        )
    serialise_on(db, ProjectStudy.status, task.project_study_id)
    db.refresh(task.project_study)
    reason = checked_exclusion(reason)
    _check_version(task, version)
    touch(task)
    task.version += 1
    task.status = TaskStatus.SUBMITTED
    task.submitted_at = utcnow()
    log_submission(db, task, rules.empty_label(), [], exclusion=reason)
    record(
        db,
        actor,
        "read.excluded",
        object_type="read_task",
        object_id=task.id,
        study_id=task.project_study.study.study_id,
        reason=reason,
    )
    complete_if_read(db, task.project_study)
    db.commit()
    return SubmitResult(task, task.project_study.status, [])


def log_submission(
    db: Session,
    task: ReadTask,
    label: rules.Label,
    warnings: list[dict[str, str]],
    *,
    exclusion: str | None = None,
    aid: dict[str, Any] | None = None,
) -> ReadSubmission:
    """The submitted task's answer, added to the append-only log."""
    submission = ReadSubmission(
        task_id=task.id,
        project_study_id=task.project_study_id,
        user_id=task.user_id,
        kind=task.kind,
        slot=task.slot,
        label=label.to_json(),
        warnings=warnings,
        started_at=task.started_at,
        submitted_at=task.submitted_at,
        active_seconds=task.active_seconds,
        session_id=task.session_id,
        exclusion=exclusion,
        aid=aid,
    )
    db.add(submission)
    return submission


def _submitted_reads(db: Session, project_study: ProjectStudy) -> list[ReadSubmission]:
    statement = (
        select(ReadSubmission)
        .where(
            ReadSubmission.project_study_id == project_study.id,
            ReadSubmission.kind == TaskKind.READ,
        )
        .order_by(ReadSubmission.slot)
    )
    return list(db.scalars(statement))


def _advance(
    db: Session, actor: Actor, project_study: ProjectStudy, arbitrated: rules.Label | None
) -> None:
    """After a submission: final when arbitrated or concordant, else off to an arbiter; a
    reader study's study is complete once every reading of it is in."""
    if is_reader_study(project_study.project):
        complete_if_read(db, project_study)
        return
    db.flush()
    if arbitrated is not None:
        finalise(project_study, arbitrated, FinalSource.ARBITRATION)
        return
    reads = _submitted_reads(db, project_study)
    if len(reads) < 2:
        return
    first, second = (rules.parse_label(r.label) for r in reads[:2])
    vocabulary, project_rules = _context(project_study.project)
    comparison = rules.compare(first, second, images_of(project_study), vocabulary, project_rules)
    if comparison.concordant:
        merged = rules.merge(first, second, comparison, vocabulary)
        finalise(project_study, merged, FinalSource.CONCORDANT)
        return
    project_study.status = StudyStatus.ARBITRATION
    project_study.discordances = [d.to_json() for d in comparison.discordances]
    assign_arbiter(db, actor, project_study)


def finalise(
    project_study: ProjectStudy, label: rules.Label, source: FinalSource, at: datetime | None = None
) -> None:
    """The study is final with ``label`` from ``source``, at ``at`` (default: now)."""
    project_study.status = StudyStatus.FINAL
    project_study.final_label = label.to_json()
    project_study.final_source = source
    project_study.finalized_at = at or utcnow()


def arbitration_inputs(db: Session, task: ReadTask) -> list[dict[str, Any]]:
    """What an arbiter sees: both reads (by slot, not by name) and the discordances."""
    if task.kind != TaskKind.ARBITRATE:
        return []
    return [{"slot": r.slot, "label": r.label} for r in _submitted_reads(db, task.project_study)]


def starting_label(db: Session, task: ReadTask) -> dict[str, Any]:
    """The label a task starts from before its first save: empty for a read; for an
    arbitration, what both readers agreed on (agreed BI-RADS and density, paired boxes merged
    as a concordant study would be) with every discordant item left empty and no note."""
    if task.kind != TaskKind.ARBITRATE:
        return rules.empty_label().to_json()
    reads = _submitted_reads(db, task.project_study)
    if len(reads) < 2:
        return rules.empty_label().to_json()
    first, second = (rules.parse_label(r.label) for r in reads[:2])
    vocabulary, project_rules = _context(task.project_study.project)
    images = images_of(task.project_study)
    comparison = rules.compare(first, second, images, vocabulary, project_rules)
    disputed = {(d.kind, d.laterality) for d in comparison.discordances}
    lonely = {box_id for d in comparison.discordances for box_id in d.box_ids}

    def agreed_part(label: rules.Label) -> rules.Label:
        breasts = {}
        for lat, breast in label.breasts.items():
            birads = None if ("birads", lat) in disputed else breast.birads
            density = None if ("density", lat) in disputed else breast.density
            breasts[lat] = dataclasses.replace(breast, birads=birads, density=density)
        boxes = tuple(box for box in label.boxes if box.id not in lonely)
        return rules.Label(right=breasts["R"], left=breasts["L"], boxes=boxes)

    agreed_first, agreed_second = agreed_part(first), agreed_part(second)
    again = rules.compare(agreed_first, agreed_second, images, vocabulary, project_rules)
    try:
        return rules.merge(agreed_first, agreed_second, again, vocabulary).to_json()
    except ValueError:  # never expected: then reader 1's agreed breast values, no boxes
        return dataclasses.replace(agreed_first, boxes=()).to_json()


def reopen(db: Session, actor: Actor, project_study: ProjectStudy, reason: str) -> ProjectStudy:
    """An admin sends a final study back to arbitration; the old final label stays in history."""
    if project_study.status != StudyStatus.FINAL:
        raise Conflict("Only a final study can be reopened.", code="not_final")
    if not reason.strip():
        raise field_error("reason", "Say why the study is reopened.")
    db.add(
        FinalLabelHistory(
            project_study_id=project_study.id,
            label=project_study.final_label or {},
            source=project_study.final_source,  # a final study always has one
            finalized_at=project_study.finalized_at,
            reopened_by=actor.user.id if actor.user else None,
            reason=reason.strip()[:2000],
        )
    )
    project_study.status = StudyStatus.ARBITRATION
    project_study.final_label = None
    project_study.final_source = None
    project_study.finalized_at = None
    record(
        db,
        actor,
        "study.reopened",
        object_type="project_study",
        object_id=project_study.id,
        reason=reason.strip()[:2000],
    )
    assign_arbiter(db, actor, project_study)
    db.commit()
    return project_study

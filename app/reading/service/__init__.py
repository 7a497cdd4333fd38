"""Double reading with arbitration, one module per use case:

- :mod:`.projects`: projects, their reader and arbiter pools, their studies;
- :mod:`.assignment`: who reads what (two readers per study, arbiters, reassigning);
- :mod:`.tasks`: a reader's own tasks, opening one, active time, what a reader may see;
- :mod:`.workflow`: a read from draft to submission to final or arbitration, and reopening;
- :mod:`.reader_study`: a reader study's design, sessions, assignment, washout, exclusions;
- :mod:`.priors`: a woman's earlier exams offered beside the one being read;
- :mod:`.project_progress`: a project's progress figures;
- :mod:`.review`: an administrator's review of one study (reads, arbitration, history);
- :mod:`.dataset`: studies arriving from a released dataset, and the splits kept between
  exports.

Every use case commits its own transaction unless it says the caller commits. Submitted reads
go to an append-only log; the study's state (reading, arbitration, final) is updated in the
same transaction. Callers use this package (``from app.reading import service``), which
re-exports every public name.
"""

from app.reading import rules
from app.reading.service.assignment import (
    TaskQuery,
    assign_arbiter,
    assign_balanced,
    assign_pair,
    assign_waiting_arbitrations,
    project_tasks,
    reassign,
    set_pools,
)
from app.reading.service.dataset import (
    ReleasedStudy,
    add_released_study,
    keep_splits,
    record_imported_read,
)
from app.reading.service.priors import can_view_prior, priors_of, shows_priors
from app.reading.service.project_progress import Progress, ReaderProgress, progress
from app.reading.service.projects import (
    NewProject,
    SettingsChange,
    add_project,
    add_studies,
    admission_checks,
    checked_project_name,
    complete_study_count,
    complete_study_ids,
    create_project,
    get_project,
    get_project_study,
    list_projects,
    members,
    open_flags,
    record_admitted_incomplete,
    refuse_incomplete,
    set_pool,
    settings_lock,
    studies_with_a_breast_not_imaged,
    update_settings,
)
from app.reading.service.reader_study import (
    NewSession,
    SessionProgress,
    StudyDesign,
    assign_reader_study,
    is_reader_study,
    session_progress,
    sessions_of,
    washout_waits,
)
from app.reading.service.review import (
    ReopenedLabel,
    ReviewedRead,
    StudyReview,
    project_study_by_id,
    study_review,
    task_study,
)
from app.reading.service.tasks import (
    can_view_study,
    my_tasks,
    next_task,
    open_task,
    own_task,
    record_activity,
)
from app.reading.service.workflow import (
    SubmitResult,
    arbitration_inputs,
    exclude,
    finalise,
    image_sizes_of,
    images_of,
    log_submission,
    register_aid_check,
    reopen,
    save_draft,
    starting_label,
    submit,
)

__all__ = [
    "NewProject",
    "NewSession",
    "Progress",
    "ReaderProgress",
    "ReleasedStudy",
    "ReopenedLabel",
    "ReviewedRead",
    "SessionProgress",
    "SettingsChange",
    "StudyDesign",
    "StudyReview",
    "SubmitResult",
    "TaskQuery",
    "add_project",
    "add_released_study",
    "add_studies",
    "admission_checks",
    "arbitration_inputs",
    "assign_arbiter",
    "assign_balanced",
    "assign_pair",
    "assign_reader_study",
    "assign_waiting_arbitrations",
    "can_view_prior",
    "can_view_study",
    "checked_project_name",
    "complete_study_count",
    "complete_study_ids",
    "create_project",
    "exclude",
    "finalise",
    "get_project",
    "get_project_study",
    "image_sizes_of",
    "images_of",
    "is_reader_study",
    "keep_splits",
    "list_projects",
    "log_submission",
    "members",
    "my_tasks",
    "next_task",
    "open_flags",
    "open_task",
    "own_task",
    "priors_of",
    "progress",
    "project_study_by_id",
    "project_tasks",
    "reassign",
    "record_activity",
    "record_admitted_incomplete",
    "record_imported_read",
    "refuse_incomplete",
    "register_aid_check",
    "reopen",
    "rules",
    "save_draft",
    "session_progress",
    "sessions_of",
    "set_pool",
    "set_pools",
    "settings_lock",
    "shows_priors",
    "starting_label",
    "studies_with_a_breast_not_imaged",
    "study_review",
    "submit",
    "task_study",
    "update_settings",
    "washout_waits",
]

"""Shapes of the reading API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.ids import Count, Id
from app.imaging.schemas import ImageOut


class ProjectCreate(BaseModel):
    name: str = Field(max_length=500)
    instructions: str = Field(default="", max_length=20000)
    vocabulary: list[dict[str, Any]] | None = Field(
        default=None, description="[{name, graded}]; VinDr's 10 finding categories when omitted."
    )
    rules: dict[str, Any] | None = Field(
        default=None,
        description="iou_threshold (0.3), birads_match ('exact' | 'screening'), "
        "max_birads_rule ('error' | 'warning').",
    )
    idle_limit_seconds: int = Field(default=60, description="Longer gaps are not reading time.")


class ProjectOut(BaseModel):
    id: int
    name: str
    instructions: str
    vocabulary: list[dict[str, Any]]
    rules: dict[str, Any]
    idle_limit_seconds: int
    created_at: datetime


class Pools(BaseModel):
    readers: list[Id] | None = Field(default=None, description="User ids; replaces the pool.")
    arbiters: list[Id] | None = None


class PoolsOut(BaseModel):
    readers: list[str]
    arbiters: list[str]


class StudiesIn(BaseModel):
    study_ids: list[str] = Field(max_length=100000)


class Pair(BaseModel):
    study_id: str
    readers: list[Id] = Field(min_length=2, max_length=2)


class AssignIn(BaseModel):
    pairs: list[Pair] | None = Field(
        default=None,
        description="Explicit pairs; when omitted every unassigned study gets two "
        "readers from the pool, the least loaded first.",
    )


class AssignOut(BaseModel):
    assigned: int


class AddedOut(BaseModel):
    added: int = Field(description="Studies newly in the project (ones already in are skipped).")


class ReassignIn(BaseModel):
    user_id: Id


class ReopenIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class TaskOut(BaseModel):
    id: int
    kind: str = Field(description="read or arbitrate")
    status: str
    project_id: int
    project_name: str
    study_id: str
    version: int
    assigned_at: datetime
    started_at: datetime | None
    submitted_at: datetime | None
    active_seconds: float


class TaskUserOut(BaseModel):
    id: int
    username: str
    display_name: str


class ProjectTaskOut(BaseModel):
    """One task of a project as its administrators see it: who reads or arbitrates what."""

    id: int = Field(description="The task id (for reassigning).")
    study_id: str
    user: TaskUserOut
    kind: str = Field(description="read (a reader, slot 1 or 2) or arbitrate (slot 0)")
    slot: int
    status: str = Field(description="pending, in_progress, submitted or reassigned")
    assigned_at: datetime
    started_at: datetime | None
    submitted_at: datetime | None
    active_seconds: float


class TaskPage(BaseModel):
    total: int
    items: list[ProjectTaskOut]


class OtherRead(BaseModel):
    slot: int = Field(description="Reader 1 or 2 (names are not shown to the arbiter).")
    label: dict[str, Any]


class TaskDetailOut(TaskOut):
    instructions: str
    idle_limit_seconds: int = Field(description="Longer pauses do not count as reading time.")
    vocabulary: list[dict[str, Any]]
    rules: dict[str, Any]
    draft: dict[str, Any]
    images: list[ImageOut]
    other_reads: list[OtherRead] = Field(default_factory=list)
    discordances: list[dict[str, Any]] = Field(default_factory=list)


class DraftIn(BaseModel):
    label: dict[str, Any]
    version: Count = Field(description="The version this edit was based on.")


class Hint(BaseModel):
    field: str
    message: str
    severity: str


class DraftOut(BaseModel):
    version: int
    active_seconds: float
    hints: list[Hint]


class SubmitOut(BaseModel):
    """That your read is in, and what you submitted; never what happens to the study next
    (whether the other reader agreed stays hidden until the study is final)."""

    task_id: int
    kind: str = Field(description="read or arbitrate")
    status: str = Field(description="Your task's status: submitted.")
    label: dict[str, Any] = Field(description="Your submitted read.")
    warnings: list[Hint]
    repeated: bool = Field(description="True when this task had been submitted already.")


class ReaderProgressOut(BaseModel):
    username: str
    display_name: str
    reads_done: int
    arbitrations_done: int
    open_tasks: int
    median_active_seconds: float | None


class ProgressOut(BaseModel):
    by_status: dict[str, int]
    readers: list[ReaderProgressOut]
    compared: int
    discordance_rates: dict[str, float]
    awaiting_arbiter: int


class ProjectStudyOut(BaseModel):
    study_id: str
    status: str
    final_label: dict[str, Any] | None
    final_source: str | None
    discordances: list[dict[str, Any]] | None

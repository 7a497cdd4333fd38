"""Shapes of the reading API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from app.core.ids import Count, Id
from app.imaging.schemas import ImageOut
from app.reading import rules
from app.reading.states import (
    FinalSource,
    ProjectDesign,
    StudyLayout,
    StudyStatus,
    TaskKind,
    TaskStatus,
    TruthBasis,
)

# --- the label ------------------------------------------------------------------------------
# The shape of a read, published in the OpenAPI schema. What a client sends is checked by the
# pure parser (app.reading.rules.parse_label), whose messages name the offending path: request
# bodies therefore take the label as any JSON object and only *publish* LabelIn's shape.

BreastBirads = Literal[0, 1, 2, 3, 4, 5, 6]  # rules.ANY_BREAST_BIRADS (the project's scale)
FindingBirads = Literal[2, 3, 4, 5]  # rules.ANY_FINDING_BIRADS (the project's range)
Density = Literal["A", "B", "C", "D"]  # rules.DENSITIES

_MEANINGS = ", ".join(f"{n} {meaning}" for n, meaning in rules.BIRADS_MEANINGS.items())
_BOX_ID = f"^{rules.BOX_ID_PATTERN.pattern}$"
_LIMIT = rules.COORDINATE_LIMIT

BreastBiradsValue = Annotated[
    BreastBirads | None, Field(description=f"BI-RADS assessment ({_MEANINGS}); null: not given.")
]
DensityValue = Annotated[
    Density | None, Field(description="Breast density, ACR categories A-D; null: not given.")
]
FindingBiradsValue = Annotated[
    FindingBirads | None,
    Field(
        description="The finding's BI-RADS (3-5 in VinDr's protocol, 2-5 where the project's "
        "finding_birads rule says so): required for a graded lesion, null for a box of "
        "associated features only."
    ),
]
Coordinate = Annotated[float, Field(ge=-_LIMIT, le=_LIMIT)]
CategoryName = Annotated[str, Field(min_length=1, max_length=rules.MAX_CATEGORY_LENGTH)]
_DEFAULT_CATEGORIES = ", ".join(
    f"{c.name}{' (graded)' if c.graded else ''}" for c in rules.DEFAULT_VOCABULARY.categories
)


class _BoxFields(BaseModel):
    id: str = Field(pattern=_BOX_ID, description="Unique within the read.")
    image_id: str = Field(
        min_length=1,
        max_length=rules.MAX_IMAGE_ID_LENGTH,
        description="The image the box is drawn on (one of the task's images).",
    )
    xmin: Coordinate = Field(description="Left edge, in pixels.")
    ymin: Coordinate = Field(description="Top edge, in pixels.")
    xmax: Coordinate = Field(description="Right edge, in pixels.")
    ymax: Coordinate = Field(description="Bottom edge, in pixels.")
    categories: list[CategoryName] = Field(
        max_length=rules.MAX_CATEGORIES_PER_BOX,
        json_schema_extra={"uniqueItems": True},
        description="Finding categories from the project's vocabulary (the task's "
        f"`vocabulary`); VinDr-Mammo's by default: {_DEFAULT_CATEGORIES}.",
    )


class BoxIn(_BoxFields):
    """A rectangle around a finding on one image, in that image's original pixel grid (it may
    reach a little beyond the image, as VinDr-Mammo's release does)."""

    model_config = ConfigDict(extra="forbid")

    birads: FindingBiradsValue = None


class BoxOut(_BoxFields):
    """A box as stored (see BoxIn); ``birads`` is always present."""

    birads: FindingBiradsValue


_NOT_IMAGED = (
    "True: the exam has no image of this breast, so it has no BI-RADS or density (both null). "
    "Only in projects whose rules allow breast_not_imaged, and only for a breast without any "
    "image; left out (false) otherwise."
)
_PROBABILITY = (
    "Your probability of malignancy for this breast, 0-100 (only in projects whose protocol "
    "asks for it, rule probability_rating); left out otherwise."
)
ProbabilityValue = Annotated[
    int | None,
    Field(ge=0, le=100, description=_PROBABILITY, exclude_if=lambda v: v is None),
]


class BreastIn(BaseModel):
    """One breast's assessment; a draft may leave either value out."""

    model_config = ConfigDict(extra="forbid")

    birads: BreastBiradsValue = None
    density: DensityValue = None
    not_imaged: bool = Field(default=False, description=_NOT_IMAGED, exclude_if=lambda v: not v)
    probability: ProbabilityValue = None


class BreastOut(BaseModel):
    """One breast's assessment as stored; null: not given (in a draft)."""

    birads: BreastBiradsValue
    density: DensityValue
    # VinDr's shape is kept for a breast with images: the key appears only when true
    not_imaged: bool = Field(default=False, description=_NOT_IMAGED, exclude_if=lambda v: not v)
    probability: ProbabilityValue = None


class BreastsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    R: BreastIn = Field(default_factory=BreastIn, description="The right breast.")
    L: BreastIn = Field(default_factory=BreastIn, description="The left breast.")


class BreastsOut(BaseModel):
    R: BreastOut = Field(description="The right breast.")
    L: BreastOut = Field(description="The left breast.")


class LabelIn(BaseModel):
    """A read as a client sends it (a draft or a submission). Missing keys mean "not given
    yet"; unknown keys are refused. Submitting also checks that the read is complete and
    consistent (every rule broken comes back at once, each with its field)."""

    model_config = ConfigDict(extra="forbid")

    breasts: BreastsIn = Field(default_factory=BreastsIn)
    boxes: list[BoxIn] = Field(
        default_factory=list,
        max_length=rules.MAX_BOXES,
        description="Boxes around findings of BI-RADS 3 and above (benign findings are not "
        "boxed); box ids are unique.",
    )
    note: str = Field(default="", max_length=rules.MAX_NOTE_LENGTH)


class LabelOut(BaseModel):
    """A read as stored: every key present, values not given are null."""

    breasts: BreastsOut
    boxes: list[BoxOut]
    note: str


@dataclass(frozen=True)
class _Publishes:
    """Annotation: validate the field as its own type, but publish ``model``'s schema."""

    model: type[BaseModel]

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(self.model.__pydantic_core_schema__)


LabelJson = Annotated[dict[str, Any], _Publishes(LabelIn)]
"""A label in a request: any JSON object, checked by the parser; documented as LabelIn."""


class SessionIn(BaseModel):
    """A reader study's session ("modality")."""

    name: str = Field(min_length=1, max_length=80, description="e.g. Unaided, AI-aided.")
    aided: bool = Field(
        default=False, description="Readers see the model's marks (a key toggles them)."
    )
    washout_days: int = Field(
        default=0,
        ge=0,
        le=3650,
        description="Days between a reader's first-session and this session's reading of the "
        "same case (0 for the first session).",
    )


class SessionOut(SessionIn):
    number: int


class ProjectCreate(BaseModel):
    name: str = Field(max_length=500)
    design: ProjectDesign = Field(
        default=ProjectDesign.DOUBLE_READ,
        description="double_read: two blinded readers, an arbiter on discordance; "
        "reader_study: every reader of the pool (or of the study's block) reads every case.",
    )
    layout: StudyLayout = Field(
        default=StudyLayout.FULLY_CROSSED,
        description="A reader study: fully_crossed, or split_plot in `blocks` blocks.",
    )
    blocks: int | None = Field(default=None, ge=2, le=100)
    sessions: list[SessionIn] = Field(
        default_factory=list,
        max_length=2,
        description="A reader study's one or two sessions; one named 'Reading' when empty.",
    )
    order_seed: int | None = Field(
        default=None,
        ge=0,
        lt=2**31,
        description="The seed of each reader's shuffled case order (drawn and recorded when "
        "omitted).",
    )
    truth_basis: TruthBasis = Field(
        default=TruthBasis.REFERENCE,
        description="Reader figures against the reference standard, or (said on every page "
        "and export) against the project's consensus labels.",
    )
    instructions: str = Field(default="", max_length=20000)
    vocabulary: list[dict[str, Any]] | None = Field(
        default=None, description="[{name, graded}]; VinDr's 10 finding categories when omitted."
    )
    rules: dict[str, Any] | None = Field(
        default=None,
        description="iou_threshold (0.3), birads_match ('exact' | 'screening'), "
        "max_birads_rule ('error' | 'warning'), breast_not_imaged (false: whether a study with "
        "a breast without any image may be added, with an override, and that breast answered "
        "'not imaged'); the label protocol: assessment_scale ('0-5' | '0-6'), finding_birads "
        "('3-5' | '2-5'), probability_rating (false: a 0-100 probability of malignancy per "
        "breast); show_priors (false: the reading screen offers the woman's earlier exam "
        "beside the current one, never part of the read). The defaults are VinDr-Mammo's.",
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
    design: ProjectDesign
    layout: StudyLayout | None = None
    blocks: int | None = None
    order_seed: int | None = None
    truth_basis: TruthBasis
    sessions: list[SessionOut] = Field(default_factory=list)


class Pools(BaseModel):
    readers: list[Id] | None = Field(default=None, description="User ids; replaces the pool.")
    arbiters: list[Id] | None = None


class PoolsOut(BaseModel):
    readers: list[str]
    arbiters: list[str]


class StudiesIn(BaseModel):
    """Studies to add. A study that is not complete (the four standard views, no open QC flag)
    refuses the whole request (422 ``incomplete_studies``, one detail per refused study) unless
    ``override_reason`` is given: then it is added, with the reason recorded on it."""

    study_ids: list[str] = Field(max_length=100000)
    override_reason: str | None = Field(
        default=None,
        max_length=rules.MAX_OVERRIDE_LENGTH,
        description="Add studies that are not complete anyway, for this reason (recorded).",
    )


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


class TaskSessionOut(BaseModel):
    number: int
    name: str
    aided: bool


class TaskOut(BaseModel):
    id: int
    kind: TaskKind
    status: TaskStatus
    project_id: int
    project_name: str
    study_id: str
    version: int
    session: TaskSessionOut | None = Field(
        default=None, description="A reader study's session of this reading."
    )
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
    kind: TaskKind = Field(description="read (a reader, slot 1 or 2) or arbitrate (slot 0)")
    slot: int
    status: TaskStatus
    assigned_at: datetime
    started_at: datetime | None
    submitted_at: datetime | None
    active_seconds: float


class TaskPage(BaseModel):
    total: int
    items: list[ProjectTaskOut]


class OtherRead(BaseModel):
    slot: int = Field(description="Reader 1 or 2 (names are not shown to the arbiter).")
    label: LabelOut


class PriorOut(BaseModel):
    study_id: str
    months_before: int = Field(description="Whole months between this exam and the current.")
    images: list[ImageOut]


class TaskDetailOut(TaskOut):
    instructions: str
    idle_limit_seconds: int = Field(description="Longer pauses do not count as reading time.")
    vocabulary: list[dict[str, Any]]
    rules: dict[str, Any]
    draft: LabelOut = Field(
        description="Your saved work. Before the first save: an empty label, or for an "
        "arbitration what both readers agreed on (discordant items left empty)."
    )
    images: list[ImageOut]
    priors: list[PriorOut] = Field(
        default_factory=list,
        description="Where the project shows priors: the woman's earlier exams, most recent "
        "first (at most 3), with the interval in months; images only, never a label, and never "
        "part of the read.",
    )
    other_reads: list[OtherRead] = Field(default_factory=list)
    discordances: list[dict[str, Any]] = Field(default_factory=list)


class DraftIn(BaseModel):
    label: LabelJson
    version: Count = Field(description="The version this edit was based on.")


class SubmitIn(DraftIn):
    aid: dict[str, Any] | None = Field(
        default=None,
        description='An aided session\'s read: {"accepted": [mark ids]}, the model marks the '
        "reader took into the read (recorded with it).",
    )


class ExcludeIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="e.g. images unreadable.")
    version: Count = Field(description="The version this was based on.")


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
    kind: TaskKind
    status: TaskStatus = Field(description="Your task's status: submitted.")
    label: LabelOut = Field(description="Your submitted read.")
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
    by_status: dict[StudyStatus, int]
    readers: list[ReaderProgressOut]
    compared: int
    discordance_rates: dict[str, float]
    awaiting_arbiter: int


class ProjectStudyOut(BaseModel):
    study_id: str
    status: StudyStatus
    final_label: LabelOut | None
    final_source: FinalSource | None
    discordances: list[dict[str, Any]] | None
    admission_override: str | None = Field(
        default=None,
        description="Why the study was added although not complete (null: it was complete).",
    )


class ProjectSettingsIn(BaseModel):
    """New settings of a project; a key left out keeps its value. Refused (409,
    ``settings_locked``) once a read of the project is submitted."""

    model_config = ConfigDict(extra="forbid")

    instructions: str | None = Field(default=None, max_length=20000)
    vocabulary: list[dict[str, Any]] | None = Field(
        default=None, description="[{name, graded}]: the finding categories."
    )
    rules: dict[str, Any] | None = Field(
        default=None,
        description="Some or all of iou_threshold, birads_match ('exact' | 'screening'), "
        "max_birads_rule ('error' | 'warning'), breast_not_imaged (true | false; false is "
        "refused, 409 breast_not_imaged_needed, while the project holds a study with a breast "
        "without any image), show_priors (true | false); the others keep their values.",
    )
    idle_limit_seconds: int | None = Field(default=None, ge=10, le=3600)


class ProjectSettingsOut(ProjectOut):
    editable: bool = Field(description="Whether the settings may still change.")
    locked_reason: str | None = Field(description="Why they no longer may (null while they may).")


class ReviewReadOut(BaseModel):
    """One submitted read (slot 1 or 2) or arbitration (slot 0), with its reader."""

    task_id: int
    kind: TaskKind
    slot: int
    user: TaskUserOut
    label: LabelOut
    warnings: list[dict[str, Any]]
    started_at: datetime | None
    submitted_at: datetime
    active_seconds: float


class ReopenedLabelOut(BaseModel):
    """A final label the study had before an administrator reopened it."""

    label: LabelOut
    source: FinalSource
    finalized_at: datetime
    reopened_at: datetime
    reopened_by: TaskUserOut | None
    reason: str


class StudyReviewOut(ProjectStudyOut):
    """A project study as its administrators review it: its images, every read and
    arbitration with its reader, the tasks still open and the final labels it had before."""

    project_id: int
    project_name: str
    finalized_at: datetime | None
    images: list[ImageOut]
    reads: list[ReviewReadOut]
    open_tasks: list[ProjectTaskOut]
    history: list[ReopenedLabelOut]

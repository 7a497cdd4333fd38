"""Shapes of the masking API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.ids import Id
from app.imaging.display import DisplayProtocol
from app.imaging.schemas import ImageOut
from app.masking.states import (
    Answer,
    DiscardReason,
    LevelRule,
    OutcomeKind,
    Phase,
    Side,
    SortMode,
)


class ProjectCreate(BaseModel):
    name: str = Field(max_length=500)
    mode: SortMode = SortMode.FULL_SORT
    instructions: str = Field(default="", max_length=20000)
    image_ids: list[str] = Field(
        default_factory=list,
        max_length=200000,
        description="Images to place (hex image ids). When empty, images are picked from "
        "study_ids (all studies when empty too) by view and per_woman.",
    )
    study_ids: list[str] = Field(default_factory=list, max_length=200000)
    view: Literal["MLO", "CC", "any"] = "MLO"
    per_woman: Literal["one", "both", "all"] = Field(
        default="one",
        description="A woman is her patient key (a study without one, a woman of its own). "
        "one: one breast of her most recent exam, chosen at random (seeded), as CSAW-M took "
        "the most recent MLO per woman; both: both breasts of that exam; all: every exam.",
    )
    seed_list: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Full sort: the shared seed list, least to most masking (>= 2 image ids).",
    )
    level_rule: LevelRule = Field(
        default=LevelRule.EXACT,
        description="exact: binary search over level boundaries (a consistent reader lands "
        "in the right level); paper: CSAW-M's rule (start at a central level, a random seed "
        "of the reference level).",
    )
    levels: int = Field(default=8, ge=2, le=20)
    seeds_per_level: int = Field(default=4, ge=1, le=50)
    level_seeds: list[list[str]] = Field(
        default_factory=list,
        max_length=20,
        description="Levels: seed image ids per level (least masking level first, each "
        "level's seeds least to most masking), shared by all readers.",
    )
    derive_seeds_from: Id | None = Field(
        default=None,
        description="Levels: a full-sort project; each reader's finished list is cut into "
        "equal parts and seeds_per_level images spread over each part become their seeds.",
    )
    randomise_sides: bool = Field(
        default=False, description="Show the query left or right at random (recorded)."
    )
    probe_share: float = Field(
        default=0.05, ge=0, le=0.5, description="Share of pairs re-shown blind as probes."
    )
    probe_gap: int = Field(
        default=20,
        ge=0,
        le=10000,
        description="A probe repeats a pair answered at least this many answers ago.",
    )
    max_attempts: int = Field(default=3, ge=1, le=10)
    order_seed: int | None = Field(default=None, ge=0, lt=2**31)
    reader_ids: list[Id] = Field(default_factory=list, max_length=1000)
    one_seed_per_woman: bool = Field(
        default=True,
        description="At most one seed per woman: refuse two seeds (seed_list, or level_seeds "
        "over all levels) of one woman, as the creation page always does. A woman is a study "
        "until studies carry a patient key. Send false to allow it explicitly (for example "
        "to re-create a project made before this rule).",
    )
    display_protocol: DisplayProtocol = Field(
        default=DisplayProtocol.WINDOW_LINEAR,
        description="One grey-scale function for both images of every pair. window_linear: "
        "each image's own window through LINEAR (black air); window_sigmoid: through SIGMOID; "
        "uniform_range: each image's value range rescaled linearly (as CSAW-M); header: each "
        "image's own header VOI, which can differ within a pair (projects before this option).",
    )


class ProjectOut(BaseModel):
    id: int
    name: str
    mode: SortMode
    instructions: str
    level_rule: LevelRule
    levels: int
    seeds_per_level: int
    randomise_sides: bool
    probe_share: float | None = Field(description="Admins only.")
    probe_gap: int | None = Field(description="Admins only.")
    max_attempts: int
    order_seed: int | None = Field(description="Admins only.")
    derive_seeds_from: int | None
    display_protocol: DisplayProtocol
    images: int
    seed_images: list[str]
    readers: list[str] = Field(description="User names; a reader sees only their own.")
    created_at: datetime


class ReadersIn(BaseModel):
    user_ids: list[Id] = Field(max_length=1000, description="Replaces the reader pool.")


class ProgressOut(BaseModel):
    total: int
    placed: int
    remaining: int
    discarded: int
    reported: int
    comparisons: int
    median_seconds: float | None = Field(description="Over the latest 100 answers.")


class PairOut(BaseModel):
    done: bool
    project_id: int
    comparison_id: str | None = None
    query_image_id: str | None = None
    reference_image_id: str | None = None
    query_side: Side | None = None
    phase: Phase | None = None
    interval: list[int] | None = None
    attempt: int | None = None
    display_protocol: DisplayProtocol | None = Field(
        default=None,
        description="The project's display protocol: the images' display data below are "
        "already under it, and their render URLs carry it as ?protocol=.",
    )
    images: dict[str, ImageOut] | None = Field(
        default=None,
        description="query and reference, as GET /api/v1/images/{id} gives, with display "
        "data under the project's display protocol.",
    )
    prefetch: list[ImageOut] = Field(
        default_factory=list, description="Images of the pairs each answer can lead to."
    )
    progress: ProgressOut


class AnswerIn(BaseModel):
    answer: Answer = Field(
        description="query: the query image hides a tumour more easily; discard: the query "
        "cannot be judged (with a reason)."
    )
    reason: DiscardReason | None = None
    note: str | None = Field(default=None, max_length=2000)


class AnswerOut(BaseModel):
    comparison_id: str
    answer: Answer
    outcome: OutcomeKind = Field(
        description="continue, placed, aborted, reported (after max_attempts aborts) or "
        "discarded. A consistency probe answers continue: probes are blind."
    )
    replayed: bool = Field(description="True when this answer had been applied already.")
    next: PairOut


class UndoneOut(BaseModel):
    comparison_id: str
    answer: Answer
    query_image_id: str
    reference_image_id: str


class UndoOut(BaseModel):
    undone: UndoneOut
    next: PairOut


class VersusMedianOut(BaseModel):
    images: int
    tau_b: float | None
    amae: float | None
    f1_low: float | None
    f1_high: float | None


class ReaderResultOut(BaseModel):
    username: str
    finished: bool
    progress: ProgressOut
    order: list[str] | None = Field(
        default=None, description="Full sort: the sorted list, least masking first."
    )
    levels: dict[str, int] = Field(
        description="Image id -> level (full sort: the list cut into equal parts)."
    )
    seeds: list[str] = Field(description="The reader's seed images (not answered, not scored).")
    discarded: dict[str, DiscardReason]
    reported: list[str] = Field(description="Images aborted max_attempts times.")
    attempts: int
    aborts: int
    abort_rate: float | None
    probes: int
    probe_agreement: float | None
    left_share: float | None = Field(
        description="Share of left among left/right answers (0.5 = no side bias)."
    )
    side_bias: float | None
    median_response_ms: float | None
    versus_median: VersusMedianOut
    side_answers: int = Field(
        default=0, description="Left/right answers behind left_share (randomised sides only)."
    )
    not_computed: dict[str, str] = Field(
        default_factory=dict,
        description="Figure name -> why it is n/a (too few answers, scale too short, ...).",
    )


class PairAgreementOut(BaseModel):
    reader_a: str
    reader_b: str
    tau_b: float | None
    images: int


class ImageResultOut(BaseModel):
    image_id: str
    study_id: str
    laterality: str | None
    view: str | None
    levels: dict[str, int]
    ranks: dict[str, int]
    median_level: int | None
    median_rank: float | None = Field(
        default=None, description="Full sort: the median of the readers' ranks."
    )
    unplaced: dict[str, str] = Field(
        default_factory=dict,
        description="Reader -> why they give no level for this image (discarded, reported, "
        "not placed yet).",
    )
    median_note: str | None = Field(
        default=None, description="Why median_level is n/a (no reader has placed it yet)."
    )


class ResultsOut(BaseModel):
    project_id: int
    mode: SortMode
    rule: str = Field(description="The level rule, or ternary_binary for a full sort.")
    levels: int
    median_rule: str
    readers: list[ReaderResultOut]
    pairs: list[PairAgreementOut]
    images: list[ImageResultOut]

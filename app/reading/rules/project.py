"""How strict a reading project is, and the screening groups BI-RADS values fall in."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
BiradsMatch = Literal["exact", "screening"]
AssessmentScale = Literal["0-5", "0-6"]
FindingRange = Literal["3-5", "2-5"]
ASSESSMENT_SCALES: Mapping[str, tuple[int, ...]] = {
    "0-5": (0, 1, 2, 3, 4, 5),
    "0-6": (0, 1, 2, 3, 4, 5, 6),
}
FINDING_RANGES: Mapping[str, tuple[int, ...]] = {"3-5": (3, 4, 5), "2-5": (2, 3, 4, 5)}

# VinDr's usage notes map BI-RADS to three screening categories; BI-RADS 0 (incomplete)
# means "call back", like 3-5.
SCREENING_GROUPS: Mapping[str, frozenset[int]] = {
    "normal": frozenset({1}),
    "benign": frozenset({2}),
    "recall": frozenset({0, 3, 4, 5, 6}),
}


@dataclass(frozen=True)
class ProjectRules:
    """How strict a project is, and its label protocol. ``iou_threshold`` must be above 0: at
    0 any two boxes on an image would pair, however far apart. ``breast_not_imaged``: a study
    with a breast without any image may be added (with an override) and that breast is
    answered "not imaged".

    The protocol (VinDr-Mammo's by default, so a VinDr project's reads and exports are
    unchanged): ``assessment_scale`` the breast BI-RADS a reader may give ("0-5", or "0-6"
    with 6 for a known biopsy-proven cancer); ``finding_birads`` the BI-RADS a boxed lesion may
    carry ("3-5" as VinDr, or "2-5" as seed 002's "a region per mass with BI-RADS 2-5");
    ``probability_rating`` whether each breast also gets a probability of malignancy 0-100.
    ``show_priors``: the reading screen offers the woman's earlier exams (by patient key and
    shifted date) beside the current one; they are never part of the read."""

    iou_threshold: float = 0.3
    birads_match: BiradsMatch = "exact"
    max_birads_rule: Severity = "error"
    # whether a study with a breast without any image may be read (that breast "not imaged")
    breast_not_imaged: bool = False
    assessment_scale: AssessmentScale = "0-5"
    finding_birads: FindingRange = "3-5"
    probability_rating: bool = False
    # the woman's earlier exams offered beside the current one (never part of the read)
    show_priors: bool = False

    def __post_init__(self) -> None:
        threshold = self.iou_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ValueError(f"iou_threshold must be a number; got {threshold!r}.")
        if not 0 < threshold <= 1:
            raise ValueError(f"iou_threshold must be above 0 and at most 1; got {threshold!r}.")
        object.__setattr__(self, "iou_threshold", float(threshold))
        if self.birads_match not in ("exact", "screening"):
            raise ValueError(
                f"birads_match must be 'exact' or 'screening'; got {self.birads_match!r}."
            )
        if self.max_birads_rule not in ("error", "warning"):
            raise ValueError(
                f"max_birads_rule must be 'error' or 'warning'; got {self.max_birads_rule!r}."
            )
        for flag in ("breast_not_imaged", "probability_rating", "show_priors"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false; got {getattr(self, flag)!r}.")
        if self.assessment_scale not in ASSESSMENT_SCALES:
            raise ValueError(
                f"assessment_scale must be '0-5' or '0-6'; got {self.assessment_scale!r}."
            )
        if self.finding_birads not in FINDING_RANGES:
            raise ValueError(f"finding_birads must be '3-5' or '2-5'; got {self.finding_birads!r}.")

    @property
    def breast_birads(self) -> tuple[int, ...]:
        """The breast BI-RADS values this protocol allows."""
        return ASSESSMENT_SCALES[self.assessment_scale]

    @property
    def finding_birads_values(self) -> tuple[int, ...]:
        """The BI-RADS values a boxed lesion may carry in this protocol."""
        return FINDING_RANGES[self.finding_birads]

    @property
    def is_vindr_protocol(self) -> bool:
        """Whether reads follow VinDr-Mammo's protocol (what its export format can hold)."""
        return (
            self.assessment_scale == "0-5"
            and self.finding_birads == "3-5"
            and not self.probability_rating
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProjectRules:
        """Rules from stored settings; missing keys take the defaults, unknown keys are refused."""
        if not isinstance(data, Mapping):
            raise ValueError("Project rules must be an object.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ValueError(
                f"Unknown project rule(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}."
            )
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


DEFAULT_RULES = ProjectRules()


def screening_group(birads: int | None) -> str | None:
    """'normal', 'benign' or 'recall' (VinDr's usage notes), None when not given."""
    for group, members in SCREENING_GROUPS.items():
        if birads in members:
            return group
    return None

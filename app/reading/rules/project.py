"""How strict a reading project is, and the screening groups BI-RADS values fall in."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
BiradsMatch = Literal["exact", "screening"]

# VinDr's usage notes map BI-RADS to three screening categories; BI-RADS 0 (incomplete)
# means "call back", like 3-5.
SCREENING_GROUPS: Mapping[str, frozenset[int]] = {
    "normal": frozenset({1}),
    "benign": frozenset({2}),
    "recall": frozenset({0, 3, 4, 5}),
}


@dataclass(frozen=True)
class ProjectRules:
    """How strict a project is. ``iou_threshold`` must be above 0: at 0 any two boxes on an
    image would pair, however far apart. ``breast_not_imaged``: a study with a breast without
    any image may be added (with an override) and that breast is answered "not imaged"."""

    iou_threshold: float = 0.3
    birads_match: BiradsMatch = "exact"
    max_birads_rule: Severity = "error"
    # whether a study with a breast without any image may be read (that breast "not imaged")
    breast_not_imaged: bool = False

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
        if not isinstance(self.breast_not_imaged, bool):
            raise ValueError(
                f"breast_not_imaged must be true or false; got {self.breast_not_imaged!r}."
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

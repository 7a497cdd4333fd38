"""A project's rules (strictness settings) and the BI-RADS screening groups."""

from __future__ import annotations

import math
import re
from typing import Any

import pytest

from app.reading.rules import (
    DEFAULT_RULES,
    ProjectRules,
    screening_group,
)


def test_project_rules_defaults_and_json() -> None:
    assert ProjectRules.from_json({}) == DEFAULT_RULES
    assert DEFAULT_RULES.to_json() == {
        "iou_threshold": 0.3,
        "birads_match": "exact",
        "max_birads_rule": "error",
        "breast_not_imaged": False,
        "assessment_scale": "0-5",
        "finding_birads": "3-5",
        "probability_rating": False,
        "show_priors": False,
    }
    assert DEFAULT_RULES.is_vindr_protocol
    custom = ProjectRules(iou_threshold=0.5, birads_match="screening", max_birads_rule="warning")
    assert ProjectRules.from_json(custom.to_json()) == custom
    assert ProjectRules(iou_threshold=1).iou_threshold == 1.0


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"iou_threshold": 0}, "iou_threshold must be above 0"),
        ({"iou_threshold": 1.5}, "iou_threshold must be above 0"),
        ({"iou_threshold": math.nan}, "iou_threshold must be above 0"),
        ({"iou_threshold": "0.3"}, "iou_threshold must be a number"),
        ({"iou_threshold": True}, "iou_threshold must be a number"),
        ({"birads_match": "loose"}, "birads_match must be 'exact' or 'screening'"),
        ({"max_birads_rule": "info"}, "max_birads_rule must be 'error' or 'warning'"),
        ({"iou": 0.5}, "Unknown project rule(s): iou"),
    ],
)
def test_bad_project_rules(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        ProjectRules.from_json(data)


@pytest.mark.parametrize(
    ("birads", "group"),
    [(0, "recall"), (1, "normal"), (2, "benign"), (3, "recall"), (4, "recall"), (5, "recall")],
)
def test_screening_groups(birads: int, group: str) -> None:
    assert screening_group(birads) == group

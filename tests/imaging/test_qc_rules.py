"""The import quality checks as pure functions."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from app.imaging import qc
from app.imaging.states import QcKind


def breast(side: str, bright_background: bool = False) -> np.ndarray:
    """A crude 8-bit breast against the given edge: textured tissue, flat air."""
    rng = np.random.default_rng(0)
    image = np.full((200, 160), 230 if bright_background else 10, dtype=np.uint8)
    tissue = rng.integers(60, 200, size=(200, 90), dtype=np.uint8)
    if side == "L":
        image[:, :90] = tissue
    else:
        image[:, -90:] = tissue
    return image


def test_chest_wall_side_from_pixels() -> None:
    assert qc.chest_wall_side(breast("L")) == "L"
    assert qc.chest_wall_side(breast("R")) == "R"
    assert qc.chest_wall_side(np.full((50, 50), 128, dtype=np.uint8)) is None


def test_laterality_mismatch() -> None:
    assert qc.laterality_finding("L", "L") is None
    assert qc.laterality_finding(None, "L") is None
    finding = qc.laterality_finding("L", "R")
    assert finding is not None
    assert finding.kind == QcKind.LATERALITY_MISMATCH
    assert "left breast" in finding.detail
    assert "right edge" in finding.detail


def test_inverted_intensity() -> None:
    assert qc.inversion_finding(breast("L"), "L") is None
    finding = qc.inversion_finding(breast("L", bright_background=True), "L")
    assert finding is not None
    assert finding.kind == QcKind.INVERTED_INTENSITY


def test_complete_study_has_no_view_findings() -> None:
    assert qc.view_findings(["R-CC", "L-CC", "R-MLO", "L-MLO"]) == []


def test_missing_and_duplicate_views() -> None:
    # the VinDr release has one study with L-CC twice and no L-MLO
    findings = qc.view_findings(["R-CC", "L-CC", "R-MLO", "L-CC"])
    assert [(f.kind, f.detail) for f in findings] == [
        (QcKind.MISSING_VIEW, "L-MLO is missing."),
        (QcKind.DUPLICATE_VIEW, "L-CC occurs 2 times."),
    ]


@given(st.lists(st.sampled_from([*qc.STANDARD_VIEWS, "R-ML", None]), max_size=10))
def test_view_findings_account_for_every_standard_view(views: list[str | None]) -> None:
    findings = qc.view_findings(views)
    missing = {f.detail.split()[0] for f in findings if f.kind == QcKind.MISSING_VIEW}
    assert missing == {v for v in qc.STANDARD_VIEWS if v not in views}
    duplicated = {f.detail.split()[0] for f in findings if f.kind == QcKind.DUPLICATE_VIEW}
    assert duplicated == {v for v in set(views) if v is not None and views.count(v) > 1}

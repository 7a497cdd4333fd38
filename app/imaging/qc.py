"""Quality checks at import (after MammoClean, seed 003), as pure functions on pixels and tags."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from app.imaging.states import QcKind

STANDARD_VIEWS = ("R-CC", "L-CC", "R-MLO", "L-MLO")
VIEW_FLAGS = (QcKind.MISSING_VIEW, QcKind.DUPLICATE_VIEW)  # of the study's views together
KINDS = {
    QcKind.LATERALITY_MISMATCH: "Laterality from pixels disagrees with the header",
    QcKind.INVERTED_INTENSITY: "Bright background after display transforms (inverted?)",
    QcKind.MISSING_VIEW: "A standard view is missing",
    QcKind.DUPLICATE_VIEW: "A view occurs more than once",
    QcKind.UNKNOWN_VIEW: "Laterality or view could not be read",
    QcKind.FOR_PROCESSING: "'For processing' image (raw detector data)",
    QcKind.BURNED_IN_TEXT: "Text burned into the pixels",
}
SIDE_NAMES = {"L": "left", "R": "right"}


def kind_text(kind: str) -> str:
    """A flag kind in words (the one place pages and the API take them from)."""
    known = {str(k): text for k, text in KINDS.items()}
    return known.get(str(kind), str(kind).replace("_", " "))


@dataclass(frozen=True)
class Finding:
    kind: QcKind
    detail: str


def chest_wall_side(display: np.ndarray, strip_fraction: float = 0.02) -> str | None:
    """Which edge ("L" or "R" of the image) the breast lies against, from 8-bit display pixels.

    The chest-wall edge crosses tissue and has by far the larger spread; the opposite edge is
    mostly air. None when the two edges are too alike to tell."""
    strip = max(3, int(display.shape[1] * strip_fraction))
    left = float(np.std(display[:, :strip]))
    right = float(np.std(display[:, -strip:]))
    if max(left, right) < 1.0 or max(left, right) < 1.5 * min(left, right):
        return None
    return "L" if left > right else "R"


def laterality_finding(laterality: str | None, side: str | None) -> Finding | None:
    """A left breast lies against the image's left edge, a right breast against the right."""
    if laterality is None or side is None or laterality == side:
        return None
    return Finding(
        QcKind.LATERALITY_MISMATCH,
        f"The header says {SIDE_NAMES[laterality]} breast, but the breast lies against the "
        f"{SIDE_NAMES[side]} edge: the laterality tag may be wrong or the image mirrored.",
    )


def inversion_finding(display: np.ndarray, side: str | None) -> Finding | None:
    """Air should be dark once displayed; look at the edge away from the chest wall."""
    strip = max(3, int(display.shape[1] * 0.05))
    background = display[:, -strip:] if side == "L" else display[:, :strip]
    if side is None:
        background = np.concatenate([display[:, :strip], display[:, -strip:]], axis=1)
    level = float(np.median(background))
    if level <= 127:
        return None
    return Finding(
        QcKind.INVERTED_INTENSITY,
        f"The background is bright after display transforms (median {level:.0f} of 255): "
        "the intensities are probably inverted (photometric interpretation or LUT shape).",
    )


def view_name(laterality: str | None, view: str | None) -> str | None:
    if laterality is None or view is None:
        return None
    return f"{laterality}-{view}"


def view_findings(views: Iterable[str | None]) -> list[Finding]:
    """Four standard views are expected per study, once each."""
    counts = Counter(v for v in views if v is not None)
    findings = [
        Finding(QcKind.MISSING_VIEW, f"{name} is missing.")
        for name in STANDARD_VIEWS
        if not counts[name]
    ]
    findings += [
        Finding(QcKind.DUPLICATE_VIEW, f"{name} occurs {count} times.")
        for name, count in sorted(counts.items())
        if count > 1
    ]
    return findings

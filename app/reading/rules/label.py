"""The label a reader submits and its parser.

The label model is VinDr-Mammo's (seed 000): per breast a BI-RADS assessment and a density;
per image, boxes around findings of BI-RADS 3 and above, each with categories and, for graded
lesions, a finding BI-RADS. Benign (BI-RADS 2) findings are deliberately not boxed.
:func:`parse_label` checks structure only; whether a label is complete and consistent is
:mod:`app.reading.rules.validation`'s business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LATERALITIES = ("R", "L")
BREAST_NAMES = {"R": "Right breast", "L": "Left breast"}
# VinDr's protocol (the default); a project's protocol may widen both (see ``ProjectRules``)
BREAST_BIRADS = (0, 1, 2, 3, 4, 5)
FINDING_BIRADS = (3, 4, 5)
# every value any protocol allows: what the parser accepts (validation then applies the
# project's own protocol)
ANY_BREAST_BIRADS = (0, 1, 2, 3, 4, 5, 6)
ANY_FINDING_BIRADS = (2, 3, 4, 5)
PROBABILITY_RANGE = (0, 100)
DENSITIES = ("A", "B", "C", "D")
BIRADS_MEANINGS = {
    0: "incomplete",
    1: "negative",
    2: "benign",
    3: "probably benign",
    4: "suspicious",
    5: "highly suggestive of malignancy",
    6: "known biopsy-proven malignancy",
}
# BI-RADS breast composition (5th edition), as the reading screen explains each letter.
DENSITY_MEANINGS = {
    "A": "almost entirely fatty",
    "B": "scattered fibroglandular",
    "C": "heterogeneously dense",
    "D": "extremely dense",
}

MAX_BOXES = 500
MAX_NOTE_LENGTH = 10_000
MAX_CATEGORIES_PER_BOX = 20
MAX_CATEGORY_LENGTH = 100
MAX_IMAGE_ID_LENGTH = 128
# Box ids appear in violation paths ("boxes.<id>.birads") and in the page, so no dots or spaces.
BOX_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Far beyond any detector (about 4,000 x 5,000 pixels) yet small enough that areas stay finite.
COORDINATE_LIMIT = 1e6


class LabelError(ValueError):
    """Structurally bad label input; ``field`` is the path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class BreastRead:
    """One breast's assessment. ``not_imaged``: the exam has no image of this breast, so it
    has no BI-RADS or density (only in projects that allow it, see ``ProjectRules``).
    ``probability``: the reader's probability of malignancy, 0-100 (only in projects whose
    protocol asks for it: the usual ROC rating beside BI-RADS)."""

    birads: int | None = None
    density: str | None = None
    not_imaged: bool = False
    probability: int | None = None

    def to_json(self) -> dict[str, Any]:
        # VinDr's shape for a breast with images, unchanged; the extra keys only where set
        if self.not_imaged:
            return {"birads": None, "density": None, "not_imaged": True}
        if self.probability is not None:
            return {"birads": self.birads, "density": self.density, "probability": self.probability}
        return {"birads": self.birads, "density": self.density}


@dataclass(frozen=True)
class Box:
    """A rectangle on one image, in that image's original pixel grid (not clipped)."""

    id: str
    image_id: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    categories: tuple[str, ...]
    birads: int | None = None

    @property
    def width(self) -> float:
        return self.xmax - self.xmin

    @property
    def height(self) -> float:
        return self.ymax - self.ymin

    @property
    def area(self) -> float:
        """Area, zero for a box drawn inverted or flat."""
        return max(0.0, self.width) * max(0.0, self.height)

    def overlaps_image(self, columns: float, rows: float) -> bool:
        """Whether the box covers some of the image's pixel grid [0, columns] x [0, rows].

        A box partly outside (VinDr-Mammo's release has small negative coordinates) overlaps;
        one that only touches the image's edge, or lies wholly beside it, does not."""
        overlap_w = min(self.xmax, columns) - max(self.xmin, 0.0)
        overlap_h = min(self.ymax, rows) - max(self.ymin, 0.0)
        return overlap_w > 0 and overlap_h > 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "image_id": self.image_id,
            "xmin": self.xmin,
            "ymin": self.ymin,
            "xmax": self.xmax,
            "ymax": self.ymax,
            "categories": list(self.categories),
            "birads": self.birads,
        }


@dataclass(frozen=True)
class Label:
    """One read (reader or arbiter) of a four-view exam."""

    right: BreastRead = BreastRead()
    left: BreastRead = BreastRead()
    boxes: tuple[Box, ...] = ()
    note: str = ""

    def breast(self, laterality: str) -> BreastRead:
        if laterality == "R":
            return self.right
        if laterality == "L":
            return self.left
        raise ValueError(f"Laterality must be 'R' or 'L', not {laterality!r}.")

    @property
    def breasts(self) -> dict[str, BreastRead]:
        return {"R": self.right, "L": self.left}

    def to_json(self) -> dict[str, Any]:
        return {
            "breasts": {lat: self.breast(lat).to_json() for lat in LATERALITIES},
            "boxes": [box.to_json() for box in self.boxes],
            "note": self.note,
        }


def empty_label() -> Label:
    return Label()


def parse_label(data: Mapping[str, Any]) -> Label:
    """A label from JSON-like data; raises LabelError on structurally bad input.

    Missing keys mean "not given yet" (a draft): ``breasts``, ``R``/``L``, ``birads``,
    ``density``, ``not_imaged`` (false) and ``note`` may be left out; a box must have every
    key but ``birads``. Unknown keys are refused so that a client's typo is not silently
    dropped. Whether the label is complete and consistent is :func:`validate`'s business, not
    this function's.
    """
    _require_mapping(data, "label")
    _refuse_unknown_keys(data, {"breasts", "boxes", "note"}, "")
    right, left = _parse_breasts(data.get("breasts", {}))
    return Label(
        right=right,
        left=left,
        boxes=_parse_boxes(data.get("boxes", [])),
        note=_parse_note(data.get("note", "")),
    )


def _require_mapping(value: object, path: str) -> None:
    if not isinstance(value, Mapping):
        raise LabelError(path, "must be an object.")


def _refuse_unknown_keys(data: Mapping[str, Any], known: set[str], prefix: str) -> None:
    for key in data:
        if key not in known:
            raise LabelError(
                f"{prefix}{key}", f"unknown field; expected {', '.join(sorted(known))}."
            )


def _parse_breasts(value: object) -> tuple[BreastRead, BreastRead]:
    if not isinstance(value, Mapping):
        raise LabelError("breasts", "must be an object with the keys 'R' and 'L'.")
    for key in value:
        if key not in LATERALITIES:
            raise LabelError(f"breasts.{key}", "unknown breast; use 'R' or 'L'.")
    right, left = (_parse_breast(value.get(lat, {}), f"breasts.{lat}") for lat in LATERALITIES)
    return right, left


def _parse_breast(value: object, path: str) -> BreastRead:
    _require_mapping(value, path)
    assert isinstance(value, Mapping)
    _refuse_unknown_keys(value, {"birads", "density", "not_imaged", "probability"}, f"{path}.")
    birads = _parse_optional_int(value.get("birads"), ANY_BREAST_BIRADS, f"{path}.birads")
    probability = _parse_probability(value.get("probability"), f"{path}.probability")
    density = value.get("density")
    if density is not None and density not in DENSITIES:
        raise LabelError(f"{path}.density", "must be 'A', 'B', 'C', 'D' or null.")
    not_imaged = value.get("not_imaged", False)
    if not isinstance(not_imaged, bool):
        raise LabelError(f"{path}.not_imaged", "must be true or false.")
    if not_imaged and (birads is not None or density is not None or probability is not None):
        raise LabelError(
            f"{path}.not_imaged",
            "a breast not imaged has no BI-RADS or density (nor a probability); leave them null.",
        )
    return BreastRead(
        birads=birads, density=density, not_imaged=not_imaged, probability=probability
    )


def _parse_probability(value: object, path: str) -> int | None:
    low, high = PROBABILITY_RANGE
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LabelError(path, f"must be a whole number from {low} to {high}, or null.")
    return value


def _parse_optional_int(value: object, allowed: tuple[int, ...], path: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
        choices = ", ".join(str(number) for number in allowed)
        raise LabelError(path, f"must be one of {choices} or null.")
    return value


def _parse_boxes(value: object) -> tuple[Box, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise LabelError("boxes", "must be a list.")
    if len(value) > MAX_BOXES:
        raise LabelError("boxes", f"at most {MAX_BOXES} boxes per read; got {len(value)}.")
    boxes: list[Box] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        box = _parse_box(item, f"boxes[{index}]")
        if box.id in seen:
            raise LabelError(f"boxes[{index}].id", f"duplicate box id {box.id!r}.")
        seen.add(box.id)
        boxes.append(box)
    return tuple(boxes)


_BOX_KEYS = {"id", "image_id", "xmin", "ymin", "xmax", "ymax", "categories", "birads"}


def _parse_box(value: object, path: str) -> Box:
    _require_mapping(value, path)
    assert isinstance(value, Mapping)
    _refuse_unknown_keys(value, _BOX_KEYS, f"{path}.")
    for key in sorted(_BOX_KEYS - {"birads"}):
        if key not in value:
            raise LabelError(f"{path}.{key}", "is missing.")
    box_id = value["id"]
    if not isinstance(box_id, str) or not BOX_ID_PATTERN.fullmatch(box_id):
        raise LabelError(f"{path}.id", "must be 1 to 64 letters, digits, '_' or '-'.")
    image_id = value["image_id"]
    if not isinstance(image_id, str) or not 0 < len(image_id) <= MAX_IMAGE_ID_LENGTH:
        raise LabelError(
            f"{path}.image_id", f"must be a string of 1 to {MAX_IMAGE_ID_LENGTH} characters."
        )
    xmin, ymin, xmax, ymax = (
        _parse_coordinate(value[key], f"{path}.{key}") for key in ("xmin", "ymin", "xmax", "ymax")
    )
    return Box(
        id=box_id,
        image_id=image_id,
        xmin=xmin,
        ymin=ymin,
        xmax=xmax,
        ymax=ymax,
        categories=_parse_categories(value["categories"], f"{path}.categories"),
        birads=_parse_optional_int(value.get("birads"), ANY_FINDING_BIRADS, f"{path}.birads"),
    )


def _parse_coordinate(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LabelError(path, "must be a number.")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or abs(number) > COORDINATE_LIMIT:
        raise LabelError(path, f"must be a finite number within +-{COORDINATE_LIMIT:g}.")
    return number


def _parse_categories(value: object, path: str) -> tuple[str, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise LabelError(path, "must be a list of category names.")
    if len(value) > MAX_CATEGORIES_PER_BOX:
        raise LabelError(path, f"at most {MAX_CATEGORIES_PER_BOX} categories per box.")
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CATEGORY_LENGTH:
            raise LabelError(
                path, f"names must be strings of 1 to {MAX_CATEGORY_LENGTH} characters."
            )
    if len(set(value)) != len(value):
        raise LabelError(path, "lists a category twice.")
    return tuple(value)


def _parse_note(value: object) -> str:
    if not isinstance(value, str):
        raise LabelError("note", "must be a string.")
    if len(value) > MAX_NOTE_LENGTH:
        raise LabelError("note", f"at most {MAX_NOTE_LENGTH:,} characters; got {len(value):,}.")
    return value


# --- how the rules name things (shared by validation and concordance) -----------------------


def laterality_of(images: Mapping[str, str], image_id: str) -> str | None:
    """'R' or 'L' for an image of the exam; None outside the exam or when not known."""
    laterality = images.get(image_id)
    return laterality if laterality in LATERALITIES else None


def breast_text(read: BreastRead) -> str:
    """The breast's assessment in words: its BI-RADS, or "not imaged"."""
    return "not imaged" if read.not_imaged else birads_text(read.birads)


def birads_text(birads: int | None) -> str:
    if birads is None:
        return "not given"
    meaning = BIRADS_MEANINGS.get(birads)
    return f"BI-RADS {birads} ({meaning})" if meaning else f"BI-RADS {birads}"


def box_name(box: Box) -> str:
    """What a radiologist calls the box: its categories ("Mass + Skin Retraction box")."""
    if not box.categories:
        return "Box without a category"
    return f"{' + '.join(box.categories)} box"

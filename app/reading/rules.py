"""The double-reading rules as pure functions: the label a reader submits, its validation,
the concordance of two blinded reads, their merge, and the reader's active time.

The label model is VinDr-Mammo's (seed 000): per breast a BI-RADS assessment and a density;
per image, boxes around findings of BI-RADS 3 and above, each with categories and, for graded
lesions, a finding BI-RADS. Benign (BI-RADS 2) findings are deliberately not boxed.
No I/O here: the server parses what a reader sends, validates it, compares two reads and
stores the results elsewhere.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["error", "warning"]
BiradsMatch = Literal["exact", "screening"]
DiscordanceKind = Literal["birads", "density", "finding"]

LATERALITIES = ("R", "L")
BREAST_NAMES = {"R": "Right breast", "L": "Left breast"}
BREAST_BIRADS = (0, 1, 2, 3, 4, 5)
FINDING_BIRADS = (3, 4, 5)
DENSITIES = ("A", "B", "C", "D")
BIRADS_MEANINGS = {
    0: "incomplete",
    1: "negative",
    2: "benign",
    3: "probably benign",
    4: "suspicious",
    5: "highly suggestive of malignancy",
}
NO_FINDING = "No Finding"

MAX_BOXES = 500
MAX_NOTE_LENGTH = 10_000
MAX_CATEGORIES_PER_BOX = 20
MAX_CATEGORY_LENGTH = 100
MAX_IMAGE_ID_LENGTH = 128
# Box ids appear in violation paths ("boxes.<id>.birads") and in the page, so no dots or spaces.
BOX_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Far beyond any detector (about 4,000 x 5,000 pixels) yet small enough that areas stay finite.
COORDINATE_LIMIT = 1e6

# VinDr's usage notes map BI-RADS to three screening categories; BI-RADS 0 (incomplete)
# means "call back", like 3-5.
SCREENING_GROUPS: Mapping[str, frozenset[int]] = {
    "normal": frozenset({1}),
    "benign": frozenset({2}),
    "recall": frozenset({0, 3, 4, 5}),
}


# --- the label --------------------------------------------------------------------------------


class LabelError(ValueError):
    """Structurally bad label input; ``field`` is the path of the offending value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class BreastRead:
    birads: int | None = None
    density: str | None = None

    def to_json(self) -> dict[str, Any]:
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
    ``density`` and ``note`` may be left out; a box must have every key but ``birads``.
    Unknown keys are refused so that a client's typo is not silently dropped. Whether the
    label is complete and consistent is :func:`validate`'s business, not this function's.
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
    _refuse_unknown_keys(value, {"birads", "density"}, f"{path}.")
    birads = _parse_optional_int(value.get("birads"), BREAST_BIRADS, f"{path}.birads")
    density = value.get("density")
    if density is not None and density not in DENSITIES:
        raise LabelError(f"{path}.density", "must be 'A', 'B', 'C', 'D' or null.")
    return BreastRead(birads=birads, density=density)


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
        birads=_parse_optional_int(value.get("birads"), FINDING_BIRADS, f"{path}.birads"),
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


# --- vocabulary -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A finding category; graded lesions carry a finding BI-RADS, associated features none."""

    name: str
    graded: bool


@dataclass(frozen=True)
class Vocabulary:
    """The categories a box may carry, in display (and merge) order."""

    categories: tuple[Category, ...]
    _index: Mapping[str, int] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        categories = tuple(self.categories)
        names = [category.name for category in categories]
        if not names:
            raise ValueError("A vocabulary needs at least one category.")
        if len(set(names)) != len(names):
            raise ValueError("A vocabulary lists each category once.")
        if NO_FINDING in names:
            raise ValueError(f"{NO_FINDING!r} is not a box category: an image without boxes is.")
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(names)})

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def get(self, name: str) -> Category | None:
        index = self._index.get(name)
        return None if index is None else self.categories[index]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(category.name for category in self.categories)

    def is_graded(self, categories: Iterable[str]) -> bool:
        """A box is a graded lesion when any of its categories is graded."""
        return any((found := self.get(name)) is not None and found.graded for name in categories)

    def is_associated_only(self, categories: Iterable[str]) -> bool:
        """A box with only (known) associated features carries no finding BI-RADS."""
        found = [self.get(name) for name in categories]
        return bool(found) and all(item is not None and not item.graded for item in found)

    def in_order(self, names: Iterable[str]) -> tuple[str, ...]:
        """Distinct names in vocabulary order; unknown names last, alphabetically."""
        unique = set(names)
        known = sorted((name for name in unique if name in self), key=self._index.__getitem__)
        return (*known, *sorted(name for name in unique if name not in self))

    def to_json(self) -> list[dict[str, Any]]:
        return [{"name": c.name, "graded": c.graded} for c in self.categories]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> Vocabulary:
        categories = []
        for item in data:
            name, graded = item.get("name"), item.get("graded")
            if not isinstance(name, str) or not name or not isinstance(graded, bool):
                raise ValueError(f"A category needs a name and graded true/false; got {item!r}.")
            categories.append(Category(name, graded))
        return cls(tuple(categories))


def vocabulary_to_text(data: Sequence[Mapping[str, Any]]) -> str:
    """One category per line; a trailing ``*`` marks a graded lesion (the project form)."""
    return "\n".join(str(c["name"]) + ("*" if c.get("graded") else "") for c in data)


def vocabulary_from_text(text: str) -> list[dict[str, Any]]:
    """The inverse of :func:`vocabulary_to_text`; blank lines are ignored."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return [{"name": line.rstrip("*").strip(), "graded": line.endswith("*")} for line in lines]


# VinDr-Mammo's finding categories: graded lesions carry a finding BI-RADS, associated
# features do not.
VINDR_GRADED = (
    "Mass",
    "Suspicious Calcification",
    "Asymmetry",
    "Focal Asymmetry",
    "Global Asymmetry",
    "Architectural Distortion",
)
VINDR_ASSOCIATED = (
    "Skin Thickening",
    "Skin Retraction",
    "Nipple Retraction",
    "Suspicious Lymph Node",
)
DEFAULT_VOCABULARY = Vocabulary(
    tuple(Category(name, True) for name in VINDR_GRADED)
    + tuple(Category(name, False) for name in VINDR_ASSOCIATED)
)


# --- project rules ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectRules:
    """How strict a project is. ``iou_threshold`` must be above 0: at 0 any two boxes on an
    image would pair, however far apart."""

    iou_threshold: float = 0.3
    birads_match: BiradsMatch = "exact"
    max_birads_rule: Severity = "error"

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


# --- validation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    """A broken rule; ``field`` is where the page shows it (``breasts.R.birads``,
    ``boxes.<box id>.categories``, ``breasts.L`` for breast-level consistency...)."""

    field: str
    message: str
    severity: Severity = "error"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validate(
    label: Label,
    images: Mapping[str, str],
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    rules: ProjectRules = DEFAULT_RULES,
    sizes: Mapping[str, tuple[int, int]] | None = None,
) -> list[Violation]:
    """Every broken rule, in a stable order: breast values (right, then left), then each box
    in the label's order, then breast-level consistency (right, then left).

    ``images`` maps each image id of the exam to its laterality, 'L' or 'R'; ``sizes`` maps
    image ids to their (columns, rows), for refusing boxes that miss their image entirely.
    """
    found: list[Violation] = []
    for lat in LATERALITIES:
        found += _breast_value_problems(lat, label.breast(lat))
    for box in label.boxes:
        found += _box_problems(box, images, vocabulary)
        found += _box_placement_problems(box, (sizes or {}).get(box.image_id))
    for lat in LATERALITIES:
        found += _breast_consistency_problems(lat, label, images, vocabulary, rules)
    return found


def blocking(violations: Iterable[Violation]) -> list[Violation]:
    """The violations that prevent submitting a read (errors; warnings only inform)."""
    return [violation for violation in violations if violation.severity == "error"]


def _laterality(images: Mapping[str, str], image_id: str) -> str | None:
    """'R' or 'L' for an image of the exam; None outside the exam or when not known."""
    laterality = images.get(image_id)
    return laterality if laterality in LATERALITIES else None


def _birads_text(birads: int | None) -> str:
    if birads is None:
        return "not given"
    meaning = BIRADS_MEANINGS.get(birads)
    return f"BI-RADS {birads} ({meaning})" if meaning else f"BI-RADS {birads}"


def _breast_value_problems(lat: str, breast: BreastRead) -> list[Violation]:
    name, path = BREAST_NAMES[lat], f"breasts.{lat}"
    found = []
    if breast.birads is None:
        found.append(Violation(f"{path}.birads", f"{name}: choose a BI-RADS assessment (0-5)."))
    elif breast.birads not in BREAST_BIRADS:
        found.append(
            Violation(
                f"{path}.birads",
                f"{name}: BI-RADS {breast.birads} is not an assessment category; choose 0-5.",
            )
        )
    if breast.density is None:
        found.append(Violation(f"{path}.density", f"{name}: choose a breast density (A-D)."))
    elif breast.density not in DENSITIES:
        found.append(
            Violation(
                f"{path}.density",
                f"{name}: density {breast.density!r} is not a category; choose A, B, C or D.",
            )
        )
    return found


def _box_name(box: Box) -> str:
    """What a radiologist calls the box: its categories ("Mass + Skin Retraction box")."""
    if not box.categories:
        return "Box without a category"
    return f"{' + '.join(box.categories)} box"


def _box_problems(box: Box, images: Mapping[str, str], vocabulary: Vocabulary) -> list[Violation]:
    path, what = f"boxes.{box.id}", _box_name(box)
    found = []
    if box.image_id not in images:
        found.append(
            Violation(path, f"{what} is on an image that is not part of this exam; delete it.")
        )
    elif _laterality(images, box.image_id) is None:
        message = (
            f"{what} is on an image whose side (left or right) is not known, so it cannot "
            "count for either breast; ask an administrator to correct the image."
        )
        found.append(Violation(path, message))
    if not (box.width > 0 and box.height > 0):
        found.append(
            Violation(
                path, f"{what} has no area ({box.width:g} x {box.height:g} pixels); redraw it."
            )
        )
    found += _category_problems(box, path, what, vocabulary)
    found += _finding_birads_problems(box, path, what, vocabulary)
    return found


def _box_placement_problems(box: Box, size: tuple[int, int] | None) -> list[Violation]:
    """A box (with an area) on an image of known size must cover some of that image."""
    if size is None or not (box.width > 0 and box.height > 0):
        return []
    columns, rows = size
    if box.overlaps_image(columns, rows):
        return []
    message = (
        f"{_box_name(box)} lies entirely outside its image (x {box.xmin:g} to {box.xmax:g}, "
        f"y {box.ymin:g} to {box.ymax:g}; the image is {columns} x {rows} pixels); "
        "redraw it on the image."
    )
    return [Violation(f"boxes.{box.id}", message)]


def _category_problems(box: Box, path: str, what: str, vocabulary: Vocabulary) -> list[Violation]:
    path = f"{path}.categories"
    if not box.categories:
        return [Violation(path, f"{what}: choose at least one finding category.")]
    found = []
    if NO_FINDING in box.categories:
        found.append(
            Violation(
                path,
                f"{what}: '{NO_FINDING}' is not a box category; an image without findings "
                "simply has no box.",
            )
        )
    unknown = [name for name in box.categories if name not in vocabulary and name != NO_FINDING]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        found.append(
            Violation(path, f"{what}: {listed} is not in this project's list of categories.")
        )
    return found


def _finding_birads_problems(
    box: Box, path: str, what: str, vocabulary: Vocabulary
) -> list[Violation]:
    path = f"{path}.birads"
    if vocabulary.is_graded(box.categories):
        if box.birads is None:
            return [Violation(path, f"{what}: choose a finding BI-RADS (3, 4 or 5).")]
        if box.birads not in FINDING_BIRADS:
            return [
                Violation(
                    path,
                    f"{what}: finding BI-RADS {box.birads} is not allowed; a boxed lesion is "
                    "BI-RADS 3, 4 or 5 (benign findings are not boxed).",
                )
            ]
    elif vocabulary.is_associated_only(box.categories) and box.birads is not None:
        return [Violation(path, f"{what}: associated features carry no finding BI-RADS; clear it.")]
    return []


def _the_boxes(boxes: Sequence[Box], plural: str) -> str:
    return f"the {_box_name(boxes[0])}" if len(boxes) == 1 else f"the {len(boxes)} {plural}"


def _breast_consistency_problems(
    lat: str,
    label: Label,
    images: Mapping[str, str],
    vocabulary: Vocabulary,
    rules: ProjectRules,
) -> list[Violation]:
    """Rules 4 and 5: boxes must fit the breast's assessment. BI-RADS 0 allows anything."""
    name, path = BREAST_NAMES[lat], f"breasts.{lat}"
    birads = label.breast(lat).birads
    boxes = [box for box in label.boxes if _laterality(images, box.image_id) == lat]
    graded = [box for box in boxes if vocabulary.is_graded(box.categories)]
    if birads == 1 and boxes:
        message = (
            f"{name}: BI-RADS 1 (negative) cannot have marked findings; "
            f"remove {_the_boxes(boxes, 'boxes')} or change the assessment."
        )
        return [Violation(path, message)]
    if birads == 2 and graded:
        message = (
            f"{name}: BI-RADS 2 (benign) cannot have boxed lesions (benign findings are not "
            f"boxed); remove {_the_boxes(graded, 'lesion boxes')} or change the assessment."
        )
        return [Violation(path, message)]
    if birads not in FINDING_BIRADS:
        return []
    if not graded:
        message = (
            f"{name}: {_birads_text(birads)} needs at least one boxed lesion on one of its "
            "views; mark the finding or change the assessment."
        )
        return [Violation(path, message)]
    return _highest_finding_problems(lat, birads, graded, rules)


def _highest_finding_problems(
    lat: str, birads: int, graded: Sequence[Box], rules: ProjectRules
) -> list[Violation]:
    grades = [box.birads for box in graded if box.birads in FINDING_BIRADS]
    if not grades or max(grades) == birads:
        return []  # boxes without a valid finding BI-RADS are reported on the box
    message = (
        f"{BREAST_NAMES[lat]}: assessed {_birads_text(birads)}, but its most suspicious "
        f"finding is {_birads_text(max(grades))}; the breast assessment should equal the "
        "highest finding BI-RADS."
    )
    return [Violation(f"breasts.{lat}", message, rules.max_birads_rule)]


# --- concordance ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Discordance:
    """One disagreement between two reads. ``laterality`` is None only for a box on an image
    outside the exam (a read that did not pass validation)."""

    kind: DiscordanceKind
    laterality: str | None
    detail: str
    box_ids: tuple[str, ...] = ()
    reader: int | None = None  # whose boxes box_ids names: 1 (first read) or 2

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "laterality": self.laterality,
            "detail": self.detail,
            "box_ids": list(self.box_ids),
            "reader": self.reader,
        }


@dataclass(frozen=True)
class Comparison:
    concordant: bool
    discordances: tuple[Discordance, ...]
    pairs: tuple[tuple[str, str], ...]  # (box id in a, box id in b), in a's box order

    def to_json(self) -> dict[str, Any]:
        return {
            "concordant": self.concordant,
            "discordances": [discordance.to_json() for discordance in self.discordances],
            "pairs": [list(pair) for pair in self.pairs],
        }


def iou(box1: Box, box2: Box) -> float:
    """Intersection over union, in [0, 1] and symmetric.

    A box with no area (flat or drawn inverted) overlaps nothing, with one exception: two
    boxes with identical coordinates have IoU 1, so that a read always matches itself.
    """
    if (box1.xmin, box1.ymin, box1.xmax, box1.ymax) == (box2.xmin, box2.ymin, box2.xmax, box2.ymax):
        return 1.0
    overlap_w = min(box1.xmax, box2.xmax) - max(box1.xmin, box2.xmin)
    overlap_h = min(box1.ymax, box2.ymax) - max(box1.ymin, box2.ymin)
    if not (overlap_w > 0 and overlap_h > 0):
        return 0.0
    intersection = overlap_w * overlap_h
    union = box1.area + box2.area - intersection
    if not union > 0:
        return 0.0
    return min(1.0, intersection / union)


def compare(
    a: Label,
    b: Label,
    images: Mapping[str, str],
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
    rules: ProjectRules = DEFAULT_RULES,
) -> Comparison:
    """Whether two blinded reads agree, and why not.

    Per breast: BI-RADS (equal, or in the same screening group when ``rules.birads_match`` is
    'screening') and density (equal). Per image: boxes are paired (see :func:`pair_boxes`);
    a graded-lesion box left without a partner is a "finding" discordance. Unpaired
    associated-feature boxes are not: they never decide a recall.
    Discordances come per breast (right, then left): BI-RADS, density, reader 1's findings,
    reader 2's findings; then findings on images outside the exam or of unknown side.
    ``images`` maps each image id of the exam to its laterality, 'L' or 'R'.
    """
    pairs = pair_boxes(a.boxes, b.boxes, rules.iou_threshold, vocabulary)
    lonely_a = _unpaired_lesions(a.boxes, {i for i, _ in pairs}, vocabulary)
    lonely_b = _unpaired_lesions(b.boxes, {j for _, j in pairs}, vocabulary)
    found: list[Discordance] = []
    for lat in (*LATERALITIES, None):
        if lat is not None:
            found += _breast_discordances(lat, a.breast(lat), b.breast(lat), rules)
        found += _findings(lonely_a, lat, images, 1, 2)
        found += _findings(lonely_b, lat, images, 2, 1)
    return Comparison(
        concordant=not found,
        discordances=tuple(found),
        pairs=tuple((a.boxes[i].id, b.boxes[j].id) for i, j in pairs),
    )


def pair_boxes(
    a_boxes: Sequence[Box],
    b_boxes: Sequence[Box],
    iou_threshold: float,
    vocabulary: Vocabulary = DEFAULT_VOCABULARY,
) -> list[tuple[int, int]]:
    """Pairs of indices (into a_boxes, b_boxes): boxes on the same image with IoU at or above
    the threshold and a shared category, taken greedily by descending IoU, each box at most
    once. When either box is a graded lesion, the shared category must be a graded one: a
    Mass with skin thickening is not matched by a box of skin thickening alone.

    Ties are broken by a key symmetric in the two readers (the sorted pair of the boxes'
    contents, ids included), so pairing a with b mirrors pairing b with a.
    """
    a_facts = [_PairingFacts.of(box, vocabulary) for box in a_boxes]
    b_facts = [_PairingFacts.of(box, vocabulary) for box in b_boxes]
    candidates = []
    for i, x in enumerate(a_facts):
        for j, y in enumerate(b_facts):
            if x.box.image_id != y.box.image_id or not x.compatible(y):
                continue
            overlap = iou(x.box, y.box)
            if overlap >= iou_threshold:
                first, second = sorted((x.tie_key, y.tie_key))
                candidates.append(((-overlap, first, second), i, j))
    candidates.sort(key=lambda candidate: candidate[0])
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return sorted(pairs)


@dataclass(frozen=True)
class _PairingFacts:
    """What pairing needs of a box, worked out once per box rather than once per pair."""

    box: Box
    categories: frozenset[str]
    graded: frozenset[str]
    tie_key: tuple[Any, ...]

    @classmethod
    def of(cls, box: Box, vocabulary: Vocabulary) -> _PairingFacts:
        graded = frozenset(name for name in box.categories if vocabulary.is_graded([name]))
        birads = -1 if box.birads is None else box.birads
        corners = (box.xmin, box.ymin, box.xmax, box.ymax)
        key = (box.id, box.image_id, *corners, tuple(sorted(box.categories)), birads)
        return cls(box, frozenset(box.categories), graded, key)

    def compatible(self, other: _PairingFacts) -> bool:
        """A shared category; a graded one as soon as either box is a graded lesion."""
        if self.graded or other.graded:
            return bool(self.graded & other.graded)
        return bool(self.categories & other.categories)


def _unpaired_lesions(boxes: Sequence[Box], paired: set[int], vocabulary: Vocabulary) -> list[Box]:
    return [
        box
        for index, box in enumerate(boxes)
        if index not in paired and vocabulary.is_graded(box.categories)
    ]


def _birads_agree(x: int | None, y: int | None, match: BiradsMatch) -> bool:
    if match == "screening":
        return screening_group(x) == screening_group(y)
    return x == y


def _breast_discordances(
    lat: str, x: BreastRead, y: BreastRead, rules: ProjectRules
) -> list[Discordance]:
    name = BREAST_NAMES[lat]
    found = []
    if not _birads_agree(x.birads, y.birads, rules.birads_match):
        detail = f"{name}: reader 1 {_birads_text(x.birads)}, reader 2 {_birads_text(y.birads)}"
        if rules.birads_match == "screening":
            groups = f"{screening_group(x.birads)} vs {screening_group(y.birads)}"
            detail += f" (screening groups {groups})"
        found.append(Discordance("birads", lat, f"{detail}."))
    if x.density != y.density:
        detail = (
            f"{name}: density {x.density or 'not given'} from reader 1, "
            f"{y.density or 'not given'} from reader 2."
        )
        found.append(Discordance("density", lat, detail))
    return found


def _findings(
    boxes: Sequence[Box], lat: str | None, images: Mapping[str, str], reader: int, other: int
) -> list[Discordance]:
    return [
        _finding(box, lat, reader, other)
        for box in boxes
        if _laterality(images, box.image_id) == lat
    ]


def _finding(box: Box, lat: str | None, reader: int, other: int) -> Discordance:
    where = BREAST_NAMES[lat] if lat else "Image outside this exam or of unknown side"
    grade = f" (finding {_birads_text(box.birads)})" if box.birads is not None else ""
    detail = (
        f"{where}: {_box_name(box)}{grade} from reader {reader} has no match from reader {other}."
    )
    return Discordance("finding", lat, detail, (box.id,), reader)


# --- merge ------------------------------------------------------------------------------------


def merge(
    a: Label, b: Label, comparison: Comparison, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> Label:
    """The consensus label of two concordant reads (no arbitration needed).

    - Breasts: the BI-RADS both gave; when they differ within a screening group (allowed by
      ``birads_match = 'screening'``), the higher one (0 counts lowest: a definite 3-5 wins
      over "incomplete"). Density as agreed.
    - Paired boxes: coordinates averaged, categories united (vocabulary order, unknown names
      last), finding BI-RADS the higher of the two; the box keeps reader 1's id.
    - Unpaired boxes of either reader (associated features: a concordant comparison leaves
      no unpaired lesion) are kept; a reader 2 box whose id is taken gets a fresh one.
    - Box order: reader 1's boxes in A's order, then reader 2's unpaired boxes in B's order.
    - Notes: joined with a blank line (one copy when equal), cut to the note limit.

    Raises ValueError for a discordant comparison or one that does not describe a and b.
    """
    if not comparison.concordant:
        raise ValueError("Only concordant reads can be merged; discordant reads go to arbitration.")
    return Label(
        right=_merge_breast(a.right, b.right),
        left=_merge_breast(a.left, b.left),
        boxes=_merge_boxes(a.boxes, b.boxes, comparison.pairs, vocabulary),
        note=_join_notes(a.note, b.note),
    )


def _merge_breast(x: BreastRead, y: BreastRead) -> BreastRead:
    if x.density != y.density or screening_group(x.birads) != screening_group(y.birads):
        raise ValueError("The comparison says concordant but the breast labels disagree.")
    if x.birads is None or y.birads is None:
        return x
    return BreastRead(birads=max(x.birads, y.birads), density=x.density)


def _merge_boxes(
    a_boxes: Sequence[Box],
    b_boxes: Sequence[Box],
    pairs: Sequence[tuple[str, str]],
    vocabulary: Vocabulary,
) -> tuple[Box, ...]:
    by_id_b = {box.id: box for box in b_boxes}
    partner = dict(pairs)
    if not set(partner) <= {box.id for box in a_boxes} or not set(partner.values()) <= set(by_id_b):
        raise ValueError("The comparison's box pairs do not belong to these reads.")
    merged = [
        _merge_pair(box, by_id_b[partner[box.id]], vocabulary) if box.id in partner else box
        for box in a_boxes
    ]
    taken = {box.id for box in merged}
    paired_b = set(partner.values())
    for box in b_boxes:
        if box.id not in paired_b:
            fresh = _fresh_id(box.id, taken)
            taken.add(fresh)
            merged.append(dataclasses.replace(box, id=fresh))
    return tuple(merged)


def _merge_pair(x: Box, y: Box, vocabulary: Vocabulary) -> Box:
    grades = [grade for grade in (x.birads, y.birads) if grade is not None]
    return Box(
        id=x.id,
        image_id=x.image_id,
        xmin=(x.xmin + y.xmin) / 2,
        ymin=(x.ymin + y.ymin) / 2,
        xmax=(x.xmax + y.xmax) / 2,
        ymax=(x.ymax + y.ymax) / 2,
        categories=vocabulary.in_order((*x.categories, *y.categories)),
        birads=max(grades) if grades else None,
    )


def _fresh_id(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    number = 2
    while f"{base[:56]}-{number}" in taken:
        number += 1
    return f"{base[:56]}-{number}"


def _join_notes(x: str, y: str) -> str:
    if x == y:
        return x
    joined = "\n\n".join(note for note in (x, y) if note.strip())
    if len(joined) > MAX_NOTE_LENGTH:
        joined = joined[: MAX_NOTE_LENGTH - 3] + "..."
    return joined


# --- active time ------------------------------------------------------------------------------


def add_activity(active: float, last: float | None, now: float, idle_limit: float) -> float:
    """Active seconds after one more interaction at ``now`` (``last``: the previous one, None
    for the first). The server keeps ``active`` and ``max(last, now)`` per read.

    A gap longer than ``idle_limit`` counts as nothing: the reader was away, and we cannot
    tell how much of the gap was spent looking. Counting ``min(gap, idle_limit)`` instead
    would add a full idle limit for every break and telephone call, over-counting the time
    of readers who are interrupted often. A negative gap (an event arriving late) counts
    nothing either.
    """
    _check_time(now, "now")
    _check_idle_limit(idle_limit)
    if last is None:
        return active
    gap = now - last
    return active + gap if 0 <= gap <= idle_limit else active


def active_seconds(event_times: Sequence[float], idle_limit: float) -> float:
    """Seconds of active work: the gaps between consecutive interactions (in time order) that
    are at most ``idle_limit`` long; see :func:`add_activity` for why longer gaps count 0."""
    _check_idle_limit(idle_limit)
    active, last = 0.0, None
    for now in sorted(_check_time(time, "event time") for time in event_times):
        active = add_activity(active, last, now, idle_limit)
        last = now
    return active


def _check_idle_limit(idle_limit: float) -> None:
    if (
        isinstance(idle_limit, bool)
        or not isinstance(idle_limit, int | float)
        or not idle_limit > 0
    ):
        raise ValueError(f"idle_limit must be a number of seconds above 0; got {idle_limit!r}.")


def _check_time(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds; got {value!r}.")
    return value

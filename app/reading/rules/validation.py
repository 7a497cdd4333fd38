"""Validation: every rule a read breaks, with a message a radiologist can act on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.reading.rules.label import (
    BREAST_NAMES,
    DENSITIES,
    LATERALITIES,
    Box,
    BreastRead,
    Label,
    birads_text,
    box_name,
    laterality_of,
)
from app.reading.rules.project import DEFAULT_RULES, ProjectRules, Severity
from app.reading.rules.vocabulary import DEFAULT_VOCABULARY, NO_FINDING, Vocabulary


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

    ``images`` maps each image id of the exam to its laterality, 'L' or 'R' (a breast that no
    image maps to has none: where the project allows it, that breast is answered "not
    imaged"); ``sizes`` maps image ids to their (columns, rows), for refusing boxes that miss
    their image entirely.
    """
    found: list[Violation] = []
    imaged = set(images.values())
    for lat in LATERALITIES:
        found += _breast_value_problems(lat, label.breast(lat), lat in imaged, rules)
    for box in label.boxes:
        found += _box_problems(box, images, vocabulary, rules)
        found += _box_placement_problems(box, (sizes or {}).get(box.image_id))
    for lat in LATERALITIES:
        if not (label.breast(lat).not_imaged or (rules.breast_not_imaged and lat not in imaged)):
            found += _breast_consistency_problems(lat, label, images, vocabulary, rules)
    return found


def blocking(violations: Iterable[Violation]) -> list[Violation]:
    """The violations that prevent submitting a read (errors; warnings only inform)."""
    return [violation for violation in violations if violation.severity == "error"]


def _breast_value_problems(
    lat: str, breast: BreastRead, has_images: bool, rules: ProjectRules
) -> list[Violation]:
    name, path = BREAST_NAMES[lat], f"breasts.{lat}"
    if breast.not_imaged or (rules.breast_not_imaged and not has_images):
        return _not_imaged_problems(lat, breast, has_images, rules)
    found = []
    scale = rules.assessment_scale
    if breast.birads is None:
        found.append(Violation(f"{path}.birads", f"{name}: choose a BI-RADS assessment ({scale})."))
    elif breast.birads not in rules.breast_birads:
        found.append(
            Violation(
                f"{path}.birads",
                f"{name}: BI-RADS {breast.birads} is not an assessment category of this "
                f"project; choose {scale}.",
            )
        )
    if rules.probability_rating and breast.probability is None:
        found.append(
            Violation(
                f"{path}.probability",
                f"{name}: give your probability of malignancy (0-100).",
            )
        )
    elif not rules.probability_rating and breast.probability is not None:
        found.append(
            Violation(
                f"{path}.probability",
                f"{name}: this project does not ask for a probability of malignancy; clear it.",
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


def _not_imaged_problems(
    lat: str, breast: BreastRead, has_images: bool, rules: ProjectRules
) -> list[Violation]:
    """A breast answered "not imaged", or one without any image in a project that allows it."""
    name, path = BREAST_NAMES[lat], f"breasts.{lat}"
    if not rules.breast_not_imaged:
        message = (
            f"{name}: this project does not allow 'not imaged'; "
            "give a BI-RADS assessment and a density."
        )
        return [Violation(f"{path}.not_imaged", message)]
    if has_images:
        message = (
            f"{name}: this exam has images of it, so it cannot be 'not imaged'; "
            "give a BI-RADS assessment and a density."
        )
        return [Violation(f"{path}.not_imaged", message)]
    if not breast.not_imaged:
        message = f"{name}: this exam has no image of it; mark it 'not imaged'."
        return [Violation(f"{path}.not_imaged", message)]
    return []


def _box_problems(
    box: Box, images: Mapping[str, str], vocabulary: Vocabulary, rules: ProjectRules
) -> list[Violation]:
    path, what = f"boxes.{box.id}", box_name(box)
    found = []
    if box.image_id not in images:
        found.append(
            Violation(path, f"{what} is on an image that is not part of this exam; delete it.")
        )
    elif laterality_of(images, box.image_id) is None:
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
    found += _finding_birads_problems(box, path, what, vocabulary, rules)
    return found


def _box_placement_problems(box: Box, size: tuple[int, int] | None) -> list[Violation]:
    """A box (with an area) on an image of known size must cover some of that image."""
    if size is None or not (box.width > 0 and box.height > 0):
        return []
    columns, rows = size
    if box.overlaps_image(columns, rows):
        return []
    message = (
        f"{box_name(box)} lies entirely outside its image (x {box.xmin:g} to {box.xmax:g}, "
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
    box: Box, path: str, what: str, vocabulary: Vocabulary, rules: ProjectRules
) -> list[Violation]:
    path = f"{path}.birads"
    allowed = rules.finding_birads_values
    choices = ", ".join(str(value) for value in allowed[:-1]) + f" or {allowed[-1]}"
    if vocabulary.is_graded(box.categories):
        if box.birads is None:
            return [Violation(path, f"{what}: choose a finding BI-RADS ({choices}).")]
        if box.birads not in allowed:
            benign = " (benign findings are not boxed)" if 2 not in allowed else ""
            return [
                Violation(
                    path,
                    f"{what}: finding BI-RADS {box.birads} is not allowed; a boxed lesion is "
                    f"BI-RADS {choices}{benign}.",
                )
            ]
    elif vocabulary.is_associated_only(box.categories) and box.birads is not None:
        return [Violation(path, f"{what}: associated features carry no finding BI-RADS; clear it.")]
    return []


def _the_boxes(boxes: Sequence[Box], plural: str) -> str:
    return f"the {box_name(boxes[0])}" if len(boxes) == 1 else f"the {len(boxes)} {plural}"


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
    boxes = [box for box in label.boxes if laterality_of(images, box.image_id) == lat]
    graded = [box for box in boxes if vocabulary.is_graded(box.categories)]
    if birads == 1 and boxes:
        message = (
            f"{name}: BI-RADS 1 (negative) cannot have marked findings; "
            f"remove {_the_boxes(boxes, 'boxes')} or change the assessment."
        )
        return [Violation(path, message)]
    benign_boxed = 2 in rules.finding_birads_values
    if birads == 2 and graded and not benign_boxed:
        message = (
            f"{name}: BI-RADS 2 (benign) cannot have boxed lesions (benign findings are not "
            f"boxed); remove {_the_boxes(graded, 'lesion boxes')} or change the assessment."
        )
        return [Violation(path, message)]
    if birads is None or birads < 2 or birads not in rules.breast_birads:
        return []  # BI-RADS 0 (incomplete) allows anything; a value off the scale is reported
    if birads == 2:
        return _highest_finding_problems(lat, birads, graded, rules)
    if not graded:
        message = (
            f"{name}: {birads_text(birads)} needs at least one boxed lesion on one of its "
            "views; mark the finding or change the assessment."
        )
        return [Violation(path, message)]
    if birads not in rules.finding_birads_values:
        return []  # BI-RADS 6, a known cancer: its lesion keeps its own grade
    return _highest_finding_problems(lat, birads, graded, rules)


def _highest_finding_problems(
    lat: str, birads: int, graded: Sequence[Box], rules: ProjectRules
) -> list[Violation]:
    grades = [box.birads for box in graded if box.birads in rules.finding_birads_values]
    if not grades or max(grades) == birads:
        return []  # boxes without a valid finding BI-RADS are reported on the box
    message = (
        f"{BREAST_NAMES[lat]}: assessed {birads_text(birads)}, but its most suspicious "
        f"finding is {birads_text(max(grades))}; the breast assessment should equal the "
        "highest finding BI-RADS."
    )
    return [Violation(f"breasts.{lat}", message, rules.max_birads_rule)]

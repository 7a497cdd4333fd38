"""Concordance of two blinded reads (IoU, box pairing, comparison) and their merge."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.reading.rules.label import (
    BREAST_NAMES,
    LATERALITIES,
    MAX_NOTE_LENGTH,
    Box,
    BreastRead,
    Label,
    birads_text,
    box_name,
    breast_text,
    laterality_of,
)
from app.reading.rules.project import DEFAULT_RULES, BiradsMatch, ProjectRules, screening_group
from app.reading.rules.vocabulary import DEFAULT_VOCABULARY, Vocabulary

DiscordanceKind = Literal["birads", "density", "finding"]


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
    'screening') and density (equal); a breast both call "not imaged" agrees, one only one
    reader calls so is a BI-RADS discordance. Per image: boxes are paired (see :func:`pair_boxes`);
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
    if x.not_imaged or y.not_imaged:
        if x.not_imaged and y.not_imaged:
            return []  # both say the exam has no image of this breast: concordant
        detail = f"{name}: reader 1 {breast_text(x)}, reader 2 {breast_text(y)}."
        return [Discordance("birads", lat, detail)]
    found = []
    if not _birads_agree(x.birads, y.birads, rules.birads_match):
        detail = f"{name}: reader 1 {birads_text(x.birads)}, reader 2 {birads_text(y.birads)}"
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
        if laterality_of(images, box.image_id) == lat
    ]


def _finding(box: Box, lat: str | None, reader: int, other: int) -> Discordance:
    where = BREAST_NAMES[lat] if lat else "Image outside this exam or of unknown side"
    grade = f" (finding {birads_text(box.birads)})" if box.birads is not None else ""
    detail = (
        f"{where}: {box_name(box)}{grade} from reader {reader} has no match from reader {other}."
    )
    return Discordance("finding", lat, detail, (box.id,), reader)


# --- merge ------------------------------------------------------------------------------------


def merge(
    a: Label, b: Label, comparison: Comparison, vocabulary: Vocabulary = DEFAULT_VOCABULARY
) -> Label:
    """The consensus label of two concordant reads (no arbitration needed).

    - Breasts: "not imaged" when both said so; else the BI-RADS both gave; when they differ
      within a screening group (allowed by ``birads_match = 'screening'``), the higher one
      (0 counts lowest: a definite 3-5 wins over "incomplete"). Density as agreed.
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
    if x.not_imaged or y.not_imaged:
        if not (x.not_imaged and y.not_imaged):
            raise ValueError("The comparison says concordant but the breast labels disagree.")
        return BreastRead(not_imaged=True)
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

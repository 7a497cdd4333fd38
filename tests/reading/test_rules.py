"""The double-reading rules, tested directly: label parsing, validation, concordance, merge
and active time, with hypothesis for the invariants."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reading.rules import (
    DEFAULT_RULES,
    DEFAULT_VOCABULARY,
    MAX_BOXES,
    MAX_NOTE_LENGTH,
    Box,
    BreastRead,
    Category,
    Comparison,
    Discordance,
    Label,
    LabelError,
    ProjectRules,
    Violation,
    Vocabulary,
    active_seconds,
    add_activity,
    blocking,
    compare,
    empty_label,
    iou,
    merge,
    pair_boxes,
    parse_label,
    screening_group,
    validate,
    vocabulary_from_text,
    vocabulary_to_text,
)

IMAGES = {"rcc": "R", "rmlo": "R", "lcc": "L", "lmlo": "L"}
SCREENING = ProjectRules(birads_match="screening")
GRADED = [c.name for c in DEFAULT_VOCABULARY.categories if c.graded]
ASSOCIATED = [c.name for c in DEFAULT_VOCABULARY.categories if not c.graded]


def box(
    box_id: str,
    image_id: str = "rcc",
    corners: tuple[float, float, float, float] = (100.0, 100.0, 200.0, 200.0),
    categories: tuple[str, ...] = ("Mass",),
    birads: int | None = 4,
) -> Box:
    return Box(box_id, image_id, *corners, categories=categories, birads=birads)


def skin(box_id: str, image_id: str = "rcc", corners=(300.0, 300.0, 400.0, 400.0)) -> Box:
    return box(box_id, image_id, corners, ("Skin Thickening",), None)


def read(
    right: tuple[int | None, str | None] = (4, "C"),
    left: tuple[int | None, str | None] = (1, "C"),
    boxes: tuple[Box, ...] = (),
    note: str = "",
) -> Label:
    return Label(BreastRead(*right), BreastRead(*left), boxes, note)


VALID = read(boxes=(box("m1"), skin("s1")))


def fields(violations: list[Violation]) -> list[str]:
    return [violation.field for violation in violations]


# --- parsing ----------------------------------------------------------------------------------


FULL_JSON: dict[str, Any] = {
    "breasts": {"R": {"birads": 4, "density": "C"}, "L": {"birads": 1, "density": "B"}},
    "boxes": [
        {
            "id": "3f2a-b_1",
            "image_id": "rcc",
            "xmin": 10.5,
            "ymin": -2.0,
            "xmax": 2098.0,
            "ymax": 300.25,
            "categories": ["Mass", "Skin Retraction"],
            "birads": 4,
        },
        {
            "id": "b2",
            "image_id": "rmlo",
            "xmin": 1.0,
            "ymin": 2.0,
            "xmax": 3.0,
            "ymax": 4.0,
            "categories": ["Suspicious Lymph Node"],
            "birads": None,
        },
    ],
    "note": "Spiculated mass, upper outer quadrant.",
}


def test_parse_and_to_json_round_trip() -> None:
    label = parse_label(FULL_JSON)
    assert label.right == BreastRead(4, "C")
    assert label.breast("L") == BreastRead(1, "B")
    assert label.boxes[0].categories == ("Mass", "Skin Retraction")
    assert label.to_json() == FULL_JSON
    assert parse_label(json.loads(json.dumps(label.to_json()))) == label


def test_empty_label_is_a_draft_with_nothing_given() -> None:
    empty = empty_label()
    assert empty.to_json() == {
        "breasts": {"R": {"birads": None, "density": None}, "L": {"birads": None, "density": None}},
        "boxes": [],
        "note": "",
    }
    assert parse_label({}) == empty
    assert parse_label(empty.to_json()) == empty


def test_integer_coordinates_become_floats() -> None:
    data = {"boxes": [{**FULL_JSON["boxes"][0], "xmin": 10}]}
    parsed = parse_label(data).boxes[0].xmin
    assert parsed == 10.0
    assert isinstance(parsed, float)


def test_limits_are_inclusive() -> None:
    boxes = [{**FULL_JSON["boxes"][1], "id": f"b{i}"} for i in range(MAX_BOXES)]
    label = parse_label({"boxes": boxes, "note": "x" * MAX_NOTE_LENGTH})
    assert len(label.boxes) == MAX_BOXES


def with_box(**changes: Any) -> dict[str, Any]:
    item = {**FULL_JSON["boxes"][0], **changes}
    return {**FULL_JSON, "boxes": [{k: v for k, v in item.items() if v is not ...}]}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], "label"),
        ({**FULL_JSON, "colour": "red"}, "colour"),
        ({"breasts": []}, "breasts"),
        ({"breasts": {"X": {}}}, "breasts.X"),
        ({"breasts": {"R": 4}}, "breasts.R"),
        ({"breasts": {"R": {"birads": "4"}}}, "breasts.R.birads"),
        ({"breasts": {"R": {"birads": True}}}, "breasts.R.birads"),
        ({"breasts": {"R": {"birads": 6}}}, "breasts.R.birads"),
        ({"breasts": {"R": {"birads": 4.0}}}, "breasts.R.birads"),
        ({"breasts": {"L": {"density": "E"}}}, "breasts.L.density"),
        ({"breasts": {"L": {"density": "a"}}}, "breasts.L.density"),
        ({"breasts": {"L": {"side": "L"}}}, "breasts.L.side"),
        ({"boxes": {}}, "boxes"),
        ({"boxes": "abc"}, "boxes"),
        ({"boxes": [42]}, "boxes[0]"),
        (with_box(xmin=...), "boxes[0].xmin"),
        (with_box(xmin=math.nan), "boxes[0].xmin"),
        (with_box(ymax=math.inf), "boxes[0].ymax"),
        (with_box(ymin=-math.inf), "boxes[0].ymin"),
        (with_box(xmax=10**400), "boxes[0].xmax"),
        (with_box(xmax=1e7), "boxes[0].xmax"),
        (with_box(xmin="10"), "boxes[0].xmin"),
        (with_box(xmin=False), "boxes[0].xmin"),
        (with_box(id="a.b"), "boxes[0].id"),
        (with_box(id=""), "boxes[0].id"),
        (with_box(id=7), "boxes[0].id"),
        (with_box(image_id=""), "boxes[0].image_id"),
        (with_box(categories="Mass"), "boxes[0].categories"),
        (with_box(categories=["Mass", 3]), "boxes[0].categories"),
        (with_box(categories=["Mass", "Mass"]), "boxes[0].categories"),
        (with_box(birads=2), "boxes[0].birads"),
        (with_box(birads="4"), "boxes[0].birads"),
        (with_box(colour="red"), "boxes[0].colour"),
        ({"boxes": [FULL_JSON["boxes"][0], FULL_JSON["boxes"][0]]}, "boxes[1].id"),
        ({"boxes": [{**FULL_JSON["boxes"][1], "id": f"b{i}"} for i in range(501)]}, "boxes"),
        ({"note": "x" * (MAX_NOTE_LENGTH + 1)}, "note"),
        ({"note": None}, "note"),
    ],
)
def test_structurally_bad_labels_are_refused(data: Any, field: str) -> None:
    with pytest.raises(LabelError) as caught:
        parse_label(data)
    assert caught.value.field == field
    assert caught.value.message


def test_box_birads_may_be_left_out() -> None:
    assert parse_label(with_box(birads=...)).boxes[0].birads is None


# --- vocabulary and project rules -------------------------------------------------------------


def test_default_vocabulary_is_vindr_without_no_finding() -> None:
    assert GRADED == [
        "Mass",
        "Suspicious Calcification",
        "Asymmetry",
        "Focal Asymmetry",
        "Global Asymmetry",
        "Architectural Distortion",
    ]
    assert ASSOCIATED == [
        "Skin Thickening",
        "Skin Retraction",
        "Nipple Retraction",
        "Suspicious Lymph Node",
    ]
    assert "No Finding" not in DEFAULT_VOCABULARY
    assert DEFAULT_VOCABULARY.get("Mass") == Category("Mass", True)
    assert DEFAULT_VOCABULARY.get("Tumour") is None


def test_box_kinds() -> None:
    vocab = DEFAULT_VOCABULARY
    assert vocab.is_graded(["Skin Retraction", "Mass"])
    assert not vocab.is_associated_only(["Skin Retraction", "Mass"])
    assert vocab.is_associated_only(["Skin Retraction", "Nipple Retraction"])
    assert not vocab.is_graded(["Skin Retraction"])
    assert not vocab.is_associated_only([])
    assert not vocab.is_associated_only(["Skin Retraction", "Tumour"])


def test_vocabulary_order_and_json() -> None:
    vocab = DEFAULT_VOCABULARY
    assert vocab.in_order(["Zeta", "Skin Thickening", "Mass", "Alpha", "Mass"]) == (
        "Mass",
        "Skin Thickening",
        "Alpha",
        "Zeta",
    )
    assert Vocabulary.from_json(vocab.to_json()) == vocab


@pytest.mark.parametrize(
    "categories",
    [(), (Category("Mass", True), Category("Mass", False)), (Category("No Finding", False),)],
)
def test_bad_vocabularies(categories: tuple[Category, ...]) -> None:
    with pytest.raises(ValueError, match="categor"):
        Vocabulary(categories)


def test_project_rules_defaults_and_json() -> None:
    assert ProjectRules.from_json({}) == DEFAULT_RULES
    assert DEFAULT_RULES.to_json() == {
        "iou_threshold": 0.3,
        "birads_match": "exact",
        "max_birads_rule": "error",
    }
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


# --- validation -------------------------------------------------------------------------------


def test_a_consistent_read_has_no_violation() -> None:
    assert validate(VALID, IMAGES, DEFAULT_VOCABULARY, DEFAULT_RULES) == []


def test_rule_1_both_breasts_need_birads_and_density() -> None:
    violations = validate(read(right=(None, "C"), left=(1, None)), IMAGES)
    assert violations == [
        Violation("breasts.R.birads", "Right breast: choose a BI-RADS assessment (0-5)."),
        Violation("breasts.L.density", "Left breast: choose a breast density (A-D)."),
    ]


def test_rule_1_values_out_of_range_built_in_code() -> None:
    violations = validate(read(right=(7, "E")), IMAGES)
    assert fields(violations) == ["breasts.R.birads", "breasts.R.density"]
    assert "choose 0-5" in violations[0].message


def test_rule_2_box_on_an_image_outside_the_exam() -> None:
    violations = validate(read(boxes=(box("m1"), box("m2", image_id="other"))), IMAGES)
    assert fields(violations) == ["boxes.m2"]
    assert violations[0].message == (
        "Mass box is on an image that is not part of this exam; delete it."
    )


def test_rule_2_box_on_an_image_of_unknown_side() -> None:
    violations = validate(read(boxes=(box("m1"), skin("s1", "odd"))), {**IMAGES, "odd": "?"})
    assert fields(violations) == ["boxes.s1"]
    assert "side (left or right) is not known" in violations[0].message


@pytest.mark.parametrize(
    "corners", [(100, 100, 100, 200), (100, 100, 200, 100), (200, 100, 100, 200)]
)
def test_rule_2_box_needs_positive_width_and_height(corners: tuple[float, ...]) -> None:
    violations = validate(read(boxes=(box("m1"), box("m2", corners=corners))), IMAGES)
    assert fields(violations) == ["boxes.m2"]
    assert "has no area" in violations[0].message


SIZES = dict.fromkeys(IMAGES, (2560, 3328))  # image id -> (columns, rows)


def test_rule_2_box_entirely_outside_its_image_is_refused() -> None:
    beside = box("m2", corners=(2660.0, 100.0, 2740.0, 200.0))  # x from width+100 to width+180
    violations = validate(read(boxes=(box("m1"), beside)), IMAGES, sizes=SIZES)
    assert fields(violations) == ["boxes.m2"]
    assert violations[0].message == (
        "Mass box lies entirely outside its image (x 2660 to 2740, y 100 to 200; the image is "
        "2560 x 3328 pixels); redraw it on the image."
    )


@pytest.mark.parametrize(
    "corners",
    [
        (-12.5, -3.0, 80.0, 90.0),  # small negative coordinates, as in the VinDr release
        (2500.0, 3300.0, 2600.0, 3400.0),  # over the far corner
        (-50.0, -50.0, 2700.0, 3500.0),  # larger than the image
    ],
)
def test_rule_2_box_partly_outside_its_image_is_allowed(corners: tuple[float, ...]) -> None:
    assert validate(read(boxes=(box("m1", corners=corners),)), IMAGES, sizes=SIZES) == []


@pytest.mark.parametrize(
    "corners",
    [(2560.0, 10.0, 2600.0, 50.0), (-40.0, 10.0, 0.0, 50.0), (10.0, 3328.0, 50.0, 3400.0)],
)
def test_rule_2_box_touching_the_edge_from_outside_is_refused(corners: tuple[float, ...]) -> None:
    violations = validate(read(boxes=(box("m1", corners=corners),)), IMAGES, sizes=SIZES)
    assert fields(violations) == ["boxes.m1"]
    assert "entirely outside its image" in violations[0].message


def test_rule_2_placement_is_checked_only_where_the_size_is_known() -> None:
    beside = box("m1", corners=(2660.0, 100.0, 2740.0, 200.0))
    assert validate(read(boxes=(beside,)), IMAGES) == []
    assert validate(read(boxes=(beside,)), IMAGES, sizes={"lcc": (2560, 3328)}) == []


side = st.floats(1e-3, 1e4, allow_nan=False)


@settings(max_examples=300)
@given(st.integers(1, 5000), st.integers(1, 5000), st.data())
def test_a_box_is_accepted_exactly_when_it_overlaps_its_image(
    columns: int, rows: int, data: st.DataObject
) -> None:
    sizes = {"rcc": (columns, rows)}
    x = data.draw(st.floats(0, columns, exclude_min=True, exclude_max=True))
    y = data.draw(st.floats(0, rows, exclude_min=True, exclude_max=True))
    left, right, up, down = (data.draw(side) for _ in range(4))
    inside = box("m1", corners=(x - left, y - up, x + right, y + down))  # covers (x, y)
    assert inside.overlaps_image(columns, rows)
    assert validate(read(boxes=(inside,)), IMAGES, sizes=sizes) == []

    gap, extent = data.draw(st.floats(0, 1e4)), data.draw(side)
    y0, height = data.draw(st.floats(-1e4, 1e4)), data.draw(side)
    x0, width = data.draw(st.floats(-1e4, 1e4)), data.draw(side)
    disjoint = {
        "right": (columns + gap, y0, columns + gap + extent, y0 + height),
        "left": (-gap - extent, y0, -gap, y0 + height),
        "below": (x0, rows + gap, x0 + width, rows + gap + extent),
        "above": (x0, -gap - extent, x0 + width, -gap),
    }[data.draw(st.sampled_from(["right", "left", "below", "above"]))]
    outside = box("m1", corners=disjoint)
    assert not outside.overlaps_image(columns, rows)
    violations = validate(read(boxes=(outside,)), IMAGES, sizes=sizes)
    assert fields(violations) == ["boxes.m1"]
    assert "entirely outside its image" in violations[0].message


def test_rule_2_box_needs_a_category() -> None:
    violations = validate(read(boxes=(box("m1"), box("x", categories=(), birads=None))), IMAGES)
    assert violations == [
        Violation(
            "boxes.x.categories", "Box without a category: choose at least one finding category."
        )
    ]


def test_rule_2_categories_come_from_the_vocabulary() -> None:
    odd = box("x", categories=("Mass", "No Finding", "Tumour"))
    violations = validate(read(boxes=(odd,)), IMAGES)
    assert fields(violations) == ["boxes.x.categories", "boxes.x.categories"]
    assert "'No Finding' is not a box category" in violations[0].message
    assert "'Tumour' is not in this project's list" in violations[1].message


def test_rule_2_custom_vocabulary() -> None:
    vocab = Vocabulary((Category("Tumour", True),))
    label = read(boxes=(box("t", categories=("Tumour",)),))
    assert validate(label, IMAGES, vocab) == []
    assert fields(validate(label, IMAGES)) == ["boxes.t.categories", "breasts.R"]


def test_rule_3_graded_lesion_needs_finding_birads() -> None:
    label = read(boxes=(box("m1"), box("m2", categories=("Skin Retraction", "Mass"), birads=None)))
    violations = validate(label, IMAGES)
    assert violations == [
        Violation(
            "boxes.m2.birads", "Skin Retraction + Mass box: choose a finding BI-RADS (3, 4 or 5)."
        )
    ]


def test_rule_3_finding_birads_outside_3_to_5_built_in_code() -> None:
    violations = validate(read(boxes=(box("m1"), box("m2", birads=2))), IMAGES)
    assert fields(violations) == ["boxes.m2.birads"]
    assert "benign findings are not boxed" in violations[0].message


def test_rule_3_associated_feature_carries_no_finding_birads() -> None:
    label = read(boxes=(box("m1"), box("s1", categories=("Nipple Retraction",), birads=3)))
    violations = validate(label, IMAGES)
    assert violations == [
        Violation(
            "boxes.s1.birads",
            "Nipple Retraction box: associated features carry no finding BI-RADS; clear it.",
        )
    ]


def test_rule_4_birads_1_has_no_box() -> None:
    label = read(right=(1, "B"), boxes=(box("m1", birads=None), skin("s1", "rmlo")))
    violations = validate(label, IMAGES)
    assert fields(violations) == ["boxes.m1.birads", "breasts.R"]
    assert violations[1].message == (
        "Right breast: BI-RADS 1 (negative) cannot have marked findings; "
        "remove the 2 boxes or change the assessment."
    )


def test_rule_4_birads_1_one_box_is_named() -> None:
    violations = validate(read(left=(1, "B"), boxes=(box("m1"), skin("s", "lcc"))), IMAGES)
    assert violations == [
        Violation(
            "breasts.L",
            "Left breast: BI-RADS 1 (negative) cannot have marked findings; "
            "remove the Skin Thickening box or change the assessment.",
        )
    ]


def test_rule_4_birads_2_allows_associated_features_only() -> None:
    assert validate(read(right=(2, "A"), boxes=(skin("s1"), skin("s2", "rmlo"))), IMAGES) == []
    violations = validate(read(right=(2, "A"), boxes=(skin("s1"), box("m1"))), IMAGES)
    assert fields(violations) == ["breasts.R"]
    assert violations[0].message == (
        "Right breast: BI-RADS 2 (benign) cannot have boxed lesions (benign findings are not "
        "boxed); remove the Mass box or change the assessment."
    )


@pytest.mark.parametrize("birads", [3, 4, 5])
def test_rule_4_birads_3_to_5_needs_a_lesion_box(birads: int) -> None:
    label = read(right=(1, "A"), left=(birads, "A"), boxes=(skin("s1", "lcc"),))
    violations = validate(label, IMAGES)
    assert fields(violations) == ["breasts.L"]
    assert "needs at least one boxed lesion on one of its views" in violations[0].message


def test_rule_4_a_lesion_on_one_view_is_enough() -> None:
    assert validate(read(boxes=(box("m1", "rmlo"),)), IMAGES) == []


def test_rule_4_a_lesion_on_the_other_breast_does_not_count() -> None:
    label = read(right=(4, "C"), left=(1, "C"), boxes=(box("m1", "lcc"),))
    assert fields(validate(label, IMAGES)) == ["breasts.R", "breasts.L"]


def test_rule_4_birads_0_allows_boxes_and_needs_none() -> None:
    assert validate(read(right=(0, "C")), IMAGES) == []
    assert validate(read(right=(0, "C"), boxes=(box("m1", birads=5), skin("s1"))), IMAGES) == []


def test_rule_5_breast_birads_equals_highest_finding() -> None:
    label = read(right=(4, "C"), boxes=(box("m1", birads=3), box("m2", "rmlo", birads=5)))
    violations = validate(label, IMAGES)
    assert violations == [
        Violation(
            "breasts.R",
            "Right breast: assessed BI-RADS 4 (suspicious), but its most suspicious finding is "
            "BI-RADS 5 (highly suggestive of malignancy); the breast assessment should equal the "
            "highest finding BI-RADS.",
        )
    ]
    assert blocking(violations) == violations


def test_rule_5_can_be_a_warning() -> None:
    label = read(right=(5, "C"), boxes=(box("m1", birads=4),))
    violations = validate(
        label, IMAGES, DEFAULT_VOCABULARY, ProjectRules(max_birads_rule="warning")
    )
    assert [(v.field, v.severity) for v in violations] == [("breasts.R", "warning")]
    assert blocking(violations) == []


def test_violations_come_in_a_stable_order() -> None:
    label = Label(
        right=BreastRead(1, None),
        left=BreastRead(None, "B"),
        boxes=(
            box("z", categories=(), birads=None),
            box("a", "lcc", (5, 5, 5, 9)),
            skin("s", "nowhere"),
        ),
    )
    expected = [
        "breasts.R.density",
        "breasts.L.birads",
        "boxes.z.categories",
        "boxes.a",
        "boxes.s",
        "breasts.R",
    ]
    assert fields(validate(label, IMAGES)) == expected
    assert validate(label, IMAGES) == validate(label, IMAGES)


def test_violations_serialise() -> None:
    assert Violation("breasts.R", "m", "warning").to_json() == {
        "field": "breasts.R",
        "message": "m",
        "severity": "warning",
    }


# --- concordance ------------------------------------------------------------------------------


def kinds(comparison: Comparison) -> list[tuple[str, str | None, tuple[str, ...]]]:
    return [(d.kind, d.laterality, d.box_ids) for d in comparison.discordances]


def test_iou_examples() -> None:
    a = box("a", corners=(0, 0, 10, 10))
    assert iou(a, a) == 1.0
    assert iou(a, box("b", corners=(5, 0, 15, 10))) == pytest.approx(1 / 3)
    assert iou(a, box("b", corners=(10, 0, 20, 10))) == 0.0  # touching edges
    assert iou(a, box("b", corners=(50, 50, 60, 60))) == 0.0
    assert iou(a, box("b", corners=(2, 2, 4, 4))) == pytest.approx(0.04)
    flat = box("f", corners=(5, 5, 5, 9))
    assert iou(flat, flat) == 1.0
    assert iou(flat, a) == 0.0
    inverted = box("i", corners=(10, 10, 0, 0))
    assert iou(inverted, a) == 0.0


def test_same_reads_are_concordant() -> None:
    comparison = compare(VALID, VALID, IMAGES, DEFAULT_VOCABULARY, DEFAULT_RULES)
    assert comparison == Comparison(True, (), (("m1", "m1"), ("s1", "s1")))


def test_birads_mismatch() -> None:
    comparison = compare(VALID, dataclasses.replace(VALID, left=BreastRead(2, "C")), IMAGES)
    assert comparison.discordances == (
        Discordance(
            "birads",
            "L",
            "Left breast: reader 1 BI-RADS 1 (negative), reader 2 BI-RADS 2 (benign).",
        ),
    )
    assert not comparison.concordant


def test_screening_match() -> None:
    b = read(right=(3, "C"), boxes=(box("m1", birads=3), skin("s1")))
    assert kinds(compare(VALID, b, IMAGES)) == [("birads", "R", ())]
    assert compare(VALID, b, IMAGES, DEFAULT_VOCABULARY, SCREENING).concordant
    zero = read(right=(0, "C"), boxes=(box("m1", birads=4), skin("s1")))
    assert compare(VALID, zero, IMAGES, DEFAULT_VOCABULARY, SCREENING).concordant


def test_screening_groups_differ() -> None:
    a, b = read(left=(2, "C"), boxes=(box("m1"),)), read(left=(3, "C"), boxes=(box("m1"),))
    comparison = compare(a, b, IMAGES, DEFAULT_VOCABULARY, SCREENING)
    assert kinds(comparison) == [("birads", "L", ())]
    assert "screening groups benign vs recall" in comparison.discordances[0].detail


def test_density_mismatch() -> None:
    b = dataclasses.replace(VALID, right=BreastRead(4, "D"))
    comparison = compare(VALID, b, IMAGES)
    assert comparison.discordances == (
        Discordance("density", "R", "Right breast: density C from reader 1, D from reader 2."),
    )


@pytest.mark.parametrize(("shift", "paired"), [(30.0, True), (60.0, False)])
def test_shifted_box_pairs_above_the_threshold_only(shift: float, paired: bool) -> None:
    # 100 px squares: a shift of 30 leaves IoU 70/130 = 0.54, of 60 leaves 40/160 = 0.25.
    b = read(boxes=(box("n1", corners=(100 + shift, 100, 200 + shift, 200)),))
    comparison = compare(read(boxes=(box("m1"),)), b, IMAGES)
    assert comparison.concordant is paired
    if paired:
        assert comparison.pairs == (("m1", "n1"),)
    else:
        assert comparison.pairs == ()
        assert kinds(comparison) == [("finding", "R", ("m1",)), ("finding", "R", ("n1",))]
        assert comparison.discordances[0].detail == (
            "Right breast: Mass box (finding BI-RADS 4 (suspicious)) from reader 1 has no match "
            "from reader 2."
        )


def test_threshold_is_inclusive_and_configurable() -> None:
    a = read(boxes=(box("m1", corners=(0, 0, 10, 10)),))
    b = read(boxes=(box("n1", corners=(5, 0, 15, 10)),))  # IoU exactly 1/3
    assert compare(a, b, IMAGES, DEFAULT_VOCABULARY, ProjectRules(iou_threshold=1 / 3)).concordant
    assert not compare(
        a, b, IMAGES, DEFAULT_VOCABULARY, ProjectRules(iou_threshold=0.34)
    ).concordant


def test_category_disjoint_boxes_do_not_pair() -> None:
    b = read(boxes=(box("c1", categories=("Suspicious Calcification",)),))
    comparison = compare(read(boxes=(box("m1"),)), b, IMAGES)
    assert comparison.pairs == ()
    assert kinds(comparison) == [("finding", "R", ("m1",)), ("finding", "R", ("c1",))]


def test_overlapping_categories_pair() -> None:
    b = read(boxes=(box("n1", categories=("Mass", "Skin Retraction")),))
    assert compare(read(boxes=(box("m1"),)), b, IMAGES).pairs == (("m1", "n1"),)


def test_a_lesion_is_not_matched_by_an_associated_feature_alone() -> None:
    a = read(boxes=(box("m1", categories=("Mass", "Skin Thickening")),))
    b = read(boxes=(box("n1", categories=("Skin Thickening",), birads=None),))
    comparison = compare(a, b, IMAGES)
    assert comparison.pairs == ()
    assert kinds(comparison) == [("finding", "R", ("m1",))]


def test_unpaired_associated_feature_is_ignored() -> None:
    b = read(boxes=(box("m1"), skin("s1"), skin("s2", "rmlo")))
    comparison = compare(read(boxes=(box("m1"),)), b, IMAGES)
    assert comparison.concordant
    assert comparison.pairs == (("m1", "m1"),)


def test_boxes_on_different_images_do_not_pair() -> None:
    comparison = compare(read(boxes=(box("m1", "rcc"),)), read(boxes=(box("m1", "rmlo"),)), IMAGES)
    assert kinds(comparison) == [("finding", "R", ("m1",)), ("finding", "R", ("m1",))]


def test_greedy_pairing_takes_the_best_overlap() -> None:
    a = read(boxes=(box("m1", corners=(0, 0, 100, 100)),))
    b = read(boxes=(box("far", corners=(40, 0, 140, 100)), box("near", corners=(10, 0, 110, 100))))
    comparison = compare(a, b, IMAGES)
    assert comparison.pairs == (("m1", "near"),)
    assert kinds(comparison) == [("finding", "R", ("far",))]


def test_ties_are_broken_the_same_way_whichever_reader_comes_first() -> None:
    # One box of A overlaps two boxes of B equally (IoU 1/3 each, left and right).
    a = read(boxes=(box("m", corners=(50, 0, 150, 100)),))
    b = read(boxes=(box("y", corners=(100, 0, 200, 100)), box("x", corners=(0, 0, 100, 100))))
    ab, ba = compare(a, b, IMAGES), compare(b, a, IMAGES)
    assert ab.pairs == (("m", "x"),)
    assert ba.pairs == (("x", "m"),)
    assert kinds(ab) == kinds(ba) == [("finding", "R", ("y",))]


def test_discordances_are_ordered_by_breast() -> None:
    a = read(right=(4, "C"), left=(4, "B"), boxes=(box("r", "rcc"), box("l", "lcc")))
    b = read(right=(5, "C"), left=(4, "C"), boxes=(box("x", "outside"),))
    assert kinds(compare(a, b, IMAGES)) == [
        ("birads", "R", ()),
        ("finding", "R", ("r",)),
        ("density", "L", ()),
        ("finding", "L", ("l",)),
        ("finding", None, ("x",)),
    ]


def test_comparison_serialises() -> None:
    comparison = compare(VALID, read(boxes=(box("m1"),), left=(1, "D")), IMAGES)
    assert json.loads(json.dumps(comparison.to_json())) == {
        "concordant": False,
        "discordances": [
            {
                "kind": "density",
                "laterality": "L",
                "detail": "Left breast: density C from reader 1, D from reader 2.",
                "box_ids": [],
                "reader": None,
            }
        ],
        "pairs": [["m1", "m1"]],
    }


# --- merge ------------------------------------------------------------------------------------


def test_merge_of_concordant_reads() -> None:
    a = read(
        right=(3, "C"),
        boxes=(box("m1", corners=(100, 100, 200, 200), birads=3), skin("s1")),
        note="Reader one.",
    )
    b = read(
        right=(4, "C"),
        boxes=(
            box("m1", "rcc", (110, 90, 210, 190), ("Skin Retraction", "Mass"), 4),
            skin("s1", "rmlo"),
        ),
        note="Reader two.",
    )
    comparison = compare(a, b, IMAGES, DEFAULT_VOCABULARY, SCREENING)
    assert comparison.concordant
    merged = merge(a, b, comparison, DEFAULT_VOCABULARY)
    assert merged == Label(
        right=BreastRead(4, "C"),
        left=BreastRead(1, "C"),
        boxes=(
            box("m1", "rcc", (105, 95, 205, 195), ("Mass", "Skin Retraction"), 4),
            skin("s1"),
            skin("s1-2", "rmlo"),
        ),
        note="Reader one.\n\nReader two.",
    )
    assert validate(merged, IMAGES) == []
    assert parse_label(merged.to_json()) == merged


def test_merge_refuses_discordant_reads() -> None:
    comparison = compare(VALID, read(), IMAGES)
    with pytest.raises(ValueError, match="arbitration"):
        merge(VALID, read(), comparison)


def test_merge_refuses_a_comparison_of_other_reads() -> None:
    with pytest.raises(ValueError, match="do not belong"):
        merge(VALID, VALID, Comparison(True, (), (("m1", "nope"),)))
    with pytest.raises(ValueError, match="disagree"):
        merge(VALID, read(right=(1, "C")), Comparison(True, (), ()))


def test_merged_notes_keep_within_the_limit() -> None:
    long = "x" * MAX_NOTE_LENGTH
    merged = merge(read(note=long), read(note="y" + long[1:]), Comparison(True, (), ()))
    assert len(merged.note) == MAX_NOTE_LENGTH
    assert merge(read(note="same"), read(note="same"), Comparison(True, (), ())).note == "same"
    assert merge(read(note=""), read(note="b"), Comparison(True, (), ())).note == "b"


# --- active time ------------------------------------------------------------------------------


def test_active_seconds_skips_idle_gaps() -> None:
    assert active_seconds([], 60) == 0.0
    assert active_seconds([5.0], 60) == 0.0
    assert active_seconds([0, 10, 20, 500, 530], 60) == 50.0  # the 480 s break counts nothing
    assert active_seconds([0, 60, 121], 60) == 60.0  # a gap of exactly the limit counts
    assert active_seconds([20, 0, 10], 60) == 20.0  # arrival order does not matter


def test_add_activity() -> None:
    assert add_activity(0.0, None, 100.0, 60) == 0.0
    assert add_activity(10.0, 100.0, 130.0, 60) == 40.0
    assert add_activity(10.0, 100.0, 400.0, 60) == 10.0
    assert add_activity(10.0, 100.0, 90.0, 60) == 10.0  # late event


@pytest.mark.parametrize("limit", [0, -1, math.nan, True])
def test_idle_limit_must_be_positive(limit: float) -> None:
    with pytest.raises(ValueError, match="idle_limit"):
        active_seconds([0, 1], limit)
    with pytest.raises(ValueError, match="idle_limit"):
        add_activity(0.0, 0.0, 1.0, limit)


def test_event_times_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        active_seconds([0, math.inf], 60)


@given(
    st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), max_size=30),
    st.floats(min_value=0.5, max_value=600),
)
def test_incremental_activity_equals_the_batch_figure(times: list[float], limit: float) -> None:
    active, last = 0.0, None
    for now in sorted(times):
        active = add_activity(active, last, now, limit)
        last = now
    assert active == active_seconds(times, limit)
    span = max(times) - min(times) if times else 0.0
    assert 0.0 <= active <= span + 1e-6


# --- properties -------------------------------------------------------------------------------

CATEGORY_NAMES = [*GRADED, *ASSOCIATED]
coordinate = st.integers(min_value=0, max_value=12).map(lambda n: n * 10.0)


@st.composite
def boxes_of(draw: st.DrawFn, valid_only: bool = False) -> Box:
    image_id = draw(st.sampled_from([*IMAGES, *([] if valid_only else ["elsewhere"])]))
    x0, y0 = draw(coordinate), draw(coordinate)
    min_size = 1 if valid_only else 0
    width = draw(st.integers(min_value=min_size, max_value=6)) * 10.0
    height = draw(st.integers(min_value=min_size, max_value=6)) * 10.0
    names = draw(
        st.lists(
            st.sampled_from(CATEGORY_NAMES),
            unique=True,
            min_size=1 if valid_only else 0,
            max_size=3,
        )
    )
    categories = DEFAULT_VOCABULARY.in_order(names)
    birads = draw(st.sampled_from([None, 3, 4, 5]))
    return Box("?", image_id, x0, y0, x0 + width, y0 + height, categories, birads)


@st.composite
def labels(draw: st.DrawFn, valid_only: bool = False) -> Label:
    birads = st.sampled_from([None, 0, 1, 2, 3, 4, 5])
    density = st.sampled_from([None, "A", "B", "C", "D"])
    drawn = draw(st.lists(boxes_of(valid_only), max_size=8))
    # ids "0", "1", ... in both reads, so that ids collide between readers
    numbered = tuple(dataclasses.replace(b, id=str(i)) for i, b in enumerate(drawn))
    return Label(
        BreastRead(draw(birads), draw(density)),
        BreastRead(draw(birads), draw(density)),
        numbered,
        draw(st.sampled_from(["", "note"])),
    )


rules_strategy = st.builds(
    ProjectRules,
    iou_threshold=st.sampled_from([0.1, 0.3, 0.5, 1.0]),
    birads_match=st.sampled_from(["exact", "screening"]),
)


@settings(max_examples=150)
@given(labels(), labels(), rules_strategy)
def test_pairing_is_symmetric_in_the_readers(a: Label, b: Label, rules: ProjectRules) -> None:
    ab, ba = (
        compare(a, b, IMAGES, DEFAULT_VOCABULARY, rules),
        compare(b, a, IMAGES, DEFAULT_VOCABULARY, rules),
    )
    assert set(ab.pairs) == {(x, y) for y, x in ba.pairs}
    assert sorted((d.kind, str(d.laterality)) for d in ab.discordances) == sorted(
        (d.kind, str(d.laterality)) for d in ba.discordances
    )
    assert ab.concordant is ba.concordant


@given(labels(), labels(), rules_strategy)
def test_pairing_never_uses_a_box_twice(a: Label, b: Label, rules: ProjectRules) -> None:
    pairs = pair_boxes(a.boxes, b.boxes, rules.iou_threshold)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    for i, j in pairs:
        x, y = a.boxes[i], b.boxes[j]
        assert x.image_id == y.image_id
        assert iou(x, y) >= rules.iou_threshold
        assert set(x.categories) & set(y.categories)
    comparison = compare(a, b, IMAGES, DEFAULT_VOCABULARY, rules)
    assert comparison.pairs == tuple((a.boxes[i].id, b.boxes[j].id) for i, j in pairs)


@given(labels(), rules_strategy)
def test_identical_reads_are_always_concordant(label: Label, rules: ProjectRules) -> None:
    comparison = compare(label, label, IMAGES, DEFAULT_VOCABULARY, rules)
    assert comparison.concordant
    assert comparison.discordances == ()
    with_categories = [b.id for b in label.boxes if b.categories]
    assert comparison.pairs == tuple((i, i) for i in with_categories)


@given(labels(valid_only=True), rules_strategy)
def test_merge_of_identical_reads_is_the_read(label: Label, rules: ProjectRules) -> None:
    merged = merge(label, label, compare(label, label, IMAGES, DEFAULT_VOCABULARY, rules))

    def content(x: Label) -> tuple[Any, ...]:
        return (x.right, x.left, [dataclasses.replace(b, id="") for b in x.boxes], x.note)

    assert content(merged) == content(label)


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
any_box = st.builds(
    Box, st.just("b"), st.just("i"), finite, finite, finite, finite, st.just(("Mass",))
)


@given(any_box, any_box)
def test_iou_is_symmetric_and_bounded(x: Box, y: Box) -> None:
    value = iou(x, y)
    assert value == iou(y, x)
    assert 0.0 <= value <= 1.0
    assert iou(x, x) == 1.0


@given(labels())
def test_labels_round_trip_through_json(label: Label) -> None:
    assert parse_label(json.loads(json.dumps(label.to_json()))) == label


def test_vocabulary_text_round_trip() -> None:
    text = vocabulary_to_text(DEFAULT_VOCABULARY.to_json())
    assert "Mass*" in text.splitlines()
    assert "Skin Thickening" in text.splitlines()
    assert vocabulary_from_text(text + "\n\n") == DEFAULT_VOCABULARY.to_json()

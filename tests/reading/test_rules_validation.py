"""Validation of a read, rule by rule, tested directly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reading.rules import (
    DEFAULT_RULES,
    DEFAULT_VOCABULARY,
    BreastRead,
    Category,
    Label,
    ProjectRules,
    Violation,
    Vocabulary,
    blocking,
    validate,
)
from tests.reading.rules_helpers import (
    IMAGES,
    VALID,
    box,
    fields,
    read,
    skin,
)


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

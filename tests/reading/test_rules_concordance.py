"""Concordance (IoU, pairing, comparison) and merge of two reads, tested directly, with
hypothesis for the invariants."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reading.rules import (
    DEFAULT_RULES,
    DEFAULT_VOCABULARY,
    MAX_NOTE_LENGTH,
    Box,
    BreastRead,
    Comparison,
    Discordance,
    Label,
    ProjectRules,
    compare,
    iou,
    merge,
    pair_boxes,
    parse_label,
    validate,
)
from tests.reading.rules_helpers import (
    IMAGES,
    SCREENING,
    VALID,
    box,
    labels,
    read,
    rules_strategy,
    skin,
)


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


# --- properties ------------------------------------------------------------------------------


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

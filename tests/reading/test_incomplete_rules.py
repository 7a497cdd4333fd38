"""Incomplete studies (issue 11, broken 5), the pure rules: which studies may enter a project,
and a breast answered "not imaged" in the label, its validation, concordance and merge."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.reading.rules import (
    DEFAULT_VOCABULARY,
    BreastRead,
    Label,
    LabelError,
    ProjectRules,
    blocking,
    check_study,
    checked_override,
    compare,
    merge,
    parse_label,
    refusal,
    validate,
)
from tests.reading.rules_helpers import IMAGES, fields, labels, read, rules_strategy

FOUR = [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]
RIGHT_ONLY = {"rcc": "R", "rmlo": "R"}
ALLOWS = ProjectRules(breast_not_imaged=True)
NOT_IMAGED = BreastRead(not_imaged=True)


def right_only(right=(1, "B"), left: BreastRead = NOT_IMAGED) -> Label:
    return Label(BreastRead(*right), left)


# --- admission ---------------------------------------------------------------------------------


def test_a_complete_study_is_admitted_without_an_override() -> None:
    check = check_study("s1", FOUR)
    assert check.complete
    assert check.reasons() == []
    assert check.breasts_without_images == ()
    assert refusal(check, override=False, breast_not_imaged=False) is None


def test_an_incomplete_study_names_every_reason_and_needs_the_override() -> None:
    check = check_study(
        "s1",
        [("R", "CC"), ("R", "CC"), ("L", "CC"), ("L", "MLO"), (None, None)],
        ["Text burned into the pixels (top left)"],
    )
    assert not check.complete
    assert check.reasons() == [
        "missing R-MLO",
        "R-CC more than once",
        "open QC flag: Text burned into the pixels (top left)",
    ]
    refused = refusal(check, override=False, breast_not_imaged=False)
    assert refused is not None
    assert refused.override_allowed
    assert refused.blocker is None
    assert refused.message.startswith("s1: not complete (missing R-MLO; R-CC more than once;")
    assert refused.to_json()["reasons"] == check.reasons()
    assert refusal(check, override=True, breast_not_imaged=False) is None


def test_an_open_qc_flag_alone_makes_a_study_incomplete() -> None:
    check = check_study("s1", FOUR, ["Laterality from pixels disagrees with the header (R-CC)"])
    assert not check.complete
    assert refusal(check, override=False, breast_not_imaged=False) is not None


def test_a_breast_without_images_needs_the_project_rule_and_the_override() -> None:
    check = check_study("s1", [("R", "CC")], ["A standard view is missing (L-CC is missing.)"])
    assert check.breasts_without_images == ("L",)
    refused = refusal(check, override=True, breast_not_imaged=False)
    assert refused is not None
    assert not refused.override_allowed
    assert "left breast has no image" in refused.message
    assert "breast not imaged" in refused.message
    refused = refusal(check, override=False, breast_not_imaged=True)
    assert refused is not None
    assert refused.override_allowed
    assert refusal(check, override=True, breast_not_imaged=True) is None


def test_a_study_without_any_image_is_never_admitted() -> None:
    check = check_study("s1", [])
    assert check.breasts_without_images == ("R", "L")
    refused = refusal(check, override=True, breast_not_imaged=True)
    assert refused is not None
    assert "no image at all" in refused.message


def test_the_override_reason_is_stripped_and_bounded() -> None:
    assert checked_override(None) is None
    assert checked_override("   ") is None
    assert checked_override("  one view retaken  ") == "one view retaken"
    with pytest.raises(ValueError, match="at most 2000"):
        checked_override("x" * 2001)


views = st.lists(
    st.tuples(st.sampled_from(["R", "L", None]), st.sampled_from(["CC", "MLO", "XCCL", None])),
    max_size=8,
)


@settings(max_examples=200)
@given(views, st.lists(st.just("flag"), max_size=2), st.booleans(), st.booleans())
def test_admission_invariants(images, flags, override: bool, allows: bool) -> None:
    check = check_study("s", images, flags)
    refused = refusal(check, override=override, breast_not_imaged=allows)
    # complete studies are always admitted; without an override nothing incomplete is
    assert (refused is None) == (
        check.complete
        or (
            override
            and len(check.breasts_without_images) < 2
            and (allows or not check.breasts_without_images)
        )
    )
    # a complete study has both breasts imaged, so the project's rule never matters for it
    if check.complete:
        assert check.breasts_without_images == ()
    # the order of the images does not matter
    assert check_study("s", list(reversed(images)), flags) == check


# --- the label -----------------------------------------------------------------------------------


def test_not_imaged_round_trips_and_leaves_vindr_shape_alone() -> None:
    label = right_only()
    data = label.to_json()
    assert data["breasts"] == {
        "R": {"birads": 1, "density": "B"},
        "L": {"birads": None, "density": None, "not_imaged": True},
    }
    assert parse_label(data) == label
    # a breast with images keeps VinDr's two keys: nothing else appears in its JSON
    assert read().to_json()["breasts"]["R"] == {"birads": 4, "density": "C"}
    assert parse_label({"breasts": {"L": {"not_imaged": False}}}).left == BreastRead()


@pytest.mark.parametrize(
    ("breast", "fragment"),
    [
        ({"not_imaged": "yes"}, "must be true or false"),
        ({"not_imaged": 1}, "must be true or false"),
        ({"not_imaged": True, "birads": 1}, "has no BI-RADS or density"),
        ({"not_imaged": True, "density": "A"}, "has no BI-RADS or density"),
    ],
)
def test_not_imaged_is_structurally_checked(breast: dict, fragment: str) -> None:
    with pytest.raises(LabelError, match=fragment) as caught:
        parse_label({"breasts": {"L": breast}})
    assert caught.value.field == "breasts.L.not_imaged"


# --- validation ----------------------------------------------------------------------------------


def test_a_breast_without_images_is_answered_not_imaged_where_allowed() -> None:
    assert validate(right_only(), RIGHT_ONLY, rules=ALLOWS) == []


def test_not_imaged_is_refused_in_a_project_that_does_not_allow_it() -> None:
    found = validate(right_only(), RIGHT_ONLY)
    assert fields(found) == ["breasts.L.not_imaged"]
    assert "does not allow 'not imaged'" in found[0].message


def test_not_imaged_is_refused_for_a_breast_with_images() -> None:
    found = validate(right_only(), IMAGES, rules=ALLOWS)
    assert fields(found) == ["breasts.L.not_imaged"]
    assert "has images of it" in found[0].message


def test_a_breast_without_images_must_be_marked_not_imaged_where_allowed() -> None:
    label = Label(BreastRead(1, "B"), BreastRead(4, "C"))
    found = validate(label, RIGHT_ONLY, rules=ALLOWS)
    # one message, no BI-RADS 4 without a box noise for a breast that cannot have boxes
    assert fields(found) == ["breasts.L.not_imaged"]
    assert "mark it 'not imaged'" in found[0].message
    assert fields(validate(Label(BreastRead(1, "B")), RIGHT_ONLY, rules=ALLOWS)) == [
        "breasts.L.not_imaged"
    ]


def test_without_the_rule_a_breast_without_images_is_graded_as_before() -> None:
    label = Label(BreastRead(1, "B"), BreastRead(1, "B"))
    assert validate(label, RIGHT_ONLY) == []


# --- concordance, merge --------------------------------------------------------------------------


def test_both_readers_not_imaged_is_concordant_and_merges() -> None:
    a, b = right_only((1, "B")), right_only((1, "B"))
    comparison = compare(a, b, RIGHT_ONLY, DEFAULT_VOCABULARY, ALLOWS)
    assert comparison.concordant
    merged = merge(a, b, comparison)
    assert merged.left == NOT_IMAGED
    assert merged.right == BreastRead(1, "B")
    assert blocking(validate(merged, RIGHT_ONLY, rules=ALLOWS)) == []


def test_one_reader_not_imaged_is_a_birads_discordance() -> None:
    a = right_only()
    b = Label(BreastRead(1, "B"), BreastRead(1, "B"))
    comparison = compare(a, b, RIGHT_ONLY, DEFAULT_VOCABULARY, ALLOWS)
    assert not comparison.concordant
    (found,) = comparison.discordances
    assert (found.kind, found.laterality) == ("birads", "L")
    assert "reader 1 not imaged, reader 2 BI-RADS 1" in found.detail
    with pytest.raises(ValueError, match="disagree"):
        merge(a, b, dataclasses.replace(comparison, concordant=True, discordances=()))


not_imaged_labels = labels().map(lambda label: dataclasses.replace(label, left=NOT_IMAGED))


@settings(max_examples=100)
@given(not_imaged_labels, not_imaged_labels, rules_strategy)
def test_not_imaged_never_causes_a_discordance_when_both_say_it(
    a: Label, b: Label, rules: ProjectRules
) -> None:
    comparison = compare(a, b, IMAGES, DEFAULT_VOCABULARY, rules)
    assert all(d.laterality != "L" or d.kind == "finding" for d in comparison.discordances)
    symmetric = compare(b, a, IMAGES, DEFAULT_VOCABULARY, rules)
    assert comparison.concordant is symmetric.concordant

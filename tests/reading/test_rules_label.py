"""The label parser, tested directly: what it accepts, what it refuses and where."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given

from app.reading.rules import (
    MAX_BOXES,
    MAX_NOTE_LENGTH,
    BreastRead,
    Label,
    LabelError,
    empty_label,
    parse_label,
)
from tests.reading.rules_helpers import labels

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
        ({"breasts": {"R": {"birads": 7}}}, "breasts.R.birads"),
        ({"breasts": {"R": {"probability": 101}}}, "breasts.R.probability"),
        ({"breasts": {"R": {"probability": 0.5}}}, "breasts.R.probability"),
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
        (with_box(birads=1), "boxes[0].birads"),
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


@given(labels())
def test_labels_round_trip_through_json(label: Label) -> None:
    assert parse_label(json.loads(json.dumps(label.to_json()))) == label

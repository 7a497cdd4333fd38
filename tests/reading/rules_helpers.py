"""What the rules' tests share: an exam's images, reads built in a line, hypothesis strategies."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from app.reading.rules import (
    DEFAULT_VOCABULARY,
    Box,
    BreastRead,
    Label,
    ProjectRules,
    Violation,
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

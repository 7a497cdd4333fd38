"""Resolution pyramid: halving rule, averaging, level choice and .npy round trip."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from app.imaging.pyramid import build_levels, halve, pick_level


def test_halve_hand_made_odd_array() -> None:
    level = np.array([[0, 2, 4], [6, 8, 10], [1, 1, 3]], dtype=np.uint16)
    # odd last row/column are paired with themselves: (0+2+6+8)/4, (4+4+10+10)/4, 1, 3
    np.testing.assert_array_equal(halve(level), [[4, 7], [1, 3]])


def test_halve_rounds_half_up_and_does_not_overflow() -> None:
    level = np.array([[0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1]], dtype=np.uint16)
    np.testing.assert_array_equal(halve(level), [[0, 1, 1]])  # 0.25, 0.5, 0.75
    top = np.full((2, 2), 65535, dtype=np.uint16)
    assert halve(top)[0, 0] == 65535


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.uint16,
        st.tuples(st.integers(1, 20).map(lambda n: 2 * n), st.integers(1, 20).map(lambda n: 2 * n)),
    )
)
def test_halve_equals_block_mean(level: np.ndarray) -> None:
    rows, cols = level.shape
    blocks = level.astype(np.float64).reshape(rows // 2, 2, cols // 2, 2).mean(axis=(1, 3))
    np.testing.assert_array_equal(halve(level), np.floor(blocks + 0.5))


def test_levels_of_a_mammogram_sized_image() -> None:
    storage = np.zeros((4096, 3328), dtype=np.uint16)
    levels = build_levels(storage, min_width=512)
    assert [lv.shape for lv in levels] == [(4096, 3328), (2048, 1664), (1024, 832)]
    assert levels[0] is storage
    assert all(lv.dtype == np.uint16 for lv in levels)


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 300), min_width=st.integers(1, 60))
def test_halving_rule(rows: int, cols: int, min_width: int) -> None:
    levels = build_levels(np.ones((rows, cols), dtype=np.uint16), min_width)
    widths = [lv.shape[1] for lv in levels]
    for wider, narrower in itertools.pairwise(widths):
        assert wider // 2 >= min_width
        assert narrower == -(-wider // 2)
    assert widths[-1] // 2 < min_width
    assert all(lv.dtype == np.uint16 and lv.min() == 1 for lv in levels)


def test_build_levels_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="uint16"):
        build_levels(np.zeros((4, 4), dtype=np.int16))
    with pytest.raises(ValueError, match="min_width"):
        build_levels(np.zeros((4, 4), dtype=np.uint16), min_width=0)


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [(100, 2), (832, 2), (833, 1), (1000, 1), (1664, 1), (1665, 0), (3328, 0), (5000, 0)],
)
def test_pick_level(wanted: int, expected: int) -> None:
    assert pick_level([3328, 1664, 832], wanted) == expected


def test_pick_level_needs_levels() -> None:
    with pytest.raises(ValueError, match="no levels"):
        pick_level([], 100)

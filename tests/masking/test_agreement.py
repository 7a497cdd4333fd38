"""Agreement and label metrics of the masking sort: tau-b against scipy, the rest by hand."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau

from app.masking.agreement import (
    amae,
    chosen_side,
    f1,
    high_levels,
    kendall_tau_b,
    left_share,
    low_levels,
    median,
    median_level,
    pairwise_tau,
    probe_agreement,
    side_bias,
)


def scipy_tau(x: list[float], y: list[float]) -> float | None:
    """scipy's tau-b, with NaN (undefined) as None."""
    statistic = float(kendalltau(x, y).statistic)
    return None if math.isnan(statistic) else statistic


# --- kendall_tau_b --------------------------------------------------------------------------

TIED_VECTORS = [
    ([1, 1, 2, 2, 3, 3, 3, 4, 4, 5], [2, 1, 2, 2, 3, 1, 4, 4, 4, 5]),
    ([8, 8, 8, 1, 1, 1, 4, 4, 4, 4], [1, 2, 8, 1, 1, 8, 4, 4, 5, 3]),
    ([1, 2, 1, 2, 1, 2, 1, 2], [1, 1, 2, 2, 1, 1, 2, 2]),
    ([0.5, 0.5, -1.0, 2.25, 2.25, 2.25], [3.0, 3.0, 3.0, -7.5, 0.0, -0.0]),
    ([3, 3, 3, 3, 2], [1, 1, 1, 1, 1]),  # y constant: undefined
    ([4, 4, 4], [1, 2, 3]),  # x constant: undefined
    ([1, 2], [2, 1]),
]


@pytest.mark.parametrize(("x", "y"), TIED_VECTORS)
def test_kendall_tau_b_matches_scipy_on_tied_vectors(x: list[float], y: list[float]) -> None:
    expected = scipy_tau(x, y)
    actual = kendall_tau_b(x, y)
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_b_by_hand() -> None:
    # Pairs of (1,2,3) vs (1,3,2): (1,2) and (1,3) concordant, (2,3) discordant -> (2-1)/3.
    assert kendall_tau_b([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)
    assert kendall_tau_b([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 2, 3], [10, 20, 30]) == 1.0


@st.composite
def paired_vectors(draw: st.DrawFn) -> tuple[list[float], list[float]]:
    """Two vectors of the same length (2..200), from alphabets small enough to tie often."""
    size = draw(st.integers(min_value=2, max_value=200))
    values = draw(
        st.sampled_from(
            [
                st.integers(0, 1),
                st.integers(1, 8),
                st.integers(-30, 30),
                st.sampled_from([-2.5, 0.0, 0.1, 1.0, 3.75]),
                st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            ]
        )
    )
    vector = st.lists(values, min_size=size, max_size=size)
    return draw(vector), draw(vector)


@settings(max_examples=100, deadline=None)
@given(paired_vectors())
def test_kendall_tau_b_matches_scipy_on_generated_vectors(
    vectors: tuple[list[float], list[float]],
) -> None:
    x, y = vectors
    expected = scipy_tau(x, y)
    actual = kendall_tau_b(x, y)
    if expected is None:
        assert actual is None
    else:
        assert actual == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("x", "y"), [([], []), ([1], [2]), ([1, 1], [1, 2]), ([5, 6], [0, 0])])
def test_kendall_tau_b_is_none_when_undefined(x: list[float], y: list[float]) -> None:
    assert kendall_tau_b(x, y) is None


def test_kendall_tau_b_rejects_unequal_lengths_and_nan() -> None:
    with pytest.raises(ValueError, match="length"):
        kendall_tau_b([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="NaN"):
        kendall_tau_b([1.0, math.nan], [1.0, 2.0])


def test_kendall_tau_b_handles_ten_thousand_items() -> None:
    # O(n log n): this runs in a fraction of a second; timings belong in the benchmarks.
    rng = random.Random(4)
    x = [rng.randint(1, 8) for _ in range(10_000)]
    y = [min(8, max(1, level + rng.randint(-2, 2))) for level in x]
    tau = kendall_tau_b(x, y)
    assert isinstance(tau, float)
    assert tau == pytest.approx(scipy_tau(x, y), abs=1e-12)


# --- pairwise_tau ---------------------------------------------------------------------------


def test_pairwise_tau_over_common_images_sorted_by_reader() -> None:
    labels = {
        "carol": {9: 1.0},
        "bob": {1: 3.0, 2: 2.0, 3: 1.0},
        "alice": {1: 1.0, 2: 2.0, 3: 3.0, 4: 8.0},
    }
    assert pairwise_tau(labels) == [
        ("alice", "bob", -1.0, 3),
        ("alice", "carol", None, 0),
        ("bob", "carol", None, 0),
    ]


def test_pairwise_tau_of_fewer_than_two_readers_is_empty() -> None:
    assert pairwise_tau({}) == []
    assert pairwise_tau({"alice": {1: 1.0}}) == []


# --- amae -----------------------------------------------------------------------------------


def test_amae_by_hand() -> None:
    true = [1, 1, 1, 2, 3, 3]
    predicted = [1, 2, 3, 2, 1, 3]
    # Level 1: |0|, |1|, |2| -> 3/3 = 1; level 2: |0| -> 0; level 3: |2|, |0| -> 2/2 = 1.
    # AMAE = (1 + 0 + 1) / 3 = 2/3 (plain MAE would be 5/6).
    assert amae(true, predicted) == pytest.approx(2 / 3)


def test_amae_ignores_levels_absent_from_truth() -> None:
    # Only level 8 is present: |8-1| and |8-8| -> 7/2.
    assert amae([8, 8], [1, 8]) == pytest.approx(3.5)


def test_amae_of_nothing_is_none_and_lengths_must_match() -> None:
    assert amae([], []) is None
    with pytest.raises(ValueError, match="length"):
        amae([1], [1, 2])


# --- f1 -------------------------------------------------------------------------------------


def test_low_and_high_levels() -> None:
    assert low_levels(8) == {1, 2}
    assert high_levels(8) == {7, 8}
    assert high_levels(5) == {4, 5}
    with pytest.raises(ValueError, match="at least 4"):
        high_levels(3)


def test_f1_by_hand() -> None:
    true = [1, 2, 3, 1, 5, 8, 7]
    predicted = [1, 3, 2, 2, 1, 8, 6]
    # Low {1, 2}: true positives at 0, 3 (TP 2); predicted-only at 2, 4 (FP 2); missed at 1
    # (FN 1) -> 2*2 / (2*2 + 2 + 1) = 4/7.
    assert f1(true, predicted, low_levels(8)) == pytest.approx(4 / 7)
    # High {7, 8}: TP at 5; FN at 6; no FP -> 2 / (2 + 0 + 1) = 2/3.
    assert f1(true, predicted, high_levels(8)) == pytest.approx(2 / 3)


def test_f1_perfect_and_undefined() -> None:
    assert f1([1, 2, 5], [2, 1, 4], low_levels(8)) == 1.0
    assert f1([3, 4, 5], [4, 5, 6], low_levels(8)) is None
    assert f1([], [], high_levels(8)) is None
    with pytest.raises(ValueError, match="length"):
        f1([1], [], low_levels(8))


# --- median_level and median ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "number_of_levels", "expected"),
    [
        ([3], 8, 3),
        ([1, 8, 2, 7, 5], 8, 5),  # odd count: the middle value
        ([2, 4], 8, 3),  # even count, integer mean
        ([2, 3], 8, 3),  # 2.5 in the lower half: up, towards the centre 4.5
        ([6, 7], 8, 6),  # 6.5 in the upper half: down, towards the centre
        ([1, 2], 8, 2),
        ([7, 8], 8, 7),
        ([4, 5], 8, 4),  # 4.5 is the centre itself: the lower middle value
        ([5, 4, 1, 8], 8, 4),  # middle values 4 and 5
        ([2, 3], 5, 3),  # centre 3: 2.5 up
        ([3, 4], 5, 3),  # 3.5 down
        ([4, 5], 5, 4),
        ([1, 2], 2, 1),  # 2 levels: 1.5 is the centre -> lower
    ],
)
def test_median_level_tie_rules(levels: list[int], number_of_levels: int, expected: int) -> None:
    assert median_level(levels, number_of_levels) == expected


def test_median_level_rejects_empty_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no levels"):
        median_level([], 8)
    with pytest.raises(ValueError, match=r"1\.\.8"):
        median_level([0, 3], 8)
    with pytest.raises(ValueError, match=r"1\.\.8"):
        median_level([9], 8)


@pytest.mark.parametrize(
    ("values", "expected"),
    [([], None), ([3], 3.0), ([4.0, 1.0], 2.5), ([3, 1, 2], 2.0), ([5, 1, 9, 2], 3.5)],
)
def test_median(values: list[float], expected: float | None) -> None:
    assert median(values) == expected


# --- sides and probes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "query_side", "expected"),
    [
        ("query", "left", "left"),
        ("query", "right", "right"),
        ("reference", "left", "right"),
        ("reference", "right", "left"),
        ("same", "left", None),
        ("same", "right", None),
        ("discard", "left", None),
        ("discard", "right", None),
    ],
)
def test_chosen_side(answer: str, query_side: str, expected: str | None) -> None:
    assert chosen_side(answer, query_side) == expected


def test_chosen_side_rejects_unknown_values() -> None:
    with pytest.raises(ValueError, match="answer"):
        chosen_side("left", "left")
    with pytest.raises(ValueError, match="side"):
        chosen_side("query", "top")


def test_left_share_and_side_bias() -> None:
    sides = ["left", "right", None, "left"]
    assert left_share(sides) == pytest.approx(2 / 3)
    assert side_bias(sides) == pytest.approx(2 / 3 - 0.5)
    assert side_bias(iter(["right", "right"])) == -0.5
    assert left_share([None, None]) is None
    assert side_bias([]) is None
    with pytest.raises(ValueError, match="unknown sides"):
        left_share(["left", "up"])


def test_probe_agreement() -> None:
    pairs = [
        ("query", "query"),
        ("query", "reference"),
        ("same", "same"),
        ("reference", "same"),
    ]
    assert probe_agreement(pairs) == 0.5
    assert probe_agreement(iter([("reference", "reference")])) == 1.0
    assert probe_agreement([]) is None
    with pytest.raises(ValueError, match="unknown answer"):
        probe_agreement([("query", "discard")])

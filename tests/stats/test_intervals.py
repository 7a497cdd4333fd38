"""Wilson score intervals against scipy's and against published textbook values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from app.stats.intervals import proportion, wilson_interval
from tests.stats.vandyke import rows


@pytest.mark.parametrize(
    ("k", "n", "lower", "upper"),
    [
        # Newcombe (1998), Stat Med 17:857-872, Table I, method 3 (score interval).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_newcombe_textbook_values(k: int, n: int, lower: float, upper: float) -> None:
    assert wilson_interval(k, n) == pytest.approx((lower, upper), abs=5e-5)


@given(
    st.integers(min_value=1, max_value=5000).flatmap(
        lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
    ),
    st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_wilson_contains_the_estimate_inside_unit_interval_and_matches_scipy(
    counts: tuple[int, int], confidence: float
) -> None:
    k, n = counts
    result = proportion(k, n, confidence)
    assert result.estimate == k / n
    assert result.lower is not None
    assert result.upper is not None
    assert 0.0 <= result.lower <= result.estimate <= result.upper <= 1.0
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert (result.lower, result.upper) == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_counts_are_checked_and_zero_n_has_a_reason() -> None:
    empty = proportion(0, 0)
    assert (empty.estimate, empty.lower, empty.upper) == (None, None, None)
    assert empty.reason == "no cases (n = 0)"
    assert empty.to_dict()["n"] == 0
    assert proportion(np.int64(3), np.int64(4)).estimate == 0.75
    for bad in [(5, 4), (-1, 4), (1.5, 4), (True, 4)]:
        with pytest.raises(ValueError, match=r"successes|integer"):
            proportion(*bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="confidence"):
        proportion(1, 2, 1.0)
    with pytest.raises(ValueError, match="n = 0"):
        wilson_interval(0, 0)


def test_pooled_van_dyke_sensitivity_and_specificity() -> None:
    """MRMCaov's pooled binary sensitivity 0.8711111 and specificity 0.8478261 (rating >= 3)."""
    data = rows()
    positives = [r for r in data if r["truth"] == "1"]
    negatives = [r for r in data if r["truth"] == "0"]
    sensitivity = proportion(sum(int(r["rating"]) >= 3 for r in positives), len(positives))
    specificity = proportion(sum(int(r["rating"]) < 3 for r in negatives), len(negatives))
    assert round(sensitivity.estimate or 0, 7) == 0.8711111
    assert round(specificity.estimate or 0, 7) == 0.8478261

"""Empirical AUC, ROC curves, DeLong's components and one-vs-rest AUC against scikit-learn,
scipy and direct O(n^2) computations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sklearn_roc_curve

from app.stats.roc import (
    auc,
    delong_covariance,
    indicator_scores,
    one_vs_rest_auc,
    roc_curve,
    structural_components,
)


@st.composite
def rated_cases(draw: st.DrawFn, max_cases: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """A truth with both classes and ratings with many ties (small integer scale) or none."""
    n1 = draw(st.integers(min_value=1, max_value=max_cases // 2))
    n0 = draw(st.integers(min_value=1, max_value=max_cases // 2))
    scale = draw(st.sampled_from([3, 5, 101, 10**6]))
    ratings = draw(
        st.lists(st.integers(min_value=0, max_value=scale), min_size=n1 + n0, max_size=n1 + n0)
    )
    truth = np.array([1] * n1 + [0] * n0)
    order = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).permutation(n1 + n0)
    return truth[order], np.array(ratings, dtype=float)


def _psi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


@given(rated_cases())
def test_auc_is_the_mann_whitney_statistic(case: tuple[np.ndarray, np.ndarray]) -> None:
    truth, ratings = case
    x, y = ratings[truth == 1], ratings[truth == 0]
    value = auc(truth, ratings)
    u = stats.mannwhitneyu(x, y, alternative="two-sided").statistic
    assert value == pytest.approx(u / (x.size * y.size), abs=1e-12)
    assert value == pytest.approx(roc_auc_score(truth, ratings), abs=1e-12)
    assert value == pytest.approx(_psi(x, y).mean(), abs=1e-12)


@given(rated_cases(), st.sampled_from(["exp", "cube", "affine", "log1p"]))
def test_auc_is_invariant_to_strictly_monotone_transforms(
    case: tuple[np.ndarray, np.ndarray], transform: str
) -> None:
    truth, ratings = case
    scaled = ratings / (ratings.max() + 1)
    # each transform strictly monotone in floating point too: an offset after the cube (as
    # ``scaled**3 - 7``) rounds ratings 1 apart on a 10**6 scale to the same number
    changed = {
        "exp": np.exp(scaled),
        "cube": scaled**3,
        "affine": 3 * ratings + 11,
        "log1p": np.log1p(ratings),
    }[transform]
    assert auc(truth, changed) == auc(truth, ratings)


@given(rated_cases())
def test_roc_curve_matches_scikit_learn(case: tuple[np.ndarray, np.ndarray]) -> None:
    truth, ratings = case
    curve = roc_curve(truth, ratings)
    fpr, tpr, thresholds = sklearn_roc_curve(truth, ratings, drop_intermediate=False)
    assert np.allclose(curve.fpr, fpr)
    assert np.allclose(curve.tpr, tpr)
    assert curve.thresholds[0] is None
    assert np.allclose(curve.thresholds[1:], thresholds[1:])
    assert curve.auc == pytest.approx(roc_auc_score(truth, ratings), abs=1e-12)
    assert (curve.fpr[-1], curve.tpr[-1]) == (1.0, 1.0)
    assert curve.to_dict()["thresholds"][0] is None


@given(rated_cases(), rated_cases())
def test_structural_components_and_delong_covariance(
    first: tuple[np.ndarray, np.ndarray], second: tuple[np.ndarray, np.ndarray]
) -> None:
    truth, a = first
    rng = np.random.default_rng(int(a.sum()))
    b = np.where(rng.random(a.size) < 0.5, a, rng.integers(0, 6, a.size))
    components = structural_components(truth, np.vstack([a, b]))
    for k, ratings in enumerate((a, b)):
        psi = _psi(ratings[truth == 1], ratings[truth == 0])
        assert np.allclose(components.v10[k], psi.mean(axis=1))
        assert np.allclose(components.v01[k], psi.mean(axis=0))
        assert components.auc[k] == pytest.approx(psi.mean(), abs=1e-12)
    n1, n0 = int(truth.sum()), int((1 - truth).sum())
    if n1 < 2 or n0 < 2:
        with pytest.raises(ValueError, match="at least 2"):
            delong_covariance(components)
        return
    # DeLong et al. (1988), written out: S10 and S01 from the placements.
    v10, v01 = components.v10, components.v01
    s10 = (v10 - v10.mean(axis=1, keepdims=True)) @ (v10 - v10.mean(axis=1, keepdims=True)).T
    s01 = (v01 - v01.mean(axis=1, keepdims=True)) @ (v01 - v01.mean(axis=1, keepdims=True)).T
    expected = s10 / (n1 - 1) / n1 + s01 / (n0 - 1) / n0
    assert np.allclose(delong_covariance(components), expected, atol=1e-15)


def test_jackknife_values_are_leave_one_out_aucs() -> None:
    rng = np.random.default_rng(3)
    truth = np.array([1] * 7 + [0] * 9)
    ratings = rng.integers(1, 6, (3, truth.size)).astype(float)
    left_out = structural_components(truth, ratings).jackknife_values()
    order = np.r_[np.flatnonzero(truth == 1), np.flatnonzero(truth == 0)]
    for position, case in enumerate(order):
        keep = np.arange(truth.size) != case
        for k in range(3):
            assert left_out[k, position] == pytest.approx(
                roc_auc_score(truth[keep], ratings[k, keep]), abs=1e-12
            )


def test_auc_edge_cases() -> None:
    assert auc([1, 1, 1], [1, 2, 3]) is None
    assert auc([0, 0], [1, 2]) is None
    assert auc([True, False], [0.9, 0.1]) == 1.0
    with pytest.raises(ValueError, match=r"0 .*or 1"):
        auc([0, 2], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        auc([0, 1], [1, float("nan")])
    with pytest.raises(ValueError, match="one per case"):
        auc([0, 1, 1], [1, 2])
    with pytest.raises(ValueError, match="needs diseased"):
        roc_curve([1, 1], [1, 2])


def test_one_vs_rest_matches_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    classes = ["1", "2-3", "0-4-5"]
    truth = list(rng.choice(classes, size=200))
    raw = rng.random((200, 3)) + np.array([[c == k for k in classes] for c in truth]) * 0.4
    probabilities = raw / raw.sum(axis=1, keepdims=True)
    result = one_vs_rest_auc(truth, probabilities, classes)
    for k, label in enumerate(classes):
        expected = roc_auc_score(np.array(truth) == label, probabilities[:, k])
        assert result.per_class[k] == pytest.approx(expected, abs=1e-12)
        assert result.positives[k] == truth.count(label)
    index = [classes.index(t) for t in truth]
    sk_macro = roc_auc_score(
        index, probabilities, multi_class="ovr", average="macro", labels=[0, 1, 2]
    )
    assert result.macro == pytest.approx(sk_macro, abs=1e-12)
    assert result.reason is None


def test_one_vs_rest_of_a_readers_calls_and_an_absent_class() -> None:
    classes = [1, 2, 3]
    truth = [1, 1, 2, 2, 2, 1]
    calls = [1, 2, 2, 2, 1, 1]
    result = one_vs_rest_auc(truth, indicator_scores(calls, classes), classes)
    # Class 1: called on cases 0, 4, 5; truly 1 on 0, 1, 5: sensitivity 2/3, specificity 2/3.
    assert result.per_class[0] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert result.per_class[2] is None
    assert result.reason is not None
    assert "3" in result.reason
    assert result.macro == pytest.approx(np.mean(result.per_class[:2]))
    with pytest.raises(ValueError, match="outside the classes"):
        one_vs_rest_auc([4], [[0, 0, 1]], classes)
    with pytest.raises(ValueError, match="calls outside"):
        indicator_scores([5], classes)
    with pytest.raises(ValueError, match="shape"):
        one_vs_rest_auc([1, 2], [[0, 1, 0]], classes)

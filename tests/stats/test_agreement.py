"""Bootstrap intervals for agreement and Gwet's AC2, against scikit-learn's weighted kappa
where the two coincide, against AC1, and against small examples worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from app.reading.agreement import cohen_kappa, gwet_ac1
from app.stats.agreement import (
    agreement_weights,
    bootstrap_interval,
    gwet_ac2,
    over_pairs,
)

BIRADS = [1, 2, 3, 4, 5]


def test_ac2_by_hand() -> None:
    """Two readers, three ordered categories, 10 cases.

    Table (rows A, columns B): [[3, 1, 0], [0, 2, 1], [1, 0, 2]];
    pi = ((4 + 4) / 20, (3 + 3) / 20, (3 + 3) / 20) = (.4, .3, .3), so
    sum pi (1 - pi) = .24 + .21 + .21 = .66.
    Linear weights [[1, .5, 0], [.5, 1, .5], [0, .5, 1]]: p_a = (3 + 2 + 2 + .5 (1 + 1)) / 10
    = 0.8; T_w = 5; p_e = 5 / (3 * 2) * .66 = .55; AC2 = (.8 - .55) / (1 - .55).
    Quadratic weights [[1, .75, 0], [.75, 1, .75], [0, .75, 1]]: p_a = 0.7 + .75 * 0.2 = 0.85;
    T_w = 6; p_e = .66; AC2 = (.85 - .66) / (1 - .66).
    """
    a = ["x"] * 4 + ["y"] * 3 + ["z"] * 3
    b = ["x", "x", "x", "y", "y", "y", "z", "x", "z", "z"]
    assert gwet_ac2(a, b, categories=["x", "y", "z"], weights="linear") == pytest.approx(
        0.25 / 0.45
    )
    assert gwet_ac2(a, b, categories=["x", "y", "z"], weights="quadratic") == pytest.approx(
        0.19 / 0.34
    )
    # Unweighted: p_a = 0.7, p_e = 0.66 / 2 = 0.33.
    assert gwet_ac2(a, b, categories=["x", "y", "z"], weights=None) == pytest.approx(
        (0.7 - 0.33) / (1 - 0.33)
    )


def test_weights() -> None:
    assert agreement_weights(5, "linear")[0].tolist() == [1, 0.75, 0.5, 0.25, 0]
    assert agreement_weights(3, "quadratic")[0].tolist() == [1, 0.75, 0]
    assert agreement_weights(2, None).tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match="weights must be"):
        agreement_weights(3, "cubic")  # type: ignore[arg-type]


pairs = st.lists(
    st.tuples(st.sampled_from(BIRADS), st.sampled_from(BIRADS)), min_size=1, max_size=60
)


@given(pairs)
def test_unweighted_ac2_is_ac1(data: list[tuple[int, int]]) -> None:
    a, b = [x for x, _ in data], [y for _, y in data]
    assert gwet_ac2(a, b, categories=BIRADS, weights=None) == pytest.approx(
        gwet_ac1(a, b, categories=BIRADS), abs=1e-12
    )


@settings(max_examples=50)
@given(
    st.integers(1, 6),
    st.sampled_from(["linear", "quadratic", None]),
    st.randoms(use_true_random=False),
)
def test_ac2_equals_weighted_kappa_when_both_readers_use_categories_equally(
    per_category: int, weights: str | None, rnd: object
) -> None:
    """With uniform marginals chance agreement is T_w / q^2 for both coefficients."""
    a = [k for k in BIRADS for _ in range(per_category)]
    b = a[:]
    rnd.shuffle(b)  # type: ignore[attr-defined]
    expected = cohen_kappa_score(a, b, labels=BIRADS, weights=weights)
    assert gwet_ac2(a, b, categories=BIRADS, weights=weights) == pytest.approx(  # type: ignore[arg-type]
        expected, abs=1e-12
    )


def test_ac2_inputs() -> None:
    assert gwet_ac2([], [], categories=BIRADS) is None
    assert gwet_ac2([3, 3], [3, 3], categories=BIRADS) == 1.0
    with pytest.raises(ValueError, match="differ in length"):
        gwet_ac2([1], [1, 2], categories=BIRADS)
    with pytest.raises(ValueError, match="outside the categories"):
        gwet_ac2([1], [None], categories=BIRADS)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="repeat"):
        gwet_ac2([1], [1], categories=[1, 1])


def test_bootstrap_interval_of_kappa_is_seeded_and_covers_the_estimate() -> None:
    rng = np.random.default_rng(0)
    a = list(rng.choice(BIRADS, size=300))
    b = [x if rng.random() < 0.7 else int(rng.choice(BIRADS)) for x in a]
    statistic = over_pairs(lambda x, y: cohen_kappa(x, y, weights="quadratic"), a, b)
    first = bootstrap_interval(statistic, len(a), replicates=400, seed=42)
    again = bootstrap_interval(statistic, len(a), replicates=400, seed=42)
    other = bootstrap_interval(statistic, len(a), replicates=400, seed=43)
    assert first == again
    assert first != other
    assert first.estimate == pytest.approx(cohen_kappa_score(a, b, weights="quadratic"))
    assert first.lower is not None
    assert first.upper is not None
    assert first.lower < first.estimate < first.upper
    assert first.used == 400
    assert first.reason is None
    # The percentile interval is the quantiles of the resampled statistics (numpy's default).
    draws = np.random.default_rng(42).integers(0, len(a), size=(400, len(a)))
    values = [statistic(row) for row in draws]
    assert (first.lower, first.upper) == pytest.approx(tuple(np.quantile(values, [0.025, 0.975])))
    assert first.to_dict()["seed"] == 42


def test_bootstrap_interval_of_ac1_and_undefined_resamples() -> None:
    a = [1] * 20 + [2]
    b = [1] * 20 + [2]
    ac1 = bootstrap_interval(
        over_pairs(lambda x, y: gwet_ac1(x, y, categories=[1, 2]), a, b), len(a), replicates=200
    )
    assert ac1.estimate == 1.0
    assert (ac1.lower, ac1.upper) == (1.0, 1.0)
    # Kappa is undefined (None) on resamples without the rare category: they are dropped.
    kappa = bootstrap_interval(over_pairs(cohen_kappa, a, b), len(a), replicates=200, seed=1)
    assert kappa.used < 200
    assert kappa.reason is not None
    assert "were dropped" in kappa.reason
    empty = bootstrap_interval(over_pairs(cohen_kappa, [], []), 0)
    assert (empty.estimate, empty.lower, empty.reason) == (None, None, "no cases")
    none = bootstrap_interval(lambda idx: None, 5, replicates=10)
    assert none.lower is None
    assert none.used == 0
    with pytest.raises(ValueError, match="differ in length"):
        over_pairs(cohen_kappa, [1], [])

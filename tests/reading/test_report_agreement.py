"""Agreement metrics of the reading agreement report: kappa against scikit-learn, AC1, lesion
matching and screening sensitivity/specificity by hand."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score

from app.reading.agreement import (
    SEED002_GROUPS,
    VINDR_GROUPS,
    case_counts,
    cohen_kappa,
    f1_from_counts,
    group_of,
    gwet_ac1,
    gwet_of_tables,
    kappa_of_tables,
    lesion_f1,
    percent_agreement,
    resampled_counts,
    sensitivity_specificity,
)
from app.stats.agreement import bootstrap_interval, gwet_ac2, percentile_interval

BIRADS = [1, 2, 3, 4, 5]
DENSITY_INTS = {"A": 1, "B": 2, "C": 3, "D": 4}
WEIGHTS = [None, "linear", "quadratic"]


def sklearn_kappa(
    a: list[Any], b: list[Any], categories: list[Any] | None, weights: str | None
) -> float | None:
    """scikit-learn's kappa, with NaN (undefined) as None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(a, b, labels=categories, weights=weights)
    return None if value != value else float(value)


def assert_same(ours: float | None, theirs: float | None) -> None:
    if theirs is None:
        assert ours is None
    else:
        assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12)


# The "kappa paradox" (Feinstein and Cicchetti, 1990): 100 breasts, both readers say normal
# for 90, each calls abnormal 5 that the other calls normal, none abnormal by both.
PARADOX_A = [0] * 90 + [0] * 5 + [1] * 5
PARADOX_B = [0] * 90 + [1] * 5 + [0] * 5

# A 3 x 3 example (n = 10); agreement on pairs 1, 2, 3, 5, 6, 8, 10: p_a = 0.7.
SMALL_A = [1, 1, 1, 1, 2, 2, 2, 3, 3, 1]
SMALL_B = [1, 1, 1, 2, 2, 2, 3, 3, 1, 1]


# --- percent agreement and kappa --------------------------------------------------------------


def test_percent_agreement() -> None:
    assert percent_agreement(SMALL_A, SMALL_B) == pytest.approx(0.7)
    assert percent_agreement(PARADOX_A, PARADOX_B) == pytest.approx(0.9)
    assert percent_agreement([], []) is None


def test_kappa_by_hand() -> None:
    # Marginals a: 1 -> 5, 2 -> 3, 3 -> 2; b: the same. p_e = .5*.5 + .3*.3 + .2*.2 = .38.
    # kappa = (.7 - .38) / (1 - .38) = .32 / .62 = 16/31.
    assert cohen_kappa(SMALL_A, SMALL_B) == pytest.approx(16 / 31)


@pytest.mark.parametrize("weights", WEIGHTS)
@pytest.mark.parametrize(
    ("a", "b", "categories"),
    [
        (SMALL_A, SMALL_B, None),
        (SMALL_A, SMALL_B, [1, 2, 3]),
        (SMALL_A, SMALL_B, BIRADS),  # unused categories change the weights, not kappa's form
        ([1, 2, 3, 4, 5, 1, 2, 3], [1, 3, 3, 5, 4, 2, 2, 1], BIRADS),
        (PARADOX_A, PARADOX_B, None),
        ([1, 1, 1, 1], [2, 2, 2, 2], None),  # constant but different: kappa 0
        ([1, 2, 1, 2], [2, 1, 2, 1], None),  # perfect disagreement
        ([3, 3], [3, 3], BIRADS),  # constant and equal: undefined
    ],
)
def test_kappa_matches_sklearn_on_fixed_vectors(
    a: list[int], b: list[int], categories: list[int] | None, weights: Any
) -> None:
    assert_same(
        cohen_kappa(a, b, categories=categories, weights=weights),
        sklearn_kappa(a, b, categories, weights),
    )


def test_kappa_paradox_low_kappa_high_agreement() -> None:
    kappa = cohen_kappa(PARADOX_A, PARADOX_B)
    # p_e = .95*.95 + .05*.05 = .905; kappa = (.9 - .905) / (1 - .905) = -1/19.
    assert kappa == pytest.approx(-1 / 19)
    assert percent_agreement(PARADOX_A, PARADOX_B) == pytest.approx(0.9)


def test_kappa_undefined_and_malformed() -> None:
    assert cohen_kappa([], []) is None
    assert cohen_kappa([2, 2, 2], [2, 2, 2]) is None
    with pytest.raises(ValueError, match="length"):
        cohen_kappa([1], [1, 2])
    with pytest.raises(ValueError, match="outside"):
        cohen_kappa([1, 6], [1, 1], categories=BIRADS)
    with pytest.raises(ValueError, match="weights"):
        cohen_kappa([1], [1], weights="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="None"):
        cohen_kappa([1, None], [1, 1])
    with pytest.raises(ValueError, match="repeat"):
        cohen_kappa([1], [1], categories=[1, 1])


def test_density_letters_in_order_equal_their_ranks() -> None:
    a = ["C", "C", "B", "D", "C", "A", "B", "C"]
    b = ["C", "B", "B", "C", "C", "B", "B", "D"]
    for weights in WEIGHTS:
        letters = cohen_kappa(a, b, categories=list("ABCD"), weights=weights)
        ranks = [DENSITY_INTS[x] for x in a], [DENSITY_INTS[x] for x in b]
        assert_same(letters, sklearn_kappa(*ranks, [1, 2, 3, 4], weights))


def _pairs(values: st.SearchStrategy[int], max_size: int = 60) -> st.SearchStrategy[Any]:
    return st.integers(min_value=1, max_value=max_size).flatmap(
        lambda n: st.tuples(
            st.lists(values, min_size=n, max_size=n), st.lists(values, min_size=n, max_size=n)
        )
    )


# Mostly the commonest category (BI-RADS 1, density C), as in screening.
skewed_birads = st.integers(min_value=0, max_value=99).map(lambda v: 1 if v < 90 else 2 + v % 4)
skewed_density = st.integers(min_value=0, max_value=99).map(lambda v: 3 if v < 80 else 1 + v % 4)


@settings(max_examples=300, deadline=None)
@given(
    pair=st.one_of(
        _pairs(st.sampled_from(BIRADS)),
        _pairs(skewed_birads),
        _pairs(st.sampled_from(list(DENSITY_INTS.values()))),
        _pairs(skewed_density),
    ),
    weights=st.sampled_from(WEIGHTS),
    given_categories=st.booleans(),
)
def test_kappa_matches_sklearn_on_generated_vectors(
    pair: tuple[list[int], list[int]], weights: Any, given_categories: bool
) -> None:
    a, b = pair
    categories = BIRADS if given_categories else None
    assert_same(
        cohen_kappa(a, b, categories=categories, weights=weights),
        sklearn_kappa(a, b, categories, weights),
    )


# --- AC1 --------------------------------------------------------------------------------------


def test_ac1_by_hand_3x3() -> None:
    # pi_1 = (5 + 5) / 20 = .5, pi_2 = (3 + 3) / 20 = .3, pi_3 = (2 + 2) / 20 = .2;
    # p_e = (1 / (3 - 1)) * (.5*.5 + .3*.7 + .2*.8) = (.25 + .21 + .16) / 2 = .31;
    # AC1 = (.7 - .31) / (1 - .31) = .39 / .69 = 13/23 (kappa: 16/31, lower).
    assert gwet_ac1(SMALL_A, SMALL_B, categories=[1, 2, 3]) == pytest.approx(13 / 23)


def test_ac1_on_the_kappa_paradox() -> None:
    # pi_normal = (95 + 95) / 200 = .95, pi_abnormal = .05;
    # p_e = (1 / (2 - 1)) * (.95*.05 + .05*.95) = .095;
    # AC1 = (.9 - .095) / (1 - .095) = .805 / .905 = 161/181 ~ 0.89, where kappa ~ -0.05.
    ac1 = gwet_ac1(PARADOX_A, PARADOX_B, categories=[0, 1])
    assert ac1 == pytest.approx(161 / 181)
    kappa = cohen_kappa(PARADOX_A, PARADOX_B)
    assert kappa is not None
    assert abs(kappa) < 0.1 < 0.85 < ac1


def test_ac1_counts_unused_categories() -> None:
    # With 5 categories, q - 1 = 4: p_e = .62 / 4 = .155; AC1 = (.7 - .155) / .845.
    assert gwet_ac1(SMALL_A, SMALL_B, categories=BIRADS) == pytest.approx(0.545 / 0.845)


def test_ac1_perfect_and_constant_agreement() -> None:
    assert gwet_ac1([1, 2, 3], [1, 2, 3], categories=[1, 2, 3]) == pytest.approx(1.0)
    # Both constant and equal: kappa undefined, AC1 = (1 - 0) / (1 - 0) = 1.
    assert gwet_ac1([1, 1, 1], [1, 1, 1], categories=BIRADS) == pytest.approx(1.0)
    assert gwet_ac1([], [], categories=BIRADS) is None


def test_ac1_malformed() -> None:
    with pytest.raises(ValueError, match="two categories"):
        gwet_ac1([1], [1], categories=[1])
    with pytest.raises(ValueError, match="outside"):
        gwet_ac1([1, 9], [1, 1], categories=BIRADS)
    with pytest.raises(ValueError, match="length"):
        gwet_ac1([1], [], categories=BIRADS)


@settings(max_examples=200, deadline=None)
@given(pair=st.one_of(_pairs(st.sampled_from(BIRADS)), _pairs(skewed_birads)))
def test_ac1_is_at_most_one_and_symmetric(pair: tuple[list[int], list[int]]) -> None:
    a, b = pair
    ac1 = gwet_ac1(a, b, categories=BIRADS)
    assert ac1 is not None
    assert ac1 <= 1 + 1e-12
    assert ac1 == pytest.approx(gwet_ac1(b, a, categories=BIRADS))


# --- lesions ----------------------------------------------------------------------------------


def box(
    box_id: str,
    image: str,
    corners: tuple[float, float, float, float],
    categories: list[str],
    birads: int | None = 4,
) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = corners
    return {
        "id": box_id,
        "image_id": image,
        "xmin": xmin,
        "ymin": ymin,
        "xmax": xmax,
        "ymax": ymax,
        "categories": categories,
        "birads": birads,
    }


READ_A = [
    box("a1", "x", (0, 0, 100, 100), ["Mass"]),
    box("a2", "x", (200, 200, 300, 300), ["Suspicious Calcification"]),
    box("a3", "y", (0, 0, 50, 50), ["Mass"], 3),
]
READ_B = [
    # IoU with a1: 90 * 90 / (10000 + 10000 - 8100) = 8100 / 11900 = 0.68.
    box("b1", "x", (10, 10, 110, 110), ["Focal Asymmetry"]),
    box("b2", "y", (0, 0, 50, 50), ["Mass"], 3),
    box("b3", "x", (500, 500, 600, 600), ["Mass"]),
]


def test_lesion_matching_by_hand() -> None:
    assert lesion_f1(READ_A, READ_B, 0.5) == (2, 1, 1)  # a1-b1, a3-b2
    assert lesion_f1(READ_B, READ_A, 0.5) == (2, 1, 1)
    assert lesion_f1(READ_A, READ_B, 0.7) == (1, 2, 2)  # a1-b1 at 0.68 falls short
    # The concordance rule also wants a shared category: Mass vs Focal Asymmetry is not one.
    assert lesion_f1(READ_A, READ_B, 0.5, same_category=True) == (1, 2, 2)
    assert lesion_f1(READ_A, [], 0.5) == (0, 3, 0)
    assert lesion_f1([], [], 0.5) == (0, 0, 0)


def test_lesion_matching_is_one_to_one_and_greedy_by_iou() -> None:
    a = [box("p", "x", (0, 0, 100, 100), ["Mass"]), box("q", "x", (0, 0, 100, 80), ["Mass"])]
    b = [box("r", "x", (0, 0, 100, 90), ["Mass"])]
    # r overlaps p at 0.9 and q at 80/90 = 0.89: greedy gives r to p, q is left alone.
    assert lesion_f1(a, b, 0.5) == (1, 1, 0)


def test_lesion_matching_needs_the_same_image() -> None:
    a = [box("p", "x", (0, 0, 100, 100), ["Mass"])]
    b = [box("p", "y", (0, 0, 100, 100), ["Mass"])]
    assert lesion_f1(a, b, 0.1) == (0, 1, 1)


def test_lesion_matching_refuses_malformed_input() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        lesion_f1(READ_A, READ_B, 0)
    with pytest.raises(ValueError, match="xmin"):
        lesion_f1([{k: v for k, v in READ_A[0].items() if k != "xmin"}], [], 0.5)
    with pytest.raises(ValueError, match="duplicate"):
        lesion_f1([READ_A[0], READ_A[0]], [], 0.5)


def test_f1_from_counts() -> None:
    assert f1_from_counts(2, 1, 1) == pytest.approx(4 / 6)
    assert f1_from_counts(0, 3, 0) == 0.0
    assert f1_from_counts(5, 0, 0) == 1.0
    assert f1_from_counts(0, 0, 0) is None
    with pytest.raises(ValueError, match="non-negative"):
        f1_from_counts(-1, 0, 0)


# --- screening groups -------------------------------------------------------------------------

REFERENCE = [1, 1, 2, 3, 4, 5, 0, None, 2, 1]
READER = [1, 2, 2, 4, 3, 1, 4, 1, None, 1]


def test_group_of() -> None:
    assert group_of(4, VINDR_GROUPS) == "recall"
    assert group_of(0, VINDR_GROUPS) is None
    assert group_of(0, SEED002_GROUPS) == "0-4-5"
    assert group_of(3, SEED002_GROUPS) == "2-3"
    assert group_of(None, SEED002_GROUPS) is None
    with pytest.raises(ValueError, match="int"):
        group_of("3", VINDR_GROUPS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="repeats"):
        group_of(1, {"x": {1, 2}, "y": {2}})


def test_sensitivity_specificity_vindr_by_hand() -> None:
    # Kept pairs (reference group, reader group); 6 (ref 0), 7 (ref None), 8 (reader None)
    # are skipped: 0 (normal, normal), 1 (normal, benign), 2 (benign, benign),
    # 3 (recall, recall), 4 (recall, recall), 5 (recall, normal), 9 (normal, normal).
    result = sensitivity_specificity(REFERENCE, READER, VINDR_GROUPS)
    assert list(result) == ["normal", "benign", "recall"]
    assert result["normal"] == {
        "sensitivity": pytest.approx(2 / 3),  # 0, 9 of 0, 1, 9
        "specificity": pytest.approx(3 / 4),  # 2, 3, 4 of 2, 3, 4, 5
        "n_positive": 3,
        "n_negative": 4,
    }
    assert result["benign"] == {
        "sensitivity": 1.0,  # 2 of 2
        "specificity": pytest.approx(5 / 6),  # all of 0, 1, 3, 4, 5, 9 but 1
        "n_positive": 1,
        "n_negative": 6,
    }
    assert result["recall"] == {
        "sensitivity": pytest.approx(2 / 3),  # 3, 4 of 3, 4, 5
        "specificity": 1.0,  # 0, 1, 2, 9
        "n_positive": 3,
        "n_negative": 4,
    }


def test_sensitivity_specificity_seed002_by_hand() -> None:
    # Kept pairs (7 and 8 skipped): 0 (1, 1), 1 (1, 2-3), 2 (2-3, 2-3), 3 (2-3, 0-4-5),
    # 4 (0-4-5, 2-3), 5 (0-4-5, 1), 6 (0-4-5, 0-4-5), 9 (1, 1).
    result = sensitivity_specificity(REFERENCE, READER, SEED002_GROUPS)
    assert list(result) == ["1", "2-3", "0-4-5"]
    expected = {
        "1": (2 / 3, 4 / 5, 3, 5),  # sens 0, 9 of 0, 1, 9; spec all of 2-6 but 5
        "2-3": (1 / 2, 4 / 6, 2, 6),  # sens 2 of 2, 3; spec 0, 5, 6, 9 of 0, 1, 4, 5, 6, 9
        "0-4-5": (1 / 3, 4 / 5, 3, 5),  # sens 6 of 4, 5, 6; spec all of 0-3, 9 but 3
    }
    for group, (sensitivity, specificity, positive, negative) in expected.items():
        assert result[group] == {
            "sensitivity": pytest.approx(sensitivity),
            "specificity": pytest.approx(specificity),
            "n_positive": positive,
            "n_negative": negative,
        }


def test_sensitivity_specificity_undefined_and_malformed() -> None:
    result = sensitivity_specificity([1, 1], [1, 2], VINDR_GROUPS)
    assert result["normal"]["specificity"] is None  # no reference outside normal
    assert result["benign"]["sensitivity"] is None
    assert result["benign"]["specificity"] == pytest.approx(1 / 2)
    empty = sensitivity_specificity([None], [1], VINDR_GROUPS)
    assert all(v["n_positive"] == v["n_negative"] == 0 for v in empty.values())
    with pytest.raises(ValueError, match="length"):
        sensitivity_specificity([1], [], VINDR_GROUPS)


# --- the report's intervals: every resample's tables at once ---------------------------------


def _random_table(rng: np.random.Generator, q: int) -> np.ndarray:
    table = rng.integers(0, 6, size=(q, q)).astype(np.float64)
    table[rng.random((q, q)) < 0.4] = 0  # sparse, some categories unused
    return table


def _pairs_of(table: np.ndarray, categories: list[Any]) -> tuple[list[Any], list[Any]]:
    a, b = [], []
    for i, j in zip(*np.nonzero(table), strict=True):
        a += [categories[i]] * int(table[i, j])
        b += [categories[j]] * int(table[i, j])
    return a, b


@pytest.mark.parametrize("q", [2, 4, 6])
def test_table_statistics_equal_the_pair_functions(q: int) -> None:
    rng = np.random.default_rng(q)
    categories = list(range(1, q + 1))
    tables = np.stack([_random_table(rng, q) for _ in range(40)])
    tables[0] = 0
    tables[1] = 0
    tables[1][0, 0] = 5  # one category throughout: kappa undefined, AC1 and AC2 are 1
    for weights in WEIGHTS:
        kappas = kappa_of_tables(tables, weights)
        ac2s = gwet_of_tables(tables, weights)
        for table, kappa, ac2 in zip(tables, kappas, ac2s, strict=True):
            a, b = _pairs_of(table, categories)
            expected = cohen_kappa(a, b, categories=categories, weights=weights)
            assert_same(None if np.isnan(kappa) else float(kappa), expected)
            if not a:
                assert np.isnan(ac2)
                continue
            if weights is None:
                assert ac2 == pytest.approx(gwet_ac1(a, b, categories=categories), abs=1e-12)
            else:
                assert ac2 == pytest.approx(
                    gwet_ac2(a, b, categories=categories, weights=weights), abs=1e-12
                )


def test_ac2_quadratic_is_weighted_kappa_when_every_category_is_used_equally() -> None:
    """Both readers use each density 3 times: chance agreement is the same for AC2 and for
    Cohen's weighted kappa (the module docstring of app.stats.agreement), so the two agree."""
    a = ["A", "B", "C", "D"] * 3
    b = ["A", "B", "C", "D", "B", "A", "D", "C", "A", "C", "B", "D"]
    density = ["A", "B", "C", "D"]
    table = np.zeros((4, 4))
    for x, y in zip(a, b, strict=True):
        table[density.index(x), density.index(y)] += 1
    expected = cohen_kappa_score(a, b, labels=density, weights="quadratic")
    assert gwet_of_tables(table, "quadratic") == pytest.approx(expected, abs=1e-12)
    assert gwet_ac2(a, b, categories=density) == pytest.approx(expected, abs=1e-12)


def test_resampled_counts_draw_as_bootstrap_interval_does() -> None:
    """With one column per case, each resample's totals are how often it drew each case:
    the draws of bootstrap_interval, whatever the chunk size."""
    n, replicates, seed = 7, 50, 11
    seen: list[np.ndarray] = []

    def record(indices: np.ndarray) -> float:
        seen.append(np.bincount(indices, minlength=n))
        return 0.0

    bootstrap_interval(record, n, replicates=replicates, seed=seed)
    draws = np.stack(seen[1:])  # the first call is the estimate on all cases
    for chunk in (1, 8, 256):
        totals = resampled_counts(np.eye(n), replicates=replicates, seed=seed, chunk=chunk)
        assert np.array_equal(totals, draws)
    with pytest.raises(ValueError, match="at least one case"):
        resampled_counts(np.zeros((0, 4)), replicates=10, seed=0)


def test_percentile_interval_is_bootstrap_intervals() -> None:
    """The same resampled values give the same interval, dropped resamples and all."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=400)
    values[::37] = np.nan  # undefined resamples are dropped, and said
    calls = iter([0.25, *values])  # bootstrap_interval's first call is the estimate

    def statistic(_: np.ndarray) -> float | None:
        value = next(calls)
        return None if np.isnan(value) else float(value)

    expected = bootstrap_interval(statistic, 5, replicates=400, seed=0)
    ours = percentile_interval(values, 0.25, replicates=400, seed=0)
    assert ours == expected
    assert ours.reason == "11 of 400 resamples left the statistic undefined and were dropped"
    none = percentile_interval(np.full(10, np.nan), 0.5, replicates=10, seed=0)
    assert (none.lower, none.upper, none.used) == (None, None, 0)


def test_case_counts_by_hand_and_malformed() -> None:
    counts = case_counts([0, 0, 2], [1, 2, 2], [1, 1, 2], n_cases=3, categories=[1, 2])
    assert counts.tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]
    with pytest.raises(ValueError, match="outside"):
        case_counts([0], [3], [1], n_cases=1, categories=[1, 2])
    with pytest.raises(ValueError, match="outside range"):
        case_counts([1], [1], [1], n_cases=1, categories=[1, 2])
    with pytest.raises(ValueError, match="length"):
        case_counts([0, 0], [1], [1], n_cases=1, categories=[1, 2])

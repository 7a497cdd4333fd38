"""MRMC analyses on small studies against direct computations (leave-one-out AUCs from
scikit-learn, the U-statistic moments enumerated, ANOVA by least squares), and their
properties: invariance to monotone transforms, identical modalities, degenerate shapes."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from app.stats.mrmc import dbm_analysis, model_vs_readers, or_analysis, pseudovalues
from app.stats.mrmc.covariance import covariance, jackknife_covariance, unbiased_covariance
from app.stats.mrmc.figures import auc_matrix, study_components
from app.stats.ratings import ReaderStudy
from tests.stats.vandyke import study as van_dyke

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_study(seed: int, t: int, r: int, n1: int, n0: int, scale: int | None = 5) -> ReaderStudy:
    """Ratings with a signal, a reader effect and ties (``scale`` levels) or none."""
    rng = np.random.default_rng(seed)
    truth = np.r_[np.ones(n1, dtype=int), np.zeros(n0, dtype=int)][rng.permutation(n1 + n0)]
    latent = truth[None, None, :] * rng.uniform(0.5, 2, (t, r, 1)) + rng.normal(
        size=(t, r, n1 + n0)
    )
    scores = (
        latent if scale is None else np.digitize(latent, np.linspace(-1.5, 2.5, scale - 1)) + 1.0
    )
    return ReaderStudy(
        tuple(f"T{i}" for i in range(t)),
        tuple(f"R{j}" for j in range(r)),
        tuple(f"C{k}" for k in range(n1 + n0)),
        truth,
        scores,
    )


studies = st.builds(
    make_study,
    seed=st.integers(0, 2**32 - 1),
    t=st.integers(2, 3),
    r=st.integers(2, 5),
    n1=st.integers(3, 15),
    n0=st.integers(3, 15),
    scale=st.sampled_from([3, 5, None]),
)


def leave_one_out(s: ReaderStudy) -> np.ndarray:
    """AUC of every (treatment, reader) with each case left out, by scikit-learn: (t r, c)."""
    t, r, c = s.scores.shape
    flat = s.scores.reshape(t * r, c)
    out = np.empty((t * r, c))
    for k in range(c):
        keep = np.arange(c) != k
        for f in range(t * r):
            out[f, k] = roc_auc_score(s.truth[keep], flat[f, keep])
    return out


@settings(max_examples=10, deadline=None)
@given(studies)
def test_jackknife_covariance_and_pseudovalues_by_brute_force(s: ReaderStudy) -> None:
    t, r, c = s.scores.shape
    loo = leave_one_out(s)
    centred = loo - loo.mean(axis=1, keepdims=True)
    expected = (c - 1) / c * centred @ centred.T
    assert np.allclose(jackknife_covariance(study_components(s)), expected, atol=1e-14)
    aucs = np.array([[roc_auc_score(s.truth, s.scores[i, j]) for j in range(r)] for i in range(t)])
    assert np.allclose(auc_matrix(s), aucs, atol=1e-14)
    expected_pseudo = c * aucs.reshape(t * r, 1) - (c - 1) * loo
    ours = pseudovalues(s).reshape(t * r, c)
    # Our case order is diseased first; compare as sets of columns per row.
    assert np.allclose(np.sort(ours, axis=1), np.sort(expected_pseudo, axis=1), atol=1e-12)
    assert np.allclose(ours.mean(axis=1), aucs.ravel(), atol=1e-12)


def test_unbiased_covariance_by_enumeration() -> None:
    s = make_study(11, 2, 2, 4, 5)
    t, r, c = s.scores.shape
    flat = s.scores.reshape(t * r, c)
    x, y = flat[:, s.truth == 1], flat[:, s.truth == 0]
    n1, n0 = x.shape[1], y.shape[1]
    psi = (x[:, :, None] > y[:, None, :]) + 0.5 * (x[:, :, None] == y[:, None, :])
    expected = np.zeros((t * r, t * r))
    for a, b in itertools.product(range(t * r), repeat=2):
        sums = {key: [0.0, 0] for key in ("both", "diseased", "normal", "neither")}
        for i, j, i2, j2 in itertools.product(range(n1), range(n0), range(n1), range(n0)):
            key = (
                "both"
                if (i == i2 and j == j2)
                else "diseased"
                if i == i2
                else "normal"
                if j == j2
                else "neither"
            )
            sums[key][0] += psi[a, i, j] * psi[b, i2, j2]
            sums[key][1] += 1
        m = {key: total / count for key, (total, count) in sums.items()}
        expected[a, b] = (
            m["both"]
            + (n0 - 1) * m["diseased"]
            + (n1 - 1) * m["normal"]
            + (n1 - 1) * (n0 - 1) * m["neither"]
        ) / (n1 * n0) - m["neither"]
    assert np.allclose(unbiased_covariance(s.truth, flat), expected, atol=1e-15)
    with pytest.raises(ValueError, match="covariance must be one of"):
        covariance("bootstrap", study_components(s), s.truth, flat)  # type: ignore[arg-type]


def _least_squares_ss(values: np.ndarray) -> tuple[float, float]:
    """SS(T) and SS(T*R) of a two-way table by least squares on dummy variables."""
    t, r = values.shape
    y = values.ravel()
    rows = [(i, j) for i in range(t) for j in range(r)]

    def rss(columns: list[np.ndarray]) -> float:
        design = np.column_stack([np.ones(len(rows)), *columns])
        fitted = design @ np.linalg.lstsq(design, y, rcond=None)[0]
        return float(np.sum((y - fitted) ** 2))

    treatment = [np.array([i == k for i, _ in rows], dtype=float) for k in range(1, t)]
    reader = [np.array([j == k for _, j in rows], dtype=float) for k in range(1, r)]
    additive = rss(treatment + reader)
    return rss(reader) - additive, additive


@FAST
@given(studies)
def test_or_mean_squares_and_designs_by_least_squares(s: ReaderStudy) -> None:
    t, r, _ = s.scores.shape
    result = or_analysis(s)
    ss_t, ss_tr = _least_squares_ss(auc_matrix(s))
    parts = result.components
    assert parts.ms_t == pytest.approx(ss_t / (t - 1), abs=1e-12)
    assert parts.ms_tr == pytest.approx(ss_tr / ((t - 1) * (r - 1)), abs=1e-12)
    assert len(result.rrrc.differences) == t * (t - 1) // 2
    assert len(result.frrc.reader_differences) == r * t * (t - 1) // 2
    # Every pairwise difference shares the error term (Hillis 2007).
    ses = {round(d.se or 0, 12) for d in result.rrrc.differences}
    assert len(ses) == 1
    if result.rrrc.test.statistic is not None and result.rrrc.test.df_den is not None:
        assert result.rrfc.test.df_den == (t - 1) * (r - 1)
    json.dumps(result.to_dict(), allow_nan=False)
    json.dumps(dbm_analysis(s).to_dict(), allow_nan=False)


@FAST
@given(studies, st.sampled_from(["exp", "cube", "affine"]))
def test_analyses_are_invariant_to_monotone_transforms(s: ReaderStudy, transform: str) -> None:
    scaled = s.scores / (np.abs(s.scores).max() + 1)
    changed = {"exp": np.exp(scaled), "cube": scaled**3 - 2, "affine": 4 * s.scores + 9}[transform]
    other = ReaderStudy(s.treatments, s.readers, s.cases, s.truth, changed)
    for method in ("jackknife", "delong", "unbiased"):
        a, b = (
            or_analysis(s, covariance_method=method),
            or_analysis(other, covariance_method=method),
        )
        assert [f.auc for f in a.reader_figures] == [f.auc for f in b.reader_figures]
        for design in ("rrrc", "frrc", "rrfc"):
            x, y = getattr(a, design).test, getattr(b, design).test
            assert (x.statistic is None) == (y.statistic is None)
            if x.statistic is not None:
                assert x.statistic == pytest.approx(y.statistic, rel=1e-9, abs=1e-12)
                assert x.p == pytest.approx(y.p, rel=1e-9, abs=1e-12)
    d1, d2 = dbm_analysis(s), dbm_analysis(other)
    if d1.rrrc.test.statistic is not None:
        assert d1.rrrc.test.statistic == pytest.approx(d2.rrrc.test.statistic, rel=1e-9)


@FAST
@given(
    st.integers(0, 2**32 - 1),
    st.integers(2, 6),
    st.integers(3, 20),
    st.integers(3, 20),
    st.sampled_from([3, 5, None]),
)
def test_identical_modalities_give_f_near_zero(
    seed: int, r: int, n1: int, n0: int, scale: int | None
) -> None:
    one = make_study(seed, 1, r, n1, n0, scale)
    twice = ReaderStudy(
        ("unaided", "aided"), one.readers, one.cases, one.truth, np.concatenate([one.scores] * 2)
    )
    for method in ("jackknife", "delong", "unbiased"):
        result = or_analysis(twice, covariance_method=method)
        for design in ("rrrc", "frrc", "rrfc"):
            test = getattr(result, design).test
            assert test.statistic == pytest.approx(0.0, abs=1e-9)
            assert test.p == pytest.approx(1.0, abs=1e-9)
            difference = getattr(result, design).differences[0]
            assert difference.estimate == 0.0
            assert difference.p == pytest.approx(1.0, abs=1e-9)
    dbm = dbm_analysis(twice)
    for design in ("rrrc", "frrc", "rrfc"):
        test = getattr(dbm, design).test
        assert test.statistic == pytest.approx(0.0, abs=1e-9)
        assert test.p == pytest.approx(1.0, abs=1e-9)


def test_one_reader_and_one_treatment() -> None:
    s = make_study(5, 2, 1, 10, 12)
    result = or_analysis(s)
    assert result.rrrc.test.statistic is None
    assert result.rrrc.test.reason == "one reader: reader variability cannot be estimated"
    assert result.rrfc.test.statistic is None
    assert result.frrc.test.statistic is not None
    figure = list(result.reader_figures)
    # One reader, fixed: the difference's SE is that of the two AUCs on the same cases.
    blocks = jackknife_covariance(study_components(s))
    assert result.frrc.differences[0].se == pytest.approx(
        np.sqrt(blocks[0, 0] + blocks[1, 1] - 2 * blocks[0, 1]), rel=1e-12
    )
    assert len(figure) == 2
    single = or_analysis(make_study(6, 1, 4, 10, 12))
    assert single.components.ms_t is None
    assert single.components.cov1 is None
    assert single.components.var_r is not None
    assert single.rrrc.treatments[0].df is not None
    body = json.loads(json.dumps(single.to_dict(), allow_nan=False))
    assert body["rrrc"]["test"]["statistic"] is None
    assert body["rrrc"]["test"]["reason"].startswith("one treatment")
    dbm_one = dbm_analysis(make_study(6, 1, 4, 10, 12))
    assert dbm_one.rrrc.treatments[0].se == pytest.approx(single.rrrc.treatments[0].se, rel=1e-10)
    with pytest.raises(ValueError, match="alpha"):
        or_analysis(s, alpha=0)


def _model_vs_readers_by_hand(s: ReaderStudy, model: np.ndarray) -> tuple[float, float, float]:
    """Readers' mean minus model: estimate, RRRC SE and df from sklearn leave-one-out AUCs."""
    c = len(s.cases)
    readers = s.scores[0]
    r = readers.shape[0]
    aucs = np.array([roc_auc_score(s.truth, row) for row in readers])
    model_auc = roc_auc_score(s.truth, model)
    d = aucs - model_auc
    loo = np.empty((r, c))
    for k in range(c):
        keep = np.arange(c) != k
        m = roc_auc_score(s.truth[keep], model[keep])
        for j in range(r):
            loo[j, k] = roc_auc_score(s.truth[keep], readers[j, keep]) - m
    centred = loo - loo.mean(axis=1, keepdims=True)
    cov = (c - 1) / c * centred @ centred.T
    cov2 = cov[~np.eye(r, dtype=bool)].mean()
    ms_r = np.var(d, ddof=1)
    error = ms_r + r * max(cov2, 0)
    return float(d.mean()), float(np.sqrt(error / r)), float(error**2 / (ms_r**2 / (r - 1)))


def test_model_against_readers_by_brute_force() -> None:
    s = van_dyke().subset(treatments=["2"], readers=["2", "3", "4", "5"])
    model = van_dyke().scores[1, 0] + np.linspace(0, 0.5, len(s.cases))  # a tie-breaking model
    result = model_vs_readers(s, model, model_name="AI: test")
    estimate, se, df = _model_vs_readers_by_hand(s, model)
    assert result.rrrc.estimate == pytest.approx(estimate, abs=1e-14)
    assert result.rrrc.se == pytest.approx(se, rel=1e-10)
    assert result.rrrc.df == pytest.approx(df, rel=1e-10)
    assert (result.rrrc.treatment_a, result.rrrc.treatment_b) == ("readers", "AI: test")
    assert result.model.auc == pytest.approx(roc_auc_score(s.truth, model))
    assert result.readers_mean == pytest.approx(np.mean([f.auc for f in result.readers]))
    assert result.frrc.distribution == "z"
    json.dumps(result.to_dict(), allow_nan=False)
    with pytest.raises(ValueError, match="one score per case"):
        model_vs_readers(s, model[:-1])
    with pytest.raises(ValueError, match="no treatment"):
        model_vs_readers(s, model, treatment="9")


@FAST
@given(st.integers(0, 2**32 - 1), st.integers(2, 5))
def test_model_identical_to_every_reader_gives_zero_difference(seed: int, r: int) -> None:
    base = make_study(seed, 1, 1, 8, 9)
    same = ReaderStudy(
        base.treatments,
        tuple(f"R{j}" for j in range(r)),
        base.cases,
        base.truth,
        np.repeat(base.scores, r, axis=1),
    )
    result = model_vs_readers(same, base.scores[0, 0], covariance_method="delong")
    assert result.rrrc.estimate == 0.0
    assert result.rrrc.p == pytest.approx(1.0)

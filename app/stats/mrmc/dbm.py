"""Dorfman-Berbaum-Metz (DBM) analysis: a treatment x reader x case ANOVA of jackknife
pseudovalues (Dorfman, Berbaum & Metz, 1992), with Hillis' denominator degrees of freedom
(Hillis, Berbaum & Metz, 2008).

Pseudovalues are unnormalised, ``Y_ijk = c A_ij - (c - 1) A_ij(k)``, as in OR-DBM MRMC,
JAFROC and RJafroc (for the empirical AUC their mean over cases is the AUC itself). With the
mean squares ``MS(T), MS(R), MS(C), MS(TR), MS(TC), MS(RC), MS(TRC)``:

- RRRC: ``F = MS(T) / [MS(TR) + max(MS(TC) - MS(TRC), 0)]`` on ``(t - 1, ddf_H)``,
  ``ddf_H = [MS(TR) + max(MS(TC) - MS(TRC), 0)]^2 / {MS(TR)^2 / [(t - 1)(r - 1)]}``; a
  difference's ``SE = sqrt(2 / (r c) [MS(TR) + max(MS(TC) - MS(TRC), 0)])``. With
  unnormalised pseudovalues this equals OR RRRC with jackknife covariances (Hillis et al.,
  2005). One treatment alone: ``SE = sqrt([MS(R)_i + max(MS(C)_i - MS(RC)_i, 0)] / (r c))``
  on ``[MS(R)_i + max(MS(C)_i - MS(RC)_i, 0)]^2 / [MS(R)_i^2 / (r - 1)]``.
- FRRC: ``F = MS(T) / MS(TC)`` on ``(t - 1, (t - 1)(c - 1))`` (JAFROC's and RJafroc's test;
  OR's FRRC uses a chi-square instead); differences ``SE = sqrt(2 MS(TC) / (r c))`` on
  ``(t - 1)(c - 1)``; one treatment ``SE = sqrt(MS(C)_i / (r c))`` on ``c - 1``.
- RRFC: ``F = MS(T) / MS(TR)`` on ``(t - 1, (t - 1)(r - 1))``; differences
  ``SE = sqrt(2 MS(TR) / (r c))``; one treatment ``SE = sqrt(MS(R)_i / (r c))`` on ``r - 1``.

Variance components (expected mean squares of the three-way random model):
``var_r = [MS(R) - MS(TR) - MS(RC) + MS(TRC)] / (t c)``,
``var_c = [MS(C) - MS(TC) - MS(RC) + MS(TRC)] / (t r)``, ``var_tr = [MS(TR) - MS(TRC)] / c``,
``var_tc = [MS(TC) - MS(TRC)] / r``, ``var_rc = [MS(RC) - MS(TRC)] / t``,
``var_error = MS(TRC)`` (treatment x reader x case interaction plus error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.stats.mrmc import inference
from app.stats.mrmc.figures import study_components
from app.stats.mrmc.obuchowski_rockette import ONE_READER, ONE_TREATMENT
from app.stats.mrmc.results import Analysis, Difference, TreatmentEstimate, _Plain
from app.stats.ratings import ReaderStudy
from app.stats.roc import FloatArray, StructuralComponents


@dataclass(frozen=True)
class DBMMeanSquares(_Plain):
    """The pseudovalue ANOVA: mean squares and their degrees of freedom (``None`` at zero
    df), and per treatment the reader, case and reader x case mean squares."""

    ms_t: float | None
    ms_r: float | None
    ms_c: float
    ms_tr: float | None
    ms_tc: float | None
    ms_rc: float | None
    ms_trc: float | None
    df_t: int
    df_r: int
    df_c: int
    df_tr: int
    df_tc: int
    df_rc: int
    df_trc: int
    ms_r_by_treatment: tuple[float | None, ...]
    ms_c_by_treatment: tuple[float, ...]
    ms_rc_by_treatment: tuple[float | None, ...]


@dataclass(frozen=True)
class DBMComponents(_Plain):
    """DBM variance components (ANOVA estimates, which can be negative)."""

    var_r: float | None
    var_c: float | None
    var_tr: float | None
    var_tc: float | None
    var_rc: float | None
    var_error: float | None


@dataclass(frozen=True)
class DBMResult(_Plain):
    """A DBM analysis: the AUCs, the pseudovalue ANOVA, its components and the three
    generalisations (FRRC with ``F(t - 1, (t - 1)(c - 1))``)."""

    alpha: float
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: int
    aucs: tuple[tuple[float, ...], ...]
    treatment_means: tuple[float, ...]
    mean_squares: DBMMeanSquares
    components: DBMComponents
    rrrc: Analysis
    frrc: Analysis
    rrfc: Analysis


def pseudovalues(study: ReaderStudy) -> FloatArray:
    """Unnormalised jackknife pseudovalues, shape ``(t, r, c)``; the cases are ordered
    diseased first, then non-diseased (each in the study's order)."""
    return _pseudovalues(study_components(study), study.scores.shape)


def _pseudovalues(components: StructuralComponents, shape: tuple[int, ...]) -> FloatArray:
    t, r, c = shape
    left_out = components.jackknife_values()
    values = c * components.auc[:, None] - (c - 1) * left_out
    return values.reshape(t, r, c)


def dbm_mean_squares(y: FloatArray) -> DBMMeanSquares:
    """The three-way ANOVA (one observation per cell) of ``y[t, r, c]``."""
    t, r, c = y.shape
    grand = y.mean()
    m_t = y.mean(axis=(1, 2))
    m_r = y.mean(axis=(0, 2))
    m_c = y.mean(axis=(0, 1))
    m_tr = y.mean(axis=2)
    m_tc = y.mean(axis=1)
    m_rc = y.mean(axis=0)
    ss_t = r * c * np.sum((m_t - grand) ** 2)
    ss_r = t * c * np.sum((m_r - grand) ** 2)
    ss_c = t * r * np.sum((m_c - grand) ** 2)
    ss_tr = c * np.sum((m_tr - m_t[:, None] - m_r[None, :] + grand) ** 2)
    ss_tc = r * np.sum((m_tc - m_t[:, None] - m_c[None, :] + grand) ** 2)
    ss_rc = t * np.sum((m_rc - m_r[:, None] - m_c[None, :] + grand) ** 2)
    residual = (
        y
        - m_tr[:, :, None]
        - m_tc[:, None, :]
        - m_rc[None, :, :]
        + m_t[:, None, None]
        + m_r[None, :, None]
        + m_c[None, None, :]
        - grand
    )
    ss_trc = np.sum(residual**2)
    dfs = {
        "t": t - 1,
        "r": r - 1,
        "c": c - 1,
        "tr": (t - 1) * (r - 1),
        "tc": (t - 1) * (c - 1),
        "rc": (r - 1) * (c - 1),
        "trc": (t - 1) * (r - 1) * (c - 1),
    }

    def ms(ss: float, df: int) -> float | None:
        return float(ss) / df if df > 0 else None

    ms_r_each: list[float | None] = []
    ms_c_each: list[float] = []
    ms_rc_each: list[float | None] = []
    for i in range(t):
        one = dbm_mean_squares(y[i : i + 1]) if t > 1 else None
        if one is None:
            ms_r_each.append(ms(ss_r, dfs["r"]))
            ms_c_each.append(float(ss_c) / dfs["c"])
            ms_rc_each.append(ms(ss_rc, dfs["rc"]))
        else:
            ms_r_each.append(one.ms_r)
            ms_c_each.append(one.ms_c)
            ms_rc_each.append(one.ms_rc)
    return DBMMeanSquares(
        ms_t=ms(ss_t, dfs["t"]),
        ms_r=ms(ss_r, dfs["r"]),
        ms_c=float(ss_c) / dfs["c"],
        ms_tr=ms(ss_tr, dfs["tr"]),
        ms_tc=ms(ss_tc, dfs["tc"]),
        ms_rc=ms(ss_rc, dfs["rc"]),
        ms_trc=ms(ss_trc, dfs["trc"]),
        df_t=dfs["t"],
        df_r=dfs["r"],
        df_c=dfs["c"],
        df_tr=dfs["tr"],
        df_tc=dfs["tc"],
        df_rc=dfs["rc"],
        df_trc=dfs["trc"],
        ms_r_by_treatment=tuple(ms_r_each),
        ms_c_by_treatment=tuple(ms_c_each),
        ms_rc_by_treatment=tuple(ms_rc_each),
    )


def dbm_analysis(study: ReaderStudy, *, alpha: float = 0.05) -> DBMResult:
    """The DBM analysis of a fully crossed study (from one treatment and one reader; parts a
    shape leaves undefined are ``None`` with a reason)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    t, r, c = study.scores.shape
    components = study_components(study)
    y = _pseudovalues(components, study.scores.shape)
    aucs = components.auc.reshape(t, r)
    means = aucs.mean(axis=1)
    squares = dbm_mean_squares(y)
    zero = inference.ZERO * c
    return DBMResult(
        alpha=alpha,
        treatments=study.treatments,
        readers=study.readers,
        cases=c,
        aucs=tuple(tuple(float(v) for v in row) for row in aucs),
        treatment_means=tuple(float(v) for v in means),
        mean_squares=squares,
        components=_components(squares, t, r, c),
        rrrc=_rrrc(study, means, squares, alpha, zero),
        frrc=_frrc(study, means, squares, alpha, zero),
        rrfc=_rrfc(study, means, squares, alpha, zero),
    )


def _components(s: DBMMeanSquares, t: int, r: int, c: int) -> DBMComponents:
    trc = s.ms_trc if s.ms_trc is not None else None
    if t == 1:
        # One treatment: the treatment interactions are confounded with the main effects;
        # what reader x case leaves is the error.
        trc = s.ms_rc
    rc = s.ms_rc
    tc = s.ms_tc if t > 1 else 0.0
    tr = s.ms_tr if t > 1 else 0.0

    def known(*values: float | None) -> bool:
        return all(value is not None for value in values)

    var_r = (s.ms_r - tr - rc + trc) / (t * c) if t > 1 and known(s.ms_r, tr, rc, trc) else None
    var_c = (s.ms_c - tc - rc + trc) / (t * r) if t > 1 and known(tc, rc, trc) else None
    if t == 1 and known(s.ms_r, rc):
        var_r = (s.ms_r - rc) / c  # type: ignore[operator]
        var_c = (s.ms_c - rc) / r  # type: ignore[operator]
    return DBMComponents(
        var_r=var_r,
        var_c=var_c,
        var_tr=(s.ms_tr - s.ms_trc) / c if known(s.ms_tr, s.ms_trc) else None,  # type: ignore[operator]
        var_tc=(s.ms_tc - s.ms_trc) / r if known(s.ms_tc, s.ms_trc) else None,  # type: ignore[operator]
        var_rc=(s.ms_rc - s.ms_trc) / t if known(s.ms_rc, s.ms_trc) else None,  # type: ignore[operator]
        var_error=trc,
    )


def _rrrc(
    study: ReaderStudy, means: FloatArray, s: DBMMeanSquares, alpha: float, zero: float
) -> Analysis:
    t, r, c = len(study.treatments), len(study.readers), len(study.cases)
    reason = ONE_TREATMENT if t == 1 else ONE_READER if r == 1 else None
    differences: tuple[Difference, ...] = ()
    if reason is None:
        assert s.ms_tr is not None
        assert s.ms_tc is not None
        assert s.ms_trc is not None
        error = s.ms_tr + max(s.ms_tc - s.ms_trc, 0.0)
        ddf = inference.hillis_df(error, s.ms_tr, s.df_tr, zero=zero)
        test = inference.f_test(s.ms_t, error, s.df_t, ddf, zero=zero)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / (r * c) * error, ddf, alpha, normal=False
        )
    else:
        test = inference.f_test(None, None, t - 1, None, reason=reason)
    estimates: list[TreatmentEstimate] = []
    for i, treatment in enumerate(study.treatments):
        ms_r, ms_c, ms_rc = s.ms_r_by_treatment[i], s.ms_c_by_treatment[i], s.ms_rc_by_treatment[i]
        if ms_r is None or ms_rc is None:
            estimates.append(
                inference.estimate(
                    treatment, float(means[i]), None, None, alpha, normal=False, reason=ONE_READER
                )
            )
            continue
        error = ms_r + max(ms_c - ms_rc, 0.0)
        df = inference.hillis_df(error, ms_r, r - 1, zero=zero)
        estimates.append(
            inference.estimate(treatment, float(means[i]), error / (r * c), df, alpha, normal=False)
        )
    return Analysis("RRRC", test, differences, tuple(estimates))


def _frrc(
    study: ReaderStudy, means: FloatArray, s: DBMMeanSquares, alpha: float, zero: float
) -> Analysis:
    t, r, c = len(study.treatments), len(study.readers), len(study.cases)
    differences: tuple[Difference, ...] = ()
    if t == 1:
        test = inference.f_test(None, None, 0, None, reason=ONE_TREATMENT)
    else:
        assert s.ms_tc is not None
        test = inference.f_test(s.ms_t, s.ms_tc, s.df_t, s.df_tc, zero=zero)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / (r * c) * s.ms_tc, s.df_tc, alpha, normal=False
        )
    estimates = tuple(
        inference.estimate(
            treatment, float(means[i]), s.ms_c_by_treatment[i] / (r * c), c - 1, alpha, normal=False
        )
        for i, treatment in enumerate(study.treatments)
    )
    return Analysis("FRRC", test, differences, estimates)


def _rrfc(
    study: ReaderStudy, means: FloatArray, s: DBMMeanSquares, alpha: float, zero: float
) -> Analysis:
    t, r, c = len(study.treatments), len(study.readers), len(study.cases)
    reason = ONE_TREATMENT if t == 1 else ONE_READER if r == 1 else None
    differences: tuple[Difference, ...] = ()
    if reason is None:
        assert s.ms_tr is not None
        test = inference.f_test(s.ms_t, s.ms_tr, s.df_t, s.df_tr, zero=zero)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / (r * c) * s.ms_tr, s.df_tr, alpha, normal=False
        )
    else:
        test = inference.f_test(None, None, t - 1, None, reason=reason)
    estimates: list[TreatmentEstimate] = []
    for i, treatment in enumerate(study.treatments):
        ms_r = s.ms_r_by_treatment[i]
        estimates.append(
            inference.estimate(
                treatment,
                float(means[i]),
                None if ms_r is None else ms_r / (r * c),
                r - 1,
                alpha,
                normal=False,
                reason=ONE_READER if ms_r is None else None,
            )
        )
    return Analysis("RRFC", test, differences, tuple(estimates))

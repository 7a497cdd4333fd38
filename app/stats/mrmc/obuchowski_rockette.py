"""Obuchowski-Rockette (OR) analysis of reader AUCs with Hillis' denominator degrees of
freedom (Obuchowski & Rockette, 1995; Hillis, 2007; Hillis, Berbaum & Metz, 2008), in the
three generalisations OR-DBM MRMC 2.51 reports.

With ``t`` treatments, ``r`` readers, the AUCs ``A_ij``, the treatment x reader ANOVA mean
squares ``MS(T)``, ``MS(R)``, ``MS(T*R)`` and the covariances ``Var``, ``Cov1..3`` of
:mod:`app.stats.mrmc.covariance`:

- RRRC: ``F = MS(T) / [MS(T*R) + r max(Cov2 - Cov3, 0)]`` on ``(t - 1, ddf_H)``,
  ``ddf_H = [MS(T*R) + r max(Cov2 - Cov3, 0)]^2 / {MS(T*R)^2 / [(t - 1)(r - 1)]}``; a
  difference has ``SE = sqrt(2/r [MS(T*R) + r max(Cov2 - Cov3, 0)])`` on ``ddf_H``; one
  treatment alone ``SE = sqrt([MS(R)_i + r max(Cov2_i, 0)] / r)`` on
  ``[MS(R)_i + r max(Cov2_i, 0)]^2 / [MS(R)_i^2 / (r - 1)]``.
- FRRC: ``X2 = (t - 1) MS(T) / [Var - Cov1 + (r - 1) max(Cov2 - Cov3, 0)]``, chi-square on
  ``t - 1``; differences ``SE = sqrt(2/r [Var - Cov1 + (r - 1) max(Cov2 - Cov3, 0)])`` (z);
  one treatment ``SE = sqrt([Var_i + (r - 1) max(Cov2_i, 0)] / r)`` (z); per reader
  ``SE = sqrt(Var(A_aj) + Var(A_bj) - 2 Cov(A_aj, A_bj))`` (z).
- RRFC: ``F = MS(T) / MS(T*R)`` on ``(t - 1, (t - 1)(r - 1))``; differences
  ``SE = sqrt(2 MS(T*R) / r)``; one treatment ``SE = sqrt(MS(R)_i / r)`` on ``r - 1``.

Variance components: ``Var(T*R) = MS(T*R) - Var + Cov1 + Cov2 - Cov3`` and
``Var(R) = [MS(R) - MS(T*R)] / t - Cov1 + Cov3`` (with one treatment,
``Var(R) = MS(R) - Var + Cov2``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from app.stats.mrmc import inference
from app.stats.mrmc.covariance import Method, ORCovariances, covariance, or_covariances
from app.stats.mrmc.figures import study_components
from app.stats.mrmc.results import (
    Analysis,
    Difference,
    ReaderFigure,
    _Plain,
)
from app.stats.ratings import ReaderStudy
from app.stats.roc import FloatArray

ONE_TREATMENT = "one treatment: there is nothing to compare"
ONE_READER = "one reader: reader variability cannot be estimated"


@dataclass(frozen=True)
class ORComponents(_Plain):
    """The treatment x reader ANOVA of the AUCs and OR's variance components (``None``
    where the study's shape leaves one undefined); ``rho1..3 = Cov1..3 / Var``."""

    ms_t: float | None
    ms_r: float | None
    ms_tr: float | None
    var_r: float | None
    var_tr: float | None
    cov1: float | None
    cov2: float | None
    cov3: float | None
    var_error: float
    rho1: float | None
    rho2: float | None
    rho3: float | None
    ms_r_by_treatment: tuple[float | None, ...]
    cov2_by_treatment: tuple[float | None, ...]
    var_error_by_treatment: tuple[float, ...]
    var_error_by_reader: tuple[float, ...]
    cov1_by_reader: tuple[float | None, ...]


@dataclass(frozen=True)
class ORResult(_Plain):
    """An OR analysis: per reader and treatment AUCs with their SEs, reader-averaged AUCs,
    components and the three generalisations. ``covariance`` names the estimator;
    ``alpha`` is one minus the intervals' confidence."""

    covariance: str
    alpha: float
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: int
    diseased: int
    non_diseased: int
    reader_figures: tuple[ReaderFigure, ...]
    treatment_means: tuple[float, ...]
    components: ORComponents
    rrrc: Analysis
    frrc: Analysis
    rrfc: Analysis


def or_analysis(
    study: ReaderStudy, *, covariance_method: Method = "jackknife", alpha: float = 0.05
) -> ORResult:
    """The Obuchowski-Rockette analysis of a fully crossed study (any number of treatments,
    from one, and of readers, from one; the parts a shape leaves undefined are ``None`` with
    a reason)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    t, r, c = study.scores.shape
    components = study_components(study)
    aucs = components.auc.reshape(t, r)
    matrix = covariance(covariance_method, components, study.truth, study.scores.reshape(t * r, c))
    cov = or_covariances(matrix, t, r)
    parts = _components(aucs, cov)
    figures = _reader_figures(study, aucs, matrix, alpha)
    means = aucs.mean(axis=1)
    return ORResult(
        covariance=covariance_method,
        alpha=alpha,
        treatments=study.treatments,
        readers=study.readers,
        cases=c,
        diseased=study.n_diseased,
        non_diseased=study.n_normal,
        reader_figures=figures,
        treatment_means=tuple(float(v) for v in means),
        components=parts,
        rrrc=_rrrc(study, means, parts, alpha),
        frrc=_frrc(study, aucs, matrix, means, parts, alpha),
        rrfc=_rrfc(study, means, parts, alpha),
    )


def anova_mean_squares(aucs: FloatArray) -> tuple[float | None, float | None, float | None]:
    """``MS(T)``, ``MS(R)``, ``MS(T*R)`` of a ``(t, r)`` table (``None`` at zero df)."""
    t, r = aucs.shape
    by_treatment = aucs.mean(axis=1)
    by_reader = aucs.mean(axis=0)
    grand = by_treatment.mean()
    ms_t = r * float(np.sum((by_treatment - grand) ** 2)) / (t - 1) if t > 1 else None
    ms_r = t * float(np.sum((by_reader - grand) ** 2)) / (r - 1) if r > 1 else None
    residual = aucs - by_treatment[:, None] - by_reader[None, :] + grand
    ms_tr = float(np.sum(residual**2)) / ((t - 1) * (r - 1)) if t > 1 and r > 1 else None
    return ms_t, ms_r, ms_tr


def _components(aucs: FloatArray, cov: ORCovariances) -> ORComponents:
    t, r = aucs.shape
    ms_t, ms_r, ms_tr = anova_mean_squares(aucs)
    var_tr = (
        ms_tr - cov.var + cov.cov1 + cov.cov2 - cov.cov3
        if ms_tr is not None
        and cov.cov1 is not None
        and cov.cov2 is not None
        and cov.cov3 is not None
        else None
    )
    if t > 1 and ms_r is not None and ms_tr is not None:
        assert cov.cov1 is not None
        assert cov.cov3 is not None
        var_r: float | None = (ms_r - ms_tr) / t - cov.cov1 + cov.cov3
    elif t == 1 and ms_r is not None and cov.cov2 is not None:
        var_r = ms_r - cov.var + cov.cov2
    else:
        var_r = None
    ms_r_each = [
        float(np.sum((row - row.mean()) ** 2)) / (r - 1) if r > 1 else None for row in aucs
    ]

    def rho(value: float | None) -> float | None:
        return value / cov.var if value is not None and cov.var > 0 else None

    return ORComponents(
        ms_t=ms_t,
        ms_r=ms_r,
        ms_tr=ms_tr,
        var_r=var_r,
        var_tr=var_tr,
        cov1=cov.cov1,
        cov2=cov.cov2,
        cov3=cov.cov3,
        var_error=cov.var,
        rho1=rho(cov.cov1),
        rho2=rho(cov.cov2),
        rho3=rho(cov.cov3),
        ms_r_by_treatment=tuple(ms_r_each),
        cov2_by_treatment=cov.cov2_by_treatment,
        var_error_by_treatment=cov.var_by_treatment,
        var_error_by_reader=cov.var_by_reader,
        cov1_by_reader=cov.cov1_by_reader,
    )


def _reader_figures(
    study: ReaderStudy, aucs: FloatArray, matrix: FloatArray, alpha: float
) -> tuple[ReaderFigure, ...]:
    t, r = aucs.shape
    variances = np.diagonal(matrix).reshape(t, r)
    z = inference.quantile(alpha, None)
    figures = []
    for i, treatment in enumerate(study.treatments):
        for j, reader in enumerate(study.readers):
            se = float(np.sqrt(max(variances[i, j], 0.0)))
            value = float(aucs[i, j])
            figures.append(
                ReaderFigure(treatment, reader, value, se, value - z * se, value + z * se)
            )
    return tuple(figures)


def _pairs(study: ReaderStudy) -> list[tuple[int, int]]:
    return list(itertools.combinations(range(len(study.treatments)), 2))


def _rrrc(study: ReaderStudy, means: FloatArray, parts: ORComponents, alpha: float) -> Analysis:
    t, r = len(study.treatments), len(study.readers)
    reason = ONE_TREATMENT if t == 1 else ONE_READER if r == 1 else None
    differences: tuple[Difference, ...] = ()
    if reason is None:
        assert parts.ms_tr is not None
        assert parts.cov2 is not None
        assert parts.cov3 is not None
        error = parts.ms_tr + r * max(parts.cov2 - parts.cov3, 0.0)
        ddf = inference.hillis_df(error, parts.ms_tr, (t - 1) * (r - 1))
        test = inference.f_test(parts.ms_t, error, t - 1, ddf)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / r * error, ddf, alpha, normal=False
        )
    else:
        test = inference.f_test(None, None, t - 1, None, reason=reason)
    estimates = []
    for i, treatment in enumerate(study.treatments):
        ms_r, cov2 = parts.ms_r_by_treatment[i], parts.cov2_by_treatment[i]
        if ms_r is None or cov2 is None:
            estimates.append(
                inference.estimate(
                    treatment, float(means[i]), None, None, alpha, normal=False, reason=ONE_READER
                )
            )
            continue
        error = ms_r + r * max(cov2, 0.0)
        df = inference.hillis_df(error, ms_r, r - 1)
        estimates.append(
            inference.estimate(treatment, float(means[i]), error / r, df, alpha, normal=False)
        )
    return Analysis("RRRC", test, differences, tuple(estimates))


def _frrc(
    study: ReaderStudy,
    aucs: FloatArray,
    matrix: FloatArray,
    means: FloatArray,
    parts: ORComponents,
    alpha: float,
) -> Analysis:
    t, r = aucs.shape
    spread = (
        max(parts.cov2 - parts.cov3, 0.0)
        if parts.cov2 is not None and parts.cov3 is not None
        else 0.0
    )
    differences: tuple[Difference, ...] = ()
    reader_differences: list[Difference] = []
    if t == 1:
        test = inference.f_test(None, None, 0, None, distribution="chi2", reason=ONE_TREATMENT)
    else:
        assert parts.cov1 is not None
        error = parts.var_error - parts.cov1 + (r - 1) * spread
        test = inference.f_test(parts.ms_t, error, t - 1, None, distribution="chi2")
        blocks = matrix.reshape(t, r, t, r)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / r * error, None, alpha, normal=True
        )
        for a, b in _pairs(study):
            for j, reader in enumerate(study.readers):
                variance = blocks[a, j, a, j] + blocks[b, j, b, j] - 2 * blocks[a, j, b, j]
                reader_differences.append(
                    inference.difference(
                        study.treatments[a],
                        study.treatments[b],
                        float(aucs[a, j] - aucs[b, j]),
                        float(variance),
                        None,
                        alpha,
                        normal=True,
                        reader=reader,
                    )
                )
    estimates = []
    for i, treatment in enumerate(study.treatments):
        cov2 = parts.cov2_by_treatment[i]
        variance = (parts.var_error_by_treatment[i] + (r - 1) * max(cov2 or 0.0, 0.0)) / r
        estimates.append(
            inference.estimate(treatment, float(means[i]), variance, None, alpha, normal=True)
        )
    return Analysis("FRRC", test, differences, tuple(estimates), tuple(reader_differences))


def _rrfc(study: ReaderStudy, means: FloatArray, parts: ORComponents, alpha: float) -> Analysis:
    t, r = len(study.treatments), len(study.readers)
    reason = ONE_TREATMENT if t == 1 else ONE_READER if r == 1 else None
    differences: tuple[Difference, ...] = ()
    if reason is None:
        assert parts.ms_tr is not None
        df = (t - 1) * (r - 1)
        test = inference.f_test(parts.ms_t, parts.ms_tr, t - 1, df)
        differences = inference.pairwise_differences(
            study.treatments, means, 2 / r * parts.ms_tr, df, alpha, normal=False
        )
    else:
        test = inference.f_test(None, None, t - 1, None, reason=reason)
    estimates = []
    for i, treatment in enumerate(study.treatments):
        ms_r = parts.ms_r_by_treatment[i]
        if ms_r is None:
            estimates.append(
                inference.estimate(
                    treatment, float(means[i]), None, None, alpha, normal=False, reason=ONE_READER
                )
            )
        else:
            estimates.append(
                inference.estimate(treatment, float(means[i]), ms_r / r, r - 1, alpha, normal=False)
            )
    return Analysis("RRFC", test, differences, tuple(estimates))

"""Tests and intervals from an estimate, its error term and degrees of freedom, with the
degenerate cases named: a zero error term, infinite degrees of freedom (the normal and
chi-square limits), a single reader or treatment."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from scipy import stats

from app.stats.mrmc.results import Difference, Distribution, GlobalTest, TreatmentEstimate

#: Variances below this (on the AUC's scale, squared) are zero: an AUC known to 1e-6.
ZERO = 1e-12


def hillis_df(
    error_term: float, ms: float | None, df_ms: int, *, zero: float = ZERO
) -> float | None:
    """Satterthwaite's degrees of freedom of ``error_term`` when only the mean square ``ms``
    (``df_ms`` degrees of freedom) in it is random: ``error_term**2 / (ms**2 / df_ms)``
    (Hillis, 2007). ``None`` stands for infinity (``ms`` zero)."""
    if ms is None or df_ms <= 0:
        return None
    if abs(ms) <= zero:
        return None
    return error_term * error_term / (ms * ms / df_ms)


def f_test(
    numerator: float | None,
    error_term: float | None,
    df_num: int,
    df_den: float | None,
    *,
    zero: float = ZERO,
    distribution: Distribution = "F",
    reason: str | None = None,
) -> GlobalTest:
    """``F = numerator / error_term`` on ``(df_num, df_den)``; ``df_den`` ``None`` means
    infinite, where ``df_num * F`` is chi-square. With ``distribution="chi2"`` the statistic
    is ``df_num * numerator / error_term`` on ``df_num`` degrees of freedom."""
    if reason is not None or numerator is None or error_term is None or df_num <= 0:
        return GlobalTest(distribution, None, df_num or None, df_den, None, error_term, reason)
    if error_term <= zero:
        if numerator <= zero:
            return GlobalTest(
                distribution,
                0.0,
                df_num,
                df_den,
                1.0,
                error_term,
                "the treatments' figures are identical and the error term is zero",
            )
        return GlobalTest(
            distribution, None, df_num, df_den, None, error_term, "the error term is zero"
        )
    ratio = numerator / error_term
    if distribution == "chi2":
        statistic = df_num * ratio
        return GlobalTest(
            "chi2", statistic, df_num, None, float(stats.chi2.sf(statistic, df_num)), error_term
        )
    if df_den is None:
        p = float(stats.chi2.sf(df_num * ratio, df_num))
    else:
        p = float(stats.f.sf(ratio, df_num, df_den))
    return GlobalTest("F", ratio, df_num, df_den, p, error_term)


def quantile(alpha: float, df: float | None) -> float:
    """The two-sided ``1 - alpha`` quantile of ``t(df)``, or of the normal if ``df`` is
    ``None``."""
    if df is None:
        return float(stats.norm.isf(alpha / 2))
    return float(stats.t.isf(alpha / 2, df))


def difference(
    a: str,
    b: str,
    estimate: float,
    variance: float | None,
    df: float | None,
    alpha: float,
    *,
    normal: bool,
    reader: str | None = None,
    reason: str | None = None,
) -> Difference:
    """A difference with a ``t`` (``df``; ``None`` for infinite) or ``z`` (``normal``) test
    and interval, from its variance."""
    kind: Distribution = "z" if normal or df is None else "t"
    shown_df = None if kind == "z" else df
    if reason is not None or variance is None:
        return Difference(
            a, b, reader, estimate, None, kind, None, shown_df, None, None, None, reason
        )
    if variance <= ZERO * ZERO:
        same = abs(estimate) <= ZERO
        return Difference(
            a,
            b,
            reader,
            estimate,
            max(variance, 0.0) ** 0.5,
            kind,
            0.0 if same else None,
            shown_df,
            1.0 if same else None,
            estimate if same else None,
            estimate if same else None,
            "no difference and no variability" if same else "the standard error is zero",
        )
    se = math.sqrt(variance)
    statistic = estimate / se
    if kind == "z":
        p = float(2 * stats.norm.sf(abs(statistic)))
    else:
        p = float(2 * stats.t.sf(abs(statistic), df))
    half = quantile(alpha, shown_df) * se
    return Difference(
        a, b, reader, estimate, se, kind, statistic, shown_df, p, estimate - half, estimate + half
    )


def estimate(
    treatment: str,
    value: float,
    variance: float | None,
    df: float | None,
    alpha: float,
    *,
    normal: bool,
    reason: str | None = None,
) -> TreatmentEstimate:
    """A treatment's figure with a ``t`` (``df``) or ``z`` interval, from its variance."""
    kind: Distribution = "z" if normal or df is None else "t"
    shown_df = None if kind == "z" else df
    if reason is not None or variance is None:
        return TreatmentEstimate(treatment, value, None, kind, shown_df, None, None, reason)
    se = math.sqrt(max(variance, 0.0))
    half = quantile(alpha, shown_df) * se
    return TreatmentEstimate(treatment, value, se, kind, shown_df, value - half, value + half)


def pairwise_differences(
    treatments: Sequence[str],
    means: Sequence[float],
    variance: float,
    df: float | None,
    alpha: float,
    *,
    normal: bool,
) -> tuple[Difference, ...]:
    """Every pair of treatments' reader-averaged difference (first minus second, in study
    order), each with the same ``variance`` and degrees of freedom."""
    return tuple(
        difference(
            treatments[a],
            treatments[b],
            float(means[a] - means[b]),
            variance,
            df,
            alpha,
            normal=normal,
        )
        for a, b in itertools.combinations(range(len(treatments)), 2)
    )

"""The Van Dyke data and its published MRMC figures (tests/data/mrmc/README.md), and our
figures keyed the same way: (analysis, quantity) as in published_reference_values.csv."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from app.stats.mrmc import DBMResult, ORResult, dbm_analysis, or_analysis
from app.stats.ratings import ReaderStudy, study_from_rows
from app.stats.roc import auc

DATA = Path(__file__).resolve().parents[1] / "data" / "mrmc"

#: JAFROC 4.2.1 computes in single precision: its 6th-8th significant digits differ.
SINGLE_PRECISION = 1e-5
#: RJafroc's stored doubles: agreement to this relative error.
FULL_PRECISION = 1e-9


@dataclass(frozen=True)
class Published:
    analysis: str
    quantity: str
    text: str
    source: str

    @property
    def value(self) -> float:
        return float(self.text)

    def tolerance(self) -> float:
        """Half a unit in the last printed digit (the published precision), or the
        source's relative precision."""
        if self.source == "RJAFROC_GV":
            return FULL_PRECISION * abs(self.value)
        exponent = Decimal(self.text).as_tuple().exponent
        assert isinstance(exponent, int)
        printed = 0.5 * 10.0**exponent
        if self.source == "JAFROC421":
            return max(printed, SINGLE_PRECISION * abs(self.value))
        return printed


def rows() -> list[dict[str, str]]:
    with (DATA / "vandyke.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


@functools.cache
def study() -> ReaderStudy:
    return study_from_rows(rows(), [line + 2 for line in range(len(rows()))])


def published() -> list[Published]:
    with (DATA / "reference" / "published_reference_values.csv").open(newline="") as handle:
        return [
            Published(row["analysis"], row["quantity"], row["value"], row["source"])
            for row in csv.DictReader(handle)
        ]


@functools.cache
def _or(method: str) -> ORResult:
    return or_analysis(study(), covariance_method=method)  # type: ignore[arg-type]


@functools.cache
def _dbm() -> DBMResult:
    return dbm_analysis(study())


def _or_rrrc(result: ORResult, prefix: str = "") -> dict[str, float | None]:
    rrrc = result.rrrc
    diff = rrrc.differences[0]
    values: dict[str, float | None] = {
        "F": rrrc.test.statistic,
        "ndf": rrrc.test.df_num,
        "p": rrrc.test.p,
        "SE difference": diff.se,
        "t": diff.statistic,
        "95% CI lower": diff.ci_lower,
        "95% CI upper": diff.ci_upper,
        "difference 1-2": diff.estimate,
    }
    for i, estimate in enumerate(rrrc.treatments, start=1):
        values[f"treatment {i} 95% CI lower"] = estimate.ci_lower
        values[f"treatment {i} 95% CI upper"] = estimate.ci_upper
        values[f"treatment {i} Cov2"] = result.components.cov2_by_treatment[i - 1]
        values[f"treatment {i} df"] = estimate.df
        values[f"treatment {i} {prefix}SE"] = estimate.se
    return values


def _components(result: ORResult) -> dict[str, float | None]:
    parts = result.components
    return {
        "Var(R) (reader)": parts.var_r,
        "Var(T*R)": parts.var_tr,
        "Var(Error)": parts.var_error,
        "Cov1": parts.cov1,
        "Cov2": parts.cov2,
        "Cov3": parts.cov3,
    }


def _full_components(result: ORResult) -> dict[str, float | None]:
    parts = result.components
    return {
        "VarR": parts.var_r,
        "VarTR": parts.var_tr,
        "Cov1": parts.cov1,
        "Cov2": parts.cov2,
        "Cov3": parts.cov3,
        "Var": parts.var_error,
    }


def ours() -> dict[tuple[str, str], float | None]:
    """Every figure we compute that a source publishes, keyed (analysis, quantity)."""
    s = study()
    jack, delong, unbiased, dbm = _or("jackknife"), _or("delong"), _or("unbiased"), _dbm()
    found: dict[tuple[str, str], float | None] = {}

    def add(analysis: str, values: dict[str, float | None]) -> None:
        for quantity, value in values.items():
            found[(analysis, quantity)] = value

    # Empirical AUCs.
    aucs = {f"AUC reader {f.reader} treatment {f.treatment}": f.auc for f in jack.reader_figures}
    add(
        "empirical AUC",
        {
            **aucs,
            "mean AUC treatment 1": jack.treatment_means[0],
            "mean AUC treatment 2": jack.treatment_means[1],
            "mean difference 1-2": jack.treatment_means[0] - jack.treatment_means[1],
            "pooled AUC (all 1140 ratings, ignoring reader/treatment)": auc(
                [int(row["truth"]) for row in rows()], [float(row["rating"]) for row in rows()]
            ),
        },
    )
    # OR, jackknife (OR-DBM MRMC 2.51).
    parts = jack.components
    assert parts.ms_t is not None
    assert parts.ms_r is not None
    assert parts.ms_tr is not None
    add(
        "OR jackknife",
        {
            "MS(T)": parts.ms_t,
            "MS(R)": parts.ms_r,
            "MS(T*R)": parts.ms_tr,
            "SS(T)": parts.ms_t * 1,
            "SS(R)": parts.ms_r * 4,
            "SS(T*R)": parts.ms_tr * 4,
            "MS(R) treatment 1 only": parts.ms_r_by_treatment[0],
            "MS(R) treatment 2 only": parts.ms_r_by_treatment[1],
            "Var(R)": parts.var_r,
            "Var(T*R)": parts.var_tr,
            "Cov1": parts.cov1,
            "Cov2": parts.cov2,
            "Cov3": parts.cov3,
            "Var(Error)": parts.var_error,
            "rho1 = Cov1/Var(Error)": parts.rho1,
            "rho2": parts.rho2,
            "rho3": parts.rho3,
        },
    )
    rrrc = _or_rrrc(jack, "AUC ")
    rrrc["ddf (Hillis 2007 ddf_H)"] = jack.rrrc.test.df_den
    rrrc["error term MS(T*R)+r*max(Cov2-Cov3,0)"] = jack.rrrc.test.error_term
    add("OR jackknife RRRC (random readers, random cases)", rrrc)

    frrc = jack.frrc
    values: dict[str, float | None] = {
        "chi-square X2 (df 1)": frrc.test.statistic,
        "p": frrc.test.p,
        "SE difference": frrc.differences[0].se,
        "z": frrc.differences[0].statistic,
        "95% CI lower": frrc.differences[0].ci_lower,
        "95% CI upper": frrc.differences[0].ci_upper,
    }
    for i, estimate in enumerate(frrc.treatments, start=1):
        values[f"treatment {i} SE"] = estimate.se
        values[f"treatment {i} 95% CI lower"] = estimate.ci_lower
        values[f"treatment {i} 95% CI upper"] = estimate.ci_upper
        values[f"treatment {i} Var(Error)"] = parts.var_error_by_treatment[i - 1]
    for j, diff in enumerate(frrc.reader_differences):
        reader = diff.reader
        values[f"reader {reader} difference 1-2"] = diff.estimate
        values[f"reader {reader} SE"] = diff.se
        values[f"reader {reader} z"] = diff.statistic
        values[f"reader {reader} p"] = diff.p
        values[f"reader {reader} 95% CI lower"] = diff.ci_lower
        values[f"reader {reader} 95% CI upper"] = diff.ci_upper
        values[f"reader {reader} Var(Error)"] = parts.var_error_by_reader[j]
        values[f"reader {reader} Cov1"] = parts.cov1_by_reader[j]
    add("OR jackknife FRRC (fixed readers, random cases)", values)

    rrfc = jack.rrfc
    values = {
        "F": rrfc.test.statistic,
        "ndf": rrfc.test.df_num,
        "ddf": rrfc.test.df_den,
        "p": rrfc.test.p,
        "SE difference": rrfc.differences[0].se,
        "t": rrfc.differences[0].statistic,
        "95% CI lower": rrfc.differences[0].ci_lower,
        "95% CI upper": rrfc.differences[0].ci_upper,
    }
    for i, estimate in enumerate(rrfc.treatments, start=1):
        values[f"treatment {i} SE"] = estimate.se
        values[f"treatment {i} 95% CI lower"] = estimate.ci_lower
        values[f"treatment {i} 95% CI upper"] = estimate.ci_upper
    add("OR RRFC (random readers, fixed cases)", values)

    # OR, full precision (RJafroc).
    add("OR jackknife (full precision)", _full_components(jack))
    diff = jack.rrrc.differences[0]
    values = {
        "F": jack.rrrc.test.statistic,
        "ddf": jack.rrrc.test.df_den,
        "p": jack.rrrc.test.p,
        "error term": jack.rrrc.test.error_term,
        "difference 1-2 Estimate": diff.estimate,
        "difference 1-2 StdErr": diff.se,
        "difference 1-2 t": diff.statistic,
        "difference 1-2 CILower": diff.ci_lower,
        "difference 1-2 CIUpper": diff.ci_upper,
    }
    for i, estimate in enumerate(jack.rrrc.treatments, start=1):
        values[f"treatment {i} StdErr"] = estimate.se
        values[f"treatment {i} DF"] = estimate.df
        values[f"treatment {i} CILower"] = estimate.ci_lower
        values[f"treatment {i} CIUpper"] = estimate.ci_upper
    add("OR jackknife RRRC (full precision)", values)
    fdiff = frrc.differences[0]
    add(
        "OR jackknife FRRC (full precision)",
        {
            "chi-square": frrc.test.statistic,
            "p": frrc.test.p,
            "difference 1-2 StdErr": fdiff.se,
            "difference 1-2 z": fdiff.statistic,
            "difference 1-2 CILower": fdiff.ci_lower,
            "difference 1-2 CIUpper": fdiff.ci_upper,
        },
    )
    add("OR DeLong variance components (RJafroc)", _full_components(delong))

    # OR, DeLong and unbiased covariances, and fixed readers (MRMCaov).
    for name, result in (
        ("OR DeLong RRRC (MRMCaov)", delong),
        ("OR unbiased RRRC (MRMCaov)", unbiased),
    ):
        values = {**_components(result), **_or_rrrc(result)}
        values["denominator"] = result.rrrc.test.error_term
        values["ddf"] = result.rrrc.test.df_den
        add(name, values)
    values = {
        **_components(jack),
        "denominator": frrc.test.error_term,
        "X2": frrc.test.statistic,
        "p": frrc.test.p,
        "SE difference": fdiff.se,
        "95% CI lower": fdiff.ci_lower,
        "95% CI upper": fdiff.ci_upper,
    }
    for figure in jack.reader_figures:
        values[f"single-reader AUC SE reader {figure.reader} treatment {figure.treatment}"] = (
            figure.se
        )
    add("OR jackknife FRRC (MRMCaov)", values)

    # DBM (JAFROC 4.2.1, OR-DBM MRMC 2.51's DBM components, RJafroc's doubles).
    ms = dbm.mean_squares
    comp = dbm.components
    sums = {
        "SS(T)": _times(ms.ms_t, ms.df_t),
        "SS(R)": _times(ms.ms_r, ms.df_r),
        "SS(C)": _times(ms.ms_c, ms.df_c),
        "SS(TR)": _times(ms.ms_tr, ms.df_tr),
        "SS(TC)": _times(ms.ms_tc, ms.df_tc),
        "SS(RC)": _times(ms.ms_rc, ms.df_rc),
        "SS(TRC)": _times(ms.ms_trc, ms.df_trc),
    }
    squares = {
        "MS(T)": ms.ms_t,
        "MS(R)": ms.ms_r,
        "MS(C)": ms.ms_c,
        "MS(TR)": ms.ms_tr,
        "MS(TC)": ms.ms_tc,
        "MS(RC)": ms.ms_rc,
        "MS(TRC)": ms.ms_trc,
    }
    values = {**sums, "SS total": sum(v for v in sums.values() if v is not None), **squares}
    for i in range(2):
        values[f"treatment {i + 1} MS(R)"] = ms.ms_r_by_treatment[i]
        values[f"treatment {i + 1} MS(C)"] = ms.ms_c_by_treatment[i]
        values[f"treatment {i + 1} MS(RC)"] = ms.ms_rc_by_treatment[i]
    named = {
        "Var(R)": comp.var_r,
        "Var(C)": comp.var_c,
        "Var(T*R)": comp.var_tr,
        "Var(T*C)": comp.var_tc,
        "Var(R*C)": comp.var_rc,
        "Var(T*R*C)+Var(Error)": comp.var_error,
    }
    values.update(named)
    tests: dict[str, Callable[[], float | None]] = {
        "RRRC F": lambda: dbm.rrrc.test.statistic,
        "RRRC ddf": lambda: dbm.rrrc.test.df_den,
        "RRRC p": lambda: dbm.rrrc.test.p,
        "RRRC error term MS(TR)+max(MS(TC)-MS(TRC),0)": lambda: dbm.rrrc.test.error_term,
        "RRRC SE difference": lambda: dbm.rrrc.differences[0].se,
        "RRRC 95% CI lower": lambda: dbm.rrrc.differences[0].ci_lower,
        "RRRC 95% CI upper": lambda: dbm.rrrc.differences[0].ci_upper,
        "FRRC F": lambda: dbm.frrc.test.statistic,
        "FRRC ddf": lambda: dbm.frrc.test.df_den,
        "FRRC p": lambda: dbm.frrc.test.p,
        "FRRC SE difference": lambda: dbm.frrc.differences[0].se,
        "FRRC 95% CI lower": lambda: dbm.frrc.differences[0].ci_lower,
        "FRRC 95% CI upper": lambda: dbm.frrc.differences[0].ci_upper,
        "RRFC F": lambda: dbm.rrfc.test.statistic,
        "RRFC ddf": lambda: dbm.rrfc.test.df_den,
        "RRFC p": lambda: dbm.rrfc.test.p,
    }
    values.update({name: get() for name, get in tests.items()})
    add("DBM (pseudovalue ANOVA, jackknife)", values)
    add("DBM variance components (as printed by OR-DBM MRMC 2.51)", named)
    add(
        "DBM jackknife (full precision)",
        {
            **squares,
            "VarR": comp.var_r,
            "VarC": comp.var_c,
            "VarTR": comp.var_tr,
            "VarTC": comp.var_tc,
            "VarRC": comp.var_rc,
            "VarErr": comp.var_error,
            "RRRC F": dbm.rrrc.test.statistic,
            "RRRC ddf": dbm.rrrc.test.df_den,
            "RRRC p": dbm.rrrc.test.p,
            "FRRC F": dbm.frrc.test.statistic,
            "FRRC p (F with ddf = K-1 = 113)": dbm.frrc.test.p,
            "FRRC 95% CI lower (t, 113 df)": dbm.frrc.differences[0].ci_lower,
            "FRRC 95% CI upper (t, 113 df)": dbm.frrc.differences[0].ci_upper,
        },
    )
    assert s.n_diseased == 45
    return found


def _times(ms: float | None, df: int) -> float | None:
    return None if ms is None else ms * df


#: Analyses of the reference table that this package does not compute: nested (split-plot)
#: designs, binary sensitivity as the figure of merit, pooled partial AUC and operating points.
NOT_COVERED = (
    "OR jackknife, cases nested within readers (MRMCaov, case2)",
    "OR jackknife, cases nested within treatments (MRMCaov, case3)",
    "binary sensitivity (rating>=3) OR jackknife RRRC (MRMCaov)",
    "pooled metrics (MRMCaov section 8)",
)

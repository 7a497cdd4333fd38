"""The shapes of an MRMC analysis's results, shared by Obuchowski-Rockette, DBM and the
model-against-readers analysis. Every figure is a float or ``None``, with a ``reason`` beside
any ``None`` that is not obvious; ``to_dict()`` gives plain JSON."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

Distribution = Literal["t", "z", "F", "chi2"]
Design = Literal["RRRC", "FRRC", "RRFC"]


def plain(value: Any) -> Any:
    """``value`` as plain JSON: dataclasses and mappings to dicts, tuples to lists, numpy
    numbers to Python's, non-finite floats to ``None``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if hasattr(value, "item"):  # a numpy scalar
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


class _Plain:
    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class ReaderFigure(_Plain):
    """One reader's AUC in one treatment, its standard error from the chosen covariance
    (``sqrt`` of the AUC's variance) and the normal (Wald) interval, not clipped to [0, 1]
    (as OR-DBM MRMC and MRMCaov report it)."""

    treatment: str
    reader: str
    auc: float
    se: float | None
    ci_lower: float | None
    ci_upper: float | None


@dataclass(frozen=True)
class TreatmentEstimate(_Plain):
    """A treatment's reader-averaged AUC with its standard error and interval (``t`` with
    ``df`` degrees of freedom, or ``z``), from that treatment's data alone."""

    treatment: str
    estimate: float
    se: float | None
    distribution: Distribution
    df: float | None
    ci_lower: float | None
    ci_upper: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Difference(_Plain):
    """``treatment_a - treatment_b`` (reader-averaged, or of one ``reader``) with its
    standard error, test statistic (``t`` or ``z``), p-value (two-sided) and interval."""

    treatment_a: str
    treatment_b: str
    reader: str | None
    estimate: float
    se: float | None
    distribution: Distribution
    statistic: float | None
    df: float | None
    p: float | None
    ci_lower: float | None
    ci_upper: float | None
    reason: str | None = None


@dataclass(frozen=True)
class GlobalTest(_Plain):
    """The test that all treatments have the same AUC: ``F(df_num, df_den)`` or a chi-square
    with ``df_num`` degrees of freedom; ``error_term`` is the statistic's denominator."""

    distribution: Distribution
    statistic: float | None
    df_num: int | None
    df_den: float | None
    p: float | None
    error_term: float | None
    reason: str | None = None


@dataclass(frozen=True)
class Analysis(_Plain):
    """One generalisation: ``RRRC`` (random readers and cases: to readers and cases like
    these), ``FRRC`` (these readers, random cases) or ``RRFC`` (random readers, these
    cases). ``differences`` holds every pair of treatments (first minus second, in the
    study's order); ``reader_differences`` (FRRC) the same per reader."""

    design: Design
    test: GlobalTest
    differences: tuple[Difference, ...]
    treatments: tuple[TreatmentEstimate, ...]
    reader_differences: tuple[Difference, ...] = ()

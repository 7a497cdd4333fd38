"""Empirical ROC analysis of ratings against a binary truth.

The empirical (trapezoidal) area under the ROC curve equals the Mann-Whitney statistic:

    AUC = 1 / (n1 n0) * sum_i sum_j psi(x_i, y_j),   psi(x, y) = 1 if x > y, 1/2 if x = y, else 0

over the ratings ``x`` of the ``n1`` diseased cases and ``y`` of the ``n0`` non-diseased
cases (higher rating = more suspicious), i.e. ``U / (n1 n0)`` with the ``U`` of
``scipy.stats.mannwhitneyu(x, y)``, and ``sklearn.metrics.roc_auc_score``.

DeLong et al. (1988) write it through its *structural components*: per diseased case
``V10_i = mean_j psi(x_i, y_j)``, per non-diseased case ``V01_j = mean_i psi(x_i, y_j)``, so that
``AUC = mean(V10) = mean(V01)``. The covariance of two AUCs on the same cases (two readers,
two modalities) is then

    Cov(A, B) = S10(A, B) / n1 + S01(A, B) / n0

with ``S10``, ``S01`` the sample covariances (divisor ``n - 1``) of the components. They also
give the jackknife in closed form: leaving out diseased case ``i`` gives
``(n1 AUC - V10_i) / (n1 - 1)``, non-diseased case ``j`` ``(n0 AUC - V01_j) / (n0 - 1)``.

The components come from mid-ranks, ``O(n log n)`` per rating vector: ``V10_i`` is the
mid-rank of ``x_i`` among all cases less its mid-rank among the diseased, over ``n0``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class StructuralComponents:
    """AUCs of ``k`` rating vectors on the same cases and their DeLong components:
    ``auc`` shape ``(k,)``, ``v10`` ``(k, n1)`` in the order of the diseased cases, ``v01``
    ``(k, n0)`` in the order of the non-diseased cases."""

    auc: FloatArray
    v10: FloatArray
    v01: FloatArray

    @property
    def n1(self) -> int:
        return int(self.v10.shape[1])

    @property
    def n0(self) -> int:
        return int(self.v01.shape[1])

    def jackknife_values(self) -> FloatArray:
        """The AUCs with each case left out, shape ``(k, n1 + n0)``: the diseased cases
        first, then the non-diseased, each in their order. Needs ``n1, n0 >= 2``."""
        if self.n1 < 2 or self.n0 < 2:
            raise ValueError("the jackknife needs at least 2 diseased and 2 non-diseased cases.")
        auc = self.auc[:, None]
        left_out_diseased = (self.n1 * auc - self.v10) / (self.n1 - 1)
        left_out_normal = (self.n0 * auc - self.v01) / (self.n0 - 1)
        return np.concatenate([left_out_diseased, left_out_normal], axis=1)


@dataclass(frozen=True)
class RocCurve:
    """The empirical ROC curve: ``fpr[k]``, ``tpr[k]`` are the rates of calling a case
    positive when its rating is ``>= thresholds[k]``; the first point is (0, 0) with the
    threshold ``None`` (above every rating), the last (1, 1). Thresholds descend. Joining the
    points with straight lines gives the trapezoidal AUC."""

    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    thresholds: tuple[float | None, ...]
    auc: float
    positives: int
    negatives: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class OneVsRestAuc:
    """Per class, the AUC of "this class" against all others (``None`` with the class in
    ``reason`` when the truth has no case, or only cases, of it), and the macro AUC: the
    unweighted mean over the classes whose AUC is defined (``None`` when none is)."""

    classes: tuple[str, ...]
    per_class: tuple[float | None, ...]
    positives: tuple[int, ...]
    negatives: tuple[int, ...]
    macro: float | None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def truth_mask(truth: ArrayLike) -> NDArray[np.bool_]:
    """The truth as booleans; ``ValueError`` unless every value is 0 or 1 (or a bool)."""
    values = np.asarray(truth)
    if values.ndim != 1:
        raise ValueError(f"truth must be one-dimensional; got shape {values.shape}.")
    if values.dtype == np.bool_:
        return values
    try:
        numbers = values.astype(np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("truth must hold 0 (non-diseased) or 1 (diseased).") from error
    if not np.all((numbers == 0) | (numbers == 1)):
        raise ValueError("truth must hold 0 (non-diseased) or 1 (diseased).")
    return numbers == 1


def _ratings(scores: ArrayLike, n: int) -> FloatArray:
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or values.shape[1] != n:
        raise ValueError(
            f"ratings must have {n} values per row (one per case); got {values.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("ratings must be finite numbers (no NaN or infinity).")
    return values


def structural_components(truth: ArrayLike, scores: ArrayLike) -> StructuralComponents:
    """The AUC of each row of ``scores`` (shape ``(cases,)`` or ``(k, cases)``) against
    ``truth`` and its DeLong components. ``ValueError`` when a class is empty, on a truth
    other than 0/1 or on non-finite ratings."""
    positive = truth_mask(truth)
    values = _ratings(scores, positive.size)
    n1 = int(positive.sum())
    n0 = positive.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"the AUC needs diseased and non-diseased cases; got n1={n1}, n0={n0}.")
    x, y = values[:, positive], values[:, ~positive]
    all_ranks = stats.rankdata(values, axis=1)
    v10 = (all_ranks[:, positive] - stats.rankdata(x, axis=1)) / n0
    v01 = (n1 - (all_ranks[:, ~positive] - stats.rankdata(y, axis=1))) / n1
    return StructuralComponents(v10.mean(axis=1), v10, v01)


def auc(truth: ArrayLike, scores: ArrayLike) -> float | None:
    """The empirical AUC of ``scores`` (one per case) against ``truth`` (0/1); ``None`` when
    the truth has no diseased or no non-diseased case."""
    positive = truth_mask(truth)
    if positive.all() or not positive.any():
        return None
    return float(structural_components(positive, scores).auc[0])


def delong_covariance(components: StructuralComponents) -> FloatArray:
    """DeLong's covariance matrix ``(k, k)`` of the ``k`` AUCs; needs ``n1, n0 >= 2``."""
    if components.n1 < 2 or components.n0 < 2:
        raise ValueError("DeLong's covariance needs at least 2 diseased and 2 non-diseased cases.")
    s10 = np.atleast_2d(np.cov(components.v10))
    s01 = np.atleast_2d(np.cov(components.v01))
    return s10 / components.n1 + s01 / components.n0


def roc_curve(truth: ArrayLike, scores: ArrayLike) -> RocCurve:
    """The empirical ROC curve of ``scores`` against ``truth``, one point per distinct
    rating (the points of ``sklearn.metrics.roc_curve(..., drop_intermediate=False)``).
    ``ValueError`` when a class is empty."""
    positive = truth_mask(truth)
    values = _ratings(scores, positive.size)[0]
    n1 = int(positive.sum())
    n0 = positive.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(
            f"a ROC curve needs diseased and non-diseased cases; got n1={n1}, n0={n0}."
        )
    order = np.argsort(-values, kind="stable")
    ordered, hits = values[order], positive[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(ordered) != 0), ordered.size - 1]
    tp = np.cumsum(hits)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    fpr = np.r_[0.0, fp / n0]
    tpr = np.r_[0.0, tp / n1]
    thresholds: tuple[float | None, ...] = (None, *(float(v) for v in ordered[last_of_tie]))
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))
    return RocCurve(
        tuple(float(v) for v in fpr), tuple(float(v) for v in tpr), thresholds, area, n1, n0
    )


def one_vs_rest_auc(
    truth: Sequence[Hashable], scores: ArrayLike, classes: Sequence[Hashable]
) -> OneVsRestAuc:
    """One-vs-rest AUC per class and the macro AUC (Table 2 of a reader study).

    ``truth`` holds each case's class; ``scores`` has shape ``(cases, len(classes))``, column
    ``k`` the rating that the case belongs to ``classes[k]`` (a probability, or the indicator
    of the reader's own call: :func:`indicator_scores`). Equal, class by class, to
    ``roc_auc_score(truth == k, scores[:, k])``, and the macro AUC to scikit-learn's
    ``roc_auc_score(truth, scores, multi_class="ovr", average="macro")`` when every class's
    AUC is defined. ``ValueError`` on a truth outside ``classes`` or a shape mismatch.
    """
    order = list(classes)
    if len(set(order)) != len(order) or len(order) < 2:
        raise ValueError(f"classes must be at least two distinct values; got {order!r}.")
    known = set(order)
    outside = sorted({repr(value) for value in truth if value not in known})
    if outside:
        raise ValueError(f"truth values outside the classes {order!r}: {outside}")
    matrix = np.asarray(scores, dtype=np.float64)
    if matrix.shape != (len(truth), len(order)):
        raise ValueError(
            f"scores must have shape (cases, classes) = ({len(truth)}, {len(order)}); "
            f"got {matrix.shape}."
        )
    per_class: list[float | None] = []
    positives: list[int] = []
    negatives: list[int] = []
    for k, label in enumerate(order):
        is_class = np.array([value == label for value in truth], dtype=bool)
        positives.append(int(is_class.sum()))
        negatives.append(int((~is_class).sum()))
        per_class.append(auc(is_class, matrix[:, k]))
    defined = [value for value in per_class if value is not None]
    missing = [str(label) for label, value in zip(order, per_class, strict=True) if value is None]
    reason = (
        f"no AUC for class(es) {', '.join(missing)}: the truth has no case, or only cases, of it"
        if missing
        else None
    )
    macro = float(np.mean(defined)) if defined else None
    return OneVsRestAuc(
        tuple(str(label) for label in order),
        tuple(per_class),
        tuple(positives),
        tuple(negatives),
        macro,
        reason,
    )


def indicator_scores(predicted: Sequence[Hashable], classes: Sequence[Hashable]) -> FloatArray:
    """A reader's calls as scores for :func:`one_vs_rest_auc`: 1 in the column of the class
    called, 0 elsewhere. ``ValueError`` on a call outside ``classes``."""
    index = {label: k for k, label in enumerate(classes)}
    outside = sorted({repr(value) for value in predicted if value not in index})
    if outside:
        raise ValueError(f"calls outside the classes {list(classes)!r}: {outside}")
    matrix = np.zeros((len(predicted), len(index)))
    matrix[np.arange(len(predicted)), [index[value] for value in predicted]] = 1.0
    return matrix

"""Agreement between readers of a double-read project, for the agreement report, as pure
functions.

- Breast-level labels (BI-RADS, density): percent agreement, Cohen's kappa (unweighted,
  linear or quadratic weights; equal to ``sklearn.metrics.cohen_kappa_score``) and Gwet's
  AC1, which stays informative where kappa collapses because one category dominates (the
  "kappa paradox": most screening breasts are BI-RADS 1 and density C).
- Intervals: the seeded percentile bootstrap over studies of ``app.stats.agreement``, for
  every statistic of a report at once: each study's confusion counts, resampled in one
  matrix product (:func:`resampled_counts`), and kappa, AC1 or Gwet's weighted AC2 of each
  resample's table (:func:`kappa_of_tables`, :func:`gwet_of_tables`).
- Lesions: boxes of two reads matched one to one by IoU, counted as (matched, only in A,
  only in B), and the F1 of those counts.
- Screening groups: BI-RADS mapped to three groups (VinDr's and seed 002's mappings), with
  each group's one-vs-rest sensitivity and specificity of a reader against a reference.

Functions return ``None`` where a metric is undefined (no data, 0/0) rather than NaN, and
raise ``ValueError`` on malformed input (unequal lengths, values outside the categories,
missing values where a complete vector is needed).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from app.reading.rules import Box, Category, Vocabulary, pair_boxes, parse_label
from app.stats.agreement import agreement_weights

Weights = Literal["linear", "quadratic"] | None


# --- breast-level agreement ------------------------------------------------------------------


def percent_agreement(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """The share of pairs where the two readers gave the same value, in [0, 1].

    ``None`` for empty input; ``ValueError`` on unequal lengths or a ``None`` value (drop
    the pairs where a read is missing first).
    """
    _check_pairs(a, b)
    if len(a) == 0:
        return None
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def cohen_kappa(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    categories: Sequence[Hashable] | None = None,
    weights: Weights = None,
) -> float | None:
    """Cohen's kappa of two readers, equal to ``sklearn.metrics.cohen_kappa_score(a, b,
    labels=categories, weights=weights)``.

    With ``C`` the confusion matrix over the ``q`` categories (rows: ``a``), ``E`` the matrix
    expected by chance, ``E_ij = (row total i) * (column total j) / n``, and a disagreement
    weight ``w_ij``:

        kappa = 1 - sum(w * C) / sum(w * E)

    where ``w_ij`` is 1 off the diagonal and 0 on it (unweighted), ``|i - j|`` (linear) or
    ``(i - j) ** 2`` (quadratic), ``i`` and ``j`` being *positions* in ``categories``, as in
    scikit-learn. Unweighted, this is the familiar ``(p_o - p_e) / (1 - p_e)``. Weighted
    kappa is meaningful only for ordered categories: pass them in order (BI-RADS ``1..5``;
    density ``"A".."D"`` or ints ``1..4``); equally spaced ints give the same weights as
    their values.

    ``categories`` defaults to the sorted distinct values of ``a`` and ``b``. ``None`` when
    undefined: empty input, or ``sum(w * E) = 0`` (both readers gave one and the same
    category throughout; scikit-learn returns NaN). ``ValueError`` on unequal lengths, a
    value outside ``categories`` (scikit-learn would silently drop that pair), repeated
    categories, or unknown weights.
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")
    _check_pairs(a, b)
    if len(a) == 0:
        return None
    order = _categories(a, b, categories)
    index = {category: position for position, category in enumerate(order)}
    q = len(order)
    confusion = np.zeros((q, q), dtype=np.float64)
    for x, y in zip(a, b, strict=True):
        confusion[index[x], index[y]] += 1
    sum0, sum1 = confusion.sum(axis=0), confusion.sum(axis=1)
    expected = np.outer(sum0, sum1) / sum0.sum()
    positions = np.zeros((q, q), dtype=np.float64) + np.arange(q)
    if weights is None:
        w = np.ones((q, q), dtype=np.float64)
        np.fill_diagonal(w, 0)
    elif weights == "linear":
        w = np.abs(positions - positions.T)
    else:
        w = (positions - positions.T) ** 2
    denominator = float(np.sum(w * expected))
    if denominator == 0:
        return None
    return float(1 - np.sum(w * confusion) / denominator)


def gwet_ac1(
    a: Sequence[Hashable], b: Sequence[Hashable], *, categories: Sequence[Hashable]
) -> float | None:
    """Gwet's AC1 (Gwet, 2008) for two readers and nominal categories.

    With ``p_a`` the observed agreement (:func:`percent_agreement`), ``q`` the number of
    categories and ``pi_k`` the mean of the two readers' shares of category ``k``
    (``pi_k = (n_a,k + n_b,k) / (2n)``):

        p_e = (1 / (q - 1)) * sum_k pi_k * (1 - pi_k)
        AC1 = (p_a - p_e) / (1 - p_e)

    Chance agreement ``p_e`` is at most ``1/q`` (all categories equally used) and shrinks as
    one category dominates, so unlike kappa's AC1 stays high when readers agree on a skewed
    sample. ``categories`` is required because ``q`` counts every category of the scale,
    used or not. Since ``p_e <= 1/2``, AC1 is defined for any non-empty input: ``None`` only
    for empty input. ``ValueError`` on unequal lengths, fewer than two categories, repeated
    categories or a value outside ``categories``.
    """
    _check_pairs(a, b)
    order = _categories(a, b, categories)
    if len(order) < 2:
        raise ValueError("AC1 needs at least two categories.")
    if len(a) == 0:
        return None
    n, q = len(a), len(order)
    counts = Counter(a) + Counter(b)
    pi = [counts[k] / (2 * n) for k in order]
    pe = sum(share * (1 - share) for share in pi) / (q - 1)
    pa = sum(x == y for x, y in zip(a, b, strict=True)) / n
    return (pa - pe) / (1 - pe)


def _check_pairs(a: Sequence[Hashable], b: Sequence[Hashable]) -> None:
    if len(a) != len(b):
        raise ValueError(f"a and b differ in length: {len(a)} != {len(b)}")
    if any(value is None for value in (*a, *b)):
        raise ValueError("a missing value (None) in a or b; drop incomplete pairs first.")


def _categories(
    a: Sequence[Hashable], b: Sequence[Hashable], categories: Sequence[Hashable] | None
) -> list[Hashable]:
    """The categories in order: as given, else the sorted distinct values."""
    if categories is None:
        try:
            return sorted(set(a) | set(b))  # type: ignore[type-var]
        except TypeError as error:
            raise ValueError("values of mixed types; pass categories in order.") from error
    order = list(categories)
    if len(set(order)) != len(order):
        raise ValueError(f"categories repeat a value: {order!r}")
    known = set(order)
    outside = {value for value in (*a, *b) if value not in known}
    if outside:
        raise ValueError(f"values outside the categories {order!r}: {sorted(map(repr, outside))}")
    return order


# --- bootstrap intervals over studies, vectorised ----------------------------------------------
#
# A report needs several statistics' intervals over the same resamples of its studies (a
# study, both breasts together, is the unit: the two breasts of one woman are not independent
# pairs). ``app.stats.agreement.bootstrap_interval`` computes one statistic per resample in
# Python; these functions compute the same resamples (the same draws from the same seed) for
# every statistic at once, from each study's confusion counts, in one matrix product. The
# report's tests check the two give the same interval.


def case_counts(
    cases: Sequence[int],
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    n_cases: int,
    categories: Sequence[Hashable],
) -> NDArray[np.float64]:
    """``(n_cases, q * q)``: for each case (a study), how many of its pairs fall in each cell
    of the confusion table (rows ``a``, columns ``b``, in the order of ``categories``), the
    pair ``i`` belonging to case ``cases[i]``. ``ValueError`` on unequal lengths, a value
    outside ``categories`` or a case outside ``range(n_cases)``."""
    _check_pairs(a, b)
    if len(cases) != len(a):
        raise ValueError(f"cases and pairs differ in length: {len(cases)} != {len(a)}")
    order = _categories(a, b, categories)
    index = {category: position for position, category in enumerate(order)}
    q = len(order)
    rows = np.asarray(cases, dtype=np.intp)
    if rows.size and (rows.min() < 0 or rows.max() >= n_cases):
        raise ValueError(f"a case outside range({n_cases})")
    cells = np.array([index[x] * q + index[y] for x, y in zip(a, b, strict=True)], dtype=np.intp)
    counts = np.zeros((n_cases, q * q), dtype=np.float64)
    np.add.at(counts, (rows, cells), 1.0)
    return counts


def resampled_counts(
    counts: NDArray[np.float64], *, replicates: int, seed: int, chunk: int = 256
) -> NDArray[np.float64]:
    """``(replicates, k)``: the column sums of ``counts`` (``n_cases x k``) over each
    bootstrap resample of its rows, drawn as ``bootstrap_interval`` draws them
    (``numpy.random.default_rng(seed).integers(0, n_cases, size=(replicates, n_cases))``),
    ``chunk`` resamples at a time to bound the memory."""
    n_cases = counts.shape[0]
    if n_cases == 0 or replicates < 1:
        raise ValueError("resampling needs at least one case and one replicate.")
    rng = np.random.default_rng(seed)
    totals = np.empty((replicates, counts.shape[1]), dtype=np.float64)
    for start in range(0, replicates, chunk):
        size = min(chunk, replicates - start)
        draws = rng.integers(0, n_cases, size=(size, n_cases))
        offsets = (np.arange(size)[:, None] * n_cases + draws).ravel()
        times = np.bincount(offsets, minlength=size * n_cases).reshape(size, n_cases)
        totals[start : start + size] = times.astype(np.float64) @ counts
    return totals


def kappa_of_tables(tables: NDArray[np.float64], weights: Weights = None) -> NDArray[np.float64]:
    """:func:`cohen_kappa` of each ``q x q`` confusion table of ``tables`` (``(..., q, q)``,
    counts, rows the first reader); NaN where it is undefined."""
    q = tables.shape[-1]
    positions = np.arange(q, dtype=np.float64)
    if weights is None:
        w = 1 - np.eye(q)
    elif weights == "linear":
        w = np.abs(positions[:, None] - positions[None, :])
    elif weights == "quadratic":
        w = (positions[:, None] - positions[None, :]) ** 2
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")
    n = tables.sum(axis=(-2, -1))
    rows, columns = tables.sum(axis=-1), tables.sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.einsum("...i,ij,...j->...", rows, w, columns) / n
        observed = np.einsum("...ij,ij->...", tables, w)
        kappa = 1 - observed / expected
    return np.where((n > 0) & (expected > 0), kappa, np.nan)


def gwet_of_tables(tables: NDArray[np.float64], weights: Weights = None) -> NDArray[np.float64]:
    """Gwet's AC1 (``weights=None``, :func:`gwet_ac1`) or AC2 with linear or quadratic
    weights (``app.stats.agreement.gwet_ac2``) of each ``q x q`` table of ``tables``,
    every row and column a category of the scale in order; NaN where undefined."""
    q = tables.shape[-1]
    w = agreement_weights(q, weights)
    n = tables.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = tables / n[..., None, None]
        pi = (shares.sum(axis=-1) + shares.sum(axis=-2)) / 2
        pa = np.einsum("...ij,ij->...", shares, w)
        pe = w.sum() / (q * (q - 1)) * np.sum(pi * (1 - pi), axis=-1)
        value = (pa - pe) / (1 - pe)
    return np.where((n > 0) & (pe < 1), value, np.nan)


# --- lesions ----------------------------------------------------------------------------------

# For class-agnostic matching every box is given this one category, so that pair_boxes's
# shared-category rule always holds and only image, IoU and its tie-breaking decide.
_ANY_LESION = "lesion"
_ANY_VOCABULARY = Vocabulary((Category(_ANY_LESION, graded=False),))


def lesion_f1(
    boxes_a: Sequence[Mapping[str, Any]],
    boxes_b: Sequence[Mapping[str, Any]],
    iou_threshold: float,
    *,
    same_category: bool = False,
) -> tuple[int, int, int]:
    """``(matched, only_a, only_b)``: the boxes of two reads matched one to one.

    Boxes are JSON boxes of the label model (``id``, ``image_id``, corners, ``categories``,
    ``birads``); ids must be unique within each read. Matching is
    :func:`app.reading.rules.pair_boxes`: boxes on the same image with IoU
    (:func:`app.reading.rules.iou`) at or above ``iou_threshold``, taken greedily by
    descending IoU, each box at most once, ties broken symmetrically in the two reads. By
    default the match is class-agnostic (localisation agreement: a box called Mass by one
    reader and Focal Asymmetry by the other still matches); with ``same_category=True`` the
    boxes must also share a category, a graded one when either is a graded lesion, exactly as
    the double-reading concordance pairs them.

    Pass the boxes that should count (e.g. graded lesions only). ``ValueError`` on a
    malformed box (a :class:`~app.reading.rules.LabelError`) or a threshold outside (0, 1].
    """
    if (
        isinstance(iou_threshold, bool)
        or not isinstance(iou_threshold, int | float)
        or not 0 < iou_threshold <= 1
    ):
        raise ValueError(f"iou_threshold must be above 0 and at most 1; got {iou_threshold!r}.")
    a, b = _parse_boxes(boxes_a), _parse_boxes(boxes_b)
    if same_category:
        pairs = pair_boxes(a, b, float(iou_threshold))
    else:
        pairs = pair_boxes(
            [_anonymous(box) for box in a],
            [_anonymous(box) for box in b],
            float(iou_threshold),
            _ANY_VOCABULARY,
        )
    matched = len(pairs)
    return matched, len(a) - matched, len(b) - matched


def f1_from_counts(matched: int, only_a: int, only_b: int) -> float | None:
    """F1 = 2 * matched / (2 * matched + only_a + only_b): with either reader as the
    reference, the harmonic mean of the other's precision and recall (symmetric in a and b).
    ``None`` when there is no box at all; ``ValueError`` on a negative or non-integer count."""
    for value in (matched, only_a, only_b):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ValueError(f"counts must be non-negative integers; got {value!r}.")
    total = 2 * matched + only_a + only_b
    return None if total == 0 else 2 * matched / total


def _parse_boxes(boxes: Sequence[Mapping[str, Any]]) -> tuple[Box, ...]:
    """Boxes through the label parser, so they obey the same structural rules as a read."""
    if isinstance(boxes, str | bytes | Mapping):
        raise ValueError("boxes must be a list of box objects.")
    return parse_label({"boxes": list(boxes)}).boxes


def _anonymous(box: Box) -> Box:
    return dataclasses.replace(box, categories=(_ANY_LESION,))


# --- screening groups ------------------------------------------------------------------------

# VinDr's usage notes (seed 000): BI-RADS 0 is in no group (the release has none). The app's
# double-reading rule (app.reading.rules.SCREENING_GROUPS) counts 0 as recall instead.
VINDR_GROUPS: Mapping[str, frozenset[int]] = {
    "normal": frozenset({1}),
    "benign": frozenset({2}),
    "recall": frozenset({3, 4, 5}),
}
SEED002_GROUPS: Mapping[str, frozenset[int]] = {
    "1": frozenset({1}),
    "2-3": frozenset({2, 3}),
    "0-4-5": frozenset({0, 4, 5}),
}


def group_of(birads: int | None, groups: Mapping[str, Any]) -> str | None:
    """The group holding ``birads``; ``None`` for ``None`` or a value in no group.
    ``ValueError`` on a value that is not an int or ``None``, or groups that overlap."""
    _check_groups(groups)
    if birads is None:
        return None
    if isinstance(birads, bool) or not isinstance(birads, int | np.integer):
        raise ValueError(f"a BI-RADS must be an int or None; got {birads!r}.")
    for group, members in groups.items():
        if birads in members:
            return group
    return None


def sensitivity_specificity(
    reference: Sequence[int | None],
    reader: Sequence[int | None],
    groups: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """Per group (in ``groups`` order), one vs rest, the reader against the reference:

    - ``n_positive``: pairs whose reference is in the group; ``sensitivity``: the share of
      them the reader also put in the group;
    - ``n_negative``: pairs whose reference is in another group; ``specificity``: the share
      of them the reader also kept out of the group.

    ``None`` for a share of no pairs. Pairs where either value has no group (``None``, or a
    BI-RADS in none of the groups, such as 0 under :data:`VINDR_GROUPS`) are skipped.
    ``ValueError`` on unequal lengths, a value that is not an int or ``None``, or groups
    that overlap.
    """
    if len(reference) != len(reader):
        raise ValueError(
            f"reference and reader differ in length: {len(reference)} != {len(reader)}"
        )
    pairs = [
        (group_of(x, groups), group_of(y, groups)) for x, y in zip(reference, reader, strict=True)
    ]
    pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
    result: dict[str, dict[str, Any]] = {}
    for group in groups:
        positive = [y == group for x, y in pairs if x == group]
        negative = [y != group for x, y in pairs if x != group]
        result[group] = {
            "sensitivity": sum(positive) / len(positive) if positive else None,
            "specificity": sum(negative) / len(negative) if negative else None,
            "n_positive": len(positive),
            "n_negative": len(negative),
        }
    return result


def _check_groups(groups: Mapping[str, Any]) -> None:
    seen: set[int] = set()
    for group, members in groups.items():
        overlap = seen & set(members)
        if overlap:
            raise ValueError(f"group {group!r} repeats BI-RADS {sorted(overlap)} of another group.")
        seen |= set(members)

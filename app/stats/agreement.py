"""Intervals for agreement between two readers, and Gwet's AC2 for ordinal scales.

- :func:`bootstrap_interval`: the percentile bootstrap over cases (Efron & Tibshirani,
  1993) of any statistic of a subset of cases, seeded so a report is reproducible. Used
  for Cohen's kappa and Gwet's AC1 (``app.reading.agreement``) through :func:`over_pairs`.
- :func:`gwet_ac2`: Gwet's (2014) weighted agreement coefficient. With agreement weights
  ``w_kl`` (1 on the diagonal), ``p_kl`` the share of cases that reader A put in category
  ``k`` and reader B in ``l``, ``pi_k`` the mean of the two readers' shares of ``k`` and
  ``T_w`` the sum of the weights:

      p_a = sum_kl w_kl p_kl
      p_e = T_w / (q (q - 1)) * sum_k pi_k (1 - pi_k)
      AC2 = (p_a - p_e) / (1 - p_e)

  Unweighted (identity weights) it is Gwet's AC1. The weights are those of weighted kappa
  on the categories' positions: linear ``1 - |k - l| / (q - 1)``, quadratic
  ``1 - (k - l)^2 / (q - 1)^2``. When both readers use every category equally often, chance
  agreement is the same for AC2 and for Cohen's weighted kappa, and the two coincide.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

Weights = Literal["linear", "quadratic"] | None
Statistic = Callable[[NDArray[np.intp]], float | None]


@dataclass(frozen=True)
class BootstrapInterval:
    """A statistic on all cases with its percentile interval from ``replicates`` resamples
    of the cases (``used`` of them gave a defined value; the others are dropped), drawn with
    ``numpy.random.default_rng(seed)``."""

    estimate: float | None
    lower: float | None
    upper: float | None
    confidence: float
    replicates: int
    used: int
    seed: int
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def percentile_interval(
    values: NDArray[np.float64],
    estimate: float | None,
    *,
    replicates: int,
    seed: int,
    confidence: float = 0.95,
) -> BootstrapInterval:
    """The percentile interval of a statistic's ``values`` over ``replicates`` resamples (NaN
    where undefined: dropped, and said); no interval, with the reason, when fewer than two
    resamples give a value. Shared by :func:`bootstrap_interval` and the agreement report's
    vectorised bootstrap."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    defined = values[np.isfinite(values)]
    used = int(defined.size)
    dropped = replicates - used
    note = (
        f"{dropped} of {replicates} resamples left the statistic undefined and were dropped"
        if dropped
        else None
    )
    if used < 2:
        reason = note or "fewer than two resamples gave a value"
        return BootstrapInterval(estimate, None, None, confidence, replicates, used, seed, reason)
    tail = (1 - confidence) / 2
    lower, upper = np.quantile(defined, [tail, 1 - tail])
    return BootstrapInterval(
        estimate, float(lower), float(upper), confidence, replicates, used, seed, note
    )


def bootstrap_interval(
    statistic: Statistic,
    n_cases: int,
    *,
    replicates: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapInterval:
    """The percentile bootstrap interval of ``statistic``, a function of the indices of the
    cases it is computed on (each resample draws ``n_cases`` indices with replacement).
    ``None`` ends with a reason when fewer than two resamples give a value; the estimate is
    ``statistic`` on all cases."""
    if n_cases < 0 or replicates < 1:
        raise ValueError("n_cases must be >= 0 and replicates >= 1.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    if n_cases == 0:
        return BootstrapInterval(None, None, None, confidence, replicates, 0, seed, "no cases")
    estimate = statistic(np.arange(n_cases))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_cases, size=(replicates, n_cases))
    values = np.array(
        [np.nan if (value := statistic(row)) is None else value for row in draws],
        dtype=np.float64,
    )
    return percentile_interval(
        values,
        None if estimate is None else float(estimate),
        replicates=replicates,
        seed=seed,
        confidence=confidence,
    )


def over_pairs(
    function: Callable[[list[Hashable], list[Hashable]], float | None],
    a: Sequence[Hashable],
    b: Sequence[Hashable],
) -> Statistic:
    """``function(a, b)`` (e.g. ``cohen_kappa`` with its options bound) as a statistic of
    case indices, for :func:`bootstrap_interval`."""
    if len(a) != len(b):
        raise ValueError(f"a and b differ in length: {len(a)} != {len(b)}")
    first, second = list(a), list(b)

    def statistic(indices: NDArray[np.intp]) -> float | None:
        return function([first[i] for i in indices], [second[i] for i in indices])

    return statistic


def agreement_weights(q: int, weights: Weights) -> NDArray[np.float64]:
    """The ``q x q`` agreement weights: identity, linear or quadratic on positions."""
    if q < 2:
        raise ValueError("agreement weights need at least two categories.")
    positions = np.arange(q)
    distance = np.abs(positions[:, None] - positions[None, :]) / (q - 1)
    if weights is None:
        return np.eye(q)
    if weights == "linear":
        return 1 - distance
    if weights == "quadratic":
        return 1 - distance**2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")


def gwet_ac2(
    a: Sequence[Hashable],
    b: Sequence[Hashable],
    *,
    categories: Sequence[Hashable],
    weights: Weights = "quadratic",
) -> float | None:
    """Gwet's AC2 of two readers over the ordered ``categories`` (every category of the
    scale, used or not: ``q`` counts them). ``None`` for empty input; ``ValueError`` on
    unequal lengths, a missing value, a value outside ``categories``, repeated categories
    or fewer than two."""
    if len(a) != len(b):
        raise ValueError(f"a and b differ in length: {len(a)} != {len(b)}")
    order = list(categories)
    if len(set(order)) != len(order):
        raise ValueError(f"categories repeat a value: {order!r}")
    index = {category: k for k, category in enumerate(order)}
    outside = sorted({repr(value) for value in (*a, *b) if value not in index})
    if outside:
        raise ValueError(f"values outside the categories {order!r}: {outside}")
    q = len(order)
    w = agreement_weights(q, weights)
    n = len(a)
    if n == 0:
        return None
    table = np.zeros((q, q))
    np.add.at(table, ([index[v] for v in a], [index[v] for v in b]), 1.0)
    table /= n
    pi = (table.sum(axis=1) + table.sum(axis=0)) / 2
    pa = float(np.sum(w * table))
    pe = float(w.sum() / (q * (q - 1)) * np.sum(pi * (1 - pi)))
    return (pa - pe) / (1 - pe)

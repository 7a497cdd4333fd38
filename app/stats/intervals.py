"""A proportion with its counts and its Wilson score interval.

The Wilson interval (Wilson, 1927) inverts the score test of a binomial proportion: with
``p = k / n`` and ``z`` the two-sided normal quantile,

    centre = (p + z^2 / (2n)) / (1 + z^2 / n)
    half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / (4 n^2))

It stays inside [0, 1], is never empty at k = 0 or k = n, and keeps its coverage near the
nominal level for small n, where the Wald interval ``p +- z sqrt(p(1-p)/n)`` does not.
The same interval as ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any

from scipy import stats


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n`` with the estimate and its interval; ``None`` with a reason
    when ``n`` is 0."""

    successes: int
    n: int
    estimate: float | None
    lower: float | None
    upper: float | None
    confidence: float
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n``; ``ValueError`` when ``n`` is 0, the
    counts are not integers with ``0 <= successes <= n``, or ``confidence`` is outside
    (0, 1)."""
    _check_counts(successes, n, confidence)
    successes, n = int(successes), int(n)
    if n == 0:
        raise ValueError("no trials (n = 0): the proportion is undefined.")
    z = float(stats.norm.isf((1 - confidence) / 2))
    p = successes / n
    z2n = z * z / n
    centre = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # The exact ends at k = 0 and k = n (rounding would leave 1e-17 outside [0, 1]).
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return lower, upper


def proportion(successes: int, n: int, confidence: float = 0.95) -> Proportion:
    """``successes / n`` with its Wilson interval; at ``n = 0`` the estimate and the
    interval are ``None`` with a reason. ``ValueError`` on counts that are not integers
    with ``0 <= successes <= n``."""
    _check_counts(successes, n, confidence)
    successes, n = int(successes), int(n)
    if n == 0:
        return Proportion(successes, n, None, None, None, confidence, "no cases (n = 0)")
    lower, upper = wilson_interval(successes, n, confidence)
    return Proportion(successes, n, successes / n, lower, upper, confidence)


def _check_counts(successes: int, n: int, confidence: float) -> None:
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer count; got {value!r}.")
    if not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n; got successes={successes}, n={n}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")

"""Statistics for reader studies, as pure code (numpy and scipy only, no I/O).

- ``intervals``: proportions with their Wilson score intervals.
- ``roc``: empirical (trapezoidal) AUC, ROC curve points, DeLong's structural components,
  one-vs-rest and macro AUC over groups.
- ``ratings``: a fully crossed ratings table (treatments x readers x cases) built from long
  rows, with a validator that lists every problem by row.
- ``mrmc``: multi-reader multi-case analysis: Obuchowski-Rockette with Hillis' denominator
  degrees of freedom (jackknife, DeLong or unbiased covariances), Dorfman-Berbaum-Metz, the
  single-treatment analysis and a model against the readers.
- ``diagnostic``: seed 002's grouped accuracy: BI-RADS mapped to groups (VinDr's 1 / 2 / 3-5,
  seed 002's 1 / 2-3 / 0-4-5), the confusion matrix against the reference, per-group
  sensitivity and specificity with Wilson intervals, macro means.
- ``agreement``: seeded percentile bootstrap intervals for any statistic over cases, and
  Gwet's AC2 (with Cohen's weighted kappa on the same weights) for ordinal scales.

Results are frozen dataclasses whose ``to_dict()`` is plain JSON: floats, and ``None`` with
a ``reason`` where a figure cannot be computed.
"""

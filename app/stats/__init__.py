"""Statistics for reader studies, as pure code (numpy and scipy only, no I/O).

- ``intervals``: proportions with their Wilson score intervals.
- ``roc``: empirical (trapezoidal) AUC, ROC curve points, DeLong's structural components,
  one-vs-rest and macro AUC over groups.
- ``ratings``: a fully crossed ratings table (treatments x readers x cases) built from long
  rows, with a validator that lists every problem by row.
- ``mrmc``: multi-reader multi-case analysis: Obuchowski-Rockette with Hillis' denominator
  degrees of freedom (jackknife, DeLong or unbiased covariances), Dorfman-Berbaum-Metz, the
  single-treatment analysis and a model against the readers.
- ``agreement``: seeded percentile bootstrap intervals for any statistic over cases, and
  Gwet's AC2 (with Cohen's weighted kappa on the same weights) for ordinal scales.

Results are frozen dataclasses whose ``to_dict()`` is plain JSON: floats, and ``None`` with
a ``reason`` where a figure cannot be computed.
"""

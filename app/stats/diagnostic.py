"""Diagnostic accuracy by group, as seed 002 reports it (pure): a reader's BI-RADS mapped to
groups (VinDr's 1 / 2 / 3-5, or seed 002's 1 / 2-3 / 0-4-5), the confusion matrix against
the reference mapped to the same groups (normal, benign, malignant), and per group the
one-vs-rest sensitivity and specificity with their Wilson intervals and counts, plus their
unweighted (macro) means.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.stats.intervals import Proportion, proportion


@dataclass(frozen=True)
class GroupMapping:
    """Groups of BI-RADS values, in the order of the reference's classes (normal, benign,
    malignant): a reader's BI-RADS in group ``i`` is read as class ``i``."""

    name: str
    groups: tuple[tuple[str, frozenset[int]], ...]

    def group_of(self, birads: int) -> int | None:
        for index, (_, values) in enumerate(self.groups):
            if birads in values:
                return index
        return None

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.groups)


VINDR_GROUPS = GroupMapping(
    "vindr",
    (("1", frozenset({1})), ("2", frozenset({2})), ("3-5", frozenset({0, 3, 4, 5, 6}))),
)
SEED_002_GROUPS = GroupMapping(
    "seed002",
    (("1", frozenset({1})), ("2-3", frozenset({2, 3})), ("0-4-5", frozenset({0, 4, 5, 6}))),
)
MAPPINGS: Mapping[str, GroupMapping] = {m.name: m for m in (VINDR_GROUPS, SEED_002_GROUPS)}


@dataclass(frozen=True)
class GroupAccuracy:
    group: str
    sensitivity: Proportion
    specificity: Proportion


@dataclass(frozen=True)
class GroupedAccuracy:
    """``confusion[i][j]``: cases of reference class ``i`` the reader put in group ``j``."""

    mapping: str
    groups: tuple[str, ...]
    confusion: list[list[int]]
    per_group: list[GroupAccuracy]
    macro_sensitivity: float | None
    macro_specificity: float | None
    cases: int


def confusion(truth: Sequence[int], called: Sequence[int], classes: int) -> np.ndarray:
    """The confusion matrix (rows: the reference's class; columns: the reader's group)."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    for t, c in zip(truth, called, strict=True):
        if not (0 <= t < classes and 0 <= c < classes):
            raise ValueError(f"classes must be 0..{classes - 1}; got truth {t}, call {c}.")
        matrix[t, c] += 1
    return matrix


def grouped_accuracy(
    truth: Sequence[int],
    birads: Sequence[int],
    mapping: GroupMapping = SEED_002_GROUPS,
    confidence: float = 0.95,
) -> GroupedAccuracy:
    """Per group, one against the rest: sensitivity (of the cases truly in the group, how
    many the reader put there) and specificity (of the cases not in it, how many the reader
    kept out), with Wilson intervals. ``truth[k]`` is case ``k``'s reference class (0 normal,
    1 benign, 2 malignant); ``birads[k]`` the reader's BI-RADS; a BI-RADS in no group is a
    ValueError."""
    called = []
    for value in birads:
        group = mapping.group_of(value)
        if group is None:
            raise ValueError(f"BI-RADS {value} is in no group of the {mapping.name} mapping.")
        called.append(group)
    classes = len(mapping.groups)
    matrix = confusion(truth, called, classes)
    total = int(matrix.sum())
    per_group = []
    for index, label in enumerate(mapping.labels):
        positives = int(matrix[index].sum())
        true_positive = int(matrix[index, index])
        negatives = total - positives
        true_negative = negatives - int(matrix[:, index].sum() - true_positive)
        per_group.append(
            GroupAccuracy(
                label,
                proportion(true_positive, positives, confidence),
                proportion(true_negative, negatives, confidence),
            )
        )
    return GroupedAccuracy(
        mapping=mapping.name,
        groups=mapping.labels,
        confusion=matrix.tolist(),
        per_group=per_group,
        macro_sensitivity=_mean([g.sensitivity.estimate for g in per_group]),
        macro_specificity=_mean([g.specificity.estimate for g in per_group]),
        cases=total,
    )


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if len(known) == len(values) and known else None

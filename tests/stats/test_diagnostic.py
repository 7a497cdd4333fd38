"""Grouped diagnostic accuracy (seed 002's tables) against scikit-learn on the same calls:
the confusion matrix, per-group one-vs-rest sensitivity (recall) and specificity, macro
means; and the group mappings themselves."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix, recall_score

from app.stats.diagnostic import SEED_002_GROUPS, VINDR_GROUPS, grouped_accuracy
from app.stats.intervals import wilson_interval


def test_the_mappings() -> None:
    assert [SEED_002_GROUPS.group_of(b) for b in (0, 1, 2, 3, 4, 5)] == [2, 0, 1, 1, 2, 2]
    assert [VINDR_GROUPS.group_of(b) for b in (1, 2, 3, 4, 5)] == [0, 1, 2, 2, 2]
    assert SEED_002_GROUPS.labels == ("1", "2-3", "0-4-5")


@given(st.lists(st.tuples(st.integers(0, 2), st.sampled_from([0, 1, 2, 3, 4, 5])), min_size=1))
def test_matches_scikit_learn(cases) -> None:
    truth = [t for t, _ in cases]
    birads = [b for _, b in cases]
    result = grouped_accuracy(truth, birads)
    called = [SEED_002_GROUPS.group_of(b) for b in birads]
    expected = confusion_matrix(truth, called, labels=[0, 1, 2])
    assert np.array_equal(np.array(result.confusion), expected)
    for index, group in enumerate(result.per_group):
        in_group = [t == index for t in truth]
        said = [c == index for c in called]
        if any(in_group):
            assert group.sensitivity.estimate == pytest.approx(
                recall_score(in_group, said, zero_division=0)
            )
            low, high = wilson_interval(group.sensitivity.successes, group.sensitivity.n)
            assert (group.sensitivity.lower, group.sensitivity.upper) == (low, high)
        else:
            assert group.sensitivity.estimate is None
        if not all(in_group):
            negatives = [not v for v in in_group]
            kept_out = [not v for v in said]
            assert group.specificity.estimate == pytest.approx(
                recall_score(negatives, kept_out, zero_division=0)
            )


def test_a_birads_outside_every_group_is_refused() -> None:
    with pytest.raises(ValueError, match="BI-RADS 7"):
        grouped_accuracy([0], [7])

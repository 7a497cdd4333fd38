"""A reader's active time, tested directly."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.reading.rules import (
    active_seconds,
    add_activity,
)


def test_active_seconds_skips_idle_gaps() -> None:
    assert active_seconds([], 60) == 0.0
    assert active_seconds([5.0], 60) == 0.0
    assert active_seconds([0, 10, 20, 500, 530], 60) == 50.0  # the 480 s break counts nothing
    assert active_seconds([0, 60, 121], 60) == 60.0  # a gap of exactly the limit counts
    assert active_seconds([20, 0, 10], 60) == 20.0  # arrival order does not matter


def test_add_activity() -> None:
    assert add_activity(0.0, None, 100.0, 60) == 0.0
    assert add_activity(10.0, 100.0, 130.0, 60) == 40.0
    assert add_activity(10.0, 100.0, 400.0, 60) == 10.0
    assert add_activity(10.0, 100.0, 90.0, 60) == 10.0  # late event


@pytest.mark.parametrize("limit", [0, -1, math.nan, True])
def test_idle_limit_must_be_positive(limit: float) -> None:
    with pytest.raises(ValueError, match="idle_limit"):
        active_seconds([0, 1], limit)
    with pytest.raises(ValueError, match="idle_limit"):
        add_activity(0.0, 0.0, 1.0, limit)


def test_event_times_must_be_finite() -> None:
    with pytest.raises(ValueError, match="finite"):
        active_seconds([0, math.inf], 60)


@given(
    st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), max_size=30),
    st.floats(min_value=0.5, max_value=600),
)
def test_incremental_activity_equals_the_batch_figure(times: list[float], limit: float) -> None:
    active, last = 0.0, None
    for now in sorted(times):
        active = add_activity(active, last, now, limit)
        last = now
    assert active == active_seconds(times, limit)
    span = max(times) - min(times) if times else 0.0
    assert 0.0 <= active <= span + 1e-6

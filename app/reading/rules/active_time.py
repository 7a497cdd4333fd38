"""A reader's active time: the gaps between interactions, idle breaks left out."""

from __future__ import annotations

import math
from collections.abc import Sequence


def add_activity(active: float, last: float | None, now: float, idle_limit: float) -> float:
    """Active seconds after one more interaction at ``now`` (``last``: the previous one, None
    for the first). The server keeps ``active`` and ``max(last, now)`` per read.

    A gap longer than ``idle_limit`` counts as nothing: the reader was away, and we cannot
    tell how much of the gap was spent looking. Counting ``min(gap, idle_limit)`` instead
    would add a full idle limit for every break and telephone call, over-counting the time
    of readers who are interrupted often. A negative gap (an event arriving late) counts
    nothing either.
    """
    _check_time(now, "now")
    _check_idle_limit(idle_limit)
    if last is None:
        return active
    gap = now - last
    return active + gap if 0 <= gap <= idle_limit else active


def active_seconds(event_times: Sequence[float], idle_limit: float) -> float:
    """Seconds of active work: the gaps between consecutive interactions (in time order) that
    are at most ``idle_limit`` long; see :func:`add_activity` for why longer gaps count 0."""
    _check_idle_limit(idle_limit)
    active, last = 0.0, None
    for now in sorted(_check_time(time, "event time") for time in event_times):
        active = add_activity(active, last, now, idle_limit)
        last = now
    return active


def _check_idle_limit(idle_limit: float) -> None:
    if (
        isinstance(idle_limit, bool)
        or not isinstance(idle_limit, int | float)
        or not idle_limit > 0
    ):
        raise ValueError(f"idle_limit must be a number of seconds above 0; got {idle_limit!r}.")


def _check_time(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds; got {value!r}.")
    return value

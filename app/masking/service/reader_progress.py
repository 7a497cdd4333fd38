"""A reader's progress in a project: images placed and left, discards, reports, pace."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from app.masking import search
from app.masking.models import MaskingProject, MaskingReader
from app.masking.states import SortMode

RECENT_ANSWERS = 100  # the progress line's median response time is over this many answers


@dataclass(frozen=True)
class Progress:
    total: int
    placed: int
    remaining: int
    discarded: int
    reported: int
    comparisons: int
    median_seconds: float | None


def progress(project: MaskingProject, reader: MaskingReader) -> Progress:
    state = search.ReaderState.from_json(reader.state)
    if project.mode == SortMode.FULL_SORT:
        placed = len(state.order) - len(project.seed_list)
    else:
        placed = len(state.placed) - sum(len(level) for level in reader.level_seeds or ())
    remaining = len(state.queue) + (1 if state.current else 0)
    total = placed + remaining + len(state.discarded) + len(state.reported)
    recent = reader.recent_ms or []
    pace = round(statistics.median(recent) / 1000, 2) if recent else None
    return Progress(
        total=total,
        placed=placed,
        remaining=remaining,
        discarded=len(state.discarded),
        reported=len(state.reported),
        comparisons=reader.answered,
        median_seconds=pace,
    )

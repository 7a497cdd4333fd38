"""A reader study's plan as pure functions: who reads which study (fully crossed, or
split-plot in blocks), each reader's shuffled case order drawn from a recorded seed, and when a
reader's second-session reading of a study may start (the washout).

No I/O: the service gives ids in, and stores the planned reads it gets back.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MAX_SESSIONS = 2
MAX_WASHOUT_DAYS = 3650
MAX_BLOCKS = 100


class DesignError(ValueError):
    """A plan that cannot be read as asked; ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class PlannedRead:
    """One reading to assign: ``reader`` reads ``study`` in session ``session``."""

    reader: int
    study: int
    session: int


def blocks_of(studies: Sequence[int], readers: Sequence[int], blocks: int) -> dict[int, int]:
    """Split-plot: each study's block (1..blocks), dealt in turn in the studies' order."""
    return {study: index % blocks + 1 for index, study in enumerate(studies)}


def readers_of_block(readers: Sequence[int], blocks: int) -> dict[int, list[int]]:
    """Split-plot: each block's readers, dealt in turn in the readers' (sorted) order."""
    by_block: dict[int, list[int]] = {block: [] for block in range(1, blocks + 1)}
    for index, reader in enumerate(sorted(readers)):
        by_block[index % blocks + 1].append(reader)
    return by_block


def check_plan(readers: Sequence[int], blocks: int | None) -> None:
    """Refuse a plan that leaves a study with no reader."""
    if not readers:
        raise DesignError("readers", "Put at least one reader in the project's reader pool.")
    if blocks is not None:
        if not 1 <= blocks <= MAX_BLOCKS:
            raise DesignError("blocks", f"A split-plot design has 1 to {MAX_BLOCKS} blocks.")
        if blocks > len(readers):
            raise DesignError(
                "blocks",
                f"{blocks} blocks need at least {blocks} readers (one per block); the pool has "
                f"{len(readers)}, so a block of studies would have no reader.",
            )


def plan(
    readers: Sequence[int],
    studies: Sequence[int],
    sessions: Sequence[int],
    block_of: Mapping[int, int] | None = None,
    blocks: int | None = None,
) -> list[PlannedRead]:
    """Every reading the design asks for: fully crossed (``blocks`` None: every reader reads
    every study in every session) or split-plot (a study is read by its block's readers)."""
    check_plan(readers, blocks)
    if blocks is None:
        pairs = [(reader, study) for reader in readers for study in studies]
    else:
        assert block_of is not None
        by_block = readers_of_block(readers, blocks)
        pairs = [(reader, study) for study in studies for reader in by_block[block_of[study]]]
    return [PlannedRead(reader, study, session) for session in sessions for reader, study in pairs]


def shuffled(items: Sequence[int], seed: int, reader: int, session: int) -> list[int]:
    """The reader's order of ``items`` in a session: a shuffle drawn from the project's seed,
    the reader and the session, so the same seed gives the same order again."""
    order = sorted(items)
    # a reproducible order, not a secret
    random.Random(f"{seed}:{reader}:{session}").shuffle(order)  # noqa: S311
    return order


@dataclass(frozen=True)
class Wait:
    """Whether a reading may start now; if not, when it may (None: once the first-session
    reading of the study is submitted) and why."""

    ready: bool
    opens_at: datetime | None = None
    reason: str = ""


READY = Wait(True)


def washout_wait(
    session: int, first_read_at: datetime | None, washout_days: int, now: datetime
) -> Wait:
    """A first-session reading may start at once; a later session's reading of a study waits
    until the reader's first-session reading of it is submitted and ``washout_days`` passed."""
    if session <= 1:
        return READY
    if first_read_at is None:
        return Wait(False, None, "after your first-session reading of this case")
    opens_at = first_read_at + timedelta(days=washout_days)
    if now >= opens_at:
        return READY
    return Wait(False, opens_at, f"after a washout of {washout_days} days")

"""Simulated readers for the masking search: drive the pure engine (``app.masking.search``)
with answers derived from a hidden masking value per image.

Pure Python (stdlib only, no pytest), so the engine tests, the API end-to-end tests and the
benchmark can share it. Higher value = more masking (harder); lists run from least to most.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from app.masking.search import (
    QUERY,
    REFERENCE,
    SAME,
    Answer,
    Outcome,
    Pair,
    ReaderState,
    Setup,
    answer,
    pair_for,
    start_next,
)


class ConsistentReader:
    """Answers from a hidden masking value per image id (ties allowed): never contradicts
    itself."""

    def __init__(self, values: Mapping[int, float]) -> None:
        self.values = dict(values)
        self.answers = 0

    def value(self, image: int) -> float:
        return self.values[image]

    def answer(self, query_id: int, reference_id: int) -> Answer:
        self.answers += 1
        query, reference = self.value(query_id), self.value(reference_id)
        if query > reference:
            return QUERY
        if query < reference:
            return REFERENCE
        return SAME


class NoisyReader(ConsistentReader):
    """A consistent reader whose two values get fresh Gaussian noise (``sigma``) on every
    comparison; answers "same" when the noisy values differ by less than ``tolerance``."""

    def __init__(
        self, values: Mapping[int, float], sigma: float, seed: int = 0, tolerance: float = 0.0
    ) -> None:
        super().__init__(values)
        self.sigma = sigma
        self.tolerance = tolerance
        self.rng = random.Random(seed)

    def value(self, image: int) -> float:
        return self.values[image] + self.rng.gauss(0.0, self.sigma)

    def answer(self, query_id: int, reference_id: int) -> Answer:
        self.answers += 1
        difference = self.value(query_id) - self.value(reference_id)
        if abs(difference) < self.tolerance or difference == 0:
            return SAME
        return QUERY if difference > 0 else REFERENCE


class Reader(Protocol):
    """What ``run_reader`` needs from a reader."""

    def answer(self, query_id: int, reference_id: int) -> Answer: ...


class LogEntry(NamedTuple):
    pair: Pair
    answer: Answer
    outcome: Outcome


@dataclass(frozen=True)
class Attempt:
    """One attempt at placing a query: its comparisons in order and how it ended."""

    query: int
    attempt: int
    entries: tuple[LogEntry, ...]

    @property
    def comparisons(self) -> int:
        return len(self.entries)

    @property
    def outcome(self) -> Outcome:
        return self.entries[-1].outcome

    @property
    def size(self) -> int:
        """The interval at the first comparison: the list length (full sort) or the number
        of levels (levels)."""
        first = self.entries[0].pair
        return first.high - first.low + 1


def run_reader(
    state: ReaderState,
    setup: Setup,
    reader: Reader,
    max_answers: int = 1_000_000,
    observe: Callable[[ReaderState, LogEntry], None] | None = None,
) -> tuple[ReaderState, list[LogEntry]]:
    """Answer every pair the engine asks for until the reader is done (or ``max_answers``
    answers were given, in which case the returned state is not done). ``observe`` sees the
    state after each answer with its log entry."""
    log: list[LogEntry] = []
    while len(log) < max_answers:
        state = start_next(state, setup)
        pair = pair_for(state, setup)
        if pair is None:
            break
        given = reader.answer(pair.query, pair.reference)
        state, outcome = answer(state, setup, pair, given)
        entry = LogEntry(pair, given, outcome)
        log.append(entry)
        if observe is not None:
            observe(state, entry)
    return state, log


def attempts(log: Sequence[LogEntry]) -> list[Attempt]:
    """The log split into attempts (each ends with an outcome other than continue)."""
    grouped: list[Attempt] = []
    pending: list[LogEntry] = []
    for entry in log:
        pending.append(entry)
        if entry.outcome.kind != "continue":
            grouped.append(Attempt(entry.pair.query, entry.pair.attempt, tuple(pending)))
            pending = []
    return grouped


def hidden_values(
    images: Sequence[int], seed: int, distinct_levels: int | None = None
) -> dict[int, float]:
    """Hidden masking values in [0, 1): uniform, or drawn from ``distinct_levels`` values
    (ties)."""
    rng = random.Random(seed)
    if distinct_levels is None:
        return {image: rng.random() for image in images}
    return {image: rng.randrange(distinct_levels) / distinct_levels for image in images}


def sorted_by_value(images: Sequence[int], values: Mapping[int, float]) -> list[int]:
    """``images`` from least to most masking (ties by id)."""
    return sorted(images, key=lambda image: (values[image], image))


def kendall_tau_b(first: Sequence[float], second: Sequence[float]) -> float:
    """Kendall's tau-b between two paired sequences (O(n^2), fine for a few thousand)."""
    if len(first) != len(second):
        raise ValueError("the sequences differ in length")
    concordant = discordant = ties_first = ties_second = 0
    count = len(first)
    for i in range(count):
        for j in range(i + 1, count):
            a, b = first[i] - first[j], second[i] - second[j]
            if a == 0 and b == 0:
                continue
            if a == 0:
                ties_first += 1
            elif b == 0:
                ties_second += 1
            elif (a > 0) == (b > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = (
        (concordant + discordant + ties_first) * (concordant + discordant + ties_second)
    ) ** 0.5
    return (concordant - discordant) / denominator if denominator else 0.0

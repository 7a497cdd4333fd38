"""The masking search protocol (CSAW-M, seed 004) as pure code: what to compare next and what
an answer does, for one reader's sorted list or levels.

Lists run from least masking (index 0, level 1) to most masking. An answer says which image
hides a tumour more easily: ``"query"``, ``"reference"`` or ``"same"``.

Full sort: two ternary steps while the interval holds at least 4 images, then binary search;
every outcome names the exact insertion position, so a consistent reader never misplaces an
image (the published tool inserts one slot off in about 1 % of cases).

Levels: the paper's rule (start at a central level, round towards the centre, a random seed
image of the reference level) or the exact rule, a binary search over level boundaries (the
hardest seed of level k marks the boundary between k and k+1).

Randomness is a pure function of the reader's seed and the position in the protocol, so a
resumed search draws the same references and the next pair can be predicted for prefetching.

One module on purpose (about 500 lines): the full sort, the two level rules, undo and the
reader's state are one state machine over one ``ReaderState``; each step's invariants are
checked against the others', and the engine's tests read it as one protocol.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from app.masking.states import Answer, LevelRule, OutcomeKind, Phase, Side, SortMode

# The engine's vocabulary by short names (the enums are in ``app.masking.states``).
QUERY, REFERENCE, SAME = Answer.QUERY, Answer.REFERENCE, Answer.SAME
ANSWERS = Answer.of_search()  # a discard is not a search answer: ``discard`` ends the search
FULL_SORT, LEVELS = SortMode.FULL_SORT, SortMode.LEVELS
EXACT, PAPER = LevelRule.EXACT, LevelRule.PAPER
TERNARY, BINARY, LEVEL = Phase.TERNARY, Phase.BINARY, Phase.LEVEL

TERNARY_STEPS = 2
TERNARY_MIN_SIZE = 4
# The nine (answer vs lower anchor, answer vs upper anchor) pairs of a ternary step.
TERNARY_MOVES: dict[tuple[Answer, Answer], str] = {
    (QUERY, QUERY): "upper",
    (QUERY, REFERENCE): "middle",
    (REFERENCE, REFERENCE): "lower",
    (SAME, REFERENCE): "at_lower_anchor",
    (QUERY, SAME): "at_upper_anchor",
}


def draw(seed: int, *parts: object) -> int:
    """A deterministic pseudo-random 64-bit integer for ``parts`` under ``seed``."""
    text = ":".join(str(part) for part in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shuffled(items: Sequence[int], seed: int) -> list[int]:
    """``items`` in an order fixed by ``seed`` (and independent of the input order)."""
    return sorted(items, key=lambda item: (draw(seed, "order", item), item))


# --- one query's search ---------------------------------------------------------------------


@dataclass(frozen=True)
class Search:
    """A search in progress over list indices [low, high] (full sort) or levels [low, high].

    ``first`` holds the answer against the lower anchor while a ternary step waits for the
    answer against the upper one."""

    low: int
    high: int
    ternary_steps: int = 0
    first: Answer | None = None
    comparisons: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "ternary_steps": self.ternary_steps,
            "first": self.first,
            "comparisons": self.comparisons,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Search:
        return cls(
            low=data["low"],
            high=data["high"],
            ternary_steps=data.get("ternary_steps", 0),
            first=Answer(data["first"]) if data.get("first") else None,
            comparisons=data.get("comparisons", 0),
        )


@dataclass(frozen=True)
class Continue:
    search: Search


@dataclass(frozen=True)
class Place:
    """Insert at this list index (full sort) or into this level (levels)."""

    position: int


@dataclass(frozen=True)
class Abort:
    """The answers contradict each other; the image is retried later from scratch."""

    answers: tuple[Answer, Answer]


Step = Continue | Place | Abort


def start_full_sort(length: int) -> Search:
    if length < 2:
        raise ValueError("a full sort needs a list of at least 2 images")
    return Search(0, length - 1)


def in_ternary(search: Search) -> bool:
    size = search.high - search.low + 1
    return search.first is not None or (
        search.ternary_steps < TERNARY_STEPS and size >= TERNARY_MIN_SIZE
    )


def anchors(search: Search) -> tuple[int, int]:
    span = search.high - search.low
    return search.low + span // 3, search.low + 2 * span // 3


def full_sort_phase(search: Search) -> Phase:
    return TERNARY if in_ternary(search) else BINARY


def full_sort_reference(search: Search) -> int:
    """The list index of the image to compare the query with next."""
    if in_ternary(search):
        lower, upper = anchors(search)
        return upper if search.first is not None else lower
    return (search.low + search.high) // 2


def full_sort_answer(search: Search, answer: Answer) -> Step:
    counted = replace(search, comparisons=search.comparisons + 1)
    if in_ternary(search):
        if search.first is None:
            return Continue(replace(counted, first=answer))
        return _ternary_outcome(counted, search.first, answer)
    middle = full_sort_reference(search)
    if answer == SAME:
        return Place(middle)
    if answer == QUERY:
        return _narrowed(counted, middle + 1, search.high)
    return _narrowed(counted, search.low, middle - 1)


def _ternary_outcome(search: Search, first: Answer, second: Answer) -> Step:
    lower, upper = anchors(search)
    move = TERNARY_MOVES.get((first, second))
    if move is None:
        return Abort((first, second))
    if move == "at_lower_anchor":
        return Place(lower)
    if move == "at_upper_anchor":
        return Place(upper)
    low, high = {
        "upper": (upper + 1, search.high),
        "middle": (lower + 1, upper - 1),
        "lower": (search.low, lower - 1),
    }[move]
    stepped = replace(search, first=None, ternary_steps=search.ternary_steps + 1)
    return _narrowed(stepped, low, high)


def _narrowed(search: Search, low: int, high: int) -> Step:
    """An empty interval means the query goes between its neighbours: at ``low``."""
    if low > high:
        return Place(low)
    return Continue(replace(search, low=low, high=high))


# --- levels ---------------------------------------------------------------------------------


def start_levels(levels: int) -> Search:
    if levels < 2:
        raise ValueError("a level search needs at least 2 levels")
    return Search(1, levels)


def level_reference(search: Search, rule: LevelRule, levels: int, coin: int) -> int:
    """The level whose seed the query is compared with next.

    Exact: boundary level k = the middle of the interval, rounded down. Paper: the middle of
    the interval, rounded towards the centre of the scale (``coin`` breaks the tie at the
    exact centre, so the first reference is level 4 or 5 of 8 at random)."""
    if rule == EXACT:
        return (search.low + search.high) // 2
    twice_middle, twice_centre = search.low + search.high, levels + 1
    if twice_middle % 2 == 0:
        return twice_middle // 2
    if twice_middle == twice_centre:
        return twice_middle // 2 + coin % 2
    towards_centre = 1 if twice_middle < twice_centre else 0
    return twice_middle // 2 + towards_centre


def level_answer(search: Search, rule: LevelRule, reference: int, answer: Answer) -> Step:
    counted = replace(search, comparisons=search.comparisons + 1)
    if rule == EXACT:
        # The reference is level k's hardest seed: harder means above k, anything else k or below.
        low, high = (reference + 1, search.high) if answer == QUERY else (search.low, reference)
        return Place(low) if low == high else Continue(replace(counted, low=low, high=high))
    if answer == SAME:
        return Place(reference)
    low, high = (reference + 1, search.high) if answer == QUERY else (search.low, reference - 1)
    if low > high:  # both neighbours ruled out: the reference's own level
        return Place(reference)
    return Place(low) if low == high else Continue(replace(counted, low=low, high=high))


def level_seed_index(rule: LevelRule, seeds_in_level: int, pick: int) -> int:
    """Which seed of the reference level to show: the hardest (exact) or a random one."""
    return seeds_in_level - 1 if rule == EXACT else pick % seeds_in_level


def max_comparisons(mode: SortMode, size: int) -> int:
    """The most comparisons one insertion takes: list length ``size`` or ``size`` levels."""
    if mode == LEVELS:
        return math.ceil(math.log2(size))
    return math.ceil(math.log2(size + 1)) + TERNARY_STEPS


# --- a reader's state -------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """What a reader's searches depend on; fixed when the reader joins the project."""

    mode: SortMode
    seed: int
    rule: LevelRule = EXACT
    level_seeds: tuple[tuple[int, ...], ...] = ()
    max_attempts: int = 3
    randomise_sides: bool = False

    @property
    def levels(self) -> int:
        return len(self.level_seeds)


@dataclass(frozen=True)
class Current:
    """The query being placed: its attempt number and its search."""

    query: int
    attempt: int
    search: Search

    def to_json(self) -> dict[str, Any]:
        return {"query": self.query, "attempt": self.attempt, "search": self.search.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Current:
        return cls(data["query"], data["attempt"], Search.from_json(data["search"]))


@dataclass(frozen=True)
class Pair:
    """A search comparison: the reference image and where it sits (list index or level)."""

    query: int
    reference: int
    position: int
    phase: Phase
    attempt: int
    low: int
    high: int
    query_side: Side


@dataclass
class ReaderState:
    """A reader's progress in a project. ``order`` is the sorted list (full sort, image ids);
    ``placed`` maps image id to level (levels). Queue order is the reader's shuffled order;
    aborted images are appended after the others."""

    order: list[int] = field(default_factory=list)
    placed: dict[int, int] = field(default_factory=dict)
    queue: list[int] = field(default_factory=list)
    current: Current | None = None
    attempts: dict[int, int] = field(default_factory=dict)
    discarded: dict[int, str] = field(default_factory=dict)
    reported: list[int] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.current is None and not self.queue

    def to_json(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "placed": {str(image): level for image, level in self.placed.items()},
            "queue": list(self.queue),
            "current": self.current.to_json() if self.current else None,
            "attempts": {str(image): n for image, n in self.attempts.items()},
            "discarded": {str(image): reason for image, reason in self.discarded.items()},
            "reported": list(self.reported),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReaderState:
        current = data.get("current")
        return cls(
            order=list(data.get("order", [])),
            placed={int(k): v for k, v in data.get("placed", {}).items()},
            queue=list(data.get("queue", [])),
            current=Current.from_json(current) if current else None,
            attempts={int(k): v for k, v in data.get("attempts", {}).items()},
            discarded={int(k): v for k, v in data.get("discarded", {}).items()},
            reported=list(data.get("reported", [])),
        )

    def copy(self) -> ReaderState:
        return ReaderState.from_json(self.to_json())


def initial_state(
    setup: Setup, images: Sequence[int], seed_list: Sequence[int] = ()
) -> ReaderState:
    """A reader's starting state: the shared seed list (full sort) and the shuffled queue of
    every image that is not one of the reader's seeds."""
    if setup.mode == FULL_SORT:
        if len(seed_list) < 2:
            raise ValueError("a full sort needs a seed list of at least 2 images")
        seeds = set(seed_list)
        return ReaderState(
            order=list(seed_list), queue=shuffled([i for i in images if i not in seeds], setup.seed)
        )
    if setup.levels < 2 or any(not level for level in setup.level_seeds):
        raise ValueError("a level search needs at least 2 levels, each with a seed image")
    placed = {image: n for n, level in enumerate(setup.level_seeds, start=1) for image in level}
    return ReaderState(
        placed=placed, queue=shuffled([i for i in images if i not in placed], setup.seed)
    )


def start_next(state: ReaderState, setup: Setup) -> ReaderState:
    """Take the next query off the queue when none is being placed."""
    if state.current is not None or not state.queue:
        return state
    new = state.copy()
    query = new.queue.pop(0)
    search = (
        start_full_sort(len(new.order)) if setup.mode == FULL_SORT else start_levels(setup.levels)
    )
    new.current = Current(query, new.attempts.get(query, 0) + 1, search)
    return new


def pair_for(state: ReaderState, setup: Setup) -> Pair | None:
    """The comparison the current search asks for (``start_next`` first), or None when done."""
    current = state.current
    if current is None:
        return None
    search = current.search
    draws = (current.query, current.attempt, search.comparisons)
    if setup.mode == FULL_SORT:
        position = full_sort_reference(search)
        reference, phase = state.order[position], full_sort_phase(search)
    else:
        position = level_reference(
            search, setup.rule, setup.levels, draw(setup.seed, "level", *draws)
        )
        seeds = setup.level_seeds[position - 1]
        pick = draw(setup.seed, "seed", *draws)
        reference, phase = seeds[level_seed_index(setup.rule, len(seeds), pick)], LEVEL
    side = Side.LEFT
    if setup.randomise_sides and draw(setup.seed, "side", *draws) % 2:
        side = Side.RIGHT
    return Pair(
        current.query, reference, position, phase, current.attempt, search.low, search.high, side
    )


@dataclass(frozen=True)
class Outcome:
    """What an answer did: ``kind`` is continue, placed, aborted, reported or discarded (or
    probe, for a probe's answer, which leaves the search alone); ``position`` the list index
    or level for placed."""

    kind: OutcomeKind
    position: int | None = None


def answer(
    state: ReaderState, setup: Setup, pair: Pair, given: Answer
) -> tuple[ReaderState, Outcome]:
    """Apply a search answer to ``pair`` (which must be the current search's pair)."""
    current = state.current
    if current is None or current.query != pair.query:
        raise ValueError("the pair does not belong to the current search")
    search = current.search
    if setup.mode == FULL_SORT:
        step = full_sort_answer(search, given)
    else:
        step = level_answer(search, setup.rule, pair.position, given)
    new = state.copy()
    if isinstance(step, Continue):
        new.current = replace(current, search=step.search)
        return new, Outcome(OutcomeKind.CONTINUE)
    new.current = None
    if isinstance(step, Place):
        if setup.mode == FULL_SORT:
            new.order.insert(step.position, current.query)
        else:
            new.placed[current.query] = step.position
        return new, Outcome(OutcomeKind.PLACED, step.position)
    new.attempts[current.query] = current.attempt
    if current.attempt >= setup.max_attempts:
        new.reported.append(current.query)
        return new, Outcome(OutcomeKind.REPORTED)
    new.queue.append(current.query)
    return new, Outcome(OutcomeKind.ABORTED)


def discard(state: ReaderState, reason: str) -> tuple[ReaderState, Outcome]:
    if state.current is None:
        raise ValueError("there is no query to discard")
    new = state.copy()
    new.discarded[state.current.query] = reason
    new.current = None
    return new, Outcome(OutcomeKind.DISCARDED)


def undo(state: ReaderState, setup: Setup, before: Current, outcome: Outcome) -> ReaderState:
    """Revert the latest answer, given the search it was made in and what it did. A query
    started since (no answer yet) goes back to the front of the queue."""
    new = state.copy()
    started = new.current
    # Any query current after an answer that ended the search was started since; it may be
    # the same image when its abort requeued it last in an otherwise empty queue.
    if started is not None and outcome.kind != OutcomeKind.CONTINUE:
        new.queue.insert(0, started.query)
    query = before.query
    if outcome.kind == OutcomeKind.PLACED:
        if setup.mode == FULL_SORT:
            new.order.remove(query)
        else:
            del new.placed[query]
    elif outcome.kind == OutcomeKind.DISCARDED:
        del new.discarded[query]
    elif outcome.kind in OutcomeKind.of_an_abort():
        _remove_last(new.reported if outcome.kind == OutcomeKind.REPORTED else new.queue, query)
        _restore_attempts(new, query, before.attempt - 1)
    new.current = before
    return new


def _remove_last(items: list[int], value: int) -> None:
    del items[len(items) - 1 - items[::-1].index(value)]


def _restore_attempts(state: ReaderState, query: int, attempts: int) -> None:
    if attempts:
        state.attempts[query] = attempts
    else:
        state.attempts.pop(query, None)


def predicted_pairs(state: ReaderState, setup: Setup, pair: Pair) -> list[Pair]:
    """The pairs that each possible answer to ``pair`` leads to, for prefetching."""
    pairs: list[Pair] = []
    for given in ANSWERS:
        after, _ = answer(state, setup, pair, given)
        following = pair_for(start_next(after, setup), setup)
        if following is not None and following not in pairs:
            pairs.append(following)
    return pairs


# --- levels from a full sort ------------------------------------------------------------------


def level_cut(order: Sequence[int], levels: int) -> dict[int, int]:
    """Each image's level when a sorted list is cut into ``levels`` equal parts (their sizes
    differ by at most one)."""
    size = len(order)
    return {image: 1 + index * levels // size for index, image in enumerate(order)}


def seeds_from_order(
    order: Sequence[int], levels: int, per_level: int
) -> tuple[tuple[int, ...], ...]:
    """Seed images per level from a reader's sorted list, as the paper derived them: the list
    is cut into equal parts and each level takes ``per_level`` images spread evenly over its
    part, ending with the part's hardest (which marks the level's upper boundary)."""
    if levels < 2 or per_level < 1 or len(order) < levels * per_level:
        raise ValueError(
            f"a list of {len(order)} images cannot give {levels} levels of {per_level} seeds"
        )
    parts: list[list[int]] = [[] for _ in range(levels)]
    for image, level in level_cut(order, levels).items():
        parts[level - 1].append(image)
    seeds = []
    for part in parts:
        last, size = len(part) - 1, len(part)
        picks = sorted(last - step * size // per_level for step in range(per_level))
        seeds.append(tuple(part[index] for index in picks))
    return tuple(seeds)

"""The pure masking search engine (app/masking/search.py): direct tests of each rule and
property tests with simulated readers (tests/masking/simulation.py)."""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Iterator
from itertools import pairwise, product

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.masking.search import (
    ANSWERS,
    BINARY,
    EXACT,
    FULL_SORT,
    LEVEL,
    LEVELS,
    PAPER,
    QUERY,
    REFERENCE,
    SAME,
    TERNARY,
    TERNARY_MOVES,
    Abort,
    Answer,
    Continue,
    Current,
    Outcome,
    Place,
    ReaderState,
    Search,
    Setup,
    anchors,
    answer,
    discard,
    full_sort_answer,
    full_sort_phase,
    full_sort_reference,
    in_ternary,
    initial_state,
    level_answer,
    level_cut,
    level_reference,
    max_comparisons,
    pair_for,
    predicted_pairs,
    seeds_from_order,
    shuffled,
    start_full_sort,
    start_levels,
    start_next,
    undo,
)
from tests.masking.simulation import (
    Attempt,
    ConsistentReader,
    LogEntry,
    NoisyReader,
    attempts,
    hidden_values,
    run_reader,
    sorted_by_value,
)

SEEDS = st.integers(0, 2**32 - 1)
SEED_IDS = range(1001, 1007)


def quick(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None)


def full_sort_project(
    values: dict[int, float],
    seed_count: int,
    seed: int = 0,
    max_attempts: int = 3,
    randomise_sides: bool = False,
) -> tuple[Setup, ReaderState]:
    """The first ``seed_count`` image ids (in id order) form the seed list, in hidden order."""
    images = sorted(values)
    setup = Setup(FULL_SORT, seed, max_attempts=max_attempts, randomise_sides=randomise_sides)
    seed_list = sorted_by_value(images[:seed_count], values)
    return setup, initial_state(setup, images, seed_list)


def level_project(
    values: dict[int, float], levels: int, per_level: int, rule: str, seed: int = 0
) -> tuple[Setup, ReaderState, tuple[tuple[int, ...], ...]]:
    """Seeds cut from the reader's perfect sort of every image; the others are the queries."""
    order = sorted_by_value(sorted(values), values)
    level_seeds = seeds_from_order(order, levels, per_level)
    setup = Setup(LEVELS, seed, rule=rule, level_seeds=level_seeds)
    return setup, initial_state(setup, sorted(values)), level_seeds


def distinct_values(count: int, seed: int) -> dict[int, float]:
    ranks = random.Random(seed).sample(range(count), count)
    return {image: float(rank) for image, rank in enumerate(ranks, start=1)}


def non_decreasing(order: list[int], values: dict[int, float]) -> bool:
    return all(values[a] <= values[b] for a, b in pairwise(order))


def check_full_sort_attempt(attempt: Attempt) -> None:
    """Ternary steps come first, at most two of them, only on intervals of >= 4 images, with
    the anchors of the note; then binary at the midpoint; aborts only on the four
    inconsistent ternary pairs."""
    pairs = [entry.pair for entry in attempt.entries]
    phases = [pair.phase for pair in pairs]
    ternary = phases.count(TERNARY)
    assert phases == [TERNARY] * ternary + [BINARY] * (len(pairs) - ternary)
    assert ternary % 2 == 0
    assert ternary <= 4
    for index in range(0, ternary, 2):
        first, second = pairs[index], pairs[index + 1]
        assert (first.low, first.high) == (second.low, second.high)
        assert first.high - first.low + 1 >= 4
        assert (first.position, second.position) == anchors(Search(first.low, first.high))
    binary = pairs[ternary:]
    for pair in binary:
        assert pair.position == (pair.low + pair.high) // 2
    if binary and ternary < 4:
        assert binary[0].high - binary[0].low + 1 < 4
    if attempt.outcome.kind in ("aborted", "reported"):
        assert phases[-1] == TERNARY
        given_pair = (attempt.entries[-2].answer, attempt.entries[-1].answer)
        assert given_pair not in TERNARY_MOVES


# --- full sort with a consistent reader -------------------------------------------------------


@quick(60)
@given(seed_count=st.integers(2, 6), extra=st.integers(1, 60), seed=SEEDS)
def test_full_sort_places_every_image_exactly_with_distinct_values(
    seed_count: int, extra: int, seed: int
) -> None:
    values = distinct_values(seed_count + extra, seed)
    setup, state = full_sort_project(values, seed_count, seed)

    def observe(after: ReaderState, entry: LogEntry) -> None:
        if entry.outcome.kind == "placed":
            assert after.order[entry.outcome.position] == entry.pair.query
            assert non_decreasing(after.order, values)
        else:
            assert after.order[entry.pair.position] == entry.pair.reference

    final, log = run_reader(state, setup, ConsistentReader(values), observe=observe)
    assert final.done
    assert final.order == sorted_by_value(sorted(values), values)
    assert not final.reported
    assert not final.attempts
    inserted = attempts(log)
    assert len(inserted) == extra
    for attempt in inserted:
        assert attempt.outcome.kind == "placed"
        assert attempt.comparisons <= max_comparisons(FULL_SORT, attempt.size)
        check_full_sort_attempt(attempt)


@quick(80)
@given(
    seed_count=st.integers(2, 6),
    extra=st.integers(1, 50),
    distinct=st.integers(1, 8),
    max_attempts=st.integers(1, 3),
    seed=SEEDS,
)
def test_full_sort_with_ties_never_misplaces_and_loses_nothing(
    seed_count: int, extra: int, distinct: int, max_attempts: int, seed: int
) -> None:
    values = hidden_values(range(1, seed_count + extra + 1), seed, distinct_levels=distinct)
    setup, state = full_sort_project(values, seed_count, seed, max_attempts)

    def observe(after: ReaderState, entry: LogEntry) -> None:
        if entry.outcome.kind == "placed":
            assert after.order[entry.outcome.position] == entry.pair.query
            assert non_decreasing(after.order, values)
        if entry.outcome.kind == "aborted":
            assert after.queue[-1] == entry.pair.query

    final, log = run_reader(state, setup, ConsistentReader(values), observe=observe)
    assert final.done
    assert non_decreasing(final.order, values)
    assert sorted(final.order + final.reported) == sorted(values)
    for image in final.reported:
        assert final.attempts[image] == max_attempts
    for attempt in attempts(log):
        assert attempt.comparisons <= max_comparisons(FULL_SORT, attempt.size)
        check_full_sort_attempt(attempt)
        if attempt.outcome.kind != "placed":
            # A consistent reader can only contradict itself by tying with both anchors.
            assert [e.answer for e in attempt.entries[-2:]] == [SAME, SAME]


def test_full_sort_exhaustive_small_lists_exact_and_within_bound() -> None:
    """Every insertion position of every list of 2..200 images, distinct values."""
    excess = Counter()
    for length in range(2, 201):
        for position in range(length + 1):
            search, comparisons = start_full_sort(length), 0
            while True:
                reference = full_sort_reference(search)
                reply = QUERY if 2 * position - 1 > 2 * reference else REFERENCE
                step, comparisons = full_sort_answer(search, reply), comparisons + 1
                if isinstance(step, Continue):
                    search = step.search
                    continue
                assert step == Place(position)
                break
            assert comparisons <= max_comparisons(FULL_SORT, length)
            excess[comparisons - math.ceil(math.log2(length + 1))] += 1
    assert max(excess) == 2  # the bound is reached, so it is tight


def test_full_sort_six_to_five_hundred_costs_about_eight_and_a_half() -> None:
    """The note's figure: a perfect rater growing a list 6 -> 500 needs ~8.5 comparisons per
    image (9.7 at n = 400-500)."""
    values = distinct_values(500, 4)
    setup, state = full_sort_project(values, 6, 4)
    final, log = run_reader(state, setup, ConsistentReader(values))
    assert final.order == sorted_by_value(sorted(values), values)
    inserted = attempts(log)
    assert len(inserted) == 494
    assert 8.0 < statistics.mean(a.comparisons for a in inserted) < 9.0
    late = [a.comparisons for a in inserted if a.size >= 400]
    assert 9.2 < statistics.mean(late) < 10.2
    assert all(a.comparisons <= max_comparisons(FULL_SORT, a.size) for a in inserted)


# --- ternary and binary steps -----------------------------------------------------------------

# (answer vs m1, answer vs m2) -> outcome on Search(3, 15): m1 = 7, m2 = 11.
TERNARY_TABLE: dict[tuple[Answer, Answer], object] = {
    (QUERY, QUERY): Continue(Search(12, 15, ternary_steps=1, comparisons=2)),
    (QUERY, REFERENCE): Continue(Search(8, 10, ternary_steps=1, comparisons=2)),
    (REFERENCE, REFERENCE): Continue(Search(3, 6, ternary_steps=1, comparisons=2)),
    (SAME, REFERENCE): Place(7),
    (QUERY, SAME): Place(11),
    (REFERENCE, QUERY): Abort((REFERENCE, QUERY)),
    (REFERENCE, SAME): Abort((REFERENCE, SAME)),
    (SAME, QUERY): Abort((SAME, QUERY)),
    (SAME, SAME): Abort((SAME, SAME)),
}


def test_ternary_table_covers_all_nine_pairs() -> None:
    assert set(TERNARY_TABLE) == set(product(ANSWERS, ANSWERS))


@pytest.mark.parametrize(("first", "second"), list(TERNARY_TABLE))
def test_ternary_step_outcome(first: Answer, second: Answer) -> None:
    search = Search(3, 15)
    assert anchors(search) == (7, 11)
    assert full_sort_phase(search) == TERNARY
    assert full_sort_reference(search) == 7
    step = full_sort_answer(search, first)
    assert step == Continue(Search(3, 15, first=first, comparisons=1))
    assert full_sort_phase(step.search) == TERNARY
    assert full_sort_reference(step.search) == 11
    assert full_sort_answer(step.search, second) == TERNARY_TABLE[(first, second)]


def test_ternary_middle_between_adjacent_anchors_places_between_them() -> None:
    search = Search(0, 3)
    assert anchors(search) == (1, 2)
    step = full_sort_answer(search, QUERY)
    assert full_sort_answer(step.search, REFERENCE) == Place(2)
    step = full_sort_answer(search, REFERENCE)
    lower_third = full_sort_answer(step.search, REFERENCE)
    assert lower_third == Continue(Search(0, 0, ternary_steps=1, comparisons=2))
    assert full_sort_answer(lower_third.search, REFERENCE) == Place(0)


@quick(100)
@given(low=st.integers(0, 300), size=st.integers(4, 500))
def test_ternary_anchors_split_the_interval_in_thirds(low: int, size: int) -> None:
    high = low + size - 1
    m1, m2 = anchors(Search(low, high))
    assert (m1, m2) == (low + (high - low) // 3, low + 2 * (high - low) // 3)
    assert low <= m1 < m2 <= high
    parts = [m1 - low, m2 - m1 - 1, high - m2]
    assert sum(parts) + 2 == size
    assert max(parts) - min(parts) <= 2


def test_ternary_only_for_two_steps_and_intervals_of_four() -> None:
    assert in_ternary(Search(0, 3))
    assert not in_ternary(Search(0, 2))
    assert full_sort_phase(start_full_sort(3)) == BINARY
    assert in_ternary(Search(0, 99, ternary_steps=1))
    assert not in_ternary(Search(0, 99, ternary_steps=2))
    search = Search(0, 99)
    for steps in (1, 2):
        step = full_sort_answer(full_sort_answer(search, QUERY).search, REFERENCE)
        assert isinstance(step, Continue)
        search = step.search
        assert search.ternary_steps == steps
    assert full_sort_phase(search) == BINARY


@pytest.mark.parametrize(
    ("search", "reference", "outcomes"),
    [
        (Search(0, 2), 1, {SAME: Place(1), QUERY: (2, 2), REFERENCE: (0, 0)}),
        (Search(2, 2), 2, {SAME: Place(2), QUERY: Place(3), REFERENCE: Place(2)}),
        (
            Search(10, 40, ternary_steps=2, comparisons=4),
            25,
            {SAME: Place(25), QUERY: (26, 40), REFERENCE: (10, 24)},
        ),
    ],
)
def test_binary_step(search: Search, reference: int, outcomes: dict[Answer, object]) -> None:
    assert full_sort_phase(search) == BINARY
    assert full_sort_reference(search) == reference
    for reply, expected in outcomes.items():
        step = full_sort_answer(search, reply)
        if isinstance(expected, Place):
            assert step == expected
        else:
            assert isinstance(step, Continue)
            assert (step.search.low, step.search.high) == expected
            assert step.search.comparisons == search.comparisons + 1


@quick(100)
@given(low=st.integers(0, 300), size=st.integers(1, 300))
def test_binary_same_inserts_at_the_reference(low: int, size: int) -> None:
    search = Search(low, low + size - 1, ternary_steps=2)
    assert full_sort_answer(search, SAME) == Place(full_sort_reference(search))


# --- levels -----------------------------------------------------------------------------------


@quick(80)
@given(
    levels=st.integers(2, 16),
    per_level=st.integers(1, 3),
    extra=st.integers(1, 30),
    ties=st.booleans(),
    seed=SEEDS,
)
def test_exact_levels_place_every_image_in_its_true_level(
    levels: int, per_level: int, extra: int, ties: bool, seed: int
) -> None:
    images = range(1, levels * per_level + extra + 1)
    values = hidden_values(images, seed, distinct_levels=levels + 1 if ties else None)
    setup, state, level_seeds = level_project(values, levels, per_level, EXACT, seed)
    boundaries = [values[seeds[-1]] for seeds in level_seeds[:-1]]
    final, log = run_reader(state, setup, ConsistentReader(values))
    assert final.done
    assert not final.reported
    for image in state.queue:
        assert final.placed[image] == 1 + sum(b < values[image] for b in boundaries)
    for attempt in attempts(log):
        assert attempt.outcome.kind == "placed"
        assert attempt.comparisons <= max_comparisons(LEVELS, levels)
        for entry in attempt.entries:
            assert entry.pair.phase == LEVEL
            assert entry.pair.reference == level_seeds[entry.pair.position - 1][-1]
            assert entry.pair.low <= entry.pair.position < entry.pair.high


@quick(80)
@given(
    levels=st.integers(2, 16),
    per_level=st.integers(1, 4),
    extra=st.integers(1, 40),
    seed=SEEDS,
)
def test_paper_levels_land_within_one_level(
    levels: int, per_level: int, extra: int, seed: int
) -> None:
    """The paper's rule compares with a random seed of the reference level, so an image
    compared with a seed of its own level leaves that level (no "same" with distinct values);
    after that every answer pushes it back, so it lands in an adjacent level, never further.
    An image never compared with its own level lands exactly."""
    values = distinct_values(levels * per_level + extra, seed)
    setup, state, level_seeds = level_project(values, levels, per_level, PAPER, seed)
    truth = level_cut(sorted_by_value(sorted(values), values), levels)
    final, log = run_reader(state, setup, ConsistentReader(values))
    assert final.done
    for attempt in attempts(log):
        placed = final.placed[attempt.query]
        assert attempt.outcome == Outcome("placed", placed)
        assert abs(placed - truth[attempt.query]) <= 1
        if placed != truth[attempt.query]:
            assert truth[attempt.query] in [e.pair.position for e in attempt.entries]
        assert attempt.comparisons <= max_comparisons(LEVELS, levels)
        for entry in attempt.entries:
            assert entry.pair.low <= entry.pair.position <= entry.pair.high
            assert entry.pair.reference in level_seeds[entry.pair.position - 1]


def test_paper_rule_misplaces_some_exact_rule_none() -> None:
    """The flaw the note describes, and that the exact rule fixes, on 8 levels of 4 seeds."""
    values = distinct_values(500, 11)
    truth = level_cut(sorted_by_value(sorted(values), values), 8)
    exact_share = {}
    for rule in (EXACT, PAPER):
        setup, state, _ = level_project(values, 8, 4, rule, 11)
        final, _ = run_reader(state, setup, ConsistentReader(values))
        queries = state.queue
        exact_share[rule] = sum(final.placed[q] == truth[q] for q in queries) / len(queries)
    assert exact_share[EXACT] == 1.0
    assert exact_share[PAPER] < 0.9


def explore(search: Search, rule: str, levels: int, depth: int = 1) -> Iterator[tuple[int, int]]:
    """(placed level, comparisons) over every answer sequence and every coin."""
    for coin in (0, 1) if rule == PAPER else (0,):
        reference = level_reference(search, rule, levels, coin)
        assert search.low <= reference <= search.high
        for reply in ANSWERS:
            step = level_answer(search, rule, reference, reply)
            if isinstance(step, Continue):
                inner = step.search
                assert search.low <= inner.low < inner.high <= search.high
                assert inner.high - inner.low < search.high - search.low
                assert inner.comparisons == search.comparisons + 1
                yield from explore(inner, rule, levels, depth + 1)
            else:
                assert isinstance(step, Place)
                assert search.low <= step.position <= search.high
                yield step.position, depth


@pytest.mark.parametrize("rule", [EXACT, PAPER])
@pytest.mark.parametrize("levels", range(2, 17))
def test_level_search_bounds_over_every_answer_sequence(rule: str, levels: int) -> None:
    outcomes = list(explore(start_levels(levels), rule, levels))
    assert {level for level, _ in outcomes} == set(range(1, levels + 1))
    assert max(depth for _, depth in outcomes) <= max_comparisons(LEVELS, levels)
    if levels == 8:
        assert max(depth for _, depth in outcomes) == 3


@pytest.mark.parametrize(
    ("low", "high", "coin", "reference"),
    [
        (1, 8, 0, 4),
        (1, 8, 1, 5),
        (1, 8, 2, 4),
        (1, 8, 7, 5),
        (5, 8, 0, 6),  # upper half: round down (towards the centre)
        (5, 8, 1, 6),
        (1, 4, 0, 3),  # lower half: round up
        (6, 8, 0, 7),
        (7, 8, 0, 7),
        (1, 2, 0, 2),
        (1, 3, 0, 2),
        (3, 4, 0, 4),
        (5, 6, 0, 5),
    ],
)
def test_paper_reference_rounds_towards_the_centre(
    low: int, high: int, coin: int, reference: int
) -> None:
    assert level_reference(Search(low, high), PAPER, 8, coin) == reference


def test_paper_first_reference_of_eight_levels_is_four_or_five() -> None:
    values = distinct_values(300, 3)
    setup, state, _ = level_project(values, 8, 4, PAPER, 3)
    firsts = Counter()
    while state.queue:
        state = start_next(state, setup)
        firsts[pair_for(state, setup).position] += 1
        state, _ = discard(state, "not needed")
    assert set(firsts) == {4, 5}
    assert min(firsts.values()) > 0.3 * sum(firsts.values())


@quick(100)
@given(levels=st.integers(2, 16), data=st.data())
def test_level_reference_lies_inside_the_interval(levels: int, data: st.DataObject) -> None:
    low = data.draw(st.integers(1, levels - 1))
    high = data.draw(st.integers(low + 1, levels))
    coin = data.draw(st.integers(0, 2**64 - 1))
    for rule in (EXACT, PAPER):
        assert low <= level_reference(Search(low, high), rule, levels, coin) <= high
    assert level_reference(Search(low, high), EXACT, levels, coin) < high


# --- aborts, discards, none lost --------------------------------------------------------------


def abort_current(state: ReaderState, setup: Setup) -> tuple[ReaderState, Outcome]:
    state, _ = answer(state, setup, pair_for(state, setup), REFERENCE)
    return answer(state, setup, pair_for(state, setup), QUERY)


def test_abort_requeues_after_the_others_then_reports() -> None:
    setup = Setup(FULL_SORT, 7, max_attempts=2)
    state = start_next(initial_state(setup, [1, 2, 3, *SEED_IDS], list(SEED_IDS)), setup)
    first, others = state.current.query, list(state.queue)
    state, outcome = abort_current(state, setup)
    assert outcome == Outcome("aborted")
    assert state.current is None
    assert state.queue == [*others, first]
    assert state.attempts == {first: 1}
    for expected in others:
        state = start_next(state, setup)
        assert state.current.query == expected
        state, _ = answer(state, setup, pair_for(state, setup), SAME)
        state, outcome = answer(state, setup, pair_for(state, setup), REFERENCE)
        assert outcome.kind == "placed"
    state = start_next(state, setup)
    grown = len(SEED_IDS) + len(others)
    assert state.current == Current(first, 2, Search(0, grown - 1))
    state, outcome = abort_current(state, setup)
    assert outcome == Outcome("reported")
    assert state.reported == [first]
    assert state.attempts == {first: 2}
    assert state.done
    assert first not in state.order


@quick(60)
@given(
    mode=st.sampled_from([FULL_SORT, LEVELS]),
    sigma=st.floats(0.0, 0.6),
    tolerance=st.floats(0.0, 0.1),
    max_attempts=st.integers(1, 3),
    discard_rate=st.sampled_from([0.0, 0.05, 0.3]),
    queries=st.integers(1, 40),
    seed=SEEDS,
)
def test_noisy_reader_loses_and_duplicates_nothing(
    mode: str,
    sigma: float,
    tolerance: float,
    max_attempts: int,
    discard_rate: float,
    queries: int,
    seed: int,
) -> None:
    values = hidden_values(range(1, queries + 17), seed)
    if mode == FULL_SORT:
        setup, state = full_sort_project(values, 6, seed, max_attempts)
    else:
        setup, state, _ = level_project(values, 8, 2, PAPER, seed)
    seed_list = list(state.order)
    reader = NoisyReader(values, sigma, seed=seed, tolerance=tolerance)
    rng = random.Random(seed)
    for _ in range(10_000):
        state = start_next(state, setup)
        pair = pair_for(state, setup)
        if pair is None:
            break
        if rng.random() < discard_rate:
            state, outcome = discard(state, "cropped")
        else:
            state, outcome = answer(state, setup, pair, reader.answer(pair.query, pair.reference))
        if outcome.kind == "aborted":
            assert state.queue[-1] == pair.query
    assert state.done
    kept = state.order if mode == FULL_SORT else list(state.placed)
    everything = kept + state.reported + list(state.discarded)
    assert Counter(everything) == Counter(list(values))
    assert [image for image in state.order if image in set(seed_list)] == seed_list
    for image in state.reported:
        assert state.attempts[image] == max_attempts


# --- undo -------------------------------------------------------------------------------------

ACTIONS = st.sampled_from([*ANSWERS, "discard"])


def small_project(
    mode: str, rule: str, queries: int, max_attempts: int, seed: int
) -> tuple[Setup, ReaderState]:
    values = hidden_values(range(1, queries + 7), seed)
    if mode == FULL_SORT:
        return full_sort_project(values, 6, seed, max_attempts)
    setup, state, _ = level_project(values, 3, 2, rule, seed)
    return setup, state


@quick(150)
@given(
    mode=st.sampled_from([FULL_SORT, LEVELS]),
    rule=st.sampled_from([EXACT, PAPER]),
    queries=st.integers(1, 4),
    max_attempts=st.integers(1, 3),
    seed=SEEDS,
    actions=st.lists(ACTIONS, min_size=1, max_size=40),
)
def test_undo_returns_exactly_the_state_before(
    mode: str, rule: str, queries: int, max_attempts: int, seed: int, actions: list[str]
) -> None:
    setup, state = small_project(mode, rule, queries, max_attempts, seed)
    state = start_next(state, setup)
    history: list[tuple[ReaderState, Outcome]] = []
    for action in actions:
        if state.current is None:
            break
        before = state
        if action == "discard":
            after, outcome = discard(state, "distorted")
        else:
            after, outcome = answer(state, setup, pair_for(state, setup), action)
        restarted = start_next(after, setup)
        for candidate in (after, restarted):
            reverted = undo(candidate, setup, before.current, outcome)
            assert reverted.to_json() == before.to_json()
            assert pair_for(reverted, setup) == pair_for(before, setup)
        history.append((before, outcome))
        state = restarted
    for before, outcome in reversed(history):
        state = undo(state, setup, before.current, outcome)
        assert state.to_json() == before.to_json()


def test_undo_abort_of_the_last_query_restarted_at_once() -> None:
    """Regression: an abort requeues the image last; when the queue was otherwise empty the
    next query started is the same image, which undo must put back before un-requeueing."""
    setup = Setup(FULL_SORT, 1)
    state = start_next(initial_state(setup, [1, *SEED_IDS], list(SEED_IDS)), setup)
    before = state
    after, outcome = abort_current(state, setup)
    assert outcome == Outcome("aborted")
    restarted = start_next(after, setup)
    assert restarted.current.query == 1
    assert restarted.current.attempt == 2
    middle = answer(before, setup, pair_for(before, setup), REFERENCE)[0]
    assert undo(restarted, setup, middle.current, outcome).to_json() == middle.to_json()


# --- determinism, sides, prefetching ----------------------------------------------------------


@quick(100)
@given(items=st.lists(st.integers(), unique=True, max_size=50), seed=SEEDS)
def test_shuffled_is_a_permutation_independent_of_input_order(items: list[int], seed: int) -> None:
    result = shuffled(items, seed)
    assert sorted(result) == sorted(items)
    assert shuffled(list(reversed(items)), seed) == result


@pytest.mark.parametrize("mode", [FULL_SORT, LEVELS])
def test_same_seed_same_queue_and_pairs(mode: str) -> None:
    def run(seed: int) -> tuple[dict, list[LogEntry], list[int]]:
        values = hidden_values(range(1, 41), 5)
        if mode == FULL_SORT:
            setup, state = full_sort_project(values, 6, seed)
        else:
            setup, state, _ = level_project(values, 4, 2, PAPER, seed)
        final, log = run_reader(state, setup, NoisyReader(values, 0.1, seed=3))
        return final.to_json(), log, state.queue

    assert run(8) == run(8)
    assert run(8)[2] != run(9)[2]


@pytest.mark.parametrize("mode", [FULL_SORT, LEVELS])
def test_pairs_survive_a_json_round_trip(mode: str) -> None:
    """A search resumed from its stored JSON asks for the same pair (same random draws)."""
    values = hidden_values(range(1, 31), 2)
    if mode == FULL_SORT:
        setup, state = full_sort_project(values, 6, 2, randomise_sides=True)
    else:
        setup, state, _ = level_project(values, 4, 2, PAPER, 2)

    def observe(after: ReaderState, _: LogEntry) -> None:
        started = start_next(after, setup)
        resumed = ReaderState.from_json(started.to_json())
        assert resumed.to_json() == started.to_json()
        assert pair_for(resumed, setup) == pair_for(started, setup)

    run_reader(state, setup, NoisyReader(values, 0.2, seed=1), observe=observe)


def test_randomise_sides_shows_both_sides_without_changing_the_search() -> None:
    values = hidden_values(range(1, 41), 6)
    logs = {}
    for randomise in (False, True):
        setup, state = full_sort_project(values, 6, 6, randomise_sides=randomise)
        logs[randomise] = run_reader(state, setup, ConsistentReader(values))[1]
    assert {e.pair.query_side for e in logs[False]} == {"left"}
    sides = Counter(e.pair.query_side for e in logs[True])
    assert set(sides) == {"left", "right"}
    assert min(sides.values()) > 0.3 * sum(sides.values())
    stripped = [
        [(e.pair.query, e.pair.reference, e.pair.position, e.answer) for e in log]
        for log in logs.values()
    ]
    assert stripped[0] == stripped[1]


@pytest.mark.parametrize(("mode", "rule"), [(FULL_SORT, EXACT), (LEVELS, EXACT), (LEVELS, PAPER)])
def test_predicted_pairs_contain_the_actual_next_pair(mode: str, rule: str) -> None:
    values = hidden_values(range(1, 31), 9)
    if mode == FULL_SORT:
        setup, state = full_sort_project(values, 6, 9, max_attempts=2, randomise_sides=True)
    else:
        setup, state, _ = level_project(values, 4, 2, rule, 9)
    reader = NoisyReader(values, 0.3, seed=9)
    checked = 0
    while True:
        state = start_next(state, setup)
        pair = pair_for(state, setup)
        if pair is None:
            break
        predicted = predicted_pairs(state, setup, pair)
        followers = []
        for reply in ANSWERS:
            following = pair_for(start_next(answer(state, setup, pair, reply)[0], setup), setup)
            if following is not None:
                assert following in predicted
                followers.append(following)
                checked += 1
        assert set(predicted) == set(followers)
        state, _ = answer(state, setup, pair, reader.answer(pair.query, pair.reference))
    assert checked > 50


# --- seeds and level cuts ---------------------------------------------------------------------


@quick(100)
@given(size=st.integers(2, 200), data=st.data())
def test_level_cut_and_seeds(size: int, data: st.DataObject) -> None:
    levels = data.draw(st.integers(2, min(size, 16)))
    order = data.draw(st.permutations(range(100, 100 + size)))
    cut = level_cut(order, levels)
    assert [cut[image] for image in order] == sorted(cut.values())
    sizes = Counter(cut.values())
    assert set(sizes) == set(range(1, levels + 1))
    assert max(sizes.values()) - min(sizes.values()) <= 1

    per_level = data.draw(st.integers(1, size // levels))
    seeds = seeds_from_order(order, levels, per_level)
    assert len(seeds) == levels
    position = {image: index for index, image in enumerate(order)}
    for level, level_seeds in enumerate(seeds, start=1):
        assert len(set(level_seeds)) == per_level == len(level_seeds)
        assert all(cut[image] == level for image in level_seeds)
        assert [position[image] for image in level_seeds] == sorted(
            position[image] for image in level_seeds
        )
        part = [image for image in order if cut[image] == level]
        assert level_seeds[-1] == part[-1]


@pytest.mark.parametrize(
    ("length", "levels", "per_level"), [(7, 4, 2), (1, 2, 1), (10, 1, 1), (10, 2, 0), (0, 2, 1)]
)
def test_seeds_from_order_rejects_impossible_cuts(length: int, levels: int, per_level: int) -> None:
    with pytest.raises(ValueError, match="cannot give"):
        seeds_from_order(list(range(length)), levels, per_level)


def test_starting_errors() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        start_full_sort(1)
    with pytest.raises(ValueError, match="at least 2"):
        start_levels(1)
    with pytest.raises(ValueError, match="seed list"):
        initial_state(Setup(FULL_SORT, 0), [1, 2, 3], [1])
    with pytest.raises(ValueError, match="level search"):
        initial_state(Setup(LEVELS, 0, level_seeds=((1,), ())), [1, 2, 3])
    with pytest.raises(ValueError, match="no query"):
        discard(ReaderState(), "x")
    state = start_next(initial_state(Setup(FULL_SORT, 0), [1, 2, 3], [1, 2]), Setup(FULL_SORT, 0))
    stranger = pair_for(state, Setup(FULL_SORT, 0))
    with pytest.raises(ValueError, match="current search"):
        answer(ReaderState(), Setup(FULL_SORT, 0), stranger, SAME)


def test_max_comparisons() -> None:
    assert [max_comparisons(LEVELS, n) for n in (2, 3, 4, 8, 9, 16)] == [1, 2, 2, 3, 4, 4]
    assert [max_comparisons(FULL_SORT, n) for n in (6, 7, 499)] == [5, 5, 11]

"""Agreement and label metrics for the masking sort (CSAW-M protocol), as pure functions.

Levels run from 1 (least masking) to ``L`` (most masking; the paper's public sets use
``L = 8``). Answers are semantic: ``"query"`` (the query is harder to be certain there is no
tumour), ``"reference"`` or ``"same"``; ``"discard"`` is a refusal to judge. Sides are the
screen sides ``"left"`` and ``"right"``.

Definitions follow the protocol notes: ground truth per image is the median of the readers'
levels; agreement between two label vectors is Kendall's tau-b (scipy's default variant);
AMAE is the macro-averaged mean absolute error of Baccianella et al. (2009); F1 is computed
for low masking (levels 1-2 positive) and high masking (levels ``L-1``, ``L`` positive).

Functions return ``None`` where a metric is undefined (no data, constant vectors) rather than
NaN, and raise ``ValueError`` on malformed input (unequal lengths, unknown answers).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from itertools import combinations

from app.masking.states import Answer, Side

ANSWERS = Answer.of_search()
QUERY, REFERENCE, SAME, DISCARD = Answer.QUERY, Answer.REFERENCE, Answer.SAME, Answer.DISCARD
LEFT, RIGHT = Side.LEFT, Side.RIGHT
SIDES = tuple(Side)
LOW_MASKING = frozenset({1, 2})


# --- Kendall's tau-b ------------------------------------------------------------------------


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired vectors, equal to ``scipy.stats.kendalltau(x, y)``.

    tau_b = (C - D) / sqrt((P - T_x) * (P - T_y)), where P = n(n-1)/2 is the number of pairs,
    C and D the concordant and discordant pairs, T_x the pairs tied in x (whether or not also
    tied in y) and T_y likewise for y. A pair tied in x or y is neither concordant nor
    discordant. Computed in O(n log n) by Knight's algorithm: sort by (x, y); then
    C - D = P - T_x - T_y + T_xy - 2D, where T_xy counts pairs tied in both and D is the
    number of strict inversions of y in that order, counted by a merge sort.

    Returns ``None`` when undefined: fewer than 2 items, or either vector constant (scipy
    returns NaN). Raises ``ValueError`` on unequal lengths or NaN values.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y differ in length: {len(x)} != {len(y)}")
    if any(math.isnan(value) for value in (*x, *y)):
        raise ValueError("NaN in a label vector")
    pairs = _pair_count(len(x))
    x_ties, y_ties = _tied_pairs(x), _tied_pairs(y)
    if pairs == 0 or x_ties == pairs or y_ties == pairs:
        return None
    joint_ties = _tied_pairs(list(zip(x, y, strict=True)))
    ordered_y = [b for _, b in sorted(zip(x, y, strict=True))]
    discordant = _count_inversions(ordered_y)
    difference = pairs - x_ties - y_ties + joint_ties - 2 * discordant
    tau = difference / math.sqrt(pairs - x_ties) / math.sqrt(pairs - y_ties)
    return min(1.0, max(-1.0, tau))


def _pair_count(count: int) -> int:
    """The number of unordered pairs among ``count`` items."""
    return count * (count - 1) // 2


def _tied_pairs(values: Iterable[Hashable]) -> int:
    """The number of unordered pairs of equal values."""
    return sum(_pair_count(count) for count in Counter(values).values())


def _count_inversions(values: Sequence[float]) -> int:
    """Pairs i < j with ``values[i] > values[j]`` (equal values are not inversions), counted
    by a bottom-up merge sort in O(n log n)."""
    items = list(values)
    inversions = 0
    width = 1
    while width < len(items):
        merged: list[float] = []
        for start in range(0, len(items), 2 * width):
            middle, end = start + width, start + 2 * width
            count, run = _merge(items[start:middle], items[middle:end])
            inversions += count
            merged.extend(run)
        items = merged
        width *= 2
    return inversions


def _merge(left: list[float], right: list[float]) -> tuple[int, list[float]]:
    """Merge two sorted runs; also return how many (left, right) pairs have left > right."""
    merged: list[float] = []
    inversions = i = j = 0
    while i < len(left) and j < len(right):
        if right[j] < left[i]:
            merged.append(right[j])
            inversions += len(left) - i
            j += 1
        else:
            merged.append(left[i])
            i += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return inversions, merged


def pairwise_tau(
    labels: Mapping[str, Mapping[int, float]],
) -> list[tuple[str, str, float | None, int]]:
    """Kendall's tau-b for every unordered pair of readers.

    ``labels`` maps reader name -> image id -> label (a level or a rank). Each row is
    ``(reader_a, reader_b, tau_b, count)`` with ``reader_a < reader_b``, rows sorted by name,
    where tau_b is computed over the ``count`` images both readers labelled (``None`` when
    undefined, see :func:`kendall_tau_b`).
    """
    rows: list[tuple[str, str, float | None, int]] = []
    for first, second in combinations(sorted(labels), 2):
        common = sorted(labels[first].keys() & labels[second].keys())
        tau = kendall_tau_b(
            [labels[first][image] for image in common],
            [labels[second][image] for image in common],
        )
        rows.append((first, second, tau, len(common)))
    return rows


# --- Label metrics --------------------------------------------------------------------------


def amae(true: Sequence[int], predicted: Sequence[int]) -> float | None:
    """Macro-averaged mean absolute error (Baccianella, Esuli and Sebastiani, 2009).

    For each level present in ``true``, the mean ``|true - predicted|`` over the images of
    that level; then the unweighted mean of those per-level errors, so rare levels weigh as
    much as common ones. Levels absent from ``true`` do not count. ``None`` for empty input;
    ``ValueError`` on unequal lengths.
    """
    _check_lengths(true, predicted)
    errors: dict[int, list[int]] = {}
    for truth, guess in zip(true, predicted, strict=True):
        errors.setdefault(truth, []).append(abs(truth - guess))
    if not errors:
        return None
    return sum(sum(level) / len(level) for level in errors.values()) / len(errors)


def f1(true: Sequence[int], predicted: Sequence[int], positive: Collection[int]) -> float | None:
    """F1 score with "level in ``positive``" as the positive class.

    F1 = 2TP / (2TP + FP + FN). ``None`` when neither vector has a positive (TP + FP + FN
    = 0, where F1 is undefined); ``ValueError`` on unequal lengths.
    """
    _check_lengths(true, predicted)
    hits = [
        (truth in positive, guess in positive) for truth, guess in zip(true, predicted, strict=True)
    ]
    tp = sum(truth and guess for truth, guess in hits)
    fp = sum(guess and not truth for truth, guess in hits)
    fn = sum(truth and not guess for truth, guess in hits)
    if tp + fp + fn == 0:
        return None
    return 2 * tp / (2 * tp + fp + fn)


def low_levels(levels: int) -> frozenset[int]:
    """The low-masking levels {1, 2} (CSAW-M) of a scale of ``levels`` >= 4 levels."""
    _check_scale(levels)
    return LOW_MASKING


def high_levels(levels: int) -> frozenset[int]:
    """The high-masking levels {L-1, L} (CSAW-M: {7, 8}) of a scale of ``levels`` >= 4."""
    _check_scale(levels)
    return frozenset({levels - 1, levels})


def _check_scale(levels: int) -> None:
    """Reject scales where the low and high masking classes would overlap."""
    if levels < 4:
        raise ValueError(f"low and high masking need at least 4 levels, not {levels}")


def _check_lengths(true: Sequence[int], predicted: Sequence[int]) -> None:
    """Reject label vectors of unequal lengths."""
    if len(true) != len(predicted):
        raise ValueError(f"true and predicted differ in length: {len(true)} != {len(predicted)}")


# --- Ground truth ---------------------------------------------------------------------------


def median_level(levels: Sequence[int], number_of_levels: int) -> int:
    """The median of the readers' levels for one image, as a level.

    With an odd count, the middle value. With an even count, the mean of the two middle
    values; when that ends in .5 it is rounded towards the centre of the scale,
    ``(number_of_levels + 1) / 2``: up in the lower half, down in the upper half (8 levels:
    (2, 3) -> 3, (6, 7) -> 6). Tie rule at the centre itself (an even scale, e.g. (4, 5) on 8
    levels, mean 4.5 = centre): round DOWN to the lower middle value (4). No direction moves
    towards the centre there; the lower value is a fixed convention, chosen so the rule is
    deterministic.

    ``ValueError`` on empty input or a level outside 1..number_of_levels.
    """
    if not levels:
        raise ValueError("median_level of no levels")
    if any(not 1 <= level <= number_of_levels for level in levels):
        raise ValueError(f"levels must lie in 1..{number_of_levels}: {list(levels)}")
    ordered = sorted(levels)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[half]
    total = ordered[half - 1] + ordered[half]  # twice the mean
    if total % 2 == 0:
        return total // 2
    round_up = total < number_of_levels + 1  # twice the centre; below it, up is inwards
    return total // 2 + 1 if round_up else total // 2


def median(values: Sequence[float]) -> float | None:
    """The median: the middle value, or the mean of the two middle values for an even count.
    ``None`` for empty input."""
    if not values:
        return None
    ordered = sorted(values)
    half = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[half])
    return (ordered[half - 1] + ordered[half]) / 2


# --- Sides and consistency ------------------------------------------------------------------


def chosen_side(answer: str, query_side: str) -> str | None:
    """The screen side (``"left"``/``"right"``) the reader chose as harder.

    ``"query"`` -> the query's side; ``"reference"`` -> the other side; ``"same"`` and
    ``"discard"`` -> ``None`` (no side chosen). ``ValueError`` on an unknown answer or side.
    """
    if query_side not in SIDES:
        raise ValueError(f"unknown side: {query_side!r}")
    if answer in (SAME, DISCARD):
        return None
    if answer == QUERY:
        return query_side
    if answer == REFERENCE:
        return RIGHT if query_side == LEFT else LEFT
    raise ValueError(f"unknown answer: {answer!r}")


def left_share(sides: Iterable[str | None]) -> float | None:
    """The share of ``"left"`` among the left/right choices; ``None`` entries (no side
    chosen) are skipped. ``None`` when there is no left/right choice; ``ValueError`` on an
    unknown side."""
    counts = Counter(sides)
    unknown = set(counts) - {LEFT, RIGHT, None}
    if unknown:
        raise ValueError(f"unknown sides: {sorted(map(str, unknown))}")
    chosen = counts[LEFT] + counts[RIGHT]
    return counts[LEFT] / chosen if chosen else None


def side_bias(sides: Iterable[str | None]) -> float | None:
    """The left/right bias: :func:`left_share` - 0.5 (positive = left chosen more often;
    0 = unbiased). ``None`` when there is no left/right choice."""
    share = left_share(sides)
    return None if share is None else share - 0.5


def probe_agreement(pairs: Iterable[tuple[str, str]]) -> float | None:
    """The share of probes answered as the original: ``pairs`` holds ``(original, probe)``
    semantic answers (``"query"``/``"reference"``/``"same"``), so a probe shown with the
    sides swapped still agrees when the same image is chosen. ``None`` when there are no
    probes; ``ValueError`` on an unknown answer."""
    outcomes = [_check_answer(original) == _check_answer(probe) for original, probe in pairs]
    return sum(outcomes) / len(outcomes) if outcomes else None


def _check_answer(answer: str) -> str:
    """Return ``answer`` if it is a semantic answer, else raise ``ValueError``."""
    if answer not in ANSWERS:
        raise ValueError(f"unknown answer: {answer!r}")
    return answer

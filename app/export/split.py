"""The training/test split of an exported dataset, as VinDr-Mammo assigned it: iterative
stratification over one row of label counts per study, 80 % / 20 %, seeded.

The features (:data:`FEATURE_NAMES`, in this order) count, for one study:

- ``breast BI-RADS 1`` .. ``breast BI-RADS 5``: breasts assessed with that BI-RADS
  (5 features; BI-RADS 0 and an unassessed breast count nowhere: the release has neither);
- ``density A`` .. ``density D``: breasts of that density (4);
- ``No Finding``, ``Skin Thickening``, ``Skin Retraction``, ``Nipple Retraction``,
  ``Suspicious Lymph Node``: rows of the finding file per non-graded category (5). A
  "No Finding" row is one per image of the study with no box; an associated-feature category
  counts once per box that carries it;
- ``Mass BI-RADS 3`` .. ``Architectural Distortion BI-RADS 5``: boxes per graded lesion
  category (Mass, Suspicious Calcification, Asymmetry, Focal Asymmetry, Global Asymmetry,
  Architectural Distortion) x finding BI-RADS 3, 4, 5 (18). A box with two graded
  categories counts in both.

Why not a library: the maintained implementations of Sechidis et al. (2011),
``iterative-stratification`` (``iterstrat``) and ``scikit-multilearn``, both import
scikit-learn (and scipy) at run time, which the server does not otherwise need, and both take
a binary label-indicator matrix: ``iterstrat`` casts the targets to ``bool`` and checks
``type_of_target(y) == "multilabel-indicator"``, so a study with three Mass BI-RADS 4 boxes
would weigh as much as a study with one. VinDr's features are counts; the algorithm
generalises to counts directly (below), in about a hundred lines of numpy.

Randomness comes from :class:`random.Random` seeded with ``seed`` and only its ``random()``
method, whose sequence Python guarantees across versions, so a published split can be
recomputed later.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from app.export import vindr_format
from app.imaging.longitudinal import woman_key
from app.reading.rules import parse_label

BREAST_BIRADS_FEATURES = vindr_format.RELEASE_BREAST_BIRADS
DENSITY_FEATURES = vindr_format.RELEASE_DENSITIES
NON_GRADED_CATEGORIES = (vindr_format.NO_FINDING, *vindr_format.ASSOCIATED)
GRADED_CATEGORIES = vindr_format.GRADED
FINDING_BIRADS_FEATURES = vindr_format.RELEASE_FINDING_BIRADS

FEATURE_NAMES: tuple[str, ...] = (
    *(f"breast BI-RADS {birads}" for birads in BREAST_BIRADS_FEATURES),
    *(f"density {density}" for density in DENSITY_FEATURES),
    *NON_GRADED_CATEGORIES,
    *(
        f"{category} BI-RADS {birads}"
        for category in GRADED_CATEGORIES
        for birads in FINDING_BIRADS_FEATURES
    ),
)
_INDEX = {name: index for index, name in enumerate(FEATURE_NAMES)}

TRAINING, TEST = vindr_format.SPLITS
# Two desires closer than this are a tie: desires are fractions like 0.8 * n minus whole
# numbers, so exact float equality would break some ties by rounding rather than by rule.
_TIE_TOLERANCE = 1e-9


# --- features ---------------------------------------------------------------------------------


def study_features(label: Mapping[str, Any], image_ids: Sequence[str]) -> list[int]:
    """VinDr's count features of one study, in :data:`FEATURE_NAMES` order.

    ``label`` is the study's final label as JSON (see :func:`app.reading.rules.parse_label`);
    ``image_ids`` are all the images of the study, boxed or not (each "No Finding" row of the
    finding file is one image without a box).

    Categories outside VinDr's vocabulary count nowhere, nor does a graded category on a box
    without a finding BI-RADS (validation refuses such a box before an export).
    Raises ``ValueError`` (a :class:`~app.reading.rules.LabelError` for the label) on a
    malformed label, a repeated image id, or a box on an image not in ``image_ids``.
    """
    parsed = parse_label(label)
    images = list(image_ids)
    if len(set(images)) != len(images):
        raise ValueError("image_ids lists an image more than once.")
    boxed = set()
    for box in parsed.boxes:
        if box.image_id not in images:
            raise ValueError(f"box {box.id!r} is on image {box.image_id!r}, not in this study.")
        boxed.add(box.image_id)

    counts = [0] * len(FEATURE_NAMES)
    for breast in parsed.breasts.values():
        if breast.birads in BREAST_BIRADS_FEATURES:
            counts[_INDEX[f"breast BI-RADS {breast.birads}"]] += 1
        if breast.density in DENSITY_FEATURES:
            counts[_INDEX[f"density {breast.density}"]] += 1
    counts[_INDEX["No Finding"]] += sum(image not in boxed for image in images)
    for box in parsed.boxes:
        for category in set(box.categories):
            if category in NON_GRADED_CATEGORIES:
                counts[_INDEX[category]] += 1
            elif category in GRADED_CATEGORIES and box.birads in FINDING_BIRADS_FEATURES:
                counts[_INDEX[f"{category} BI-RADS {box.birads}"]] += 1
    return counts


# --- iterative stratification ---------------------------------------------------------------


def iterative_stratification(
    features: Sequence[Sequence[int]],
    ratios: Sequence[float] = (0.8, 0.2),
    seed: int = 0,
    fixed: Sequence[int | None] | None = None,
) -> list[int]:
    """A fold index per row, by iterative stratification (Sechidis, Tsoumakas and Vlahavas,
    2011, "On the stratification of multi-label data"), generalised to count features.

    A row's count ``c`` of a feature is ``c`` occurrences of that label. With ``r_k`` the
    ratios normalised to sum 1, ``n`` rows and ``t_f`` occurrences of feature ``f`` in all:

    - fold ``k`` desires ``r_k * n`` rows and ``r_k * t_f`` occurrences of each feature ``f``;
    - the rows are visited in one seeded random order (a Fisher-Yates shuffle), as
      ``iterstrat``'s shuffle split does: otherwise the seed would only break the rare exact
      ties, and most seeds would give the same split;
    - repeatedly take the feature with the fewest remaining (unassigned) occurrences, at
      least one (ties: the seeded RNG); each unassigned row having it, in that order, goes to
      the fold with the largest remaining desire for that feature (ties: the largest remaining
      desired row count, then the seeded RNG), and that fold's desires drop by the row's
      counts of every feature and by one row;
    - rows with no feature at all go last, each to the fold with the largest remaining
      desired row count (ties: the seeded RNG).

    Each feature is taken at most once, so there are at most ``features`` steps of
    ``O(rows x features)`` each. Deterministic for a given seed and input order.

    Like the original, the greedy pass balances best the features it takes early (the rare
    ones); a common feature whose rows were mostly placed while stratifying a rarer feature
    they also carry (Suspicious Calcification BI-RADS 5 under breast BI-RADS 5) can end a few
    points off its ratio.

    ``fixed`` (optional, one entry per row) pins rows to a fold (a split published
    before): they count against their fold's desires first, and only the other rows are
    stratified, so that the whole set stays balanced.

    Raises ``ValueError`` when the rows differ in length, a count is negative or not an
    integer, or a ratio is not a positive finite number.
    """
    weights = _check_ratios(ratios)
    given = _check_features(features)
    rows = given.shape[0]
    folds = len(weights)
    rng = random.Random(seed)  # noqa: S311 (a reproducible split, not a secret)
    visit = _shuffled(rng, rows)
    counts = given[visit]  # row i below is row visit[i] of the input

    desired_rows = [weight * rows for weight in weights]
    desired = np.outer(weights, counts.sum(axis=0))  # folds x features
    remaining = counts.sum(axis=0)
    unassigned = np.ones(rows, dtype=bool)
    assignment = [-1] * rows
    pinned = list(fixed) if fixed is not None else [None] * rows
    if len(pinned) != rows:
        raise ValueError("fixed must have one entry per row.")
    for row, original in enumerate(visit):
        fold = pinned[original]
        if fold is None:
            continue
        if not 0 <= fold < folds:
            raise ValueError(f"a fixed fold must be 0 to {folds - 1}; got {fold!r}.")
        assignment[row] = fold
        unassigned[row] = False
        desired[fold] -= counts[row]
        desired_rows[fold] -= 1
        remaining -= counts[row]

    while remaining.any():
        available = np.flatnonzero(remaining > 0)
        fewest = available[remaining[available] == remaining[available].min()]
        feature = int(fewest[_pick(rng, len(fewest))])
        for row in np.flatnonzero(unassigned & (counts[:, feature] > 0)).tolist():
            column = desired[:, feature].tolist()
            candidates = _largest(range(folds), column)
            candidates = _largest(candidates, desired_rows)
            fold = candidates[_pick(rng, len(candidates))]
            assignment[row] = fold
            unassigned[row] = False
            desired[fold] -= counts[row]
            desired_rows[fold] -= 1
            remaining -= counts[row]

    for row in np.flatnonzero(unassigned).tolist():
        candidates = _largest(range(folds), desired_rows)
        fold = candidates[_pick(rng, len(candidates))]
        assignment[row] = fold
        desired_rows[fold] -= 1
    result = [-1] * rows
    for position, row in enumerate(visit):
        result[row] = assignment[position]
    return result


def assign_split(
    features_by_study: Mapping[str, Sequence[int]],
    ratio: float = 0.8,
    seed: int = 0,
    kept: Mapping[str, str] | None = None,
    women: Mapping[str, str | None] | None = None,
) -> dict[str, str]:
    """``"training"`` or ``"test"`` per study id: :func:`iterative_stratification` with
    ratios ``(ratio, 1 - ratio)``; fold 0 is training, fold 1 test. The result lists the
    studies in id order. Raises ``ValueError`` unless ``0 < ratio < 1``.

    ``women`` (a patient key per study; None or missing: a study of its own) makes the rows
    women, not studies: a woman's studies go to one side together, her row the sum of their
    features, so no woman is on both sides (MammoClean found VinDr's official split leaking
    women). The rows are in order of each woman's first study id, so without ``women`` the
    split is exactly the study-level one of earlier versions.

    Studies in ``kept`` keep their split, and the others are balanced around them; a woman
    with kept studies has her new ones follow her kept ones (where a published split put
    her on both sides, the side most of her kept studies are on; training on a tie):
    :func:`women_on_both_sides` lists such women."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
        raise ValueError(f"ratio must be a number strictly between 0 and 1; got {ratio!r}.")
    kept = kept or {}
    groups = _groups(features_by_study, women or {})
    fold_of = {TRAINING: 0, TEST: 1}
    rows = [
        [sum(column) for column in zip(*(features_by_study[s] for s in members), strict=True)]
        for members in groups
    ]
    folds = iterative_stratification(
        rows,
        (ratio, 1 - ratio),
        seed,
        fixed=[fold_of.get(_kept_side(members, kept) or "") for members in groups],
    )
    result = {}
    for members, fold in zip(groups, folds, strict=True):
        for study in members:
            result[study] = kept.get(study) or (TRAINING if fold == 0 else TEST)
    return dict(sorted(result.items()))


def _groups(
    features_by_study: Mapping[str, Sequence[int]], women: Mapping[str, str | None]
) -> list[list[str]]:
    """The studies grouped by woman (a study without one alone), each group sorted, the
    groups in order of their first study id."""
    by_woman: dict[str, list[str]] = {}
    for study in sorted(features_by_study):
        by_woman.setdefault(woman_key(women.get(study), study), []).append(study)
    return sorted(by_woman.values(), key=lambda members: members[0])


def _kept_side(members: Sequence[str], kept: Mapping[str, str]) -> str | None:
    sides = [kept[study] for study in members if kept.get(study) in (TRAINING, TEST)]
    if not sides:
        return None
    return TEST if sides.count(TEST) > sides.count(TRAINING) else TRAINING


def women_on_both_sides(splits: Mapping[str, str], women: Mapping[str, str | None]) -> list[str]:
    """The patient keys with studies in more than one split (a leak), sorted."""
    sides: dict[str, set[str]] = {}
    for study, side in splits.items():
        woman = women.get(study)
        if woman and side:
            sides.setdefault(woman, set()).add(side)
    return sorted(woman for woman, seen in sides.items() if len(seen) > 1)


def _check_ratios(ratios: Sequence[float]) -> list[float]:
    values = list(ratios)
    if not values:
        raise ValueError("ratios must name at least one fold.")
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not value > 0
        ):
            raise ValueError(f"ratios must be positive finite numbers; got {list(ratios)!r}.")
    total = sum(values)
    return [value / total for value in values]


def _check_features(features: Sequence[Sequence[int]]) -> np.ndarray:
    """The features as a rows x features int64 array."""
    rows = [list(row) for row in features]
    if not rows:
        return np.zeros((0, 0), dtype=np.int64)
    width = len(rows[0])
    if any(len(row) != width for row in rows):
        raise ValueError("every row of features must have the same length.")
    for row in rows:
        for value in row:
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise ValueError(f"features must be non-negative integers; got {value!r}.")
    return np.array(rows, dtype=np.int64).reshape(len(rows), width)


def _largest(candidates: Sequence[int] | range, values: Sequence[float]) -> list[int]:
    """The candidates whose value is the largest among them, within the tie tolerance."""
    best = max(values[index] for index in candidates)
    return [index for index in candidates if values[index] >= best - _TIE_TOLERANCE]


def _shuffled(rng: random.Random, count: int) -> list[int]:
    """A random permutation of ``range(count)`` (Fisher-Yates) drawn with :func:`_pick`."""
    order = list(range(count))
    for last in range(count - 1, 0, -1):
        other = _pick(rng, last + 1)
        order[last], order[other] = order[other], order[last]
    return order


def _pick(rng: random.Random, count: int) -> int:
    """A uniform index below ``count`` from ``rng.random()`` alone (stable across Python
    versions, unlike ``randrange``); draws nothing when there is no choice to make."""
    if count == 1:
        return 0
    return min(count - 1, int(rng.random() * count))

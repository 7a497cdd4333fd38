"""A masking project's results: each reader's order or levels, the median level per image, and
agreement figures (pure metrics in ``agreement``), derived from the readers' states and the
comparison log (answers taken back by undo do not count)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.imaging.models import Image
from app.masking import agreement, search, service
from app.masking.models import MaskingComparison, MaskingProject, MaskingReader, MaskingUndo
from app.masking.schemas import (
    ImageResultOut,
    PairAgreementOut,
    ProgressOut,
    ReaderResultOut,
    ResultsOut,
    VersusMedianOut,
)
from app.masking.states import Answer, ComparisonKind, ImageRole, OutcomeKind, Side, SortMode

MEDIAN_RULE = (
    "Median of the readers' levels; with an even number of readers the two middle levels "
    "are averaged and a half is rounded towards the centre of the scale (down when it is "
    "the centre itself, e.g. 4.5 of 8 -> 4)."
)
# Low (1-2) and high (L-1, L) masking only separate on a scale of at least 4 levels.
F1_MIN_LEVELS = 4


@dataclass(frozen=True)
class Logged:
    """One answer of the log, as the figures need it."""

    id: int
    user_id: int
    kind: ComparisonKind
    answer: Answer
    outcome: OutcomeKind
    query_side: Side
    response_ms: int
    probe_of: int | None


@dataclass
class ReaderLabels:
    """A reader's labels over the project's query images (own seeds excluded)."""

    reader: MaskingReader
    state: search.ReaderState
    levels: dict[int, int]
    ranks: dict[int, int]
    seeds: list[int]


def project_results(db: Session, project: MaskingProject) -> ResultsOut:
    queries = service.project_images(db, project, ImageRole.QUERY)
    labels = [_labels(project, reader, set(queries)) for reader in service.readers(db, project)]
    medians = _medians(labels, queries, project.levels)
    log = _log(db, project)
    images = service.images_by_pk(db, _all_images(labels, queries))
    return ResultsOut(
        project_id=project.id,
        mode=project.mode,
        rule=service.rule_name(project),
        levels=project.levels,
        median_rule=MEDIAN_RULE,
        readers=[
            _reader_out(db, project, one, log.get(one.reader.user_id, []), medians, images)
            for one in labels
        ],
        pairs=_pairs(project, labels),
        images=[_image_out(pk, images, labels, medians, project) for pk in queries],
    )


def _labels(project: MaskingProject, reader: MaskingReader, queries: set[int]) -> ReaderLabels:
    state = search.ReaderState.from_json(reader.state)
    if project.mode == SortMode.FULL_SORT:
        levels = search.level_cut(state.order, project.levels) if state.order else {}
        ranks = {image: rank for rank, image in enumerate(state.order, start=1)}
        seeds = list(project.seed_list)
    else:
        levels, ranks = dict(state.placed), {}
        seeds = [pk for level in reader.level_seeds or () for pk in level]
    scored = {pk: level for pk, level in levels.items() if pk in queries and pk not in seeds}
    return ReaderLabels(reader, state, scored, ranks, seeds)


def _medians(labels: Sequence[ReaderLabels], queries: Sequence[int], levels: int) -> dict[int, int]:
    medians = {}
    for pk in queries:
        given = [one.levels[pk] for one in labels if pk in one.levels]
        if given:
            medians[pk] = agreement.median_level(given, levels)
    return medians


def _log(db: Session, project: MaskingProject) -> dict[int, list[Logged]]:
    undone = select(MaskingUndo.comparison_id).where(MaskingUndo.project_id == project.id)
    rows = db.execute(
        select(
            MaskingComparison.id,
            MaskingComparison.user_id,
            MaskingComparison.kind,
            MaskingComparison.answer,
            MaskingComparison.outcome,
            MaskingComparison.query_side,
            MaskingComparison.response_ms,
            MaskingComparison.probe_of,
        )
        .where(MaskingComparison.project_id == project.id, MaskingComparison.id.not_in(undone))
        .order_by(MaskingComparison.id)
    )
    by_reader: dict[int, list[Logged]] = defaultdict(list)
    for row in rows.all():
        by_reader[row.user_id].append(Logged(*row))
    return by_reader


def _all_images(labels: Sequence[ReaderLabels], queries: Sequence[int]) -> set[int]:
    pks = set(queries)
    for one in labels:
        pks.update(one.seeds, one.state.order, one.state.placed, one.state.discarded)
        pks.update(one.state.reported)
    return pks


def _reader_out(
    db: Session,
    project: MaskingProject,
    one: ReaderLabels,
    log: list[Logged],
    medians: dict[int, int],
    images: dict[int, Image],
) -> ReaderResultOut:
    state, reader = one.state, one.reader

    def ids(pks: Sequence[int]) -> list[str]:
        return [images[pk].image_id for pk in pks]

    searches = [entry for entry in log if entry.kind == ComparisonKind.SEARCH]
    finished = [e for e in searches if e.outcome in OutcomeKind.ending_a_search()]
    aborts = sum(1 for e in finished if e.outcome in OutcomeKind.of_an_abort())
    originals = {e.id: e.answer for e in searches}
    probes = [
        (originals[e.probe_of], e.answer)
        for e in log
        if e.kind == ComparisonKind.PROBE
        and e.probe_of in originals
        and e.answer in agreement.ANSWERS
    ]
    # With the query always on the left, "left" only means "query harder": no side bias.
    sides = [agreement.chosen_side(e.answer, e.query_side) for e in log]
    if not project.randomise_sides:
        sides = []
    every_level = (
        search.level_cut(state.order, project.levels) if state.order else dict(state.placed)
    )
    versus = _versus_median(one.levels, medians, project.levels)
    figures = {
        "abort_rate": None if finished else "no search has ended yet",
        "probe_agreement": None if probes else "no probe answered yet",
        "left_share": None
        if sides
        else (
            "the query is always on the left (sides not randomised)"
            if not project.randomise_sides
            else "no left/right answer yet"
        ),
        "median_response_ms": None if log else "no answer yet",
        **_versus_notes(versus, project.levels),
    }
    return ReaderResultOut(
        username=reader.user.username,
        finished=state.done,
        progress=ProgressOut(**service.progress(project, reader).__dict__),
        order=ids(state.order) if project.mode == SortMode.FULL_SORT else None,
        levels={images[pk].image_id: level for pk, level in every_level.items()},
        seeds=ids(one.seeds),
        discarded={images[pk].image_id: reason for pk, reason in state.discarded.items()},
        reported=ids(state.reported),
        attempts=len(finished),
        aborts=aborts,
        abort_rate=round(aborts / len(finished), 4) if finished else None,
        probes=len(probes),
        probe_agreement=_rounded(agreement.probe_agreement(probes)),
        left_share=_rounded(agreement.left_share(sides)),
        side_bias=_rounded(agreement.side_bias(sides)),
        median_response_ms=agreement.median([e.response_ms for e in log]),
        versus_median=versus,
        side_answers=sum(1 for side in sides if side is not None),
        not_computed={name: why for name, why in figures.items() if why},
    )


def _versus_notes(versus: VersusMedianOut, scale: int) -> dict[str, str | None]:
    """Why each figure against the median is n/a, where it is."""
    few = f"too few answers: {versus.images} image(s) with both a level and a median"
    short = f"a scale of {scale} levels has no separate low and high classes (needs 4)"
    return {
        "tau_b": None
        if versus.tau_b is not None
        else few
        if versus.images < 2
        else "no spread: every level or every median is the same",
        "amae": None if versus.amae is not None else few,
        "f1_low": None
        if versus.f1_low is not None
        else short
        if scale < F1_MIN_LEVELS
        else "no image in levels 1-2, by the reader or by the median",
        "f1_high": None
        if versus.f1_high is not None
        else short
        if scale < F1_MIN_LEVELS
        else f"no image in levels {scale - 1}-{scale}, by the reader or by the median",
    }


def _versus_median(levels: dict[int, int], medians: dict[int, int], scale: int) -> VersusMedianOut:
    common = sorted(pk for pk in levels if pk in medians)
    mine = [levels[pk] for pk in common]
    truth = [medians[pk] for pk in common]
    return VersusMedianOut(
        images=len(common),
        tau_b=_rounded(agreement.kendall_tau_b(mine, truth)) if common else None,
        amae=_rounded(agreement.amae(truth, mine)),
        f1_low=_f1(truth, mine, scale, agreement.low_levels),
        f1_high=_f1(truth, mine, scale, agreement.high_levels),
    )


def _f1(
    truth: list[int], mine: list[int], scale: int, positive: Callable[[int], frozenset[int]]
) -> float | None:
    if scale < F1_MIN_LEVELS:
        return None
    return _rounded(agreement.f1(truth, mine, positive(scale)))


def _pairs(project: MaskingProject, labels: Sequence[ReaderLabels]) -> list[PairAgreementOut]:
    """Full sort: tau-b over ranks; levels: over levels (images both readers placed)."""
    full_sort = project.mode == SortMode.FULL_SORT
    vectors = {
        one.reader.user.username: (
            {pk: one.ranks[pk] for pk in one.levels} if full_sort else one.levels
        )
        for one in labels
    }
    return [
        PairAgreementOut(reader_a=a, reader_b=b, tau_b=_rounded(tau), images=n)
        for a, b, tau, n in agreement.pairwise_tau(vectors)
    ]


def _image_out(
    pk: int,
    images: dict[int, Image],
    labels: Sequence[ReaderLabels],
    medians: dict[int, int],
    project: MaskingProject,
) -> ImageResultOut:
    image = images[pk]
    ranks = [o.ranks[pk] for o in labels if pk in o.ranks and pk in o.levels]
    full_sort = project.mode == SortMode.FULL_SORT
    return ImageResultOut(
        image_id=image.image_id,
        study_id=image.study.study_id,
        laterality=image.laterality,
        view=image.view,
        levels={o.reader.user.username: o.levels[pk] for o in labels if pk in o.levels},
        ranks={o.reader.user.username: o.ranks[pk] for o in labels if pk in o.ranks},
        median_level=medians.get(pk),
        median_rank=agreement.median(ranks) if full_sort and ranks else None,
        unplaced={o.reader.user.username: _unplaced(o, pk) for o in labels if pk not in o.levels},
        median_note=None if pk in medians else "no reader has placed this image yet",
    )


def _unplaced(one: ReaderLabels, pk: int) -> str:
    """Why a reader gives no level for an image of the project."""
    state = one.state
    if pk in state.discarded:
        return f"discarded ({state.discarded[pk]})"
    if pk in state.reported:
        return "reported: the answers contradicted each other at every attempt"
    if pk in one.seeds:
        return "a seed of this reader"
    return "not placed yet"


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

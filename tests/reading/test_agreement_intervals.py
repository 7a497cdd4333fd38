"""The agreement report's bootstrap intervals and Gwet's AC2 on a project built row by row:
the same intervals as ``app.stats.agreement.bootstrap_interval`` resampling the studies one
by one, AC2 against a computation written out here, BI-RADS 0 between 3 and 4, and the
whole report on 1000 studies in well under a second."""

from __future__ import annotations

import random
from typing import Any

import pytest

from app.auth.models import Role
from app.imaging.models import Study
from app.reading import agreement_report
from app.reading.agreement import cohen_kappa, gwet_ac1
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission, ReadTask
from app.reading.rules import DEFAULT_VOCABULARY
from app.reading.states import StudyStatus, TaskKind, TaskStatus
from app.stats.agreement import bootstrap_interval, gwet_ac2
from app.studies.project_ratings import ORDINAL_BIRADS

BIRADS_WEIGHTS = [50, 25, 8, 4, 6, 3, 2]  # 1, 2, 3, 0, 4, 5 and a cancer's 6, as drawn
DENSITY = ["A", "B", "C", "D"]


def _birads(rng: random.Random, scale: tuple[int, ...]) -> int:
    values = [1, 2, 3, 0, 4, 5, 6]
    return rng.choices(values[: len(scale)], weights=BIRADS_WEIGHTS[: len(scale)])[0]


def _near(rng: random.Random, value: Any, values: list[Any]) -> Any:
    """The second reader: mostly the same, else a neighbour on the scale."""
    if rng.random() < 0.7:
        return value
    index = values.index(value) + rng.choice((-1, 1))
    return values[min(max(index, 0), len(values) - 1)]


def build_project(
    db, accounts, n_studies: int, *, seed: int = 7, scale: str = "0-5"
) -> ReadingProject:
    """A double-read project of ``n_studies`` studies, each read by rd1 and rd2 (written
    straight into the tables: the figures only read the log)."""
    rng = random.Random(seed)
    first, second = accounts.add("rd1", Role.READER), accounts.add("rd2", Role.READER)
    project = ReadingProject(
        name=f"Intervals {n_studies}",
        vocabulary=DEFAULT_VOCABULARY.to_json(),
        rules={"assessment_scale": scale},
    )
    db.add(project)
    db.flush()
    order = [b for b in (1, 2, 3, 0, 4, 5, 6) if scale == "0-6" or b != 6]
    for number in range(n_studies):
        study = Study(study_id=f"intervals-{n_studies}-{number:05d}")
        db.add(study)
        db.flush()
        row = ProjectStudy(project_id=project.id, study_pk=study.id, status=StudyStatus.READING)
        db.add(row)
        db.flush()
        labels: list[dict[str, Any]] = [{"breasts": {}, "boxes": []}, {"breasts": {}, "boxes": []}]
        for lat in ("R", "L"):
            birads = _birads(rng, tuple(order))
            density = rng.choice(DENSITY)
            labels[0]["breasts"][lat] = {"birads": birads, "density": density}
            labels[1]["breasts"][lat] = {
                "birads": _near(rng, birads, order),
                "density": _near(rng, density, DENSITY),
            }
        for slot, (user, label) in enumerate(zip((first, second), labels, strict=True), 1):
            task = ReadTask(
                project_study_id=row.id,
                user_id=user.id,
                kind=TaskKind.READ,
                slot=slot,
                status=TaskStatus.SUBMITTED,
            )
            db.add(task)
            db.flush()
            db.add(
                ReadSubmission(
                    task_id=task.id,
                    project_study_id=row.id,
                    user_id=user.id,
                    kind=TaskKind.READ,
                    slot=slot,
                    label=label,
                    active_seconds=30.0,
                )
            )
    db.commit()
    return project


def _reads(db, project: ReadingProject) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Each study's (reader 1, reader 2) labels, in the report's study order."""
    rows = db.query(ReadSubmission).join(ProjectStudy).filter(ProjectStudy.project_id == project.id)
    by_study: dict[int, dict[int, dict[str, Any]]] = {}
    for read in rows.order_by(ProjectStudy.id):
        by_study.setdefault(read.project_study_id, {})[read.slot] = read.label
    return [(slots[1], slots[2]) for _, slots in sorted(by_study.items())]


def _pairs(studies, field: str, drop_zero: bool) -> list[tuple[Any, Any]]:
    pairs = []
    for first, second in studies:
        for lat in ("R", "L"):
            pair = (first["breasts"][lat][field], second["breasts"][lat][field])
            if not (drop_zero and 0 in pair):
                pairs.append(pair)
    return pairs


def ac2_written_out(pairs: list[tuple[Any, Any]], order: list[Any]) -> float:
    """Gwet's AC2 with quadratic weights, pair by pair from its definition."""
    q, n = len(order), len(pairs)
    position = {category: k for k, category in enumerate(order)}

    def weight(k: int, m: int) -> float:
        return 1 - (k - m) ** 2 / (q - 1) ** 2

    p_a = sum(weight(position[x], position[y]) for x, y in pairs) / n
    shares = [sum((x == c) + (y == c) for x, y in pairs) / (2 * n) for c in order]
    total = sum(weight(k, m) for k in range(q) for m in range(q))
    p_e = total / (q * (q - 1)) * sum(s * (1 - s) for s in shares)
    return (p_a - p_e) / (1 - p_e)


def test_birads_order_is_the_ratings_tables(db) -> None:
    assert list(agreement_report.BIRADS_ORDER) == sorted(ORDINAL_BIRADS, key=ORDINAL_BIRADS.get)


@pytest.mark.parametrize("scale", ["0-5", "0-6"])
def test_ac2_counts_birads_zero_between_three_and_four(db, accounts, scale) -> None:
    project = build_project(db, accounts, 60, scale=scale)
    report = agreement_report.agreement_report(db, project)
    birads, density = report.items
    studies = _reads(db, project)
    everything = _pairs(studies, "birads", drop_zero=False)
    order = [1, 2, 3, 0, 4, 5] + ([6] if scale == "0-6" else [])
    assert birads.gwet_ac2_categories == order
    assert birads.gwet_ac2_weights == "quadratic"
    assert birads.gwet_ac2_pairs == len(everything) == birads.pairs + birads.excluded
    assert birads.excluded > 0
    assert birads.gwet_ac2 == pytest.approx(ac2_written_out(everything, order), abs=1e-4)
    # the kappa stays on the assessed scale, 0 left out (a 6 on the 0-6 scale no longer raises)
    assessed = [b for b in order if b != 0]
    kept = _pairs(studies, "birads", drop_zero=True)
    expected = cohen_kappa(*zip(*kept, strict=True), categories=assessed, weights="quadratic")
    assert birads.kappa == pytest.approx(expected, abs=1e-4)
    assert density.gwet_ac2_categories == DENSITY
    assert density.gwet_ac2 == pytest.approx(
        ac2_written_out(_pairs(studies, "density", drop_zero=False), DENSITY), abs=1e-4
    )


def test_intervals_are_bootstrap_interval_over_studies(db, accounts, monkeypatch) -> None:
    """The report's vectorised resamples give exactly the intervals of bootstrap_interval
    with a statistic that takes the drawn studies' pairs one by one (both breasts of a drawn
    study together); fewer replicates, in more than one chunk, to keep the test quick."""
    monkeypatch.setattr(agreement_report, "REPLICATES", 300)
    project = build_project(db, accounts, 40)
    report = agreement_report.agreement_report(db, project)
    studies = _reads(db, project)
    assert report.bootstrap.studies == len(studies) == 40
    assert (report.bootstrap.replicates, report.bootstrap.seed) == (300, agreement_report.SEED)
    birads, density = report.items

    def statistic(field: str, drop_zero: bool, function):
        def of(indices) -> float | None:
            pairs = _pairs([studies[i] for i in indices], field, drop_zero)
            return function([x for x, _ in pairs], [y for _, y in pairs]) if pairs else None

        return of

    scale, order = [1, 2, 3, 4, 5], [1, 2, 3, 0, 4, 5]
    checks = [
        (birads.kappa_ci, statistic("birads", True, _kappa(scale))),
        (birads.gwet_ac1_ci, statistic("birads", True, _ac1(scale))),
        (birads.gwet_ac2_ci, statistic("birads", False, _ac2(order))),
        (density.kappa_ci, statistic("density", False, _kappa(DENSITY))),
        (density.gwet_ac1_ci, statistic("density", False, _ac1(DENSITY))),
        (density.gwet_ac2_ci, statistic("density", False, _ac2(DENSITY))),
    ]
    for interval, reference in checks:
        expected = bootstrap_interval(reference, 40, replicates=300, seed=agreement_report.SEED)
        assert interval is not None
        assert (interval.replicates, interval.used, interval.seed) == (
            300,
            expected.used,
            expected.seed,
        )
        assert interval.lower == pytest.approx(expected.lower, abs=1e-4)
        assert interval.upper == pytest.approx(expected.upper, abs=1e-4)
        assert interval.confidence == 0.95
        assert interval.lower <= expected.estimate <= interval.upper


def _kappa(categories):
    return lambda a, b: cohen_kappa(a, b, categories=categories, weights="quadratic")


def _ac1(categories):
    return lambda a, b: gwet_ac1(a, b, categories=categories)


def _ac2(categories):
    return lambda a, b: gwet_ac2(a, b, categories=categories, weights="quadratic")

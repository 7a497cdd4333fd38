"""A reader study's analysis and results page on a study of full size.

    python -m bench.results_page [--quick] [--readers R] [--studies S] [--sessions T]
                                 [--profile]

Setup (not timed): a scratch SQLite installation in a temporary folder, an admin and R
readers (default 10), and a reader-study project (fully crossed, T sessions, default 2, the
second aided; the probability of malignancy rated) of S studies (default 500, so 1000
breasts), every read submitted: R x S x T ReadTask and ReadSubmission rows written straight
into the tables (the figures only read the log), each label with both breasts' BI-RADS,
density and probability, seeded. The reference standard for every breast (ReferenceTruth:
about 15% malignant, 15% benign, the rest normal) and one imported model scoring every breast
(AiModel + AiBreastScore).

Timed in-process through FastAPI's TestClient (median and p95 of N runs):

analyse_project     app.studies.project_analysis.analyse_project: the full analysis of the
                    project's reads, from the database (target < 2 s)
GET /api/v1/studies/projects/{id}/analysis   the API's analysis (JSON)
GET /api/v1/studies/projects/{id}/accuracy   the API's seed 002 tables (JSON)
GET /projects/{id}/results                   the results page (HTML; target < 300 ms once
                                             computed)
each twice: "after a change", a new read submitted (not timed) before each run, so the
figures are computed; and "again", the same project unchanged (the figures computed once,
kept per project state: app.studies.figures_cache.FIGURES).
Baseline in the same run: GET /healthz. ``--profile`` adds a cProfile of analyse_project and
of project_accuracy (the server's work, called directly).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.imaging.models import Study
from app.main import create_app
from app.reading.models import (
    ProjectStudy,
    ReadingProject,
    ReadingSession,
    ReadSubmission,
    ReadTask,
)
from app.reading.rules import DEFAULT_VOCABULARY
from app.reading.states import ProjectDesign, StudyLayout, StudyStatus, TaskKind, TaskStatus
from app.studies.models import AiBreastScore, AiModel, ReferenceTruth
from app.studies.project_accuracy import project_accuracy
from app.studies.project_analysis import analyse_project
from app.studies.states import Truth, TruthSource
from bench.common import bearer, bench_settings, timed

PASSWORD = "a long benchmark password"
ANALYSIS_TARGET_MS = 2000.0
PAGE_TARGET_MS = 300.0
RULES = {"probability_rating": True, "assessment_scale": "0-6", "finding_birads": "2-5"}


def _advance_sequences(db: Session, *models: Any) -> None:
    """After rows inserted with their ids given, PostgreSQL's id sequences are moved past
    them, so the next row added the usual way gets a free id (SQLite needs nothing)."""
    if db.get_bind().dialect.name != "postgresql":
        return
    for model in models:
        newest = select(func.max(model.id)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        db.execute(select(func.setval(sequence, newest)))


def _next_id(db: Session, model: Any) -> int:
    return (db.scalar(select(func.max(model.id))) or 0) + 1


def _birads(probability: int, truth: Truth, rng: random.Random) -> int:
    """A BI-RADS that goes with the probability: 1-2 low, 3 or 0 in between, 4-6 high."""
    if probability < 20:
        return 1 if truth is Truth.NORMAL or rng.random() < 0.5 else 2
    if probability < 45:
        return rng.choice((2, 3, 0))
    if probability < 75:
        return 4
    return 5 if probability < 95 else 6


def build_reader_study(
    db: Session,
    reader_ids: list[int],
    studies: int,
    sessions: int = 2,
    *,
    seed: int = 12,
    name: str = "Bench reader study",
) -> ReadingProject:
    """A fully crossed reader study, every read submitted, with its reference standard and
    one model scoring every breast, written straight into the tables (bulk inserts)."""
    rng = random.Random(seed)
    project = ReadingProject(
        name=name,
        vocabulary=DEFAULT_VOCABULARY.to_json(),
        rules=dict(RULES),
        design=ProjectDesign.READER_STUDY,
        layout=StudyLayout.FULLY_CROSSED,
        order_seed=seed,
    )
    db.add(project)
    db.flush()
    session_rows = [
        ReadingSession(project_id=project.id, number=n + 1, name=f"Session {n + 1}", aided=n == 1)
        for n in range(sessions)
    ]
    db.add_all(session_rows)
    db.flush()
    first_study, first_row = _next_id(db, Study), _next_id(db, ProjectStudy)
    study_pks = list(range(first_study, first_study + studies))
    row_ids = list(range(first_row, first_row + studies))
    db.execute(
        insert(Study),
        [
            {"id": pk, "study_id": f"{project.id:08x}{k:024x}"}  # 32 hex digits, as VinDr's
            for k, pk in enumerate(study_pks)
        ],
    )
    db.execute(
        insert(ProjectStudy),
        [
            {"id": row, "project_id": project.id, "study_pk": pk, "status": StudyStatus.FINAL}
            for row, pk in zip(row_ids, study_pks, strict=True)
        ],
    )
    truths: dict[tuple[int, str], Truth] = {}
    for row in row_ids:
        for lat in ("R", "L"):
            draw = rng.random()
            truths[(row, lat)] = (
                Truth.MALIGNANT if draw < 0.15 else Truth.BENIGN if draw < 0.3 else Truth.NORMAL
            )
    db.execute(
        insert(ReferenceTruth),
        [
            {
                "project_id": project.id,
                "project_study_id": row,
                "laterality": lat,
                "truth": truth,
                "source": TruthSource.PATHOLOGY
                if truth is not Truth.NORMAL
                else TruthSource.FOLLOW_UP,
                "follow_up_months": None if truth is not Truth.NORMAL else 24,
            }
            for (row, lat), truth in truths.items()
        ],
    )
    skill = {reader: rng.uniform(25, 45) for reader in reader_ids}
    tasks, submissions = [], []
    task_id = _next_id(db, ReadTask)
    for number, session in enumerate(session_rows):
        for reader in reader_ids:
            for position, row in enumerate(row_ids):
                breasts = {}
                for lat in ("R", "L"):
                    truth = truths[(row, lat)]
                    lift = skill[reader] + 5 * number
                    base = 25 + (lift if truth is Truth.MALIGNANT else 0)
                    probability = max(0, min(100, round(rng.gauss(base, 18))))
                    breasts[lat] = {
                        "birads": _birads(probability, truth, rng),
                        "density": rng.choice("ABCD"),
                        "probability": probability,
                    }
                common = {
                    "project_study_id": row,
                    "user_id": reader,
                    "kind": TaskKind.READ,
                    "slot": 1,
                    "session_id": session.id,
                }
                tasks.append(
                    {
                        "id": task_id,
                        **common,
                        "status": TaskStatus.SUBMITTED,
                        "version": 1,
                        "position": position,
                        "active_seconds": 40.0,
                    }
                )
                submissions.append(
                    {
                        "task_id": task_id,
                        **common,
                        "label": {"breasts": breasts, "boxes": [], "note": ""},
                        "warnings": [],
                        "active_seconds": rng.uniform(20, 90),
                    }
                )
                task_id += 1
    db.execute(insert(ReadTask), tasks)
    db.execute(insert(ReadSubmission), submissions)
    _advance_sequences(db, Study, ProjectStudy, ReadTask)
    model = AiModel(project_id=project.id, name="Triage", description="bench")
    db.add(model)
    db.flush()
    db.execute(
        insert(AiBreastScore),
        [
            {
                "model_id": model.id,
                "project_study_id": row,
                "laterality": lat,
                "score": round(
                    min(1.0, max(0.0, rng.gauss(0.65 if truth is Truth.MALIGNANT else 0.3, 0.2))),
                    3,
                ),
            }
            for (row, lat), truth in truths.items()
        ],
    )
    db.commit()
    return project


def add_read(db: Session, project_id: int, rng: random.Random) -> None:
    """One more submitted read of the project's first study by its first reader, in its
    first session (as a resubmission would log it): the project's figures change."""
    task = db.scalars(
        select(ReadTask)
        .join(ProjectStudy, ReadTask.project_study_id == ProjectStudy.id)
        .where(ProjectStudy.project_id == project_id)
        .order_by(ReadTask.id)
        .limit(1)
    ).one()
    probability = rng.randint(0, 100)
    resubmit(db, task, {"birads": 4, "density": "B", "probability": probability}, 30.0)


def resubmit(db: Session, task: ReadTask, breast: dict[str, Any], seconds: float) -> None:
    """A new submitted task for ``task``'s reader, study and session, reading both breasts
    as ``breast`` (the newest submission counts, as a resubmission would log it)."""
    new = ReadTask(
        project_study_id=task.project_study_id,
        user_id=task.user_id,
        kind=TaskKind.READ,
        slot=1,
        status=TaskStatus.SUBMITTED,
        session_id=task.session_id,
    )
    db.add(new)
    db.flush()
    db.add(
        ReadSubmission(
            task_id=new.id,
            project_study_id=task.project_study_id,
            user_id=task.user_id,
            kind=TaskKind.READ,
            slot=1,
            label={"breasts": {"R": breast, "L": dict(breast)}, "boxes": []},
            active_seconds=seconds,
            session_id=task.session_id,
        )
    )
    db.commit()


def summary(name: str, samples: list[float], base: float, target: float | None = None) -> str:
    median = statistics.median(samples)
    p95 = statistics.quantiles(samples, n=20)[18] if len(samples) > 1 else samples[0]
    line = f"{name:<44} median {median:8.1f} ms   p95 {p95:8.1f} ms   ({median / base:6.0f}x base)"
    if target is not None:
        line += f"   target {target:.0f} ms: {'met' if median < target else 'MISSED'}"
    return line


def profiled(call: Callable[[], object], title: str) -> None:
    profile = cProfile.Profile()
    profile.enable()
    call()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(30)
    print(f"\n--- cProfile: {title}\n{out.getvalue()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--readers", type=int, default=10)
    parser.add_argument("--studies", type=int, default=500)
    parser.add_argument("--sessions", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    with tempfile.TemporaryDirectory() as directory:
        settings = bench_settings(directory, f"sqlite:///{Path(directory) / 'bench.db'}")
        migrations.upgrade(settings)
        app = create_app(settings)
        rng = random.Random(5)
        with app.state.session_factory() as db:
            cli = Actor(None, None, "bench")
            kit = app.state.auth_kit
            create_user(db, kit, cli, NewUser("admin", "Admin", Role.ADMIN, PASSWORD))
            readers = [
                create_user(db, kit, cli, NewUser(f"r{i:02d}", "", Role.READER, PASSWORD))[0].id
                for i in range(args.readers)
            ]
            project = build_reader_study(db, readers, args.studies, args.sessions)
            pid = project.id
            reads = db.scalar(select(func.count()).select_from(ReadSubmission))
        print(
            f"study: {args.readers} readers x {args.studies} studies ({2 * args.studies} "
            f"breasts) x {args.sessions} sessions, {reads} reads, 1 model; SQLite, "
            f"in-process; {repeats} runs"
        )
        with TestClient(app) as client:
            headers = bearer(client, "admin", PASSWORD)
            page = f"/projects/{pid}/results"

            def get(url: str) -> Callable[[], None]:
                def call() -> None:
                    response = client.get(url, headers=headers)
                    assert response.status_code == 200, response.text[:500]

                return call

            def analysis() -> None:
                with app.state.session_factory() as db:
                    analyse_project(db, db.get(ReadingProject, pid))

            def after_a_change(url: str) -> list[float]:
                """Each view after a new read (submitted before it, not timed)."""
                samples: list[float] = []
                for _ in range(repeats):
                    with app.state.session_factory() as db:
                        add_read(db, pid, rng)
                    samples += timed(get(url), 1)
                return samples

            timed(get("/healthz"), 20)
            baseline = timed(get("/healthz"), 200 if not args.quick else 50)
            full = timed(analysis, repeats)
            figures = []
            for label, url, target in (
                ("GET .../analysis", f"/api/v1/studies/projects/{pid}/analysis", None),
                ("GET .../accuracy", f"/api/v1/studies/projects/{pid}/accuracy", None),
                (f"GET {page}", page, PAGE_TARGET_MS),
            ):
                changed = after_a_change(url)
                figures.append((f"{label} (after a change)", changed, None))
                again = timed(get(url), repeats * 2)
                figures.append((f"{label} (again, unchanged)", again, target))
            base = statistics.median(baseline)
            print(summary("GET /healthz (baseline)", baseline, base))
            print(summary("analyse_project (full analysis)", full, base, ANALYSIS_TARGET_MS))
            for label, samples, target in figures:
                print(summary(label, samples, base, target))
            size = len(client.get(page, headers=headers).content)
            print(f"{'page size':<44} {size / 1024:8.0f} KiB")
            if args.profile:  # the server's work, in this thread (the client's waits nothing)
                with app.state.session_factory() as db:
                    project = db.get(ReadingProject, pid)
                    profiled(lambda: analyse_project(db, project), "analyse_project")
                    profiled(lambda: project_accuracy(db, project, "seed002"), "project_accuracy")
        app.state.engine.dispose()


if __name__ == "__main__":
    main()

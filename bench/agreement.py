"""The agreement report of a double-read project, against a baseline measured in the same run.

    python -m bench.agreement [--quick] [--studies N]

Setup (not timed): a scratch SQLite installation in a temporary folder, an admin, two readers
and a double-read project of N studies (default 1000), each read by both (the second reader
mostly agreeing, else a neighbour on the scale), the tasks and the logged submissions written
straight into the tables (the report only reads the log), seeded.

Timed in-process (median and p95 of the runs): app.reading.agreement_report.agreement_report
(kappa, Gwet's AC1 and AC2 per item with their bootstrap intervals over studies), called
directly on a session, and GET /api/v1/reading/projects/{id}/agreement through FastAPI's
TestClient. Baseline: GET /healthz. Target: well under 1 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
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
from app.reading.agreement_report import agreement_report
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission, ReadTask
from app.reading.rules import DEFAULT_VOCABULARY
from app.reading.states import StudyStatus, TaskKind, TaskStatus
from bench.common import bearer, bench_settings, timed
from bench.results_page import summary

PASSWORD = "a long benchmark password"
TARGET_MS = 1000.0
BIRADS = [1, 2, 3, 0, 4, 5]  # the ordinal order, 0 between 3 and 4
BIRADS_WEIGHTS = [50, 25, 8, 4, 6, 3]
DENSITY = ["A", "B", "C", "D"]


def _neighbour(rng: random.Random, value: Any, scale: list[Any]) -> Any:
    """The second reader's call: the first's 70% of the time, else one step away."""
    if rng.random() < 0.7:
        return value
    k = scale.index(value) + rng.choice((-1, 1))
    return scale[max(0, min(len(scale) - 1, k))]


def build_double_read(
    db: Session, first: int, second: int, studies: int, *, seed: int = 7
) -> ReadingProject:
    """A double-read project of ``studies`` studies, both reads of each submitted."""
    rng = random.Random(seed)
    project = ReadingProject(
        name=f"Bench agreement {studies}",
        vocabulary=DEFAULT_VOCABULARY.to_json(),
        rules={"assessment_scale": "0-5"},
    )
    db.add(project)
    db.flush()
    start_study = (db.scalar(select(func.max(Study.id))) or 0) + 1
    start_row = (db.scalar(select(func.max(ProjectStudy.id))) or 0) + 1
    start_task = (db.scalar(select(func.max(ReadTask.id))) or 0) + 1
    db.execute(
        insert(Study),
        [{"id": start_study + k, "study_id": f"agreement-{k:05d}"} for k in range(studies)],
    )
    db.execute(
        insert(ProjectStudy),
        [
            {
                "id": start_row + k,
                "project_id": project.id,
                "study_pk": start_study + k,
                "status": StudyStatus.READING,
            }
            for k in range(studies)
        ],
    )
    tasks, submissions = [], []
    for k in range(studies):
        a: dict[str, Any] = {}
        b: dict[str, Any] = {}
        for lat in ("R", "L"):
            birads = rng.choices(BIRADS, weights=BIRADS_WEIGHTS)[0]
            density = rng.choice(DENSITY)
            a[lat] = {"birads": birads, "density": density}
            b[lat] = {
                "birads": _neighbour(rng, birads, BIRADS),
                "density": _neighbour(rng, density, DENSITY),
            }
        for slot, (user, breasts) in enumerate(((first, a), (second, b)), 1):
            task_id = start_task + len(tasks)
            common = {
                "project_study_id": start_row + k,
                "user_id": user,
                "kind": TaskKind.READ,
                "slot": slot,
            }
            tasks.append({"id": task_id, **common, "status": TaskStatus.SUBMITTED})
            submissions.append(
                {
                    "task_id": task_id,
                    **common,
                    "label": {"breasts": breasts, "boxes": []},
                    "warnings": [],
                    "active_seconds": 30.0,
                }
            )
    db.execute(insert(ReadTask), tasks)
    db.execute(insert(ReadSubmission), submissions)
    db.commit()
    return project


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--studies", type=int, default=1000)
    args = parser.parse_args()
    repeats = 3 if args.quick else 10
    with tempfile.TemporaryDirectory() as directory:
        settings = bench_settings(directory, f"sqlite:///{Path(directory) / 'bench.db'}")
        migrations.upgrade(settings)
        app = create_app(settings)
        with app.state.session_factory() as db:
            cli, kit = Actor(None, None, "bench"), app.state.auth_kit
            create_user(db, kit, cli, NewUser("admin", "Admin", Role.ADMIN, PASSWORD))
            first, second = (
                create_user(db, kit, cli, NewUser(name, "", Role.READER, PASSWORD))[0].id
                for name in ("rd1", "rd2")
            )
            pid = build_double_read(db, first, second, args.studies).id
        print(
            f"double-read project: {args.studies} studies x 2 reads; SQLite, in-process; "
            f"{repeats} runs"
        )
        with TestClient(app) as client:
            headers = bearer(client, "admin", PASSWORD)
            url = f"/api/v1/reading/projects/{pid}/agreement"

            def report() -> None:
                with app.state.session_factory() as db:
                    agreement_report(db, db.get(ReadingProject, pid))

            def api() -> None:
                response = client.get(url, headers=headers)
                assert response.status_code == 200, response.text[:500]

            timed(lambda: client.get("/healthz"), 20)
            baseline = timed(lambda: client.get("/healthz"), 50 if args.quick else 200)
            direct = timed(report, repeats)
            served = timed(api, repeats)
        app.state.engine.dispose()
    base = statistics.median(baseline)
    print(summary("GET /healthz (baseline)", baseline, base))
    print(summary("agreement_report (direct)", direct, base, TARGET_MS))
    print(summary(f"GET {url}", served, base, TARGET_MS))


if __name__ == "__main__":
    main()

"""Dataset export of a 5,000-study project from the CLI: time and peak memory, per format.

    python -m bench.export [--quick] [--database postgresql|sqlite|both] [--studies N]
                           [--boxes N] [--small N] [--large N] [--repeat N] [--profile]

Setup (not timed), on each database: a scratch PostgreSQL database
``mammoread_bench_export_<random>`` next to ``--database-url`` (dropped at the end, also on
failure) and/or a SQLite file in a temporary data directory (the default installation),
migrated to the latest schema. Rows are inserted in bulk (SQLAlchemy Core, 1,000 at a time):

- studies of four views (L-CC, L-MLO, R-CC, R-MLO; 32-hex ids; 3518x2800, 4096x3328,
  3328x2560 or 3580x2816 as machines give them; ``display`` as the importer stores it; the
  file keys point at nothing: images are not exported by default);
- reading projects, every study final (fresh split: none is stored, as in a project read
  here): an empty one, "small" (the first ``--small`` studies, default 1,000), "big" (the
  issue's ``--studies`` 5,000 with exactly ``--boxes`` 2,500 boxes) and "large" (``--large``
  20,000 studies, the same mix, for the memory bound only). Labels as in VinDr-Mammo: breast
  BI-RADS 1 67 %, 2 23 %, 3-5 10 %; density A 1 %, B 10 %, C 75 %, D 14 % (per study);
  boxes only on BI-RADS 3-5 breasts, in CC/MLO pairs, graded (Mass, Suspicious
  Calcification, Focal Asymmetry, ...) with a finding BI-RADS up to the breast's, some with
  an associated feature, a few of associated features only;
- in the big project, two reads per study from a pool of 10 readers (ReadTask and its
  ReadSubmission), the second differing on about 10 % of the studies, which then have an
  arbiter's read (2 arbiters) that is the final label.

Timed: ``mammoread export PROJECT --format F --out PATH`` as a user runs it, in a child
process with MAMMOREAD_DATA_DIR and MAMMOREAD_DATABASE_URL set: wall time, CPU (user +
system) and the child's peak resident memory, from GNU time's %M (a child forked from this
process would report this process's size: Linux keeps the pre-exec high-water mark), else
VmHWM sampled every 20 ms. Runs: vindr of the empty, small and big projects to a folder, the
big one as vindr to a .zip, json and reads, then vindr of the large one. Baseline, in the same
run: ``mammoread db current`` (the CLI's start-up and a database connection), median of 3;
"over baseline" is peak minus the baseline's peak. Rows written are counted in the output
(CSV lines without the header, JSON studies) and checked against the rows the generated
labels must give; the folder and .zip vindr CSVs must be byte-identical.

Targets (the issue): every format of the big project in <= 10 s (wall time, with the CPU
time and the load average next to it: other work on the machine shows in the wall time);
memory bounded: from the big project to the large one (small to big without one) the vindr
peak grows by less than 25 % of what holding the extra studies would cost, that cost per
study measured in the same run as the small project's peak over the empty project's (the
export holds up to two batches of 500 studies: the small project is all in memory at once).
Python frees the ORM objects' reference cycles only at its cyclic collections, so the peak
still grows from 1,000 to 5,000 studies before it levels off.
With --repeat N each export runs N times and the medians are shown. With --profile, the big
vindr export runs once more under cProfile (not timed) and the top functions are printed.
--quick: 2,000 studies, 1,000 boxes, small 1,000, large 8,000.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, select, text
from sqlalchemy.engine import make_url

from app.auth.models import User
from app.core import migrations
from app.core.config import Settings
from app.core.database import make_engine
from app.export.reading_export import BATCH
from app.imaging.display import DisplayParams, Window
from app.imaging.models import Image, Study
from app.imaging.storage import dicom_key
from app.reading.models import ProjectStudy, ReadingProject, ReadSubmission, ReadTask
from app.reading.rules import DEFAULT_VOCABULARY, ProjectRules
from bench.common import scratch_database

ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TARGET_SECONDS = 10.0
BOUND_SHARE = 0.25
CHUNK = 1000
READERS = 10
ARBITERS = 2
VIEWS = (("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO"))
# (manufacturer, model, rows, columns, pixel spacing mm, weight)
MACHINES = (
    ("SIEMENS", "Mammomat Inspiration", 3518, 2800, 0.085, 0.55),
    ("SIEMENS", "Mammomat Inspiration", 4096, 3328, 0.07, 0.15),
    ("Planmed", "Planmed Nuance", 3328, 2560, 0.085, 0.2),
    ("IMS GIOTTO S.p.A.", "GIOTTO IMAGE 3DL", 3580, 2816, 0.085, 0.1),
)
BREAST_BIRADS = {1: 0.67, 2: 0.23, 3: 0.048, 4: 0.04, 5: 0.012}
DENSITY = {"A": 0.01, "B": 0.10, "C": 0.75, "D": 0.14}
GRADED = {
    "Mass": 0.45,
    "Suspicious Calcification": 0.25,
    "Focal Asymmetry": 0.12,
    "Architectural Distortion": 0.08,
    "Asymmetry": 0.07,
    "Global Asymmetry": 0.03,
}
ASSOCIATED = ("Skin Thickening", "Nipple Retraction", "Suspicious Lymph Node", "Skin Retraction")
START = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


# --- the scratch installations ----------------------------------------------------------------


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            return "SQLite " + str(connection.execute(text("select sqlite_version()")).scalar())
        version = str(connection.execute(text("SHOW server_version")).scalar_one()).split()[0]
        return f"PostgreSQL {version}"


# --- the data ---------------------------------------------------------------------------------


def hex_id(kind: str, number: int) -> str:
    return hashlib.md5(f"bench-export-{kind}-{number}".encode(), usedforsecurity=False).hexdigest()


def pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def pyramid_widths(columns: int, min_width: int = 512) -> list[int]:
    """As the importer's ``build_levels``: halve while the half is at least 512 wide."""
    widths = [columns]
    while widths[-1] // 2 >= min_width:
        widths.append((widths[-1] + 1) // 2)
    return widths


DISPLAY = DisplayParams(
    bits_stored=12, signed=False, windows=(Window(2047.0, 4095.0, "DEFAULT"),)
).to_json()


@dataclass
class GeneratedStudy:
    study_id: str
    images: list[dict[str, Any]]  # Image rows without study_pk
    label: dict[str, Any]


def generate(studies: int, boxes: int, seed: int = 0, first: int = 0) -> list[GeneratedStudy]:
    """Studies, images and final labels shaped like VinDr-Mammo's, ``boxes`` boxes in all;
    ids numbered from ``first``."""
    rng = random.Random(seed)
    out: list[GeneratedStudy] = []
    suspicious: list[tuple[int, str]] = []  # (index in out, laterality) of BI-RADS 3-5 breasts
    for n in range(first, first + studies):
        machine = rng.choices(MACHINES, weights=[m[-1] for m in MACHINES])[0]
        manufacturer, model, rows, columns, spacing, _ = machine
        images = []
        for laterality, view in VIEWS:
            image_id = hex_id("image", n * 4 + len(images))
            study_id = hex_id("study", n)
            images.append(
                {
                    "image_id": image_id,
                    "series_id": hex_id("series", n * 4 + len(images)),
                    "laterality": laterality,
                    "view": view,
                    "rows": rows,
                    "columns": columns,
                    "bits_stored": 12,
                    "photometric": "MONOCHROME2",
                    "presentation_intent": "FOR PRESENTATION",
                    "modality": "MG",
                    "manufacturer": manufacturer,
                    "model": model,
                    "pixel_spacing": spacing,
                    "transfer_syntax": "1.2.840.10008.1.2.4.90",
                    "display": DISPLAY,
                    "pyramid_widths": pyramid_widths(columns),
                    "chest_wall_side": laterality,
                    "file_key": dicom_key(study_id, image_id),
                    "file_size": rows * columns + rng.randrange(200_000, 900_000),
                }
            )
        density = pick(rng, DENSITY)
        breasts = {}
        for laterality in ("R", "L"):
            birads = pick(rng, BREAST_BIRADS)
            breasts[laterality] = {"birads": birads, "density": density}
            if birads >= 3:
                suspicious.append((len(out), laterality))
        label = {"breasts": breasts, "boxes": [], "note": ""}
        out.append(GeneratedStudy(hex_id("study", n), images, label))
    place_boxes(rng, out, suspicious, boxes)
    return out


def place_boxes(
    rng: random.Random,
    studies: list[GeneratedStudy],
    suspicious: list[tuple[int, str]],
    total: int,
) -> None:
    """One box per suspicious breast, then the rest at random among them; a breast's boxes
    are lesions seen in CC then MLO (boxes 1-2 one lesion, 3-4 another, ...)."""
    if not suspicious:
        return
    counts = [1 if i < total else 0 for i in range(len(suspicious))]
    for _ in range(max(0, total - len(suspicious))):
        counts[rng.randrange(len(suspicious))] += 1
    for (n, laterality), count in zip(suspicious, counts, strict=True):
        study = studies[n]
        breast_birads = study.label["breasts"][laterality]["birads"]
        by_view = {i["view"]: i for i in study.images if i["laterality"] == laterality}
        lesion: dict[str, Any] = {}
        for k in range(count):
            if k % 2 == 0:  # a new lesion
                lesion = new_lesion(rng, breast_birads, first=k == 0)
            image = by_view["CC" if k % 2 == 0 else "MLO"]
            study.label["boxes"].append(box(rng, image, lesion, len(study.label["boxes"]) + 1))


def new_lesion(rng: random.Random, breast_birads: int, first: bool) -> dict[str, Any]:
    if rng.random() < 0.04:  # associated features only: no finding BI-RADS
        return {"categories": [rng.choice(ASSOCIATED)], "birads": None}
    categories = [pick(rng, GRADED)]
    if rng.random() < 0.12:
        categories.append(rng.choice(ASSOCIATED))
    birads = breast_birads if first else rng.randint(3, breast_birads)
    return {"categories": categories, "birads": birads}


def box(
    rng: random.Random, image: dict[str, Any], lesion: dict[str, Any], number: int
) -> dict[str, Any]:
    width, height = rng.uniform(80, 600), rng.uniform(80, 600)
    xmin = rng.uniform(0, image["columns"] - width)
    ymin = rng.uniform(0, image["rows"] - height)
    return {
        "id": f"b{number}",
        "image_id": image["image_id"],
        "xmin": round(xmin, 2),
        "ymin": round(ymin, 2),
        "xmax": round(xmin + width, 2),
        "ymax": round(ymin + height, 2),
        "categories": list(lesion["categories"]),
        "birads": lesion["birads"],
    }


def jittered(rng: random.Random, label: dict[str, Any]) -> dict[str, Any]:
    """A reader's version of the final label: the same findings, boxes a few pixels off."""
    boxes = []
    for item in label["boxes"]:
        dx, dy = rng.uniform(-6, 6), rng.uniform(-6, 6)
        boxes.append(
            {
                **item,
                "xmin": round(item["xmin"] + dx, 2),
                "xmax": round(item["xmax"] + dx, 2),
                "ymin": round(item["ymin"] + dy, 2),
                "ymax": round(item["ymax"] + dy, 2),
            }
        )
    return {"breasts": json.loads(json.dumps(label["breasts"])), "boxes": boxes, "note": ""}


def disagreeing(rng: random.Random, label: dict[str, Any]) -> dict[str, Any]:
    """A second read that differs: a density or a benign/normal BI-RADS on one breast."""
    read = jittered(rng, label)
    breast = read["breasts"][rng.choice(("R", "L"))]
    if breast["birads"] in (1, 2) and rng.random() < 0.5:
        breast["birads"] = 3 - breast["birads"]
    else:
        breast["density"] = {"A": "B", "B": "C", "C": "D", "D": "C"}[breast["density"]]
    return read


def finding_rows(label: dict[str, Any], images: Sequence[dict[str, Any]]) -> int:
    boxed: dict[str, int] = {}
    for item in label["boxes"]:
        boxed[item["image_id"]] = boxed.get(item["image_id"], 0) + 1
    return sum(max(1, boxed.get(i["image_id"], 0)) for i in images)


# --- inserting ----------------------------------------------------------------------------------


@dataclass
class Installation:
    projects: dict[str, int]  # "empty", "small", "big" (, "large") -> project id
    studies: dict[str, int]
    expected: dict[tuple[str, str], int]  # (format, project) -> rows the export must write
    images: int = 0
    boxes: int = 0
    suspicious_breasts: int = 0
    reads: int = 0
    arbitrations: int = 0
    breakdown: dict[str, float] = field(default_factory=dict)


def chunks(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def bulk(connection: Any, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for part in chunks(rows):
        connection.execute(insert(table), list(part))


def install(engine: Engine, studies: int, boxes: int, small: int, large: int = 0) -> Installation:
    """Projects "empty", "small" (the first ``small`` studies), "big" (``studies`` studies with
    ``boxes`` boxes, and reads) and, when ``large`` > ``studies``, "large": those and more,
    as many boxes per study."""
    timer = time.perf_counter()
    data = generate(studies, boxes)
    if large > studies:
        data += generate(large - studies, boxes * (large - studies) // studies, 2, studies)
    breakdown = {"generate": time.perf_counter() - timer}
    rng = random.Random(1)
    timer = time.perf_counter()
    with engine.begin() as connection:
        users = [
            {
                "username": f"{role}{i:02d}",
                "display_name": f"Bench {role.title()} {i}",
                "role": "reader",
                "password_hash": "!bench: no sign-in",
            }
            for role, count in (("reader", READERS), ("arbiter", ARBITERS))
            for i in range(count)
        ]
        bulk(connection, User.__table__, users)
        user_ids = dict(connection.execute(select(User.username, User.id)).all())
        readers = [user_ids[f"reader{i:02d}"] for i in range(READERS)]
        arbiters = [user_ids[f"arbiter{i:02d}"] for i in range(ARBITERS)]

        bulk(
            connection,
            Study.__table__,
            [
                {"study_id": s.study_id, "patient_age": rng.randint(40, 75), "patient_sex": "F"}
                for s in data
            ],
        )
        study_pk = dict(connection.execute(select(Study.study_id, Study.id)).all())
        bulk(
            connection,
            Image.__table__,
            [{**image, "study_pk": study_pk[s.study_id]} for s in data for image in s.images],
        )
        breakdown["studies + images"] = time.perf_counter() - timer

        timer = time.perf_counter()
        projects = {}
        names = {"empty": "Bench empty", "small": "Bench small", "big": "Bench"}
        if large > studies:
            names["large"] = "Bench large"
        sizes = {"empty": 0, "small": small, "big": studies, "large": large}
        for key, name in names.items():
            projects[key] = connection.execute(
                insert(ReadingProject.__table__).returning(ReadingProject.id),
                {
                    "name": name,
                    "instructions": "",
                    "vocabulary": DEFAULT_VOCABULARY.to_json(),
                    "rules": ProjectRules().to_json(),
                    "idle_limit_seconds": 60,
                },
            ).scalar_one()
        # the second read differs on ~10 % of the studies: those are arbitrated
        discordant = [rng.random() < 0.10 for _ in data]
        finalized = [START + timedelta(minutes=3 * n) for n in range(len(data))]

        def final_rows(project: int, count: int) -> list[dict[str, Any]]:
            return [
                {
                    "project_id": project,
                    "study_pk": study_pk[s.study_id],
                    "status": "final",
                    "final_label": s.label,
                    "final_source": "arbitration" if discordant[n] else "concordant",
                    "finalized_at": finalized[n],
                    "added_at": START,
                }
                for n, s in enumerate(data[:count])
            ]

        for key in names:
            bulk(connection, ProjectStudy.__table__, final_rows(projects[key], sizes[key]))
        breakdown["project studies"] = time.perf_counter() - timer

        timer = time.perf_counter()
        project_study = dict(
            connection.execute(
                select(ProjectStudy.study_pk, ProjectStudy.id).where(
                    ProjectStudy.project_id == projects["big"]
                )
            ).all()
        )
        tasks, reads = [], []
        expected_reads = 0
        for n, s in enumerate(data[:studies]):
            pair = n % (READERS // 2)
            first = jittered(rng, s.label)
            second = disagreeing(rng, s.label) if discordant[n] else jittered(rng, s.label)
            answers = [(1, readers[2 * pair], first), (2, readers[2 * pair + 1], second)]
            if discordant[n]:
                answers.append((0, arbiters[n % ARBITERS], s.label))
            for slot, user, label in answers:
                started = finalized[n] - timedelta(minutes=2, seconds=rng.randint(0, 90))
                submitted = started + timedelta(seconds=rng.randint(40, 110))
                task = {
                    "project_study_id": project_study[study_pk[s.study_id]],
                    "user_id": user,
                    "kind": "arbitrate" if slot == 0 else "read",
                    "slot": slot,
                    "status": "submitted",
                    "draft": label,
                    "version": 4,
                    "assigned_at": START,
                    "started_at": started,
                    "last_activity_at": submitted,
                    "active_seconds": (submitted - started).total_seconds() * 0.8,
                    "submitted_at": submitted,
                }
                tasks.append(task)
                expected_reads += finding_rows(label, s.images)
            expected_reads += finding_rows(s.label, s.images)  # the final label's rows
        bulk(connection, ReadTask.__table__, tasks)
        task_ids = connection.execute(
            select(ReadTask.id, ReadTask.project_study_id, ReadTask.slot)
        ).all()
        by_key = {(ps, slot): task_id for task_id, ps, slot in task_ids}
        for task in tasks:
            reads.append(
                {
                    "task_id": by_key[task["project_study_id"], task["slot"]],
                    "project_study_id": task["project_study_id"],
                    "user_id": task["user_id"],
                    "kind": task["kind"],
                    "slot": task["slot"],
                    "label": task["draft"],
                    "warnings": [],
                    "started_at": task["started_at"],
                    "submitted_at": task["submitted_at"],
                    "active_seconds": task["active_seconds"],
                }
            )
        bulk(connection, ReadSubmission.__table__, reads)
        breakdown["reads"] = time.perf_counter() - timer

    expected = {}
    for key in names:
        count = sizes[key]
        expected["vindr", key] = 4 * count + sum(
            finding_rows(s.label, s.images) for s in data[:count]
        )
        expected["json", key] = count
    expected["reads", "big"] = expected_reads
    return Installation(
        projects=projects,
        studies={key: sizes[key] for key in names},
        expected=expected,
        images=sum(len(s.images) for s in data[:studies]),
        boxes=sum(len(s.label["boxes"]) for s in data[:studies]),
        suspicious_breasts=sum(
            b["birads"] >= 3 for s in data[:studies] for b in s.label["breasts"].values()
        ),
        reads=sum(t["kind"] == "read" for t in tasks),
        arbitrations=sum(t["kind"] == "arbitrate" for t in tasks),
        breakdown=breakdown,
    )


# --- running the CLI ----------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float
    peak_mb: float


def cli() -> list[str]:
    script = Path(sys.executable).parent / "mammoread"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def child_env(data_dir: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAMMOREAD_")}
    env.update(
        MAMMOREAD_DATA_DIR=str(data_dir), MAMMOREAD_DATABASE_URL=url, MAMMOREAD_SECRET_KEY="bench"
    )
    return env


GNU_TIME = Path("/usr/bin/time")


def run_child(command: list[str], env: dict[str, str], log: Path) -> Run:
    """Run ``command``; wall time, CPU (user + system) and the child's own peak RSS.

    The peak comes from GNU time (``%M``) when present: a child forked from this process would
    report this process's size as its own (Linux keeps the pre-exec high-water mark in
    ru_maxrss), GNU time is small. Else VmHWM is sampled every 20 ms until the child ends."""
    usage_file = log.with_suffix(".time")
    use_time = GNU_TIME.exists()
    if use_time:
        command = [str(GNU_TIME), "-o", str(usage_file), "-f", "%M", *command]
    cpu_before = children_cpu()
    with log.open("wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        peak_kb = sample_peak(child) if not use_time else 0.0
        child.wait()
        seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command[-6:])} exited with {child.returncode}:\n"
            + log.read_text(errors="replace")[-3000:]
        )
    if use_time:
        peak_kb = float(usage_file.read_text().split()[-1])
    return Run(seconds, children_cpu() - cpu_before, peak_kb / 1024)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sample_peak(child: subprocess.Popen[bytes]) -> float:
    """The child's VmHWM (kB) as last seen before it ended."""
    peak = 0.0
    status = Path(f"/proc/{child.pid}/status")
    while child.poll() is None:
        try:
            for line in status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, float(line.split()[1]))
        except OSError:
            pass
        time.sleep(0.02)
    return peak


def rows_written(out: Path, fmt: str) -> int:
    """Data rows of the export at ``out`` (a folder or a .zip): CSV lines without headers."""
    names = {
        "vindr": ("breast-level_annotations.csv", "finding_annotations.csv"),
        "json": ("annotations.json",),
        "reads": ("reads.csv",),
    }[fmt]
    total = 0
    for name in names:
        if out.suffix == ".zip":
            with zipfile.ZipFile(out) as archive, archive.open(name) as member:
                content = io.TextIOWrapper(member, encoding="utf-8", newline="")
                if fmt == "json":
                    return len(json.load(content)["studies"])
                total += sum(1 for _ in content) - 1
        else:
            with (out / name).open(encoding="utf-8", newline="") as handle:
                if fmt == "json":
                    return len(json.load(handle)["studies"])
                total += sum(1 for _ in handle) - 1
    return total


def same_vindr(folder: Path, archive: Path) -> bool:
    with zipfile.ZipFile(archive) as z:
        return all(
            z.read(name) == (folder / name).read_bytes()
            for name in ("breast-level_annotations.csv", "finding_annotations.csv")
        )


@dataclass
class Line:
    label: str
    studies: int | None
    run: Run
    rows: int | None = None
    expected: int | None = None


def median_run(runs: Sequence[Run]) -> Run:
    return Run(
        statistics.median(r.seconds for r in runs),
        statistics.median(r.cpu for r in runs),
        statistics.median(r.peak_mb for r in runs),
    )


PLAN = (  # (format, project, target kind)
    ("vindr", "empty", "folder"),
    ("vindr", "small", "folder"),
    ("vindr", "big", "folder"),
    ("vindr", "big", "zip"),
    ("json", "big", "folder"),
    ("reads", "big", "folder"),
)


def measure(database: str, setup: Installation, data_dir: Path, url: str, args: Any) -> list[str]:
    env = child_env(data_dir, url)
    work = data_dir.parent / "out"
    work.mkdir(exist_ok=True)
    log = work / "child.log"
    baseline = median_run([run_child([*cli(), "db", "current"], env, log) for _ in range(3)])
    lines = [Line("mammoread db current (baseline)", None, baseline)]
    peaks: dict[str, float] = {}
    plan = [*PLAN, ("vindr", "large", "folder")] if "large" in setup.projects else PLAN
    for fmt, project, kind in plan:
        out = work / f"{fmt}-{project}" if kind == "folder" else work / f"{fmt}-{project}.zip"
        command = [*cli(), "export", str(setup.projects[project]), "--format", fmt]
        run = median_run(
            [run_child([*command, "--out", str(out)], env, log) for _ in range(args.repeat)]
        )
        name = f"{fmt} {'.zip' if kind == 'zip' else 'folder'}"
        if project == "empty":
            name += " (empty project)"
        rows = rows_written(out, fmt)
        lines.append(Line(name, setup.studies[project], run, rows, setup.expected[fmt, project]))
        if fmt == "vindr" and kind == "folder":
            peaks[project] = run.peak_mb
    identical = same_vindr(work / "vindr-big", work / "vindr-big.zip")

    report = [
        f"{'command':<34}{'studies':>8}{'seconds':>9}{'CPU s':>7}{'peak RSS MB':>13}"
        f"{'over baseline':>15}{'rows written':>14}  check"
    ]
    for line in lines:
        studies = "-" if line.studies is None else f"{line.studies:,}"
        over = "-" if line.studies is None else f"{line.run.peak_mb - baseline.peak_mb:+.1f}"
        rows = "-" if line.rows is None else f"{line.rows:,}"
        check = ""
        if line.expected is not None:
            check = "ok" if line.rows == line.expected else f"EXPECTED {line.expected:,}"
        report.append(
            f"{line.label:<34}{studies:>8}{line.run.seconds:>9.2f}{line.run.cpu:>7.2f}"
            f"{line.run.peak_mb:>13.1f}{over:>15}{rows:>14}  {check}"
        )
    big = [line for line in lines if line.studies == setup.studies["big"]]
    slowest = max(big, key=lambda line: line.run.seconds)
    verdict = "met" if slowest.run.seconds <= TARGET_SECONDS else "NOT met"
    report.append(
        f"{database}: target <= {TARGET_SECONDS:.0f} s for {setup.studies['big']:,} studies, "
        f"every format: {verdict} (slowest: {slowest.label}, {slowest.run.seconds:.2f} s wall, "
        f"{slowest.run.cpu:.2f} s CPU; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs: wall time includes waiting for a CPU)"
    )
    report.append(memory_verdict(database, setup, peaks))
    report.append(
        f"{database}: vindr folder and .zip CSVs byte-identical: {'yes' if identical else 'NO'}"
    )
    if args.profile:
        report += profile(setup, env, work, args.profile_lines)
    return report


def memory_verdict(database: str, setup: Installation, peaks: dict[str, float]) -> str:
    """Bounded: from the small project to the big one (or from the big one to the large one,
    when there is one) the peak grows by under BOUND_SHARE of what holding the extra studies
    would cost, that cost per study measured in this run as the small project's peak over the
    empty project's (the small project is a couple of batches, all in memory at once)."""
    sizes = setup.studies
    lower, upper = ("big", "large") if "large" in peaks else ("small", "big")
    extra = sizes[upper] - sizes[lower]
    held_per_study = max(peaks["small"] - peaks["empty"], 0.0) / sizes["small"]
    if_held = held_per_study * extra
    growth = peaks[upper] - peaks[lower]
    verdict = "met" if growth <= BOUND_SHARE * if_held else "NOT met"
    shown = ", ".join(f"{peaks[key]:.1f} MB ({sizes[key]:,})" for key in peaks)
    return (
        f"{database}: memory bounded: vindr peak by studies {shown}; {sizes[lower]:,} -> "
        f"{sizes[upper]:,}: {growth:+.1f} MB, {growth * 1024 / extra:.1f} KB/study; holding "
        f"them would cost about {if_held:.0f} MB ({held_per_study * 1024:.1f} KB/study, from "
        f"0 -> {sizes['small']:,}); target growth < {BOUND_SHARE:.0%} of that: {verdict}"
    )


def profile(setup: Installation, env: dict[str, str], work: Path, count: int) -> list[str]:
    """The big vindr export once more, under cProfile (not timed); the top functions."""
    stats_file = work / "vindr.prof"
    command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), cli()[-1]]
    if cli()[0] == sys.executable:  # no console script: profile the module's main
        command = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "app.cli"]
    command += ["export", str(setup.projects["big"]), "--format", "vindr"]
    run_child([*command, "--out", str(work / "vindr-profiled")], env, work / "profile.log")
    lines = []
    for sort in ("cumulative", "tottime"):
        buffer = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=buffer)
        stats.strip_dirs().sort_stats(sort).print_stats(count)
        body = buffer.getvalue()
        start = body.find("   ncalls")
        lines.append(f"cProfile of the vindr export, by {sort}:")
        lines += body[start:].rstrip().splitlines()
    return lines


# --- main -----------------------------------------------------------------------------------------


def bench_database(database: str, args: argparse.Namespace) -> list[str]:
    studies, boxes, small = args.studies, args.boxes, args.small
    with tempfile.TemporaryDirectory(prefix="mammoread-bench-export-") as directory:
        data_dir = Path(directory) / "data"
        with (
            scratch_database(args.database_url, "export")
            if database == "postgresql"
            else sqlite_url(data_dir)
        ) as url:
            settings = Settings(data_dir=data_dir, database_url=url, secret_key="bench")
            started = time.perf_counter()
            migrations.upgrade(settings)
            migrated = time.perf_counter() - started
            engine = make_engine(settings.resolved_database_url)
            try:
                version = server_version(engine)
                setup = install(engine, studies, boxes, small, args.large)
            finally:
                engine.dispose()
            setup_seconds = time.perf_counter() - started
            parts = ", ".join(f"{k} {v:.1f} s" for k, v in setup.breakdown.items())
            print(
                f"{version}: {setup.studies['big']:,} studies, {setup.images:,} images, "
                f"{setup.boxes:,} boxes on {setup.suspicious_breasts:,} BI-RADS 3-5 breasts; "
                f"{setup.reads:,} reads + {setup.arbitrations:,} arbitrations"
                + (
                    f"; a project of {setup.studies['large']:,} studies for the memory bound"
                    if "large" in setup.studies
                    else ""
                )
                + "; setup "
                f"{setup_seconds:.1f} s (migrate {migrated:.1f} s, {parts}); load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs",
                flush=True,
            )
            return measure(
                version.split()[0], setup, data_dir, settings.resolved_database_url, args
            )


@contextmanager
def sqlite_url(data_dir: Path) -> Iterator[str]:
    """SQLite, the default installation: mammoread.db in the data directory."""
    yield Settings(data_dir=data_dir).resolved_database_url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="2,000 studies, 1,000 boxes, large 8,000"
    )
    parser.add_argument("--studies", type=int, default=5000)
    parser.add_argument("--boxes", type=int, default=2500)
    parser.add_argument(
        "--small", type=int, default=1000, help="studies of the project for the memory bound"
    )
    parser.add_argument("--database", choices=("postgresql", "sqlite", "both"), default="both")
    parser.add_argument(
        "--database-url", default=ADMIN_URL, help="an existing database on the server to use"
    )
    parser.add_argument(
        "--large",
        type=int,
        default=20000,
        help="studies of a larger project for the memory bound (vindr only; 0: none)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each export (median shown)")
    parser.add_argument("--profile", action="store_true", help="cProfile the big vindr export")
    parser.add_argument("--profile-lines", type=int, default=20)
    args = parser.parse_args()
    if args.quick:
        args.studies, args.boxes, args.small, args.large = 2000, 1000, 1000, 8000
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not 1 <= args.small < args.studies:
        parser.error("--small must be at least 1 and below --studies")
    if make_url(args.database_url).host not in LOOPBACK:
        parser.error("the benchmark runs only against a PostgreSQL server on 127.0.0.1")
    if args.small < 2 * BATCH:
        print(
            f"note: the export holds up to two batches of {BATCH} studies; with --small below "
            f"{2 * BATCH} the memory check compares sizes within that window"
        )
    databases = ("postgresql", "sqlite") if args.database == "both" else (args.database,)
    print(
        f"mammoread export from the CLI (child process per run): {args.studies:,} studies, "
        f"{args.boxes:,} boxes; memory bound checked with {args.small:,}"
        + (f" and {args.large:,} studies" if args.large > args.studies else " studies")
    )
    for database in databases:
        print()
        for line in bench_database(database, args):
            print(line, flush=True)


if __name__ == "__main__":
    main()

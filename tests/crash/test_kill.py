"""`kill -9` at any point, then start-up (or `mammoread sweep`): nothing is left that the
sweep cannot identify (fault 8). Real processes on a temporary data directory: a CLI import
killed mid-batch; a server killed while readers save and submit reads, a masking reader
answers and an export is being written. Afterwards: no orphaned file, no draft, no unfinished
batch or job, and every write the server acknowledged is there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core.config import Settings
from app.core.database import make_engine
from app.export.models import ExportJob
from app.imaging.importer import Source, import_sources
from app.imaging.models import Image, ImportBatch
from app.imaging.states import ImportChannel, PyramidFormat
from app.imaging.storage import dicom_key, level_key, pyramid_group
from app.main import create_app
from app.masking.models import MaskingComparison
from app.reading.models import ReadTask
from tests.helpers import PASSWORD, test_settings
from tests.imaging.helpers import exam_files
from tests.reading.test_reading_api import normal

MAMMOREAD = str(Path(sys.executable).with_name("mammoread"))
ROOT = Path(__file__).resolve().parents[2]
EXAM_SIZE = {"rows": 512, "columns": 416}


@pytest.fixture(scope="module")
def incoming(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Synthetic exams as DICOM files on disk, made once for both databases."""
    folder = tmp_path_factory.mktemp("incoming")
    for seed in range(300, 310):
        for name, data in exam_files(seed, **EXAM_SIZE):
            (folder / f"{seed}-{name}").write_bytes(data)
    return folder


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return test_settings(tmp_path / "var", database_url)


def environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "MAMMOREAD_DATA_DIR": str(settings.data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
        "MAMMOREAD_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MAMMOREAD_ARGON2_TIME_COST": "1",
        "MAMMOREAD_ARGON2_MEMORY_KIB": "1024",
    }


def kill_9(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()  # reaped: its pid is gone, as after a real crash


def wait_for(condition: Callable[[], bool], seconds: float, step: float = 0.01) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def count(settings: Settings, model, *where) -> int:
    engine = make_engine(settings.resolved_database_url)
    try:
        with Session(engine) as db:
            return db.scalar(select(func.count()).select_from(model).where(*where)) or 0
    finally:
        engine.dispose()


def start_up(settings: Settings) -> None:
    """A server starting on the same data: its start-up sweep runs, then it stops."""
    with TestClient(create_app(settings)) as client:
        client.app.state.sweeper.join()


# --- what must hold after any crash and a sweep -------------------------------------------------


def assert_nothing_left(db: Session, data_dir: Path) -> None:
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    assert [p for p in files if p.name.endswith(".part")] == []
    rows = {image.image_id: image for image in db.scalars(select(Image))}
    stored = {p.stem for p in (data_dir / "images").rglob("*.dcm")}
    pyramids = {
        p.name.removesuffix(".zarr") for p in (data_dir / "pyramid").glob("*/*") if p.is_dir()
    }
    assert stored == set(rows), "DICOM files and image rows differ"
    assert pyramids == set(rows), "pyramid folders and image rows differ"
    for image in rows.values():
        study_id = image.study.study_id
        keys = [dicom_key(study_id, image.image_id)]
        if image.pyramid_format == PyramidFormat.ZARR:  # whole: its group's zarr.json goes last
            keys.append(f"{pyramid_group(study_id, image.image_id)}/zarr.json")
        else:
            keys += [
                level_key(study_id, image.image_id, n) for n in range(len(image.pyramid_widths))
            ]
        assert all((data_dir / key).is_file() for key in keys), image.image_id
    assert db.scalars(select(ImportBatch.id).where(ImportBatch.finished_at.is_(None))).all() == []
    jobs = db.scalars(select(ExportJob)).all()
    assert {job.status for job in jobs} <= {"done", "failed"}
    done = {job.file_key for job in jobs if job.status == "done"}
    exported = {str(p.relative_to(data_dir)) for p in files if p.parts[-3] == "exports"}
    assert exported == done


# --- an import killed mid-batch ----------------------------------------------------------------


def test_an_import_killed_mid_batch_then_start_up(settings, incoming: Path) -> None:
    start_up(settings)  # creates the keys as a first start would
    importer = subprocess.Popen(
        [MAMMOREAD, "import", str(incoming)],
        env=environment(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: count(settings, Image) >= 5 or importer.poll() is not None, 60, 0.02)
        assert importer.poll() is None, "the import ended before it could be killed"
        assert count(settings, Image) >= 5
    finally:
        kill_9(importer)
    assert count(settings, ImportBatch, ImportBatch.finished_at.is_(None)) == 1  # mid-batch

    start_up(settings)
    app = create_app(settings)
    with app.state.session_factory() as db:
        assert_nothing_left(db, settings.data_dir)
        batch = db.scalars(select(ImportBatch)).one()
        imported = db.scalar(select(func.count()).select_from(Image))
        assert batch.imported == imported
        assert batch.outcomes[-1]["status"] == "interrupted"
        # sent again, the batch completes: what was stored is recognised, the rest imported
        files = sorted(incoming.iterdir())
        sources = [Source(path.name, path.read_bytes) for path in files]
        report = import_sources(
            db,
            app.state.imaging,
            sources,
            actor=Actor(None, None, "test"),
            channel=ImportChannel.CLI,
        )
        assert report.summary() == {
            "imported": len(files) - imported,
            "already_present": imported,
            "rejected": 0,
        }
        assert_nothing_left(db, settings.data_dir)
    app.state.engine.dispose()


# --- a server killed while reads, answers and an export are written ---------------------------


@dataclass
class Acknowledged:
    drafts: dict[int, tuple[int, dict]] = field(default_factory=dict)  # task -> version, label
    submitted: set[int] = field(default_factory=set)
    answers: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Prepared:
    reading_project: int
    masking_project: int


def prepare(settings: Settings, incoming: Path) -> Prepared:
    """Users, images, a double-reading project and a masking project, made in-process."""
    app = create_app(settings)
    with TestClient(app) as client, app.state.session_factory() as db:
        users = {}
        for name, role in (
            ("admin", Role.ADMIN),
            ("rd1", Role.READER),
            ("rd2", Role.READER),
            ("mk1", Role.READER),
        ):
            new = NewUser(name, "", role, PASSWORD, must_change_password=False)
            users[name] = create_user(db, app.state.auth_kit, Actor(None, None, "t"), new)[0].id
        files = sorted(incoming.iterdir())[:24]
        sources = [Source(path.name, path.read_bytes) for path in files]
        import_sources(
            db, app.state.imaging, sources, actor=Actor(None, None, "t"), channel=ImportChannel.CLI
        )
        image_ids = list(db.scalars(select(Image.image_id).order_by(Image.id)))
        studies = list(dict.fromkeys(db.scalars(select(Image.study_pk).order_by(Image.id))))
        headers = token(client, "admin")
        reading = client.post(
            "/api/v1/reading/projects", json={"name": "Crash"}, headers=headers
        ).json()["id"]
        base = f"/api/v1/reading/projects/{reading}"
        pools = {"readers": [users["rd1"], users["rd2"]], "arbiters": []}
        client.put(f"{base}/pools", json=pools, headers=headers)
        study_ids = client.get("/api/v1/studies", headers=headers).json()["items"]
        added = client.post(
            f"{base}/studies",
            json={"study_ids": [s["study_id"] for s in study_ids]},
            headers=headers,
        )
        assert added.json() == {"added": len(studies)}, added.text
        assert client.post(f"{base}/assign", json={}, headers=headers).status_code == 200
        masking = client.post(
            "/api/v1/masking/projects",
            json={
                "name": "Crash masking",
                "image_ids": image_ids,
                "seed_list": image_ids[:3],
                "one_seed_per_woman": False,  # three views of one exam as seeds, on purpose
                "reader_ids": [users["mk1"]],
                "probe_share": 0,
            },
            headers=headers,
        )
        assert masking.status_code == 201, masking.text
    app.state.engine.dispose()
    return Prepared(reading, masking.json()["id"])


def token(client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(settings, tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen, str]]]:
    started: list[subprocess.Popen] = []

    def start() -> tuple[subprocess.Popen, str]:
        port = free_port()
        log = (tmp_path / f"server-{port}.log").open("w")
        process = subprocess.Popen(
            [MAMMOREAD, "serve", "--port", str(port)],
            env=environment(settings),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: _healthy(url), 30, 0.05), "the server did not start"
        return process, url

    yield start
    for process in started:
        if process.poll() is None:
            kill_9(process)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def reader(url: str, name: str, headers: dict, acked: Acknowledged, stop: threading.Event) -> None:
    """Save each task's draft a few times, then submit it, until the server dies."""
    with httpx.Client(base_url=url, timeout=10) as http:
        try:
            tasks = http.get("/api/v1/reading/tasks", headers=headers).json()
            for task in tasks:
                version = task["version"]
                for edit in range(3):
                    label = normal(note=f"{name} edit {edit}")
                    body = {"label": label, "version": version}
                    saved = http.put(
                        f"/api/v1/reading/tasks/{task['id']}/draft", json=body, headers=headers
                    )
                    assert saved.status_code == 200, saved.text
                    version = saved.json()["version"]
                    with acked.lock:
                        acked.drafts[task["id"]] = (version, label)
                    if stop.is_set():
                        return
                body = {"label": label, "version": version}
                sent = http.post(
                    f"/api/v1/reading/tasks/{task['id']}/submit", json=body, headers=headers
                )
                assert sent.status_code == 200, sent.text
                with acked.lock:
                    acked.submitted.add(task["id"])
        except httpx.TransportError:
            return  # the server was killed


def masking_reader(
    url: str, headers: dict, project: int, acked: Acknowledged, stop: threading.Event
) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        try:
            pair = http.get(f"/api/v1/masking/projects/{project}/next", headers=headers).json()
            while not pair["done"] and not stop.is_set():
                reply = http.post(
                    f"/api/v1/masking/comparisons/{pair['comparison_id']}",
                    json={"answer": "query"},
                    headers=headers,
                )
                assert reply.status_code == 200, reply.text
                with acked.lock:
                    acked.answers.add(pair["comparison_id"])
                pair = reply.json()["next"]
        except httpx.TransportError:
            return


def export_draft_seen(url: str, settings: Settings, prepared: Prepared) -> bool:
    """Start exports until one is caught writing its archive (a .part draft)."""
    with httpx.Client(base_url=url, timeout=10) as http:
        headers = token(http, "admin")
        for _ in range(10):
            body = {
                "project_kind": "masking",
                "project_id": prepared.masking_project,
                "format": "comparisons",
                "with_images": True,
            }
            job = http.post("/api/v1/exports", json=body, headers=headers).json()
            folder = settings.data_dir / "exports" / str(job["id"])
            if wait_for(lambda folder=folder: any(folder.glob(".*.part")), 5, 0.001):
                return True
    return False


def test_a_server_killed_while_reads_answers_and_an_export_are_written(
    settings, incoming: Path, server, tmp_path: Path
) -> None:
    prepared = prepare(settings, incoming)
    process, url = server()
    acked, stop = Acknowledged(), threading.Event()
    with httpx.Client(base_url=url, timeout=10) as http:
        headers = {name: token(http, name) for name in ("rd1", "rd2", "mk1")}
    workers = [
        threading.Thread(target=reader, args=(url, name, headers[name], acked, stop))
        for name in ("rd1", "rd2")
    ]
    masking = (url, headers["mk1"], prepared.masking_project, acked, stop)
    workers.append(threading.Thread(target=masking_reader, args=masking))
    for worker in workers:
        worker.start()
    try:
        assert wait_for(lambda: len(acked.drafts) >= 3 and len(acked.answers) >= 3, 30)
        caught = export_draft_seen(url, settings, prepared)
    finally:
        kill_9(process)
        stop.set()
        for worker in workers:
            worker.join()
    assert caught, "no export was caught mid-way"
    assert count(settings, ExportJob, ExportJob.status == "running") >= 1

    swept = subprocess.run(
        [MAMMOREAD, "sweep"],
        env=environment(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "interrupted export jobs failed" in swept.stdout
    app = create_app(settings)
    with app.state.session_factory() as db:
        assert_nothing_left(db, settings.data_dir)
        failed = db.scalars(select(ExportJob).where(ExportJob.status == "failed")).all()
        assert failed
        assert all("server stopped" in job.error for job in failed)
        for task_id, (version, label) in acked.drafts.items():
            task = db.get(ReadTask, task_id)
            assert task.version >= version
            if task.version == version:
                assert task.draft == label
        for task_id in acked.submitted:
            assert db.get(ReadTask, task_id).status == "submitted"
        kept = set(db.scalars(select(MaskingComparison.uid)))
        assert acked.answers <= kept
    app.state.engine.dispose()

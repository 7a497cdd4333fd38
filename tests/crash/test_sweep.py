"""The sweep (at start-up and `mammoread sweep`): every kind of leftover a crash can leave is
found and removed, and nothing that is referenced or still being written is touched."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from app.cli import main
from app.core import leases
from app.core.database import utcnow
from app.export.models import ExportJob
from app.imaging.models import Image, ImportBatch
from app.imaging.storage import dicom_key, level_key
from tests.helpers import bearer
from tests.imaging.helpers import exam_files, upload

HOST = socket.gethostname()
STUDY, IMAGE = "a" * 32, "b" * 32


def dead_owner() -> str:
    process = subprocess.Popen(["true"])
    process.wait()
    return f"{HOST}:{process.pid}:dead"


def sweep(settings, *args: str):
    environment = {
        "MAMMOREAD_DATA_DIR": str(settings.data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
    }
    result = CliRunner().invoke(main, ["sweep", *args], env=environment, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def orphan(store, study: str = STUDY, image: str = IMAGE) -> list[str]:
    """An image's files written, its row never committed (a crash between the two)."""
    keys = [dicom_key(study, image), level_key(study, image, 0), level_key(study, image, 1)]
    for key in keys:
        store.put(key, b"written before the crash")
    return keys


def job(db, status: str, owner: str | None, **values) -> ExportJob:
    row = ExportJob(
        project_kind="reading",
        project_id=1,
        format="vindr",
        status=status,
        owner=owner,
        heartbeat_at=utcnow(),
        **values,
    )
    db.add(row)
    db.commit()
    return row


def put(path: Path, data: bytes = b"zip") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def imported(client, admin, db) -> set[str]:
    """A real import; returns the stored files, which every sweep must leave alone."""
    response = upload(client, exam_files(5), bearer(client, "admin"))
    assert response.json()["imported"] == 4
    return files_under(client.app.state.settings.data_dir) - {"secret_key", "pseudonym_key"}


def test_every_leftover_is_found_and_removed(client, db, settings, imported) -> None:
    data = settings.data_dir
    store = client.app.state.imaging.store
    image = db.scalars(select(Image)).first()
    left = orphan(store)
    put(data / "pyramid" / STUDY / IMAGE / ".2.npy.00112233.part")  # killed mid-level
    put(data / "images" / image.study.study_id / f".{image.image_id}.dcm.1a2b3c4d.part")
    put(data / "pyramid" / image.study.study_id / image.image_id / ".0.npy.5e6f7a8b.part")
    batch = ImportBatch(channel="cli", owner=dead_owner(), heartbeat_at=utcnow())
    db.add(batch)
    db.commit()
    crashed = job(db, "running", dead_owner(), file_name="p-vindr.zip")
    put(data / "exports" / str(crashed.id) / ".p-vindr.zip.part")
    failed = job(db, "failed", None)
    put(data / "exports" / str(failed.id) / "p-vindr.zip")
    done = job(db, "done", None)
    done.file_key = f"exports/{done.id}/p-vindr.zip"
    db.commit()
    put(data / "exports" / str(done.id) / "p-vindr.zip")
    put(data / "exports" / str(done.id) / ".p-vindr.zip.part")
    put(data / "exports" / "999" / "p-vindr.zip")  # a job that is not in the database
    keeper = leases.Keeper(client.app.state.session_factory)
    live = job(db, "running", keeper.owner, file_name="live.zip")
    put(data / "exports" / str(live.id) / ".live.zip.part")
    put(data / f".secret_key.{dead_owner().split(':')[1]}.0a0b0c0d", b"half a key")
    before = files_under(data)

    listed = sweep(settings, "--dry-run")
    assert files_under(data) == before
    assert f"export job {crashed.id}: would fail" in listed
    assert f"import batch {batch.id}: would finish" in listed
    assert f"would remove exports/{failed.id}" in listed

    output = sweep(settings)
    assert f"export job {crashed.id}: did fail" in output
    assert f"import batch {batch.id}: did finish" in output
    assert files_under(data) - {"secret_key", "pseudonym_key"} == imported | {
        f"exports/{done.id}/p-vindr.zip",
        f"exports/{live.id}/.live.zip.part",
    }
    assert not (data / "images" / STUDY).exists()
    assert not (data / "pyramid" / STUDY).exists()
    assert left  # gone with their folders
    db.expire_all()
    assert db.get(ExportJob, crashed.id).status == "failed"
    assert db.get(ExportJob, live.id).status == "running"
    finished = db.get(ImportBatch, batch.id)
    assert finished.finished_at is not None
    assert finished.outcomes[-1]["status"] == "interrupted"
    assert "0 interrupted export jobs" in sweep(settings)  # nothing more to do
    keeper.stop()


def test_an_import_in_flight_keeps_its_fresh_files(client, db, settings, imported) -> None:
    data = settings.data_dir
    store = client.app.state.imaging.store
    keeper = leases.Keeper(client.app.state.session_factory)
    batch = ImportBatch(channel="api", owner=keeper.owner, heartbeat_at=utcnow())
    db.add(batch)
    db.commit()
    fresh = orphan(store)  # being imported right now: its row is about to commit
    old = orphan(store, "c" * 32, "d" * 32)  # left by a crash long ago
    draft = data / "images" / STUDY / f".{IMAGE}.dcm.99aabbcc.part"
    put(draft)
    hours_ago = time.time() - 7200
    for path in [data / key for key in old] + [data / "pyramid" / ("c" * 32) / ("d" * 32)]:
        os.utime(path, (hours_ago, hours_ago))

    sweep(settings)
    remaining = files_under(data)
    assert {*fresh, str(draft.relative_to(data))} <= remaining
    assert not set(old) & remaining
    assert imported <= remaining
    db.expire_all()
    assert db.get(ImportBatch, batch.id).finished_at is None
    keeper.stop()

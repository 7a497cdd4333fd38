"""Queued imports run by real `mammoread worker` processes (PostgreSQL): two workers import
one upload together, each file once; a worker killed mid-file loses nothing (another imports
the file again, and the batch still ends with every outcome)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import create_engine, func, select, text

from app.imaging.models import Image, ImportFile
from app.imaging.states import ImportFileStatus
from tests.helpers import bearer
from tests.imaging.helpers import exam_files
from tests.imaging.test_queued_import import finished, queue, staged
from tests.workers import needs_postgres, stop, wait_until


@pytest.fixture
def settings(settings):
    return needs_postgres(settings)


def test_two_workers_import_one_upload_each_file_once(client, admin, workers, db, settings) -> None:
    headers = bearer(client, "admin")
    files = exam_files(seed=81) + exam_files(seed=82)
    batch_id = queue(client, files, headers).json()["batch_id"]
    time.sleep(0.3)
    assert client.get(f"/api/v1/imports/{batch_id}", headers=headers).json()["done"] == 0
    running = [workers.start(), workers.start()]
    progress = finished(client, headers, batch_id)
    assert progress["finished"], progress
    assert progress["imported"] == 8
    assert db.scalar(select(func.count(Image.id))) == 8
    attempts = db.scalars(select(ImportFile.attempts).where(ImportFile.batch_id == batch_id))
    assert set(attempts) == {1}
    assert staged(settings) == []
    for worker in running:
        stop(worker)


def test_a_worker_killed_mid_file_loses_nothing(client, admin, workers, db, settings) -> None:
    headers = bearer(client, "admin")
    batch_id = queue(client, exam_files(seed=83), headers).json()["batch_id"]
    engine = create_engine(settings.resolved_database_url)
    locker = engine.connect()
    held = locker.begin()
    # a file's import waits on this once it is decoded and about to store its study
    locker.execute(text("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE"))
    try:
        first = workers.start()

        def running_file() -> bool:
            db.expire_all()
            return bool(
                db.scalar(
                    select(func.count(ImportFile.id)).where(
                        ImportFile.batch_id == batch_id,
                        ImportFile.status == ImportFileStatus.RUNNING,
                    )
                )
            )

        assert wait_until(running_file, 30)
        first.kill()
        first.wait()
    finally:
        held.rollback()
        locker.close()
        engine.dispose()
    second = workers.start()
    progress = finished(client, headers, batch_id)
    assert progress["finished"], progress
    assert [o["status"] for o in progress["outcomes"]] == ["imported"] * 4
    db.expire_all()
    assert db.scalar(select(func.count(Image.id))) == 4
    assert max(db.scalars(select(ImportFile.attempts).where(ImportFile.batch_id == batch_id))) == 2
    assert staged(settings) == []
    stop(second)

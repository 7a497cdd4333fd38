"""Queued imports (POST /api/v1/imports): the upload returns at once with a batch to follow,
the job queue's workers import the staged files (threads in the server on SQLite,
procrastinate on PostgreSQL), outcomes come in the order the files were sent, and the staged
copies (which still carry PHI) are gone once imported."""

from __future__ import annotations

import threading
import time

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from app.audit.service import Actor
from app.auth.models import Role
from app.core.database import begin_write
from app.imaging.importing.queued import (
    STAGING,
    ImportRunner,
    finish_if_complete,
    queue_import,
    staging_key,
)
from app.imaging.importing.sources import Source
from app.imaging.kit import ImagingKit, store_from_settings
from app.imaging.models import Image, ImportBatch, ImportFile
from app.imaging.states import ImportChannel, ImportFileStatus
from app.jobs.queue import Running
from tests.helpers import assert_error, bearer
from tests.imaging.helpers import exam_files, zipped


def queue(client, files: list[tuple[str, bytes]], headers: dict[str, str]):
    return client.post(
        "/api/v1/imports",
        files=[("files", (name, data, "application/octet-stream")) for name, data in files],
        headers=headers,
    )


def finished(client, headers, batch_id: int, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        progress = client.get(f"/api/v1/imports/{batch_id}", headers=headers).json()
        if progress["finished"] or time.monotonic() > deadline:
            return progress
        time.sleep(0.05)


def staged(settings) -> list[str]:
    return [key for key, _ in store_from_settings(settings).listing(f"{STAGING}/")]


def test_an_upload_is_queued_and_imported_in_the_background(client, admin, settings, db) -> None:
    headers = bearer(client, "admin")
    first, second = exam_files(seed=71), exam_files(seed=72)
    files = [
        *first,
        ("exam-72.zip", zipped(dict(second))),  # its four members, in their order
        ("notes.txt", b"not a DICOM file"),
    ]
    reply = queue(client, files, headers)
    assert reply.status_code == 202, reply.text
    batch_id = reply.json()["batch_id"]
    assert reply.json()["files"] == 9
    progress = finished(client, headers, batch_id)
    assert progress["finished"], progress
    assert (progress["imported"], progress["already_present"], progress["rejected"]) == (8, 0, 1)
    assert [o["position"] for o in progress["outcomes"]] == list(range(9))
    assert [o["status"] for o in progress["outcomes"]] == ["imported"] * 8 + ["rejected"]
    assert progress["outcomes"][8]["reason"]
    studies = {o["study_id"] for o in progress["outcomes"][:8]}
    assert len(studies) == 2
    assert db.scalar(select(func.count(Image.id))) == 8
    assert staged(settings) == []  # no staged copy (PHI) outlives its import
    db.expire_all()
    batch = db.get(ImportBatch, batch_id)
    assert batch.finished_at is not None
    assert batch.channel == ImportChannel.API
    assert db.scalar(select(func.count(ImportFile.id)).where(ImportFile.batch_id == batch_id))

    # the same files again: nothing changes, every file says so
    again = finished(client, headers, queue(client, first, headers).json()["batch_id"])
    assert [o["status"] for o in again["outcomes"]] == ["already_present"] * 4
    assert db.scalar(select(func.count(Image.id))) == 8

    # a finished import of either kind reads the same way
    assert client.get(f"/api/v1/imports/{batch_id}", headers=headers).json() == progress
    # the counts alone, to follow a large upload cheaply
    counts = client.get(f"/api/v1/imports/{batch_id}?outcomes=false", headers=headers).json()
    assert counts == {**progress, "outcomes": []}


def test_an_upload_in_several_requests_is_one_import(client, admin, accounts) -> None:
    headers = bearer(client, "admin")
    first = queue(client, exam_files(seed=75)[:2], headers).json()
    files = [("files", (n, d, "application/dicom")) for n, d in exam_files(seed=75)[2:]]
    second = client.post(
        "/api/v1/imports", files=files, data={"batch": str(first["batch_id"])}, headers=headers
    )
    assert second.status_code == 202, second.text
    assert second.json()["batch_id"] == first["batch_id"]
    assert second.json()["files"] == 4
    progress = finished(client, headers, first["batch_id"])
    assert progress["finished"], progress
    assert [o["position"] for o in progress["outcomes"]] == [0, 1, 2, 3]
    assert progress["imported"] == 4
    # another admin's batch, or an import run in its request, cannot be continued
    accounts.add("admin2", role=Role.ADMIN)
    other = client.post(
        "/api/v1/imports",
        files=files[:1],
        data={"batch": str(first["batch_id"])},
        headers=bearer(client, "admin2"),
    )
    assert_error(other, 422)
    in_request = client.post("/api/v1/images", files=files[:1], headers=headers).json()
    refused = client.post(
        "/api/v1/imports",
        files=files[:1],
        data={"batch": str(in_request["batch_id"])},
        headers=headers,
    )
    assert_error(refused, 422)
    assert "not queued" in refused.json()["error"]["message"]


def test_queued_imports_refuse_what_they_must(client, admin, accounts) -> None:
    headers = bearer(client, "admin")
    assert_error(client.post("/api/v1/imports", headers=headers), 422)
    housekeeping = queue(client, [(".DS_Store", b"x")], headers)
    assert_error(housekeeping, 422)
    assert "No DICOM file" in housekeeping.json()["error"]["message"]
    assert_error(client.get("/api/v1/imports/999999", headers=headers), 404)
    accounts.add("rd1")
    reader = bearer(client, "rd1")
    assert_error(queue(client, exam_files(seed=73)[:1], reader), 403)
    assert_error(queue(client, exam_files(seed=73)[:1], {}), 401)


def test_a_server_starting_runs_the_files_left_queued(settings, db, admin) -> None:
    """The process that queued them stopped before its jobs ran (SQLite: they lived in it;
    PostgreSQL: it stopped before submitting them): the next one to start imports them."""
    from fastapi.testclient import TestClient

    from app.main import create_app

    batch = ImportBatch(channel=ImportChannel.API, actor_name="admin", staged=2)
    db.add(batch)
    db.flush()
    store = store_from_settings(settings)
    files = exam_files(seed=74)[:2]
    for position, (_, data) in enumerate(files):
        store.put(staging_key(batch.id, f"left-{position}"), data)
        db.add(
            ImportFile(
                batch_id=batch.id,
                position=position,
                object_key=staging_key(batch.id, f"left-{position}"),
                status=ImportFileStatus.RUNNING if position else ImportFileStatus.QUEUED,
                attempts=1 if position else 0,
            )
        )
    db.commit()
    with TestClient(create_app(settings)) as client:
        progress = finished(client, bearer(client, "admin"), batch.id)
    assert progress["finished"], progress
    assert [o["status"] for o in progress["outcomes"]] == ["imported", "imported"]
    assert staged(settings) == []


class Inline:
    """A queue that runs each job, in a session of its own, before ``submit`` returns: the
    workers finish every file before the request takes its last look at its batch."""

    durable = False

    def __init__(self, runner: ImportRunner) -> None:
        self.runner = runner

    def submit(self, kind: str, row_id: int) -> None:
        self.runner(Running(kind, row_id, "inline"))

    def waiting(self, kind: str) -> None:
        return None

    def start(self) -> None: ...

    def stop(self) -> None: ...


def test_files_done_before_the_request_looks_again_end_the_batch(settings, db, admin) -> None:
    """The request's own file rows, kept in its session (``expire_on_commit=False``), still
    say they are queued; the batch is ended from what the workers wrote (a schema fuzz once
    got a 500 here: an outcome with no status)."""
    kit = ImagingKit.from_settings(settings, db.get_bind())
    runner = ImportRunner(sessionmaker(bind=db.get_bind(), expire_on_commit=False), kit)
    files = [*exam_files(seed=76)[:2], ("notes.txt", b"not a DICOM file")]
    sources = [Source(name, lambda d=data: d) for name, data in files]
    batch = queue_import(
        db, kit, Inline(runner), sources, actor=Actor(admin, None), channel=ImportChannel.API
    )
    assert batch.finished_at is not None
    assert [o["status"] for o in batch.outcomes] == ["imported", "imported", "rejected"]
    assert (batch.imported, batch.already_present, batch.rejected) == (2, 0, 1)


def test_a_batch_does_not_end_while_a_request_adds_files_to_it(settings, db, admin) -> None:
    """A worker ending the batch waits for a request adding files to it (the upload's next
    part), then sees them: the batch ends once, with every file (a CI run on PostgreSQL once
    ended it with the first part's outcomes alone)."""
    batch = ImportBatch(channel=ImportChannel.API, actor_name="admin", staged=1)
    db.add(batch)
    db.flush()
    imported = {"status": "imported", "reason": "", "study_id": None, "image_id": None}
    db.add(
        ImportFile(batch_id=batch.id, position=0, status=ImportFileStatus.DONE, outcome=imported)
    )
    db.commit()
    factory = sessionmaker(bind=db.get_bind(), expire_on_commit=False)
    ended: list[bool] = []

    def worker() -> None:
        with factory() as session:
            ended.append(finish_if_complete(session, batch.id))

    with factory() as adding:  # what queue_import does when it adds a part
        begin_write(adding)
        adding.get(ImportBatch, batch.id, with_for_update=True)
        adding.add(ImportFile(batch_id=batch.id, position=1, status=ImportFileStatus.QUEUED))
        adding.flush()
        thread = threading.Thread(target=worker)
        thread.start()
        time.sleep(0.5)  # the worker counts the files now, or waits for this request
        adding.commit()
    thread.join(30)
    assert ended == [False]
    db.expire_all()
    assert db.get(ImportBatch, batch.id).finished_at is None

"""Images kept in an S3-compatible bucket: SeaweedFS started by the tests (no mock of S3).

The store itself (keys, ranges, listing), an import and its renders and exports through the
application, and the faults: a store that is down or hangs answers 503 in the common shape and
writes nothing; a store failing in the middle of an image leaves no row and, once swept, no
object."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core.config import Settings
from app.imaging.importer import import_sources
from app.imaging.importing.sources import Source
from app.imaging.kit import store_from_settings
from app.imaging.models import Image, ImportBatch, Study
from app.imaging.object_store import S3Config, S3Store
from app.imaging.states import ImportChannel, OutcomeStatus
from app.imaging.storage import StorageUnavailable
from app.imaging.sweep import sweep_objects
from app.main import create_app
from tests.helpers import PASSWORD, assert_error, bearer, free_port, test_settings
from tests.imaging.helpers import exam_files, upload
from tests.objectstore.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedFS, s3_settings


def s3_store(server: SeaweedFS, prefix: str) -> S3Store:
    return S3Store(
        S3Config(
            bucket=BUCKET,
            endpoint=server.endpoint,
            prefix=prefix,
            access_key_id=ACCESS_KEY,
            secret_access_key=SECRET_KEY,
            retries=1,
            timeout_seconds=5,
        )
    )


def in_bucket(tmp_path: Path, database_url: str, server: SeaweedFS, prefix: str) -> Settings:
    return test_settings(tmp_path / "var", database_url, **s3_settings(server, prefix))


@contextlib.contextmanager
def running(settings: Settings) -> Iterator[tuple[TestClient, object]]:
    app = create_app(settings)
    try:
        with TestClient(app) as client:
            yield client, app
    finally:
        app.state.engine.dispose()


def admin_headers(client: TestClient, app) -> dict[str, str]:
    with app.state.session_factory() as db:
        new = NewUser("admin", "Ada Admin", Role.ADMIN, PASSWORD)
        create_user(db, app.state.auth_kit, Actor(None, None, "test"), new)
    return bearer(client, "admin")


def counts(app) -> tuple[int, int]:
    with app.state.session_factory() as db:
        return db.scalar(select(func.count(Study.id))), db.scalar(select(func.count(Image.id)))


# --- the store itself ---------------------------------------------------------------------------


def test_the_store_round_trips_reads_ranges_and_keeps_to_its_prefix(
    seaweedfs_server: SeaweedFS,
) -> None:
    store = s3_store(seaweedfs_server, "t-roundtrip/")
    other = s3_store(seaweedfs_server, "t-roundtrip-other/")
    key = "images/study/image.dcm"
    store.put(key, b"0123456789" * 1000)
    assert store.get(key) == b"0123456789" * 1000
    assert store.get_range(key, 5, 7) == b"5678901"
    assert store.exists(key)
    assert not other.exists(key)
    assert store.local_path(key) is None
    store.put("pyramid/study/image/0.npy", b"level")
    assert [k for k, _ in store.listing("images/")] == [key]
    assert sorted(k for k, _ in store.listing("pyramid")) == ["pyramid/study/image/0.npy"]
    assert seaweedfs_server.keys("t-roundtrip/") == [
        "t-roundtrip/images/study/image.dcm",
        "t-roundtrip/pyramid/study/image/0.npy",
    ]
    with pytest.raises(FileNotFoundError):
        other.get(key)
    store.delete(key)
    store.delete(key)  # deleting what is gone is no error
    assert not store.exists(key)
    for bad in ("../escape", "/etc/passwd", "images/../../x", "images//x", ""):
        with pytest.raises(ValueError, match="escapes"):
            store.put(bad, b"x")


def test_settings_name_what_is_missing_and_never_show_the_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="MAMMOREAD_S3_BUCKET"):
        Settings(data_dir=tmp_path, storage="s3")
    with pytest.raises(ValidationError, match="s3_prefix"):
        Settings(data_dir=tmp_path, storage="s3", s3_bucket="b", s3_prefix="a/../b")
    settings = Settings(
        data_dir=tmp_path,
        storage="s3",
        s3_bucket="b",
        s3_prefix="mammoread",
        s3_access_key_id="key",
        s3_secret_access_key="do-not-show-me",
    )
    assert settings.s3_prefix == "mammoread/"
    store = store_from_settings(settings)
    assert isinstance(store, S3Store)
    assert "do-not-show-me" not in repr(settings) + repr(store.config) + str(store.config)
    half = Settings(data_dir=tmp_path, storage="s3", s3_bucket="b", s3_secret_access_key="s")
    with pytest.raises(ValueError, match=r"object store settings are incomplete.*AccessKeyId"):
        store_from_settings(half)


# --- through the application --------------------------------------------------------------------


def test_an_import_keeps_its_images_in_the_bucket_and_serves_them(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS
) -> None:
    prefix = "t-app-import/"
    settings = in_bucket(tmp_path, database_url, seaweedfs_server, prefix)
    with running(settings) as (client, app):
        headers = admin_headers(client, app)
        response = upload(client, exam_files(seed=31), headers)
        assert response.status_code == 200, response.text
        outcomes = response.json()["outcomes"]
        assert [o["status"] for o in outcomes] == ["imported"] * 4
        with app.state.session_factory() as db:
            images = db.scalars(select(Image)).all()
            widths = {image.image_id: len(image.pyramid_widths) for image in images}
            assert all(image.pyramid_format == "zarr" for image in images)
            study_id = images[0].study.study_id
        keys = seaweedfs_server.keys(prefix)
        assert sum(key.endswith(".dcm") for key in keys) == 4
        # each image's Zarr group: its zarr.json and, per level, the level's and one shard
        # (level 0 is the DICOM's own plain pixels: not stored twice)
        groups = [key for key in keys if key.endswith(".zarr/zarr.json")]
        assert len(groups) == 4
        shards = [key for key in keys if "/c/" in key]
        assert len(shards) == sum(widths.values()) - 4
        # nothing of the images on the node's own disk
        assert not (settings.data_dir / "images").exists()
        assert not (settings.data_dir / "pyramid").exists()

        image_id = next(iter(widths))
        render = client.get(f"/api/v1/images/{image_id}/render?width=256", headers=headers)
        assert render.status_code == 200, render.text
        assert render.headers["content-type"].startswith("image/")
        raw = client.get(f"/api/v1/images/{image_id}/raw?level=0", headers=headers)
        assert raw.status_code == 200

        # an export with images carries the stored files, fetched from the bucket
        store = app.state.imaging.store
        with app.state.session_factory() as db:
            image = db.scalar(select(Image).where(Image.image_id == image_id))
            stored = store.get(image.file_key)
        assert stored[128:132] == b"DICM"
        assert study_id in {key.split("/")[2] for key in keys if "/images/" in f"/{key}"}


def test_a_store_that_is_down_answers_503_and_changes_nothing(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS
) -> None:
    prefix = "t-down/"
    working = s3_settings(seaweedfs_server, prefix)
    settings = test_settings(tmp_path / "var", database_url, **working)
    with running(settings) as (client, app):
        headers = admin_headers(client, app)
        assert upload(client, exam_files(seed=32), headers).status_code == 200
        with app.state.session_factory() as db:
            image_id = db.scalars(select(Image.image_id)).first()
    before = seaweedfs_server.keys(prefix)

    # the same installation, its store unreachable (nothing listens on the port)
    down = {**working, "s3_endpoint": f"http://127.0.0.1:{free_port()}", "s3_retries": 2}
    settings = test_settings(tmp_path / "var", database_url, **down)
    with running(settings) as (client, app):
        headers = bearer(client, "admin")
        started = time.monotonic()
        render = client.get(f"/api/v1/images/{image_id}/render?width=256", headers=headers)
        error = assert_error(render, 503, "storage_unavailable")
        assert "image store did not answer" in error["message"]
        assert render.headers["retry-after"] == "5"
        assert time.monotonic() - started < 10

        refused = upload(client, exam_files(seed=33), headers)
        assert_error(refused, 503, "storage_unavailable")
        assert counts(app) == (1, 4)  # the first exam only: no row of the refused one
        with app.state.session_factory() as db:
            batch = db.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
            assert batch.finished_at is not None
            assert batch.imported == 0
            assert batch.outcomes[-1]["status"] == OutcomeStatus.INTERRUPTED
        # a page still answers: the study list does not touch the store
        assert client.get("/api/v1/studies", headers=headers).status_code == 200
    assert seaweedfs_server.keys(prefix) == before


@contextlib.contextmanager
def hanging_server() -> Iterator[int]:
    """A peer that accepts connections and never answers (a store that is stuck)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        listener.close()


def test_a_store_that_hangs_times_out_into_a_503(tmp_path: Path, database_url: str) -> None:
    with hanging_server() as port:
        slow = {
            "storage": "s3",
            "s3_endpoint": f"http://127.0.0.1:{port}",
            "s3_bucket": BUCKET,
            "s3_access_key_id": ACCESS_KEY,
            "s3_secret_access_key": SECRET_KEY,
            "s3_retries": 1,
            "s3_timeout_seconds": 1.0,
        }
        settings = test_settings(tmp_path / "var", database_url, **slow)
        with running(settings) as (client, app):
            headers = admin_headers(client, app)
            started = time.monotonic()
            refused = upload(client, exam_files(seed=34), headers)
            assert_error(refused, 503, "storage_unavailable")
            assert time.monotonic() - started < 15
            assert counts(app) == (0, 0)


class FailingAfter:
    """The real store, refusing after ``puts`` writes (and, when told, every delete): a store
    that goes down in the middle of an image."""

    def __init__(self, store: S3Store, puts: int, deletes_fail: bool = False) -> None:
        self.store, self.puts, self.deletes_fail = store, puts, deletes_fail

    def put(self, key: str, data: bytes) -> None:
        if self.puts <= 0:
            raise StorageUnavailable("put")
        self.puts -= 1
        self.store.put(key, data)

    def delete(self, key: str) -> None:
        if self.deletes_fail:
            raise StorageUnavailable("delete")
        self.store.delete(key)

    def __getattr__(self, name: str):
        return getattr(self.store, name)


@pytest.mark.parametrize("deletes_fail", [False, True], ids=["cleaned-at-once", "swept-later"])
def test_a_store_failing_mid_image_leaves_no_row_and_no_object(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS, deletes_fail: bool
) -> None:
    prefix = f"t-midway-{deletes_fail}/"
    settings = in_bucket(tmp_path, database_url, seaweedfs_server, prefix)
    with running(settings) as (_, app):
        kit = app.state.imaging
        failing = dataclasses.replace(kit, store=FailingAfter(kit.store, 1, deletes_fail))
        files = exam_files(seed=35)
        sources = [Source(name, lambda d=data: d) for name, data in files]
        with app.state.session_factory() as db, pytest.raises(StorageUnavailable):
            import_sources(
                db, failing, sources, actor=Actor(None, None, "t"), channel=ImportChannel.CLI
            )
        assert counts(app) == (0, 0)
        left = seaweedfs_server.keys(prefix)
        if not deletes_fail:
            assert left == []
            return
        assert [key.rsplit(".", 1)[1] for key in left] == ["dcm"]  # its DICOM, named by no row
        with app.state.session_factory() as db:
            removed = sweep_objects(db, kit.store)
        assert sorted(prefix + key for key in removed) == left
        assert seaweedfs_server.keys(prefix) == []


def test_the_sweep_removes_only_objects_no_image_row_names(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS
) -> None:
    prefix = "t-sweep/"
    settings = in_bucket(tmp_path, database_url, seaweedfs_server, prefix)
    with running(settings) as (client, app):
        headers = admin_headers(client, app)
        assert upload(client, exam_files(seed=36), headers).status_code == 200
        kept = seaweedfs_server.keys(prefix)
        store = app.state.imaging.store
        orphans = ["images/s0/orphan.dcm", "pyramid/s0/orphan/0.npy", "pyramid/s0/orphan/1.npy"]
        for key in orphans:
            store.put(key, b"left by a crash")
        with app.state.session_factory() as db:
            assert sweep_objects(db, store, dry_run=True) == orphans
            assert sweep_objects(db, store) == orphans
        assert seaweedfs_server.keys(prefix) == kept
        # the images still render after the sweep
        with app.state.session_factory() as db:
            image_id = db.scalars(select(Image.image_id)).first()
        render = client.get(f"/api/v1/images/{image_id}/render?width=128", headers=headers)
        assert render.status_code == 200


def test_an_export_with_images_takes_them_from_the_bucket(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS
) -> None:
    from app.export.targets import ZipTarget, copy_stored

    store = s3_store(seaweedfs_server, "t-export/")
    store.put("images/s/i.dcm", b"DICOM bytes")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        copy_stored(ZipTarget(archive, tmp_path), "images/s/i.dicom", store, "images/s/i.dcm")
    assert zipfile.ZipFile(buffer).read("images/s/i.dicom") == b"DICOM bytes"


def test_an_export_archive_lives_in_the_bucket_and_is_downloaded_from_it(
    tmp_path: Path, database_url: str, seaweedfs_server: SeaweedFS
) -> None:
    """Built by whichever worker, the archive is put in the bucket (in parts: it may be
    large) and its local copy removed, so any node serves the download; an archive no done
    job names is swept."""
    from app.export.jobs import sweep_objects as sweep_exports
    from tests.helpers import finished_export

    prefix = "t-export-archive/"
    settings = in_bucket(tmp_path, database_url, seaweedfs_server, prefix)
    with running(settings) as (client, app):
        headers = admin_headers(client, app)
        project = client.post(
            "/api/v1/reading/projects", json={"name": "Bucket"}, headers=headers
        ).json()
        job = finished_export(client, headers, project_id=project["id"], format="json")
        key = f"exports/{job['id']}/bucket-json.zip"
        assert key in [k[len(prefix) :] for k in seaweedfs_server.keys(prefix)]
        assert not (settings.data_dir / "exports" / str(job["id"])).exists()
        download = client.get(job["download"], headers=headers)
        assert download.status_code == 200
        assert download.headers["content-length"] == str(job["size"])
        assert 'filename="bucket-json.zip"' in download.headers["content-disposition"]
        assert zipfile.ZipFile(io.BytesIO(download.content)).namelist()

        store = app.state.imaging.store
        store.put("exports/999/left.zip", b"left by a worker that stopped")
        assert sweep_exports(app.state.session_factory, store) == ["exports/999/left.zip"]
        assert store.exists(key)
        store.delete(key)  # gone from the bucket: the download says so
        assert_error(client.get(job["download"], headers=headers), 404)

"""Retrieve throughput from a PACS (DICOMweb) through MammoRead, against Orthanc's own export.

    python -m bench.pacs_retrieve [--quick] [--exams N]

A real Orthanc (Debian's, with its DICOMweb plugin; the tests' launcher) is loaded with N
synthetic four-view exams of 4096x3328 12-bit uncompressed images (about 27 MB each).
retrieve:  POST /api/v1/pacs/retrievals of every study, until the job is done: QIDO-RS
           listing, WADO-RS fetch of each instance, then the one import path (pseudonymise,
           QC, pyramid, store); SQLite, in-process server, the job's background thread
again:     the same retrieval a second time (each image fetched, recognised, nothing stored)
baseline:  Orthanc's own export of the same instances to disk (GET /instances/{id}/file, each
           written to a temporary folder), and the import alone of the same files from disk
           (``import_sources`` with local sources), so the cost of the exchange shows.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import requests
from fastapi.testclient import TestClient

from app.audit.service import Actor
from app.auth.models import Role
from app.auth.users import NewUser, create_user
from app.core import migrations
from app.core.config import Settings
from app.imaging.importer import Source
from app.imaging.synthetic import ExamOptions, synthetic_exam
from app.main import create_app
from bench.common import run_import, scratch
from tests.imaging.helpers import dataset_bytes
from tests.pacs.orthanc import Orthanc, available

PASSWORD = "correct horse battery staple"


def load(orthanc: Orthanc, exams: int) -> list[str]:
    """Synthetic exams stored in Orthanc (generated one at a time); their Orthanc ids."""
    ids = []
    for seed in range(exams):
        datasets, _ = synthetic_exam(
            seed,
            ExamOptions(
                patient_id=f"BENCH-{seed // 2:03d}",
                study_date=f"20{20 + seed % 5}0{1 + seed % 9}15",
                accession_number=f"B{seed:05d}",
            ),
        )
        ids += orthanc.upload(dataset_bytes(ds) for ds in datasets)
    return ids


def orthanc_export(orthanc: Orthanc, ids: list[str], folder: Path) -> float:
    """Seconds for Orthanc to hand each instance over, written to disk."""
    session = requests.Session()
    session.auth = orthanc.auth
    start = time.perf_counter()
    for number, orthanc_id in enumerate(ids):
        answer = session.get(f"{orthanc.url}/instances/{orthanc_id}/file", timeout=120)
        answer.raise_for_status()
        (folder / f"{number}.dcm").write_bytes(answer.content)
    seconds = time.perf_counter() - start
    session.close()
    return seconds


def import_alone(folder: Path, directory: Path) -> float:
    settings, kit = scratch(directory)
    paths = sorted(folder.glob("*.dcm"))
    start = time.perf_counter()
    report = run_import(settings, kit, [Source(p.name, p.read_bytes) for p in paths])
    seconds = time.perf_counter() - start
    assert report.count("imported") == len(paths), report.summary()
    return seconds


def through_mammoread(orthanc: Orthanc, directory: Path) -> tuple[dict, float, dict, float]:
    """(job, seconds) of a first and a second retrieval of every study, through the API."""
    settings = Settings(
        data_dir=directory, secret_key="bench", argon2_time_cost=1, argon2_memory_kib=1024
    )
    migrations.upgrade(settings)
    app = create_app(settings)
    with app.state.session_factory() as db:
        create_user(
            db,
            app.state.auth_kit,
            Actor(None, None, "bench"),
            NewUser("bench", "Bench", Role.ADMIN, PASSWORD),
        )
    with TestClient(app) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "bench", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        source = client.post(
            "/api/v1/pacs/sources",
            json={
                "name": "Orthanc",
                "base_url": orthanc.dicomweb_url,
                "auth_kind": "basic",
                "username": orthanc.auth[0],
                "secret": orthanc.auth[1],
            },
            headers=headers,
        ).json()
        found = client.post(
            "/api/v1/pacs/search", json={"source_id": source["id"]}, headers=headers
        ).json()
        uids = [study["study_uid"] for study in found["studies"]]
        first, first_seconds = _retrieve(client, headers, source["id"], uids)
        again, again_seconds = _retrieve(client, headers, source["id"], uids)
    app.state.engine.dispose()
    return first, first_seconds, again, again_seconds


def _retrieve(
    client: TestClient, headers: dict[str, str], source_id: int, uids: list[str]
) -> tuple[dict, float]:
    start = time.perf_counter()
    job = client.post(
        "/api/v1/pacs/retrievals",
        json={"source_id": source_id, "study_uids": uids},
        headers=headers,
    ).json()
    while job["status"] in ("queued", "running"):
        time.sleep(0.05)
        job = client.get(f"/api/v1/pacs/retrievals/{job['id']}", headers=headers).json()
    return job, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--exams", type=int, default=None, help="four-view exams (default 4)")
    args = parser.parse_args()
    reason = available()
    if reason:
        raise SystemExit(f"bench.pacs_retrieve needs Orthanc: {reason}")
    exams = args.exams or (1 if args.quick else 4)
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        orthanc = Orthanc.start(root / "orthanc")
        try:
            ids = load(orthanc, exams)
            images = len(ids)
            (root / "export").mkdir()
            exported = orthanc_export(orthanc, ids, root / "export")
            imported = import_alone(root / "export", root / "import-alone")
            first, first_seconds, again, again_seconds = through_mammoread(
                orthanc, root / "mammoread"
            )
        finally:
            orthanc.stop()
    if (first["status"], first["imported"]) != ("done", images):
        raise SystemExit(f"the retrieval did not import every image: {first}")
    if (again["status"], again["already_present"]) != ("done", images):
        raise SystemExit(f"the second retrieval did not recognise every image: {again}")

    def line(name: str, seconds: float) -> str:
        return f"{name:<58} {images / seconds:6.2f} images/s ({seconds:6.1f} s)"

    print(f"{images} synthetic 4096x3328 12-bit uncompressed images in {exams} studies, Orthanc")
    print(line("baseline: Orthanc's export to disk (/instances/{id}/file)", exported))
    print(line("baseline: import alone, from those files on disk", imported))
    print(line("retrieve through MammoRead (QIDO + WADO-RS + import)", first_seconds))
    print(line("again (every image already present)", again_seconds))
    overhead = first_seconds - imported
    print(
        f"exchange cost over the import alone: {overhead:.1f} s "
        f"({overhead / images * 1000:.0f} ms per image; Orthanc's export alone "
        f"{exported / images * 1000:.0f} ms per image)"
    )


if __name__ == "__main__":
    main()

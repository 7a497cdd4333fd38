"""Import throughput with the job queue: the same upload imported by 1 and by 2
`mammoread worker` processes (PostgreSQL, procrastinate), next to the import run inside one
request (the way every upload ran before the queue), all measured in this run.

    python -m bench.import_workers [--quick] [--database-url URL]

4096x3328 12-bit synthetic images, uncompressed and JPEG 2000 lossless. The workers are
started and registered first; the clock runs from the moment the staged upload is queued to
the batch's end. Target (this 2-core machine): 2 workers at least 1.7x one, JPEG 2000 at 1
image per second or better.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

MAMMOREAD = str(Path(sys.executable).with_name("mammoread"))
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def queued_rate(directory: Path, database_url: str, workers: int) -> float:
    """Images per second of the upload in ``directory`` imported by ``workers`` workers."""
    from app.audit.service import Actor
    from app.core import migrations
    from app.core.database import make_engine, make_session_factory
    from app.imaging.importer import Source
    from app.imaging.importing import queued
    from app.imaging.kit import ImagingKit
    from app.imaging.models import ImportBatch
    from app.imaging.states import ImportChannel
    from app.workers import workers_for
    from bench.common import bench_settings

    with tempfile.TemporaryDirectory() as scratch:
        settings = bench_settings(scratch, database_url).model_copy(update={"job_threads": 0})
        migrations.upgrade(settings)
        engine = make_engine(database_url)
        factory = make_session_factory(engine)
        kit = ImagingKit.from_settings(settings, engine)
        jobs = workers_for(settings, factory, kit)
        environment = {
            **os.environ,
            "MAMMOREAD_DATA_DIR": str(settings.data_dir),
            "MAMMOREAD_DATABASE_URL": database_url,
            "MAMMOREAD_SECRET_KEY": "bench",
        }
        started = [
            subprocess.Popen(
                [MAMMOREAD, "worker"],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            probe = create_engine(database_url)
            with probe.connect() as connection:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    count = connection.execute(
                        text("SELECT count(*) FROM procrastinate_workers")
                    ).scalar()
                    connection.commit()
                    if count >= workers:
                        break
                    time.sleep(0.1)
            probe.dispose()
            paths = sorted(directory.glob("*.dcm"))
            sources = [Source(p.name, p.read_bytes) for p in paths]
            with factory() as db:
                # staged as a request stages them; the clock starts when the jobs are queued
                staging = queued.queue_import
                batch = staging(
                    db,
                    kit,
                    _Clocked(jobs.queue),
                    sources,
                    actor=Actor(None, None, "bench"),
                    channel=ImportChannel.CLI,
                )
                begin = _Clocked.first
                while True:
                    db.expire_all()
                    if db.get(ImportBatch, batch.id).finished_at is not None:
                        break
                    time.sleep(0.02)
                seconds = time.perf_counter() - begin
                imported = db.get(ImportBatch, batch.id).imported
        finally:
            for process in started:
                process.terminate()
            for process in started:
                process.wait(30)
            jobs.stop()
            engine.dispose()
    assert imported == len(paths), (imported, len(paths))
    return imported / seconds


class _Clocked:
    """The queue, noting when its first job was submitted."""

    first = 0.0

    def __init__(self, queue) -> None:
        self.queue = queue
        self.durable = queue.durable
        _Clocked.first = 0.0

    def submit(self, kind: str, row_id: int) -> None:
        if not _Clocked.first:
            _Clocked.first = time.perf_counter()
        self.queue.submit(kind, row_id)


def main() -> None:
    from bench.common import scratch_database

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database-url", default=ADMIN_URL)
    parser.add_argument("--rate", nargs=3, metavar=("DIR", "DATABASE_URL", "WORKERS"))
    args = parser.parse_args()
    if args.rate:
        print(json.dumps(queued_rate(Path(args.rate[0]), args.rate[1], int(args.rate[2]))))
        return
    exams = 2 if args.quick else 4
    print(f"import of {exams * 4} synthetic 4096x3328 12-bit images per encoding, 2 cores")
    print(f"{'':<13} {'in the request':>15} {'1 worker':>10} {'2 workers':>10} {'2 / 1':>7}")
    for encoding in ("uncompressed", "jpeg2000"):
        with tempfile.TemporaryDirectory() as directory:
            command = [sys.executable, "-m", "bench.importing"]
            subprocess.run([*command, "--generate", encoding, str(exams), directory], check=True)
            output = subprocess.run(
                [*command, "--child", directory], check=True, capture_output=True, text=True
            ).stdout
            baseline = json.loads(output.strip().splitlines()[-1])
            request_rate = baseline["images"] / baseline["seconds"]
            rates = []
            for workers in (1, 2):
                with scratch_database(args.database_url, "imports") as url:
                    rates.append(
                        json.loads(
                            subprocess.run(
                                [
                                    sys.executable,
                                    "-m",
                                    "bench.import_workers",
                                    "--rate",
                                    directory,
                                    url,
                                    str(workers),
                                ],
                                check=True,
                                capture_output=True,
                                text=True,
                            )
                            .stdout.strip()
                            .splitlines()[-1]
                        )
                    )
        print(
            f"{encoding:<13} {request_rate:>10.2f} im/s {rates[0]:>5.2f} im/s {rates[1]:>5.2f} "
            f"im/s {rates[1] / rates[0]:>6.2f}x"
        )
    print("targets: 2 workers >= 1.7x one; JPEG 2000 >= 1 image/s with 2 workers")


if __name__ == "__main__":
    main()

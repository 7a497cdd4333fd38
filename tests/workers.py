"""`mammoread worker` processes for the tests that need real job queue workers
(PostgreSQL): started with the test's database and store, killed at the end."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

MAMMOREAD = str(Path(sys.executable).with_name("mammoread"))
ROOT = Path(__file__).resolve().parents[1]
STALLED_AFTER = 4.0  # seconds: a killed worker is noticed soon


def needs_postgres(settings):
    """The server runs no jobs itself: only the worker processes do."""
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("worker processes need PostgreSQL (SQLite runs jobs in the server)")
    return settings.model_copy(
        update={"job_threads": 0, "job_stalled_after_seconds": STALLED_AFTER}
    )


def worker_environment(settings) -> dict[str, str]:
    environment = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(settings.data_dir),
        "MAMMOREAD_DATA_DIR": str(settings.data_dir),
        "MAMMOREAD_DATABASE_URL": settings.resolved_database_url,
        "MAMMOREAD_SECRET_KEY": settings.secret_key.get_secret_value(),
        "MAMMOREAD_JOB_STALLED_AFTER_SECONDS": str(STALLED_AFTER),
    }
    if settings.pseudonym_key is not None:
        environment["MAMMOREAD_PSEUDONYM_KEY"] = settings.pseudonym_key.get_secret_value()
    if settings.storage == "s3":  # the suite's S3 variant: the app's bucket for the worker too
        environment |= {
            "MAMMOREAD_STORAGE": "s3",
            "MAMMOREAD_S3_ENDPOINT": settings.s3_endpoint or "",
            "MAMMOREAD_S3_BUCKET": settings.s3_bucket or "",
            "MAMMOREAD_S3_PREFIX": settings.s3_prefix or "",
            "MAMMOREAD_S3_ACCESS_KEY_ID": settings.s3_access_key_id or "",
            "MAMMOREAD_S3_SECRET_ACCESS_KEY": settings.s3_secret_access_key.get_secret_value(),
        }
    return environment


class Workers:
    def __init__(self, settings) -> None:
        self.environment = worker_environment(settings)
        self.started: list[subprocess.Popen] = []

    def start(self, *arguments: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [MAMMOREAD, "worker", *arguments],
            env=self.environment,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.started.append(process)
        return process

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def stop(process: subprocess.Popen) -> str:
    """SIGTERM, as a deployment stops a worker: it finishes its job and exits 0."""
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    return output


@pytest.fixture
def workers(settings) -> Iterator[Workers]:
    started = Workers(settings)
    yield started
    started.close()

"""Exports on the job queue with real `mammoread worker` processes (PostgreSQL and
procrastinate): any worker runs any export, never two the same; a worker killed mid-export
loses no job (another runs it again); a cancellation reaches the worker that runs it."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import create_engine, text

from tests.export.exported_project import Project, archive
from tests.helpers import assert_error
from tests.workers import MAMMOREAD, ROOT, needs_postgres, stop, wait_until


@pytest.fixture
def settings(settings):
    return needs_postgres(settings)


@pytest.fixture
def start_worker(workers) -> Callable[[], subprocess.Popen]:
    return workers.start


def start_export(client, project: Project, format: str = "vindr") -> int:
    response = client.post(
        "/api/v1/exports",
        json={"project_id": project.id, "format": format},
        headers=project.admin,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def job(client, project: Project, job_id: int) -> dict:
    return client.get(f"/api/v1/exports/{job_id}", headers=project.admin).json()


def test_two_workers_run_every_export_once(client, project: Project, start_worker) -> None:
    ids = [start_export(client, project, fmt) for fmt in ("vindr", "json", "reads", "vindr")]
    time.sleep(0.5)
    assert {job(client, project, i)["status"] for i in ids} == {"queued"}  # the server runs none
    running = [start_worker(), start_worker()]
    assert wait_until(lambda: all(job(client, project, i)["status"] == "done" for i in ids), 60)
    for job_id in ids:
        done = job(client, project, job_id)
        assert done["attempts"] == 1, done
        assert archive(client, project.admin, done).namelist()
    for worker in running:
        assert "worker stopped" in stop(worker)


@pytest.fixture
def locked_projects(settings) -> Iterator[Callable[[], None]]:
    """Hold a project's study list locked (an export waits on it once it has started; the
    job's own pages never read it) until released."""
    engine = create_engine(settings.resolved_database_url)
    connection = engine.connect()
    transaction = connection.begin()
    connection.execute(text("LOCK TABLE project_studies IN ACCESS EXCLUSIVE MODE"))
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            transaction.rollback()
            released = True

    yield release
    release()
    connection.close()
    engine.dispose()


def test_a_worker_killed_mid_export_loses_no_job(
    client, project: Project, start_worker, request
) -> None:
    job_id = start_export(client, project)
    release = request.getfixturevalue("locked_projects")
    first = start_worker()
    assert wait_until(lambda: job(client, project, job_id)["status"] == "running", 30)
    first.kill()  # mid-export: it holds the job and waits on the lock
    first.wait()
    release()
    second = start_worker()
    assert wait_until(lambda: job(client, project, job_id)["status"] == "done", 60), job(
        client, project, job_id
    )
    done = job(client, project, job_id)
    assert done["attempts"] == 2  # the killed run, then the one that finished
    assert archive(client, project.admin, done).namelist()
    stop(second)


def test_a_cancellation_reaches_the_worker_running_the_export(
    client, project: Project, start_worker, request, settings
) -> None:
    job_id = start_export(client, project)
    release = request.getfixturevalue("locked_projects")
    worker = start_worker()
    assert wait_until(lambda: job(client, project, job_id)["status"] == "running", 30)
    asked = client.post(f"/api/v1/exports/{job_id}/cancel", headers=project.admin)
    assert asked.status_code == 200, asked.text
    assert asked.json()["status"] == "running"
    assert asked.json()["cancel_requested"] is True
    release()
    assert wait_until(lambda: job(client, project, job_id)["status"] == "cancelled", 30)
    ended = job(client, project, job_id)
    assert ended["error"] == "Cancelled by admin."
    assert ended["download"] is None
    assert not (settings.data_dir / "exports" / str(job_id)).exists()
    assert_error(client.post(f"/api/v1/exports/{job_id}/cancel", headers=project.admin), 409)
    stop(worker)


def test_the_worker_refuses_sqlite(tmp_path) -> None:
    """On a migrated SQLite database (else the schema check would refuse first)."""
    environment = {"PATH": "/usr/bin:/bin", "MAMMOREAD_DATA_DIR": str(tmp_path)}

    def mammoread(*arguments: str) -> subprocess.CompletedProcess:
        command = [MAMMOREAD, *arguments]
        return subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True)

    assert mammoread("db", "upgrade").returncode == 0
    result = mammoread("worker")
    assert result.returncode != 0
    assert "needs PostgreSQL" in result.stderr

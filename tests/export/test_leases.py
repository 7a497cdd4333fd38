"""Leases on export jobs and import batches: a worker starting up takes over (exports, run
again) or ends (import batches) only the work of a process that stopped, never that of a
process still beating (fault 7)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.core import leases
from app.core.database import utcnow
from app.export.models import ExportJob
from app.imaging.models import ImportBatch
from app.imaging.states import OutcomeStatus
from app.main import create_app

HOST = socket.gethostname()
NOW = utcnow()


# --- the rule ---------------------------------------------------------------------------------


def stale(owner: str | None, age: float = 0.0, *, alive: bool = True, live=()) -> bool:
    return leases.is_stale(
        owner,
        None if owner == "no beat" else NOW - timedelta(seconds=age),
        now=NOW,
        stale_after=30,
        host="here",
        pid=100,
        live_owners=set(live),
        pid_alive=lambda pid: alive,
    )


def test_the_lease_rule() -> None:
    assert stale(None)  # a row from before leases
    assert stale("no beat")
    assert stale("there:7:abc", age=31)  # another host: only its heartbeat tells
    assert not stale("there:7:abc", age=29, alive=False)
    assert stale("here:7:abc", age=1, alive=False)  # this host, its process is gone
    assert not stale("here:7:abc", age=1, alive=True)
    assert stale("here:7:abc", age=31, alive=True)  # alive but silent (or a reused pid)
    assert stale("here:100:abc", age=1)  # this process, but not one of its keepers
    assert not stale("here:100:abc", age=1, live={"here:100:abc"})
    assert not stale("odd-owner", age=1)


def test_a_zombie_or_missing_process_is_not_alive() -> None:
    child = subprocess.Popen(["true"])
    while child.poll() is None:
        time.sleep(0.01)
    assert not leases.pid_alive(child.pid)
    assert leases.pid_alive(os.getpid())


# --- start-up -----------------------------------------------------------------------------------


def add_job(db, owner: str | None, *, status: str = "running", age: float = 0.0) -> int:
    job = ExportJob(
        project_kind="reading",
        project_id=1,
        format="vindr",
        status=status,
        owner=owner,
        heartbeat_at=utcnow() - timedelta(seconds=age),
    )
    db.add(job)
    db.commit()
    return job.id


def start_up(settings) -> None:
    """Another worker (a second application on the same database) starts, runs the jobs it
    took over to their end, and stops."""
    with TestClient(create_app(settings)) as client:
        client.app.state.sweeper.join()
        factory = client.app.state.session_factory
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with factory() as db:
                taken = db.scalars(
                    select(ExportJob.id).where(
                        ExportJob.status.in_(("queued", "running")),
                        ExportJob.attempts == 0,
                        ExportJob.owner.is_(None)
                        | (ExportJob.owner == client.app.state.run_export.owner),
                    )
                ).all()
                running_here = db.scalars(
                    select(ExportJob.id).where(
                        ExportJob.status == "running",
                        ExportJob.owner == client.app.state.run_export.owner,
                    )
                ).all()
            if not taken and not running_here:
                return
            time.sleep(0.05)


RERUN_FAILED = "The export failed: "  # run again, on a project that does not exist


def statuses(db) -> dict[int, tuple[str, str | None]]:
    db.expire_all()
    return {job.id: (job.status, job.error) for job in db.scalars(select(ExportJob))}


def test_a_restarted_worker_leaves_a_live_workers_export_alone(settings, db) -> None:
    with TestClient(create_app(settings)) as first:
        runner = first.app.state.run_export
        running = add_job(db, runner.owner)
        runner.keeper.hold(ExportJob, running)
        queued = add_job(db, runner.owner, status="queued")
        runner.keeper.hold(ExportJob, queued)
        start_up(settings)  # a respawned worker
        assert statuses(db) == {running: ("running", None), queued: ("queued", None)}
        runner.keeper.drop(ExportJob, running)
    # the first worker stopped: its queued job will never run, and says so
    assert statuses(db)[queued][0] == "failed"
    assert "before this export started" in statuses(db)[queued][1]


def test_start_up_runs_again_only_the_jobs_whose_owner_stopped(settings, db) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        jobs = {
            "live here": add_job(db, f"{HOST}:{sleeper.pid}:aaaa"),
            "dead here": add_job(db, f"{HOST}:{gone.pid}:bbbb"),
            "beating there": add_job(db, "elsewhere:12:cccc", age=5),
            "silent there": add_job(db, "elsewhere:12:dddd", age=600),
            "no owner": add_job(db, None),
        }
        start_up(settings)
        after = statuses(db)
        assert after[jobs["live here"]] == ("running", None)
        assert after[jobs["beating there"]] == ("running", None)
        for name in ("dead here", "silent there", "no owner"):
            status, error = after[jobs[name]]
            assert status == "failed", name
            assert error.startswith(RERUN_FAILED), (name, error)
            assert attempts(db, jobs[name]) == 1
        assert attempts(db, jobs["live here"]) == attempts(db, jobs["beating there"]) == 0
    finally:
        sleeper.kill()
        sleeper.wait()
    start_up(settings)  # now its process is gone too
    assert statuses(db)[jobs["live here"]][0] == "failed"
    assert attempts(db, jobs["live here"]) == 1


def attempts(db, job_id: int) -> int:
    db.expire_all()
    return db.get(ExportJob, job_id).attempts


KEEPER_SCRIPT = """
import sys, time
from sqlalchemy.orm import sessionmaker
import app.models  # noqa: F401 - every table, for the foreign keys
from app.core import leases
from app.core.database import make_engine, utcnow
from app.export.models import ExportJob
from app.imaging.models import ImportBatch

factory = sessionmaker(bind=make_engine(sys.argv[1]))
keeper = leases.Keeper(factory, interval=0.2)
with factory() as db:
    job = ExportJob(project_kind="reading", project_id=1, format="vindr", status="running",
                    owner=keeper.owner, heartbeat_at=utcnow())
    batch = ImportBatch(channel="cli", owner=keeper.owner, heartbeat_at=utcnow())
    db.add_all([job, batch])
    db.commit()
    keeper.hold(ExportJob, job.id)
    keeper.hold(ImportBatch, batch.id)
    print(job.id, batch.id, flush=True)
time.sleep(120)
"""


def test_another_process_keeps_its_lease_until_it_dies(settings, db) -> None:
    """A real second process holds an export and an import; start-ups leave them alone
    while it beats, and end them once it is killed."""
    script = textwrap.dedent(KEEPER_SCRIPT)
    owner = subprocess.Popen(
        [sys.executable, "-c", script, settings.resolved_database_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        job_id, batch_id = (int(n) for n in owner.stdout.readline().split())
        first_beat = db.get(ExportJob, job_id).heartbeat_at
        time.sleep(0.6)
        start_up(settings)
        db.expire_all()
        job, batch = db.get(ExportJob, job_id), db.get(ImportBatch, batch_id)
        assert (job.status, batch.finished_at) == ("running", None)
        assert job.heartbeat_at > first_beat  # it beats
        assert batch.heartbeat_at > first_beat
    finally:
        owner.kill()
        owner.wait()
    start_up(settings)
    db.expire_all()
    job, batch = db.get(ExportJob, job_id), db.get(ImportBatch, batch_id)
    assert job.status == "failed"  # run again, here: its project does not exist
    assert job.error.startswith(RERUN_FAILED)
    assert job.attempts == 1
    assert batch.finished_at is not None
    assert batch.outcomes[-1]["status"] == OutcomeStatus.INTERRUPTED


@pytest.mark.parametrize("alive", [True, False])
def test_an_import_batch_is_finished_only_when_its_owner_stopped(settings, db, alive) -> None:
    process = subprocess.Popen(["sleep", "60"])
    if not alive:
        process.kill()
        process.wait()
    try:
        batch = ImportBatch(
            channel="api", owner=f"{HOST}:{process.pid}:eeee", heartbeat_at=utcnow()
        )
        db.add(batch)
        db.commit()
        start_up(settings)
        db.expire_all()
        batch = db.get(ImportBatch, batch.id)
        assert (batch.finished_at is None) == alive
        if not alive:
            assert batch.imported == 0
            assert "server stopped" in batch.outcomes[-1]["reason"]
    finally:
        process.kill()
        process.wait()

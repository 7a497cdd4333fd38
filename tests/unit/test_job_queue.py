"""The in-process job queue (SQLite's): the handlers run in threads, a transient failure is
tried again with back-off up to MAX_ATTEMPTS runs, stopping ends the waits."""

from __future__ import annotations

import threading

import pytest

from app.jobs.in_process import InProcessQueue
from app.jobs.kit import queue_for
from app.jobs.postgres import ProcrastinateQueue, conninfo
from app.jobs.queue import MAX_ATTEMPTS, Running, Transient


def test_a_job_runs_in_a_thread_with_its_row() -> None:
    seen: list[tuple[str, int, str]] = []
    done = threading.Event()

    def handler(running: Running) -> None:
        seen.append((running.kind, running.row_id, threading.current_thread().name))
        done.set()

    queue = InProcessQueue({"export": handler})
    queue.submit("export", 7)
    assert done.wait(5)
    queue.stop()
    assert seen[0][:2] == ("export", 7)
    assert seen[0][2].startswith("job")


def test_a_transient_failure_runs_again_until_the_last_attempt() -> None:
    runs: list[int] = []
    ended = threading.Event()

    def flaky(running: Running) -> None:
        runs.append(running.row_id)
        if len(runs) == MAX_ATTEMPTS:
            ended.set()
        raise Transient("the store is away")

    queue = InProcessQueue({"export": flaky}, retry_seconds=0.01)
    queue.submit("export", 1)
    assert ended.wait(5)
    queue.stop()
    assert runs == [1] * MAX_ATTEMPTS


def test_stopping_ends_a_wait_and_refuses_new_jobs() -> None:
    started = threading.Event()

    def flaky(running: Running) -> None:
        started.set()
        raise Transient("again later")

    queue = InProcessQueue({"export": flaky}, retry_seconds=60)
    queue.submit("export", 1)
    assert started.wait(5)
    queue.stop()  # returns at once: the 60 s wait ends
    with pytest.raises(RuntimeError, match="stopped"):
        queue.submit("export", 2)
    with pytest.raises(ValueError, match="no handler"):
        InProcessQueue({}).submit("import", 1)


def test_the_queue_follows_the_database() -> None:
    assert isinstance(queue_for("sqlite:///x.db", {}, 1), InProcessQueue)
    on_postgres = queue_for("postgresql+psycopg://u:p@db:5432/m?sslmode=require", {}, 1, 8.0)
    assert isinstance(on_postgres, ProcrastinateQueue)
    assert on_postgres.durable
    assert on_postgres.stalled_after_seconds == 8.0
    assert on_postgres.heartbeat_seconds == 2.0
    assert conninfo("postgresql+psycopg://u:p@db:5432/m?sslmode=require") == (
        "postgresql://u:p@db:5432/m?sslmode=require"
    )

"""The queue a process uses, chosen by its database: procrastinate on PostgreSQL, threads in
the server on SQLite (one process, as the embedded default is)."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from app.jobs.in_process import InProcessQueue
from app.jobs.postgres import ProcrastinateQueue
from app.jobs.queue import Handlers, Queue


def queue_for(
    database_url: str, handlers: Handlers, threads: int, stalled_after: float = 20.0
) -> Queue:
    if make_url(database_url).get_backend_name() == "postgresql":
        return ProcrastinateQueue(
            database_url,
            handlers,
            heartbeat_seconds=stalled_after / 4,
            stalled_after_seconds=stalled_after,
            embedded_threads=threads,
        )
    return InProcessQueue(handlers, threads)

"""What every job queue offers the domains, and what a running job may ask.

A job is a kind (``"export"``) and the id of the domain's own row, which holds what a person
sees (status, progress, error, result); the queue only decides where and when a handler runs.
A handler is called with a :class:`Running` and must be safe to call again for the same row:
after a worker died, the job runs again (:data:`MAX_ATTEMPTS` in all), and the handler takes
the row over only when its previous runner's lease is stale (``app.core.leases``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

MAX_ATTEMPTS = 3  # runs of one job, the first included, before it fails for good


class Transient(Exception):
    """A failure worth another attempt (storage or database unavailable): the queue runs the
    job again later, up to :data:`MAX_ATTEMPTS` runs."""


@dataclass(frozen=True)
class Running:
    """What a handler is told about the run it is in."""

    kind: str
    row_id: int
    worker: str  # who runs it, for logs: "host:pid" and the queue's own worker name


Handler = Callable[[Running], None]
Handlers = Mapping[str, Handler]


class Queue(Protocol):
    """Where jobs are submitted. ``submit`` returns once the job is stored (PostgreSQL) or
    handed to a thread (SQLite); any worker may run it."""

    # True when a submitted job outlives this process (stored in the database); False when it
    # waits in this process, whose lease on the row then says whether it will still run
    durable: bool

    def submit(self, kind: str, row_id: int) -> None: ...

    def waiting(self, kind: str) -> set[int] | None:
        """The rows with a job of this kind waiting or running (None: this queue cannot
        tell, its jobs lived in a process)."""

    def start(self) -> None:
        """Begin running this process's share of the jobs (a no-op where it runs none, or
        where its threads start with the first job)."""

    def stop(self) -> None:
        """Stop taking jobs; running ones finish (or are retried elsewhere if killed)."""

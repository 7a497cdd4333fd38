"""The job handlers every process registers on its job queue (``app.jobs``): the server (its
embedded worker) and ``mammoread worker`` run the same ones, so any of them may run any job."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.export import jobs as export_jobs
from app.imaging.storage import BlobStore
from app.jobs.kit import queue_for
from app.jobs.queue import Queue


@dataclass
class Workers:
    queue: Queue
    exports: export_jobs.Runner

    def stop(self) -> None:
        """Stop taking jobs, let running ones finish, then end what waits here."""
        self.queue.stop()
        self.exports.stop()


def workers_for(settings: Settings, factory: sessionmaker[Session], store: BlobStore) -> Workers:
    exports = export_jobs.Runner(factory, store, settings.data_dir)
    handlers = {export_jobs.KIND: exports}
    queue = queue_for(
        settings.resolved_database_url,
        handlers,
        settings.job_threads,
        settings.job_stalled_after_seconds,
    )
    return Workers(queue, exports)

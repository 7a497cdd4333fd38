"""The job handlers every process registers on its job queue (``app.jobs``): the server (its
embedded worker) and ``mammoread worker`` run the same ones, so any of them may run any job."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings
from app.export import jobs as export_jobs
from app.imaging.importing import queued as queued_imports
from app.imaging.kit import ImagingKit
from app.jobs.kit import queue_for
from app.jobs.queue import Queue


@dataclass
class Workers:
    queue: Queue
    exports: export_jobs.Runner
    imports: queued_imports.ImportRunner

    def stop(self) -> None:
        """Stop taking jobs, let running ones finish, then end what waits here."""
        self.queue.stop()
        self.exports.stop()


def workers_for(settings: Settings, factory: sessionmaker[Session], kit: ImagingKit) -> Workers:
    exports = export_jobs.Runner(factory, kit.store, settings.data_dir)
    imports = queued_imports.ImportRunner(factory, kit)
    handlers = {export_jobs.KIND: exports, queued_imports.KIND: imports}
    queue = queue_for(
        settings.resolved_database_url,
        handlers,
        settings.job_threads,
        settings.job_stalled_after_seconds,
    )
    return Workers(queue, exports, imports)

"""After a crash: end the work of processes that stopped and remove what they left.

Run at every server start-up (the leases at once, the files in a background thread) and by
``mammoread sweep``. Import batches whose lease is stale end as finished, saying the server
stopped; export jobs are run again at start-up (the job queue) and failed by
``mammoread sweep``; and PACS retrievals end partial or failed (resumable);
then the files nothing references go: export folders of failed jobs and export drafts, stored
images without a database row, ``.part`` drafts, and key-file drafts of processes that are
gone. Work whose owner still beats is never touched.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.core import leases
from app.export import jobs
from app.imaging import sweep as imaging_sweep
from app.imaging.importing import queued as queued_imports
from app.imaging.storage import IMAGES_DIR, BlobStore
from app.pacs import jobs as pacs_jobs
from app.workers import Workers

log = logging.getLogger(__name__)
KEY_DRAFT = re.compile(r"^\.(?:secret_key|pseudonym_key|credentials_key)\.(\d+)\.[0-9a-f]+$")


@dataclass
class Report:
    failed_jobs: list[int] = field(default_factory=list)
    finished_batches: list[int] = field(default_factory=list)
    ended_retrievals: list[int] = field(default_factory=list)  # PACS retrievals, resumable
    removed: list[str] = field(default_factory=list)  # relative to the data directory or store

    def summary(self, dry_run: bool = False) -> str:
        done = "to be " if dry_run else ""
        return (
            f"{len(self.failed_jobs)} interrupted export jobs {done}failed, "
            f"{len(self.finished_batches)} interrupted import batches {done}finished, "
            f"{len(self.ended_retrievals)} interrupted PACS retrievals ended (resumable), "
            f"{len(self.removed)} leftover files {done}removed."
        )


def end_stale_work(
    factory: sessionmaker[Session], *, dry_run: bool = False, exports: bool = True
) -> Report:
    """Fail the export jobs (unless not ``exports``) and finish the import batches of
    processes that stopped."""
    report = Report(failed_jobs=jobs.fail_stale(factory, dry_run=dry_run) if exports else [])
    with factory() as db:
        stale = imaging_sweep.stale_batches(db)
        report.finished_batches = (
            stale if dry_run else imaging_sweep.finish_stale_batches(db, stale)
        )
        if not dry_run:  # a retrieval ended this way is resumable: nothing is lost
            report.ended_retrievals = pacs_jobs.end_stale(db)
    return report


def remove_leftovers(
    factory: sessionmaker[Session],
    data_dir: Path,
    report: Report,
    *,
    dry_run: bool = False,
    grace: float = imaging_sweep.GRACE_SECONDS,
    store: BlobStore | None = None,
) -> Report:
    """Remove the files nothing references (see the module's docstring); with an object
    ``store``, its objects of images without a row too."""
    ending_jobs = set(report.failed_jobs) if dry_run else set()
    report.removed += jobs.sweep_files(factory, data_dir, dry_run=dry_run, ending=ending_jobs)
    ending_batches = set(report.finished_batches) if dry_run else set()
    with factory() as db:
        report.removed += imaging_sweep.sweep_files(
            db, data_dir, dry_run=dry_run, grace=grace, ending=ending_batches
        )
        if store is not None and store.local_path(IMAGES_DIR) is None:
            report.removed += imaging_sweep.sweep_objects(
                db, store, dry_run=dry_run, grace=grace, ending=ending_batches
            )
        if store is not None:  # files staged for queued imports (they still carry PHI)
            report.removed += queued_imports.sweep_staged(db, store, dry_run=dry_run, grace=grace)
    if store is not None:
        report.removed += jobs.sweep_objects(factory, store, dry_run=dry_run)
    report.removed += _key_drafts(data_dir, dry_run=dry_run)
    return report


def sweep(
    factory: sessionmaker[Session],
    data_dir: Path,
    *,
    dry_run: bool = False,
    store: BlobStore | None = None,
) -> Report:
    """Everything, now (``mammoread sweep``)."""
    report = end_stale_work(factory, dry_run=dry_run)
    return remove_leftovers(factory, data_dir, report, dry_run=dry_run, store=store)


def at_start_up(
    factory: sessionmaker[Session],
    data_dir: Path,
    store: BlobStore | None = None,
    workers: Workers | None = None,
) -> threading.Thread:
    """End stale work now, except export jobs: those the job queue runs again (``workers``).
    Remove leftover files in a thread (a large store takes a while). Join the
    thread before disposing of the engine."""
    report = Report()
    try:
        report = end_stale_work(factory, exports=False)
    except SQLAlchemyError:  # a database not migrated yet: nothing to clean
        log.warning("could not check for interrupted work", exc_info=True)
    if workers is not None:
        _resume(factory, workers)
    thread = threading.Thread(
        target=_remove_in_background,
        args=(factory, data_dir, report, store),
        name="sweep",
        daemon=True,
    )
    thread.start()
    return thread


def _resume(factory: sessionmaker[Session], workers: Workers) -> None:
    """Jobs of processes that stopped, queued again (the server runs on if it cannot: the
    next start-up tries again)."""
    try:
        resumed = jobs.resume_stale(factory, workers.queue, workers.exports)
        if resumed:
            log.info("start-up: export jobs %s run again", resumed)
        files = queued_imports.resume_open(factory, workers.queue)
        if files:
            log.info("start-up: %d queued import files run again", len(files))
    except Exception:
        log.warning("could not queue the interrupted jobs again", exc_info=True)


def _remove_in_background(
    factory: sessionmaker[Session], data_dir: Path, report: Report, store: BlobStore | None
) -> None:
    try:
        remove_leftovers(factory, data_dir, report, store=store)
    except Exception:  # the server runs on; the next start-up or `mammoread sweep` retries
        log.warning("could not remove leftover files", exc_info=True)
        return
    if report.failed_jobs or report.finished_batches or report.ended_retrievals or report.removed:
        log.info("start-up sweep: %s", report.summary())


def _key_drafts(data_dir: Path, *, dry_run: bool) -> list[str]:
    """Drafts of the key files (``load_or_create_secret``) whose writing process is gone."""
    removed = []
    for path in sorted(data_dir.glob(".*_key.*")):
        match = KEY_DRAFT.match(path.name)
        if match is None or leases.pid_alive(int(match.group(1))):
            continue
        if not dry_run:
            path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed

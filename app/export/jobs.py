"""Exports: one entry point for the CLI and the browser, and background jobs with progress.

A job is a row (queued -> running -> done | failed | cancelled) and a file under
``<data dir>/exports/<job id>/``, built by whichever worker the job queue (``app.jobs``)
gives it to. The runner holds the row's lease (``app.core.leases``) while it works; a job
whose runner stopped is run again (up to ``MAX_ATTEMPTS`` runs), one whose runner still
beats is never taken from it. The archive is written as a ``.part`` draft and renamed when
whole; :func:`sweep_files` removes what a crash leaves.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor, record
from app.core import leases
from app.core.database import begin_write, utcnow
from app.core.errors import Conflict, NotFound, Unavailable, field_error
from app.export import masking_export, reading_export
from app.export.models import ExportJob
from app.export.states import ExportFormat, JobStatus, ProjectKind
from app.export.targets import Target, copy_stored, open_target
from app.imaging.storage import BlobStore, StorageUnavailable
from app.jobs.queue import MAX_ATTEMPTS, Queue, Running, Transient
from app.masking import service as masking_service
from app.masking.models import MaskingProject
from app.masking.states import ImageRole
from app.reading import service as reading_service
from app.reading.models import ReadingProject
from app.reading.states import StudyStatus

log = logging.getLogger(__name__)
EXPORTS_DIR = "exports"


@dataclass(frozen=True)
class Request:
    """An export as asked for: ``kind`` and ``format`` as given (a form sends any text),
    refused by :func:`check` unless they name a project kind and a format of that kind."""

    kind: ProjectKind | str
    project_id: int
    format: ExportFormat | str
    options: reading_export.Options = field(default_factory=reading_export.Options)


def check(db: Session, wanted: Request) -> str:
    """The project's name, or a 4xx naming what is wrong."""
    try:
        fmt = ExportFormat(wanted.format)
    except ValueError:
        raise field_error(
            "format", f"The format must be one of {', '.join(ExportFormat)}."
        ) from None
    if fmt.kind != wanted.kind:
        raise field_error("format", f"{fmt} exports a {fmt.kind} project.")
    if not 0.05 <= wanted.options.split_ratio <= 0.95:
        raise field_error("split_ratio", "The training share must be between 0.05 and 0.95.")
    if wanted.kind == ProjectKind.READING:
        project = reading_service.get_project(db, wanted.project_id)
        protocol = reading_service.rules.ProjectRules.from_json(project.rules)
        if fmt == ExportFormat.VINDR and not protocol.is_vindr_protocol:
            raise field_error(
                "format",
                f"{project.name!r} reads with its own label protocol (BI-RADS "
                f"{protocol.assessment_scale}, boxed findings {protocol.finding_birads}"
                f"{', a probability rating' if protocol.probability_rating else ''}), which "
                "VinDr-Mammo's CSV files cannot hold; export the JSON or every read instead.",
            )
        return project.name
    return masking_service.get_project(db, wanted.project_id).name


def write(
    db: Session,
    store: BlobStore | None,
    wanted: Request,
    target: Target,
    progress: reading_export.Progress = reading_export._no_progress,
) -> list[str]:
    """Write one export into ``target``; returns the file names written."""
    check(db, wanted)
    if wanted.kind == ProjectKind.READING:
        project = reading_service.get_project(db, wanted.project_id)
        # every read carries its study's split, final or not: those are kept too
        statuses = None if wanted.format == ExportFormat.READS else (StudyStatus.FINAL,)
        reading_export.keep_splits(db, project, wanted.options, statuses)
        _one_snapshot(db)
        if wanted.format == ExportFormat.VINDR:
            return reading_export.export_vindr(db, project, target, store, wanted.options, progress)
        if wanted.format == ExportFormat.JSON:
            return reading_export.export_json(db, project, target, wanted.options, progress)
        return reading_export.export_reads(db, project, target, wanted.options, progress)
    masking = masking_service.get_project(db, wanted.project_id)
    written = []
    if wanted.format == ExportFormat.CSAW:
        written += masking_export.export_labels(db, masking, target)
    written += masking_export.export_comparisons(db, masking, target)
    if wanted.options.with_images and store is not None:
        written += _masking_images(db, masking, target, store)
    return written


def _one_snapshot(db: Session) -> None:
    """Read the whole export from one snapshot of the database (PostgreSQL; SQLite's
    writers wait for the reader anyway), so that a study finalised meanwhile is in every
    file or in none."""
    if db.get_bind().dialect.name == "postgresql":
        db.commit()
        db.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _masking_images(
    db: Session, project: MaskingProject, target: Target, store: BlobStore
) -> list[str]:
    images = masking_service.images_by_pk(
        db, masking_service.project_images(db, project, ImageRole.QUERY)
    )
    for image in images.values():
        name = f"images/{image.study.study_id}/{image.image_id}.dicom"
        copy_stored(target, name, store, image.file_key)
    return ["images/"]


# --- background jobs ----------------------------------------------------------------------------

KIND = "export"  # the job queue's name for these jobs
STOPPED = "The server stopped before this export finished; start it again."
NOT_STARTED = "The server stopped before this export started; start it again."
GAVE_UP = (
    "The export was interrupted {} times (a worker stopped or the store was away); start it again."
)
CANCELLED = "Cancelled by {}."


class Cancelled(Exception):
    """Someone cancelled the job while it ran."""


class Runner:
    """The export jobs' handler on the job queue (``app.jobs``): builds a job's archive in
    whichever process the queue runs it, holding the row's lease (``owner``,
    ``heartbeat_at``) while it does. A job whose previous runner stopped is taken over; one
    whose runner still beats is left to it."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        store: BlobStore,
        data_dir: Path,
        keeper: leases.Keeper | None = None,
    ) -> None:
        self.factory, self.store, self.data_dir = factory, store, data_dir
        self.keeper = keeper or leases.Keeper(factory)

    @property
    def owner(self) -> str:
        return self.keeper.owner

    def __call__(self, running: Running) -> None:
        try:
            run(self.factory, self.store, self.data_dir, running.row_id, self.keeper)
        finally:
            self.keeper.drop(ExportJob, running.row_id)

    def stop(self) -> int:
        """At shutdown (after the queue): the jobs still waiting in this process (in-process
        queue) will never run here."""
        self.keeper.stop()
        try:
            with self.factory() as db:
                result = db.execute(
                    update(ExportJob)
                    .where(ExportJob.owner == self.owner, ExportJob.status == JobStatus.QUEUED)
                    .values(status=JobStatus.FAILED, error=NOT_STARTED, finished_at=utcnow())
                )
                db.commit()
                return result.rowcount or 0
        except SQLAlchemyError:  # their stale leases end them at the next start-up
            log.warning("could not end the export jobs still queued", exc_info=True)
            return 0


def start(db: Session, actor: Actor, wanted: Request, queue: Queue, runner: Runner) -> ExportJob:
    """Queue an export: a row to follow, and a job any worker may run. A queue that keeps
    its jobs in this process (SQLite) makes the process the row's owner until it ends."""
    name = check(db, wanted)
    job = ExportJob(
        project_kind=ProjectKind(wanted.kind),
        project_id=wanted.project_id,
        format=ExportFormat(wanted.format),
        options=asdict(wanted.options),
        status=JobStatus.QUEUED,
        file_name=f"{_slug(name)}-{wanted.format}.zip",
        created_by=actor.user.id if actor.user else None,
        owner=None if queue.durable else runner.owner,
        heartbeat_at=None if queue.durable else utcnow(),
    )
    db.add(job)
    db.flush()
    record(
        db,
        actor,
        "export.started",
        object_type=f"{wanted.kind}_project",
        object_id=wanted.project_id,
        format=wanted.format,
        job=job.id,
    )
    db.commit()
    submit(db, job, queue, runner)
    return job


def submit(db: Session, job: ExportJob, queue: Queue, runner: Runner) -> None:
    if not queue.durable:
        runner.keeper.hold(ExportJob, job.id)
    try:
        queue.submit(KIND, job.id)
    except Exception as error:
        log.exception("export job %s could not be queued", job.id)
        runner.keeper.drop(ExportJob, job.id)
        job.status, job.finished_at = JobStatus.FAILED, utcnow()
        job.error = "The job queue did not take the export; start it again."
        db.commit()
        raise Unavailable("The job queue does not answer; try again shortly.") from error


def cancel(db: Session, actor: Actor, job_id: int) -> ExportJob:
    """A queued job ends now; a running one stops at its next step (whichever node runs it:
    the request is on the row)."""
    begin_write(db)
    job = get(db, job_id)
    if job.status not in JobStatus.open():
        raise Conflict(f"Export job {job_id} has ended ({job.status}); there is nothing to cancel.")
    who = actor.user.username if actor.user else (actor.name or "the command line")
    ended = db.execute(
        update(ExportJob)
        .where(ExportJob.id == job_id, ExportJob.status == JobStatus.QUEUED)
        .values(status=JobStatus.CANCELLED, error=CANCELLED.format(who), finished_at=utcnow())
    )
    if not ended.rowcount:
        db.execute(
            update(ExportJob)
            .where(ExportJob.id == job_id, ExportJob.status == JobStatus.RUNNING)
            .values(cancel_requested=who)
        )
    record(db, actor, "export.cancelled", object_type="export_job", object_id=job_id)
    db.commit()
    db.refresh(job)
    return job


def run(
    factory: sessionmaker[Session],
    store: BlobStore,
    data_dir: Path,
    job_id: int,
    keeper: leases.Keeper,
) -> None:
    """Build a job's archive; every failure ends as a failed job with a message. The job is
    taken only when queued or when its previous runner stopped, and ends only while this
    runner still holds it."""
    owner = keeper.owner
    with factory() as db:
        if not _claim(db, job_id, owner):
            return
        keeper.hold(ExportJob, job_id)
        job = db.get(ExportJob, job_id)
        assert job is not None
        wanted = Request(
            job.project_kind, job.project_id, job.format, reading_export.Options(**job.options)
        )
        folder = data_dir / EXPORTS_DIR / str(job.id)
        path = folder / (job.file_name or "export.zip")
        shutil.rmtree(folder, ignore_errors=True)  # what an earlier, interrupted run left
        try:
            with open_target(path) as target:
                write(db, store, wanted, target, _progress_saver(factory, job.id))
            db.rollback()  # the export only read: end its snapshot before recording the end
        except Cancelled as cancelled:
            db.rollback()
            shutil.rmtree(folder, ignore_errors=True)
            _finish(db, job_id, owner, JobStatus.CANCELLED, error=CANCELLED.format(cancelled))
            return
        except StorageUnavailable as error:  # worth another run, later
            db.rollback()
            shutil.rmtree(folder, ignore_errors=True)
            _requeue(db, job_id, owner)
            raise Transient(str(error)) from error
        except Exception as error:  # reported on the job; the server carries on
            log.exception("export job %s failed", job_id)
            db.rollback()
            shutil.rmtree(folder, ignore_errors=True)
            _finish(db, job_id, owner, JobStatus.FAILED, error=_describe(error))
            return
        key = str(path.relative_to(data_dir))
        size = path.stat().st_size
        try:  # into the store, where any node finds it (a local store: it is there already)
            store.put_file(key, path)
        except StorageUnavailable as error:
            shutil.rmtree(folder, ignore_errors=True)
            _requeue(db, job_id, owner)
            raise Transient(str(error)) from error
        if store.local_path(key) is None:
            shutil.rmtree(folder, ignore_errors=True)
        if not _finish(db, job_id, owner, JobStatus.DONE, key=key, size=size):
            shutil.rmtree(folder, ignore_errors=True)  # the job was ended meanwhile
            _forget(store, key)


def _claim(db: Session, job_id: int, owner: str) -> bool:
    """Take the job: queued (by this process, or in the durable queue), or running under a
    lease that went stale (its runner stopped). A runner that still beats keeps it: the queue
    is told to try again later. After MAX_ATTEMPTS runs the job fails."""
    begin_write(db)
    row = db.execute(
        select(ExportJob.status, ExportJob.owner, ExportJob.heartbeat_at, ExportJob.attempts).where(
            ExportJob.id == job_id
        )
    ).one_or_none()
    if row is None or row.status not in JobStatus.open():
        return False  # ended meanwhile (cancelled, or failed by `mammoread sweep`)
    if row.status == JobStatus.RUNNING and not leases.stale(row.owner, row.heartbeat_at):
        if row.owner == owner:
            return False  # a second copy of a job this process runs
        raise Transient(f"export job {job_id} is still run by {row.owner}")
    held = row.status == JobStatus.QUEUED and row.owner not in (None, owner)
    if held and not leases.stale(row.owner, row.heartbeat_at):
        raise Transient(f"export job {job_id} is still held by {row.owner}")
    taken = (
        ExportJob.id == job_id,
        ExportJob.status == row.status,
        leases.beat_unchanged(ExportJob.heartbeat_at, row.heartbeat_at),
    )
    if row.attempts >= MAX_ATTEMPTS:
        db.execute(
            update(ExportJob)
            .where(*taken)
            .values(
                status=JobStatus.FAILED, error=GAVE_UP.format(row.attempts), finished_at=utcnow()
            )
        )
        db.commit()
        return False
    claimed = db.execute(
        update(ExportJob)
        .where(*taken)
        .values(
            status=JobStatus.RUNNING,
            owner=owner,
            heartbeat_at=utcnow(),
            attempts=ExportJob.attempts + 1,
            done=0,
        )
    )
    db.commit()
    return bool(claimed.rowcount)


def _requeue(db: Session, job_id: int, owner: str) -> None:
    """Back to queued for the next run (the store was away)."""
    db.execute(
        update(ExportJob)
        .where(
            ExportJob.id == job_id, ExportJob.owner == owner, ExportJob.status == JobStatus.RUNNING
        )
        .values(status=JobStatus.QUEUED, owner=None, heartbeat_at=None)
    )
    db.commit()


def _open_jobs(db: Session) -> list[Any]:
    """Each open job's id, status and lease."""
    return list(
        db.execute(
            select(ExportJob.id, ExportJob.status, ExportJob.owner, ExportJob.heartbeat_at).where(
                ExportJob.status.in_(JobStatus.open())
            )
        ).all()
    )


def resume_stale(factory: sessionmaker[Session], queue: Queue, runner: Runner) -> list[int]:
    """At start-up: the open jobs of a process that stopped (a stale lease) are queued and
    submitted again (each run counts; after MAX_ATTEMPTS runs a job fails). Jobs waiting in a
    durable queue are left there; a job procrastinate also runs again itself is then
    submitted twice, and the second copy finds it taken or ended."""
    with factory() as db:
        rows = _open_jobs(db)
        resumed = []
        db.commit()  # each update below begins a write transaction of its own
        for job_id, status, owner, heartbeat_at in rows:
            if status == JobStatus.QUEUED and owner is None and queue.durable:
                continue  # waiting in the queue
            if owner == runner.owner or not leases.stale(owner, heartbeat_at):
                continue
            taken = db.execute(
                update(ExportJob)
                .where(
                    ExportJob.id == job_id,
                    ExportJob.status == status,
                    leases.beat_unchanged(ExportJob.heartbeat_at, heartbeat_at),
                )
                .values(
                    status=JobStatus.QUEUED,
                    owner=None if queue.durable else runner.owner,
                    heartbeat_at=None if queue.durable else utcnow(),
                )
            )
            db.commit()
            if taken.rowcount:
                job = db.get(ExportJob, job_id)
                assert job is not None
                submit(db, job, queue, runner)
                resumed.append(job_id)
    return resumed


def fail_stale(factory: sessionmaker[Session], *, dry_run: bool = False) -> list[int]:
    """Jobs queued or running whose owner stopped (their lease is stale) will never finish:
    they fail, saying so. Jobs whose owner still beats are left alone."""
    with factory() as db:
        rows = _open_jobs(db)
        failed = []
        for job_id, status, owner, heartbeat_at in rows:
            if status == JobStatus.QUEUED and owner is None:
                continue  # waiting in the durable queue (PostgreSQL), not in a process
            if not leases.stale(owner, heartbeat_at):
                continue
            if dry_run:
                failed.append(job_id)
                continue
            ended = db.execute(
                update(ExportJob)
                .where(
                    ExportJob.id == job_id,
                    ExportJob.status.in_(JobStatus.open()),
                    leases.beat_unchanged(ExportJob.heartbeat_at, heartbeat_at),
                )
                .values(status=JobStatus.FAILED, error=STOPPED, finished_at=utcnow())
            )
            if ended.rowcount:
                failed.append(job_id)
        db.commit()
    return failed


def sweep_files(
    factory: sessionmaker[Session],
    data_dir: Path,
    *,
    dry_run: bool = False,
    ending: Collection[int] = (),
) -> list[str]:
    """Remove what exports left that no finished job references: the folders of failed or
    unknown jobs (and of ``ending``, jobs being failed) and anything in a done job's folder
    but its file. Folders of jobs still queued or running are left alone. Returns the paths
    removed, relative to ``data_dir``."""
    root = data_dir / EXPORTS_DIR
    if not root.is_dir():
        return []
    folders = {int(p.name): p for p in root.iterdir() if p.name.isdigit() and p.is_dir()}
    with factory() as db:
        statuses = dict(
            db.execute(
                select(ExportJob.id, ExportJob.status).where(ExportJob.id.in_(list(folders)))
            ).all()
        )
        keys = dict(
            db.execute(
                select(ExportJob.id, ExportJob.file_key).where(
                    ExportJob.id.in_(list(folders)), ExportJob.status == JobStatus.DONE
                )
            ).all()
        )
    removed = []
    for job_id, folder in sorted(folders.items()):
        if statuses.get(job_id) in JobStatus.open() and job_id not in ending:
            continue
        keep = data_dir / keys[job_id] if keys.get(job_id) else None
        for path in [folder] if keep is None else sorted(folder.iterdir()):
            if path == keep:
                continue
            removed.append(str(path.relative_to(data_dir)))
            if not dry_run:
                _remove(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _progress_saver(factory: sessionmaker[Session], job_id: int) -> reading_export.Progress:
    """Saves the progress; raises :class:`Cancelled` once someone asked to cancel."""

    def save(done: int, total: int) -> None:
        with factory() as db:
            begin_write(db)
            job = db.get(ExportJob, job_id)
            if job is None:
                return
            if job.cancel_requested:
                raise Cancelled(job.cancel_requested)
            job.done, job.total = done, total
            db.commit()

    return save


def _finish(
    db: Session,
    job_id: int,
    owner: str,
    status: JobStatus,
    *,
    key: str | None = None,
    size: int | None = None,
    error: str | None = None,
) -> bool:
    """End a running job this owner still holds; False when it was ended meanwhile."""
    ended = db.execute(
        update(ExportJob)
        .where(
            ExportJob.id == job_id, ExportJob.owner == owner, ExportJob.status == JobStatus.RUNNING
        )
        .values(status=status, file_key=key, size=size, error=error, finished_at=utcnow())
    )
    db.commit()
    return bool(ended.rowcount)


def _describe(error: Exception) -> str:
    # A label the writers refuse says which (ValueError); anything else only its kind: a
    # driver's message may quote data.
    message = getattr(error, "message", None) or (
        str(error) if isinstance(error, ValueError) else error.__class__.__name__
    )
    return f"The export failed: {message}"[:500]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "project"


def get(db: Session, job_id: int) -> ExportJob:
    job = db.get(ExportJob, job_id)
    if job is None:
        raise NotFound(f"There is no export job {job_id}.")
    return job


def recent(db: Session, limit: int = 50) -> list[ExportJob]:
    return list(db.scalars(select(ExportJob).order_by(ExportJob.id.desc()).limit(limit)))


ProjectKey = tuple[str, int]


def project_names(db: Session, listed: Iterable[ExportJob]) -> dict[ProjectKey, str]:
    """The name of each job's project by (kind, id), in one query per kind; a job whose
    project is gone has none."""
    wanted = {(job.project_kind, job.project_id) for job in listed}
    names: dict[ProjectKey, str] = {}
    for kind, model in (
        (ProjectKind.READING, ReadingProject),
        (ProjectKind.MASKING, MaskingProject),
    ):
        ids = [project_id for k, project_id in wanted if k == kind]
        if ids:
            rows = db.execute(select(model.id, model.name).where(model.id.in_(ids)))
            names.update({(kind, project_id): name for project_id, name in rows.all()})
    return names


def project_name(db: Session, job: ExportJob) -> str | None:
    return project_names(db, [job]).get((job.project_kind, job.project_id))


def file_of(job: ExportJob, store: BlobStore) -> tuple[int, Iterator[bytes]]:
    """The finished archive's size and bytes, from the store (whichever node built it)."""
    if job.status != JobStatus.DONE or not job.file_key:
        raise NotFound(f"Export job {job.id} has no file ({job.status}).")
    try:
        return store.stream(job.file_key)
    except (FileNotFoundError, ValueError):
        raise NotFound(f"The file of export job {job.id} is gone.") from None


def _forget(store: BlobStore, key: str) -> None:
    try:
        store.delete(key)
    except StorageUnavailable:  # left for the sweep (sweep_objects)
        log.warning("could not remove %s; the sweep will", key)


def sweep_objects(
    factory: sessionmaker[Session], store: BlobStore, *, dry_run: bool = False
) -> list[str]:
    """Archives in an object store that no done job names (a worker stopped between storing
    one and ending its job, or the job was deleted). Jobs still open keep theirs."""
    if store.local_path(EXPORTS_DIR) is not None:
        return []  # a local store's files are sweep_files's
    found = [key for key, _ in store.listing(f"{EXPORTS_DIR}/")]
    if not found:
        return []
    with factory() as db:
        kept = set(db.scalars(select(ExportJob.file_key).where(ExportJob.status == JobStatus.DONE)))
        open_ids = {
            str(job_id)
            for job_id in db.scalars(
                select(ExportJob.id).where(ExportJob.status.in_(JobStatus.open()))
            )
        }
    removed = []
    for key in found:
        folder = key.split("/")[1] if key.count("/") >= 2 else ""  # exports/<job id>/<name>
        if key in kept or folder in open_ids:
            continue
        removed.append(key)
        if not dry_run:
            _forget(store, key)
    return removed

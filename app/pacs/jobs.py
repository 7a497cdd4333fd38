"""Retrieval jobs: the chosen studies fetched from a PACS (WADO-RS) instance by instance, in
the background, each instance fed to the one import path (``import_sources``, channel PACS),
so pseudonymisation, QC and idempotence are the imports' own.

A job is a row (queued -> running -> done | partial | failed) leased by the process that runs
it (``app.core.leases``). It keeps what resuming needs: the studies not reached yet
(``pending_uids``) and what did not arrive (``failures``: an instance, or a whole study whose
instances could not be listed). When the PACS stops answering, refuses the credentials, or
fails five instances in a row, the run stops: the rest of the current study is listed as not
retrieved, the studies after it stay pending. Resuming fetches exactly those (re-fetching
anything else would be safe too: an image imported before is recognised). A job whose process
stopped is ended when the jobs are next looked at (:func:`end_stale`), and can be resumed.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor, record
from app.auth.models import User
from app.core import leases
from app.core.config import Settings
from app.core.database import begin_write, utcnow
from app.core.errors import AppError, Conflict, NotFound, field_error
from app.imaging.importer import Outcome, Source, import_sources
from app.imaging.kit import ImagingKit
from app.imaging.states import ImportChannel, OutcomeStatus
from app.pacs import service
from app.pacs.dicomweb import Pacs, PacsError
from app.pacs.models import PacsRetrieval, PacsSource
from app.pacs.states import InstanceOutcome, RetrievalStatus

log = logging.getLogger(__name__)

UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
IN_A_ROW = 5  # failed instances in a row that stop a run (the PACS is in trouble)
STOPPED = "The server stopped during this retrieval; resume it to fetch what is missing."
NOT_STARTED = "The server stopped before this retrieval started; resume it."


# --- starting and resuming ----------------------------------------------------------------------


def check_uids(uids: Iterable[str], cap: int) -> list[str]:
    """The Study Instance UIDs asked for, each once; a 422 naming the first bad one."""
    wanted: list[str] = []
    for raw in uids:
        uid = raw.strip()
        if not uid or len(uid) > 64 or not UID.match(uid):
            raise field_error(
                "study_uids", "A Study Instance UID is up to 64 digits and dots, e.g. 1.2.840.1."
            )
        if uid not in wanted:
            wanted.append(uid)
    if not wanted:
        raise field_error("study_uids", "Choose at least one study to retrieve.")
    if len(wanted) > cap:
        raise field_error("study_uids", f"At most {cap} studies per retrieval.")
    return wanted


def start(
    db: Session,
    actor: Actor,
    settings: Settings,
    source_id: int,
    study_uids: Iterable[str],
    runner: Runner,
) -> PacsRetrieval:
    begin_write(db)
    source = service.get_source(db, source_id)
    uids = check_uids(study_uids, settings.pacs_search_cap)
    job = PacsRetrieval(
        source_id=source.id,
        status=RetrievalStatus.QUEUED,
        studies=len(uids),
        study_uids=uids,
        pending_uids=list(uids),
        failures=[],
        batch_ids=[],
        runs=1,
        created_by=actor.user.id if actor.user else None,
        owner=runner.owner,
        heartbeat_at=utcnow(),
    )
    db.add(job)
    db.flush()
    record(
        db,
        actor,
        "pacs.retrieval_started",
        object_type="pacs_retrieval",
        object_id=job.id,
        source=source.id,
        studies=len(uids),
    )
    db.commit()
    runner.submit(job.id)
    return job


def resume(db: Session, actor: Actor, job_id: int, runner: Runner) -> PacsRetrieval:
    """Run an ended job again for what is missing (its failures and pending studies)."""
    end_stale(db)
    begin_write(db)
    job = get(db, job_id)
    if job.status in RetrievalStatus.open():
        raise Conflict(f"Retrieval {job.id} is still {job.status}.", code="retrieval_running")
    if job.status == RetrievalStatus.DONE:
        raise Conflict(f"Retrieval {job.id} is done: nothing is missing.", code="retrieval_done")
    if job.source_id is None:
        raise Conflict(
            f"The PACS source of retrieval {job.id} was deleted: start a new retrieval.",
            code="pacs_source_gone",
        )
    resumed = db.execute(
        update(PacsRetrieval)
        .where(
            PacsRetrieval.id == job.id,
            PacsRetrieval.status.in_(RetrievalStatus.resumable()),
        )
        .values(
            status=RetrievalStatus.QUEUED,
            owner=runner.owner,
            heartbeat_at=utcnow(),
            error=None,
            finished_at=None,
            runs=PacsRetrieval.runs + 1,
        )
    )
    if not resumed.rowcount:
        raise Conflict(f"Retrieval {job.id} was resumed meanwhile.", code="retrieval_running")
    record(
        db,
        actor,
        "pacs.retrieval_resumed",
        object_type="pacs_retrieval",
        object_id=job.id,
        missing=len(job.failures or []),
        pending=len(job.pending_uids or []),
    )
    db.commit()
    db.refresh(job)
    runner.submit(job.id)
    return job


def get(db: Session, job_id: int) -> PacsRetrieval:
    job = db.get(PacsRetrieval, job_id)
    if job is None:
        raise NotFound(f"There is no retrieval {job_id}.")
    return job


def recent(db: Session, limit: int = 50) -> list[PacsRetrieval]:
    return list(db.scalars(select(PacsRetrieval).order_by(PacsRetrieval.id.desc()).limit(limit)))


def source_names(db: Session, jobs: Iterable[PacsRetrieval]) -> dict[int, str]:
    ids = {job.source_id for job in jobs if job.source_id is not None}
    if not ids:
        return {}
    rows = db.execute(select(PacsSource.id, PacsSource.name).where(PacsSource.id.in_(ids)))
    return {row[0]: row[1] for row in rows}


def end_stale(db: Session) -> list[int]:
    """Jobs queued or running whose owner stopped (their lease is stale) end: partial when
    something arrived, failed otherwise; either can be resumed. Live leases are left alone."""
    rows = db.execute(
        select(
            PacsRetrieval.id,
            PacsRetrieval.status,
            PacsRetrieval.owner,
            PacsRetrieval.heartbeat_at,
            PacsRetrieval.imported + PacsRetrieval.already_present + PacsRetrieval.rejected,
        ).where(PacsRetrieval.status.in_(RetrievalStatus.open()))
    ).all()
    ended = []
    for job_id, status, owner, heartbeat_at, arrived in rows:
        if not leases.stale(owner, heartbeat_at):
            continue
        begin_write(db)
        done = db.execute(
            update(PacsRetrieval)
            .where(
                PacsRetrieval.id == job_id,
                PacsRetrieval.status.in_(RetrievalStatus.open()),
                leases.beat_unchanged(PacsRetrieval.heartbeat_at, heartbeat_at),
            )
            .values(
                status=RetrievalStatus.PARTIAL if arrived else RetrievalStatus.FAILED,
                error=STOPPED if status == RetrievalStatus.RUNNING else NOT_STARTED,
                finished_at=utcnow(),
            )
        )
        if done.rowcount:
            ended.append(job_id)
    db.commit()
    return ended


# --- the background thread ----------------------------------------------------------------------


class Runner:
    """This server process's retrieval thread: jobs run one at a time, in the order given,
    each leased (``owner``, ``heartbeat_at``) by this process until it ends. The thread is a
    daemon started on demand: a server stopping abandons a running job, whose lease then goes
    stale (:func:`end_stale`) and which can be resumed."""

    def __init__(self, factory: sessionmaker[Session], kit: ImagingKit, settings: Settings) -> None:
        self.factory, self.kit, self.settings = factory, kit, settings
        self.keeper = leases.Keeper(factory)
        self._queue: deque[int] = deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    @property
    def owner(self) -> str:
        return self.keeper.owner

    def submit(self, job_id: int) -> None:
        self.keeper.hold(PacsRetrieval, job_id)
        with self._lock:
            self._queue.append(job_id)
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._work, name="pacs-retrieval", daemon=True
                )
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no job is queued or running here (tests, benchmarks)."""
        return self._idle.wait(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._thread = None
                    self._idle.set()
                    return
                job_id = self._queue.popleft()
            try:
                run(self.factory, self.kit, self.settings, job_id, self.owner)
            except Exception:  # the thread carries on with the next job
                log.exception("retrieval job %s could not run", job_id)
            finally:
                self.keeper.drop(PacsRetrieval, job_id)


_runners_lock = threading.Lock()


def runner_of(state: Any) -> Runner:
    """The retrieval runner of an application (``app.state``), made on first use."""
    with _runners_lock:
        runner = getattr(state, "pacs_runner", None)
        if runner is None:
            runner = Runner(state.session_factory, state.imaging, state.settings)
            state.pacs_runner = runner
        return runner


# --- one run ------------------------------------------------------------------------------------


class Ahead:
    """The instances of one study fetched one ahead: while the import works on an instance
    (CPU), the next one travels (network, the PACS's disk). One fetch at a time, in order, on
    the run's fetch thread; at most two instances are held in memory."""

    def __init__(self, pacs: Pacs, executor: Executor, items: list[tuple[str, str, str]]) -> None:
        self.pacs, self.executor, self.items = pacs, executor, items
        self._fetching: dict[int, Future[bytes]] = {}

    def take(self, index: int) -> bytes:
        """The instance's bytes (a ``PacsError`` when the PACS did not deliver it)."""
        for wanted in (index, index + 1):
            if wanted < len(self.items) and wanted not in self._fetching:
                self._fetching[wanted] = self.executor.submit(self._fetch, wanted)
        return self._fetching.pop(index).result()

    def _fetch(self, index: int) -> bytes:
        return self.pacs.instance_bytes(*self.items[index])


@dataclass
class Plan:
    """One run of a job: what it will fetch, what became of it, saved as it goes."""

    factory: sessionmaker[Session]
    job_id: int
    retry: dict[tuple[str, str | None, str | None], dict[str, Any]]  # earlier failures
    pending: list[str]
    base: Counter[str]  # the counts of earlier runs
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    aborted: str | None = None
    in_a_row: int = 0
    _current: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    _names: int = 0

    @classmethod
    def of(cls, factory: sessionmaker[Session], job: PacsRetrieval) -> Plan:
        retry = {
            (f["study_uid"], f.get("series_uid"), f.get("sop_uid")): f for f in job.failures or []
        }
        base = Counter(
            {
                InstanceOutcome.IMPORTED: job.imported,
                InstanceOutcome.ALREADY_PRESENT: job.already_present,
                InstanceOutcome.REJECTED: job.rejected,
                "instances": job.instances,
            }
        )
        return cls(factory, job.id, retry, list(job.pending_uids or []), base)

    # what to fetch, read lazily by the import as it goes
    def sources(self, pacs: Pacs, executor: Executor) -> Iterator[Source]:
        again = [(study, series or "", sop) for study, series, sop in self.retry if sop]
        whole_studies = [key[0] for key in self.retry if key[2] is None]
        yield from self._instances(Ahead(pacs, executor, again))
        for key in [key for key in self.retry if key[2] is None]:
            self.retry.pop(key)
        self.pending = whole_studies + [uid for uid in self.pending if uid not in whole_studies]
        self.save()
        while self.pending and not self.aborted:
            study = self.pending[0]
            try:
                listed = pacs.instances_of(study)
            except PacsError as error:
                if error.transport:
                    self.aborted = error.message
                    break
                self._fail(study, None, None, f"The study could not be listed: {error.message}")
                listed = None
            if listed is not None and not listed:
                self._fail(study, None, None, "The PACS lists no instance of this study.")
            items = [(study, series, sop) for series, sop in listed or []]
            yield from self._instances(Ahead(pacs, executor, items))
            self.pending.pop(0)
            self.save()

    def _instances(self, ahead: Ahead) -> Iterator[Source]:
        """Each instance fetched before the import is handed it: one the PACS does not
        deliver is listed here and never reaches the import (whose batch counts files)."""
        for index, (study, series, sop) in enumerate(ahead.items):
            if self.aborted:
                self._fail(study, series, sop, f"Not retrieved: {self.aborted}")
                continue
            try:
                data = ahead.take(index)
            except PacsError as error:
                if error.transport:
                    self.aborted = error.message
                self._missed(study, series, sop, error.message)
                continue
            except Exception:  # a part that is not DICOM, a broken answer
                message = "The PACS sent something that is not a DICOM instance."
                self._missed(study, series, sop, message)
                continue
            self.in_a_row = 0
            yield self._source((study, series, sop), data)

    def _source(self, key: tuple[str, str, str], data: bytes) -> Source:
        self._names += 1
        name = f"pacs-instance-{self._names}.dcm"  # no UID: names may be shown or logged
        self._current[name] = key
        return Source(name, lambda: data)

    def _missed(self, study: str, series: str, sop: str, reason: str) -> None:
        self._fail(study, series, sop, reason)
        self.in_a_row += 1
        if self.in_a_row >= IN_A_ROW and not self.aborted:
            self.aborted = f"{IN_A_ROW} instances in a row did not arrive."
        self.save()

    # told of each instance's outcome by the import
    def outcome(self, outcome: Outcome) -> None:
        key = self._current.pop(outcome.name, None)
        if key is None:
            return
        self.retry.pop(key, None)
        self.counts["instances"] += 1
        self.counts[_outcome(outcome.status)] += 1
        self.save()

    def _fail(self, study: str, series: str | None, sop: str | None, reason: str) -> None:
        self.retry.pop((study, series, sop), None)
        self.failures.append(
            {"study_uid": study, "series_uid": series, "sop_uid": sop, "reason": reason[:300]}
        )

    def all_failures(self) -> list[dict[str, Any]]:
        return [*self.retry.values(), *self.failures]

    def total(self, name: str) -> int:
        return self.base[name] + self.counts[name]

    def save(self) -> None:
        failures = self.all_failures()
        with self.factory() as db:
            db.execute(
                update(PacsRetrieval)
                .where(PacsRetrieval.id == self.job_id)
                .values(
                    pending_uids=list(self.pending),
                    failures=failures,
                    failed=len(failures),
                    instances=self.total("instances"),
                    imported=self.total(InstanceOutcome.IMPORTED),
                    already_present=self.total(InstanceOutcome.ALREADY_PRESENT),
                    rejected=self.total(InstanceOutcome.REJECTED),
                )
            )
            db.commit()


def _outcome(status: OutcomeStatus) -> InstanceOutcome:
    if status == OutcomeStatus.IMPORTED:
        return InstanceOutcome.IMPORTED
    if status == OutcomeStatus.ALREADY_PRESENT:
        return InstanceOutcome.ALREADY_PRESENT
    return InstanceOutcome.REJECTED


def run(
    factory: sessionmaker[Session], kit: ImagingKit, settings: Settings, job_id: int, owner: str
) -> None:
    """Fetch and import what a job is missing; every failure ends as the job's state with a
    message. The job is taken only while ``owner`` still holds it, and ends only if it still
    does."""
    with factory() as db:
        if not _claim(db, job_id, owner):
            return
        job = get(db, job_id)
        source = db.get(PacsSource, job.source_id) if job.source_id is not None else None
        if source is None:
            _finish(db, job_id, owner, RetrievalStatus.FAILED, "The PACS source was deleted.")
            return
        try:
            link = service.connection(source, settings)
        except AppError as error:
            _finish(db, job_id, owner, RetrievalStatus.FAILED, error.message)
            return
        user = db.get(User, job.created_by) if job.created_by is not None else None
        actor = Actor(user, None, None if user else "pacs retrieval")
        plan = Plan.of(factory, job)
        batches = list(job.batch_ids or [])
        db.commit()
        pacs = Pacs(link, retries=2)
        fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pacs-fetch")
        crashed = False
        try:
            report = import_sources(
                db,
                kit,
                plan.sources(pacs, fetcher),
                actor=actor,
                channel=ImportChannel.PACS,
                progress=plan.outcome,
            )
            batches.append(report.batch_id)
        except Exception:  # reported on the job; the server carries on
            log.exception("retrieval job %s stopped on an unexpected error", job_id)
            db.rollback()
            crashed = True
        finally:
            fetcher.shutdown(wait=False, cancel_futures=True)  # a fetch ahead no one takes
            pacs.close()
        try:
            plan.save()
        except Exception:
            log.exception("retrieval job %s: could not save its progress", job_id)
            crashed = True
        _end(db, job_id, owner, plan, batches, crashed, actor)


def _end(
    db: Session,
    job_id: int,
    owner: str,
    plan: Plan,
    batches: list[int],
    crashed: bool,
    actor: Actor,
) -> None:
    failures = plan.all_failures()
    arrived = sum(
        plan.total(o)
        for o in (
            InstanceOutcome.IMPORTED,
            InstanceOutcome.ALREADY_PRESENT,
            InstanceOutcome.REJECTED,
        )
    )
    missing = len(failures) + len(plan.pending)
    if not crashed and not missing:
        status, error = RetrievalStatus.DONE, None
    else:
        status = RetrievalStatus.PARTIAL if arrived else RetrievalStatus.FAILED
        if crashed:
            error = "The retrieval stopped on an unexpected error (logged); resume it."
        else:
            error = _missing(len(failures), len(plan.pending), plan.aborted)
    extra: dict[str, Any] = {"batch_ids": batches}
    if status == RetrievalStatus.DONE:  # nothing to resume: the UIDs need not be kept
        extra.update(study_uids=[], pending_uids=[], failures=[], failed=0)
    if _finish(db, job_id, owner, status, error, **extra):
        begin_write(db)
        record(
            db,
            actor,
            "pacs.retrieval_ended",
            object_type="pacs_retrieval",
            object_id=job_id,
            status=status,
            imported=plan.total(InstanceOutcome.IMPORTED),
            already_present=plan.total(InstanceOutcome.ALREADY_PRESENT),
            rejected=plan.total(InstanceOutcome.REJECTED),
            failed=len(failures),
            pending=len(plan.pending),
        )
        db.commit()


def _missing(failed: int, pending: int, aborted: str | None) -> str:
    parts = []
    if failed:
        parts.append(f"{failed} {'item' if failed == 1 else 'items'} did not arrive")
    if pending:
        parts.append(f"{pending} {'study was' if pending == 1 else 'studies were'} not reached")
    said = "; ".join(parts) + ": resume the retrieval to fetch them."
    return f"{aborted} {said}" if aborted else said


def _claim(db: Session, job_id: int, owner: str) -> bool:
    begin_write(db)
    claimed = db.execute(
        update(PacsRetrieval)
        .where(
            PacsRetrieval.id == job_id,
            PacsRetrieval.owner == owner,
            PacsRetrieval.status == RetrievalStatus.QUEUED,
        )
        .values(status=RetrievalStatus.RUNNING, heartbeat_at=utcnow(), started_at=utcnow())
    )
    db.commit()
    return bool(claimed.rowcount)


def _finish(
    db: Session,
    job_id: int,
    owner: str,
    status: RetrievalStatus,
    error: str | None,
    **extra: Any,
) -> bool:
    """End a running job this owner still holds; False when it was ended meanwhile."""
    begin_write(db)
    ended = db.execute(
        update(PacsRetrieval)
        .where(
            PacsRetrieval.id == job_id,
            PacsRetrieval.owner == owner,
            PacsRetrieval.status == RetrievalStatus.RUNNING,
        )
        .values(status=status, error=error, finished_at=utcnow(), **extra)
    )
    db.commit()
    return bool(ended.rowcount)

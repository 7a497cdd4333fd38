"""Jobs on PostgreSQL with procrastinate: stored in the database the app already uses (no
new service), run by ``mammoread worker`` processes on any node and, unless configured off,
by a worker thread inside each app process.

Why procrastinate: it keeps jobs in PostgreSQL tables (a job submitted in a transaction-safe
way survives any process), wakes workers with LISTEN/NOTIFY, has retries with back-off, job
cancellation, and worker heartbeats: a worker whose heartbeat stops is pruned, and its jobs
are found as stalled (``get_stalled_jobs``) and run again here, never those of a worker that
still beats. Celery or Dramatiq would need Redis or RabbitMQ beside PostgreSQL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading

import procrastinate
from procrastinate import PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from sqlalchemy.engine import make_url

from app.jobs.queue import MAX_ATTEMPTS, Handlers, Running, Transient

log = logging.getLogger(__name__)
QUEUE = "mammoread"
TASK = "mammoread.job"
WAITING = """
    SELECT args->>'row_id' AS row_id FROM procrastinate_jobs
    WHERE task_name = %(task_name)s AND status IN ('todo', 'doing') AND args->>'kind' = %(kind)s
"""
HEARTBEAT_SECONDS = 5.0
STALLED_AFTER_SECONDS = 20.0  # four missed heartbeats: the worker is gone


def conninfo(database_url: str) -> str:
    """libpq's form of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class ProcrastinateQueue:
    durable = True

    def __init__(
        self,
        database_url: str,
        handlers: Handlers,
        *,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stalled_after_seconds: float = STALLED_AFTER_SECONDS,
        embedded_threads: int = 0,
    ) -> None:
        self.handlers = handlers
        # jobs this process runs itself (the server's worker thread): started with the app,
        # or at the first job it submits (a server started without its lifespan)
        self.embedded_threads = embedded_threads
        self.heartbeat_seconds = heartbeat_seconds
        self.stalled_after_seconds = stalled_after_seconds
        dsn = conninfo(database_url)
        # the worker's asynchronous pool, and a small synchronous one to submit jobs from
        # request threads (the two never share a connection or an event loop)
        self.app = procrastinate.App(
            connector=PsycopgConnector(conninfo=dsn, min_size=1, max_size=4)
        )
        self.submitter = procrastinate.App(
            connector=SyncPsycopgConnector(conninfo=dsn, min_size=0, max_size=2)
        )
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self._opened = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task[None] | None = None
        self._stopped = False

        def run(kind: str, row_id: int) -> None:
            handler = self.handlers.get(kind)
            if handler is None:
                log.error("no handler for jobs of kind %r (job %s)", kind, row_id)
                return
            handler(Running(kind, row_id, self.worker_name))

        retry = RetryStrategy(
            max_attempts=MAX_ATTEMPTS - 1, exponential_wait=2, retry_exceptions={Transient}
        )
        self.app.task(name=TASK, queue=QUEUE, retry=retry)(run)
        self.task = self.submitter.task(name=TASK, queue=QUEUE, retry=retry)(run)

    # --- submitting ------------------------------------------------------------------------

    def submit(self, kind: str, row_id: int) -> None:
        if kind not in self.handlers:
            raise ValueError(f"no handler for jobs of kind {kind!r}")
        self._open_submitter()
        self.task.defer(kind=kind, row_id=row_id)
        with self._lock:
            embedded = self._thread is None and not self._stopped
        if embedded:
            self.start()

    def waiting(self, kind: str) -> set[int] | None:
        self._open_submitter()
        rows = self.submitter.connector.get_sync_connector().execute_query_all(
            query=WAITING, task_name=TASK, kind=kind
        )
        return {int(row["row_id"]) for row in rows}

    def _open_submitter(self) -> None:
        with self._lock:
            if not self._opened:
                self.submitter.open()
                self._opened = True

    # --- running: a worker thread inside the app, or `mammoread worker` ----------------------

    def start(self) -> None:
        """A worker in a thread of this process (the app's embedded worker), running
        ``embedded_threads`` jobs at once; none with 0 (``mammoread worker`` runs them)."""
        with self._lock:
            if self._thread is not None or self.embedded_threads < 1:
                return
            ready = threading.Event()
            self._thread = threading.Thread(
                target=self._serve, args=(ready,), name="job-worker", daemon=True
            )
            self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            thread, self._thread = self._thread, None
            loop, main = self._loop, self._main
            opened, self._opened = self._opened, False
        if thread is not None and loop is not None and main is not None:
            loop.call_soon_threadsafe(main.cancel)
            thread.join(30)
        if opened:
            self.submitter.close()

    def _serve(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._main = asyncio.current_task()
            ready.set()
            await self.work(self.embedded_threads, install_signal_handlers=False)

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except Exception:  # the app goes on; its jobs wait for another worker
            log.exception("the job worker stopped")
        finally:
            ready.set()

    async def work(self, concurrency: int, *, install_signal_handlers: bool = True) -> None:
        """Run jobs until cancelled or signalled; jobs of dead workers are run again."""
        async with self.app.open_async():
            stalled = asyncio.create_task(self._retry_stalled())
            try:
                await self.app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=concurrency,
                    name=f"{self.worker_name}:worker",
                    install_signal_handlers=install_signal_handlers,
                    update_heartbeat_interval=self.heartbeat_seconds,
                    stalled_worker_timeout=self.stalled_after_seconds,
                    shutdown_graceful_timeout=25,
                )
            finally:
                stalled.cancel()

    async def _retry_stalled(self) -> None:
        """Jobs whose worker stopped beating go back to the queue; their handler takes the
        row over (or fails it after MAX_ATTEMPTS runs)."""
        manager = self.app.job_manager
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                await manager.prune_stalled_workers(self.stalled_after_seconds)
                for job in await manager.get_stalled_jobs(
                    queue=QUEUE, seconds_since_heartbeat=self.stalled_after_seconds
                ):
                    log.warning("job %s: its worker stopped; running it again", job.id)
                    await manager.retry_job(job)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a moment: try again later
                log.warning("could not check for stalled jobs", exc_info=True)

"""Jobs inside the server process, for the embedded default (SQLite, one process): a pool of
threads runs the same handlers the procrastinate workers run. A job whose process stopped is
submitted again at the next start-up by the domain (its lease is stale)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from app.jobs.queue import MAX_ATTEMPTS, Handlers, Running, Transient

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0  # before the second run; doubled before each later one


class InProcessQueue:
    durable = False

    def __init__(self, handlers: Handlers, threads: int = 1, retry_seconds: float = RETRY_SECONDS):
        self.handlers = handlers
        self.threads = max(1, threads)
        self.retry_seconds = retry_seconds
        self.worker = f"{socket.gethostname()}:{os.getpid()}:in-process"
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def submit(self, kind: str, row_id: int) -> None:
        if kind not in self.handlers:
            raise ValueError(f"no handler for jobs of kind {kind!r}")
        with self._lock:
            if self._stopped.is_set():
                raise RuntimeError("the job queue has stopped")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="job")
            self._pool.submit(self._run, Running(kind, row_id, self.worker))

    def waiting(self, kind: str) -> set[int] | None:
        return None

    def start(self) -> None:
        """Threads start with the first job."""

    def stop(self) -> None:
        with self._lock:
            self._stopped.set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, running: Running) -> None:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                self.handlers[running.kind](running)
                return
            except Transient:
                if attempt == MAX_ATTEMPTS or self._stopped.is_set():
                    log.warning("%s job %s: giving up after %d runs", *_named(running), attempt)
                    return
                log.info("%s job %s: will run again", *_named(running))
                if self._stopped.wait(self.retry_seconds * 2 ** (attempt - 1)):
                    return
            except Exception:  # a handler ends its row itself; this is a bug in one
                log.exception("%s job %s failed outside its handler", *_named(running))
                return


def _named(running: Running) -> tuple[str, int]:
    return running.kind, running.row_id

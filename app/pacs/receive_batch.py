"""One association's import batch: the C-STOREs of one association are fed, one by one, to the
one import path (``import_sources``), so a pushed study gets exactly what an upload gets (one
``ImportBatch`` with its lease and audit event, each file whole or not at all).

``import_sources`` pulls its files from an iterable while a storage SCP is called once per
received dataset and must answer each with that file's outcome. So the batch runs in a thread
of its own, pulling the received files from a queue; the association's thread hands each file
over and waits for its outcome (one file at a time: a DICOM association sends them in turn)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor
from app.imaging.importer import ImportReport, Outcome, Source, import_sources
from app.imaging.kit import ImagingKit
from app.imaging.states import ImportChannel

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5  # how often a waiting side checks that the other is still there


@dataclass
class _Received:
    """A received file waiting for its outcome (None: the batch could not take it)."""

    source: Source
    outcome: Outcome | None = None
    done: threading.Event = field(default_factory=threading.Event)


_END = None  # put on the queue when the association ends


class AssociationBatch:
    """The import batch of one association, created when its first file arrives (an
    association that only echoes leaves no empty batch behind)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        kit: ImagingKit,
        actor: Actor,
        association_alive: Callable[[], bool],
    ) -> None:
        self._factory = factory
        self._kit = kit
        self.actor = actor
        self._association_alive = association_alive
        self._queue: queue.Queue[_Received | None] = queue.Queue()
        self._current: _Received | None = None
        self.report: ImportReport | None = None
        self._thread = threading.Thread(target=self._run, name="receive-batch", daemon=False)
        self._thread.start()

    def submit(self, source: Source) -> Outcome | None:
        """Import one received file and wait for its outcome; None when the batch itself
        failed (the database is unreachable, say: logged), so the sender may try again."""
        received = _Received(source)
        self._queue.put(received)
        while not received.done.wait(POLL_SECONDS):
            if not self._thread.is_alive():
                break
        return received.outcome

    def close(self) -> None:
        """The association ended: the batch finishes once the file in hand is done."""
        self._queue.put(_END)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the batch to finish; whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def finished(self) -> bool:
        """Whether the batch has ended (finished, or failed)."""
        return not self._thread.is_alive()

    def _run(self) -> None:
        try:
            with self._factory() as session:
                self.report = import_sources(
                    session,
                    self._kit,
                    self._received(),
                    actor=self.actor,
                    channel=ImportChannel.RECEIVE,
                    progress=self._told,
                )
        except Exception:  # the batch could not be kept: its senders are told to retry
            log.exception("the import batch of %s failed", self.actor.display)
        finally:
            self._release_waiting()
        if self.report is not None:
            summary = self.report.summary()
            log.info(
                "%s ended: import batch %s: %s imported, %s already present, %s rejected",
                self.actor.display,
                self.report.batch_id,
                summary["imported"],
                summary["already_present"],
                summary["rejected"],
            )

    def _received(self) -> Iterator[Source]:
        """The files as they arrive, until the association ends (told, or found gone: an
        association can end in ways no event reports)."""
        while True:
            try:
                received = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self._association_alive():
                    continue
                return
            if received is _END:
                return
            self._current = received
            yield received.source

    def _told(self, outcome: Outcome) -> None:
        """The import's outcome for the file just yielded (one source, one outcome)."""
        if self._current is not None:
            self._current.outcome = outcome
            self._current.done.set()
            self._current = None

    def _release_waiting(self) -> None:
        """No sender waits forever on a batch that stopped: their files get no outcome."""
        if self._current is not None:
            self._current.done.set()
        while True:
            try:
                received = self._queue.get_nowait()
            except queue.Empty:
                return
            if received is not None:
                received.done.set()

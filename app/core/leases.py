"""Leases: which process works on a row (an export job, an import batch) and whether it still
does.

The process writes its owner id ``host:pid:token`` into the row's ``owner`` when it takes the
work, and a :class:`Keeper` thread refreshes the row's ``heartbeat_at`` every
:data:`HEARTBEAT_SECONDS`. Another process (a worker starting, ``mammoread sweep``) may end the
row only when its lease is stale (:func:`is_stale`): no owner, a heartbeat older than
:data:`STALE_AFTER_SECONDS`, or an owner on this host whose process is gone. A row whose owner
still beats is never touched.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.core.database import utcnow

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0  # six missed heartbeats
_live_owners: set[str] = set()  # owners of this process whose keeper has not stopped
_live_lock = threading.Lock()


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    token: str

    @classmethod
    def parse(cls, owner: str) -> Owner | None:
        parts = owner.rsplit(":", 2)
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"[-120:]


def is_stale(
    owner: str | None,
    heartbeat_at: datetime | None,
    *,
    now: datetime,
    stale_after: float,
    host: str,
    pid: int,
    live_owners: Collection[str],
    pid_alive: Callable[[int], bool],
) -> bool:
    """Whether the work ``owner`` leased has stopped (a pure rule: the facts are given)."""
    if owner is None or heartbeat_at is None:
        return True
    if now - heartbeat_at > timedelta(seconds=stale_after):
        return True
    parsed = Owner.parse(owner)
    if parsed is None or parsed.host != host:
        return False  # another machine: only its heartbeat tells
    if parsed.pid == pid:
        return owner not in live_owners
    return not pid_alive(parsed.pid)


def stale(owner: str | None, heartbeat_at: datetime | None) -> bool:
    """:func:`is_stale` with this process's facts."""
    return is_stale(
        owner,
        heartbeat_at,
        now=utcnow(),
        stale_after=STALE_AFTER_SECONDS,
        host=socket.gethostname(),
        pid=os.getpid(),
        live_owners=_live(),
        pid_alive=pid_alive,
    )


def beat_unchanged(column: Any, seen: datetime | None) -> Any:
    """A condition that a row's heartbeat is still the one seen: ending a row only under it
    leaves alone a row whose owner beat in between (it was not dead after all)."""
    return column.is_(None) if seen is None else column == seen


def _live() -> frozenset[str]:
    with _live_lock:
        return frozenset(_live_owners)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return status.rpartition(")")[2].split()[:1] != ["Z"]


class Keeper:
    """This process's leases on rows of tables with ``owner`` and ``heartbeat_at`` columns:
    a daemon thread beats every held row until it is dropped or the keeper stops."""

    def __init__(self, factory: sessionmaker[Session], interval: float = HEARTBEAT_SECONDS) -> None:
        self.owner = new_owner()
        self.factory = factory
        self.interval = interval
        self._held: dict[Any, set[int]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        with _live_lock:
            _live_owners.add(self.owner)

    def hold(self, model: Any, row_id: int) -> None:
        with self._lock:
            self._held.setdefault(model, set()).add(row_id)
            if self._thread is None and not self._stopped.is_set():
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()

    def drop(self, model: Any, row_id: int) -> None:
        with self._lock:
            self._held.get(model, set()).discard(row_id)

    @contextmanager
    def holding(self, model: Any, row_id: int) -> Iterator[None]:
        self.hold(model, row_id)
        try:
            yield
        finally:
            self.drop(model, row_id)

    def beat(self) -> None:
        """Say every held row is still worked on (only rows this keeper still owns)."""
        with self._lock:
            held = {model: sorted(ids) for model, ids in self._held.items() if ids}
        if not held:
            return
        with self.factory() as db:
            for model, ids in held.items():
                db.execute(
                    update(model)
                    .where(model.id.in_(ids), model.owner == self.owner)
                    .values(heartbeat_at=utcnow())
                )
            db.commit()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        with _live_lock:
            _live_owners.discard(self.owner)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.beat()
            except Exception:  # a database hiccup: the next beat tries again
                log.warning("could not renew leases", exc_info=True)

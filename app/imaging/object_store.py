"""Stored files as objects in an S3-compatible bucket (Amazon S3, SeaweedFS, MinIO, Ceph...).

The client is obstore (Rust's ``object_store`` crate, maintained by the Apache Arrow project):
one connection pool per process, retries with exponential backoff built in, range reads for
later tile-at-a-time access. A put is atomic on S3 (an object appears whole or not at all), so
no draft-and-rename is needed here; an import still writes its objects before its rows and
removes them again when the rows fail (``app.imaging.importing.storing``).

Whatever goes wrong after the retries becomes ``StorageUnavailable`` (503 in the common shape,
with Retry-After); a missing object stays ``FileNotFoundError``, as for local files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import obstore
import zarr.storage
from obstore.exceptions import BaseError
from obstore.store import S3Store as _ObstoreS3
from zarr.abc.store import Store as ZarrStore

from app.imaging.storage import CHUNK, StorageUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class S3Config:
    bucket: str
    endpoint: str | None = None
    prefix: str = ""
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    retries: int = 3
    timeout_seconds: float = 10.0

    def __repr__(self) -> str:  # the secret never reaches a log line
        return (
            f"S3Config(bucket={self.bucket!r}, endpoint={self.endpoint!r}, prefix={self.prefix!r})"
        )


def _checked_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"storage key escapes the store: {key!r}")
    return key


class S3Store:
    """``BlobStore`` over one bucket (and an optional prefix inside it)."""

    def __init__(self, config: S3Config) -> None:
        self.config = config
        options: dict[str, object] = {
            "timeout": timedelta(seconds=config.timeout_seconds),
            "connect_timeout": timedelta(seconds=min(config.timeout_seconds, 3.0)),
        }
        if config.endpoint and config.endpoint.startswith("http://"):
            options["allow_http"] = True
        given: dict[str, str] = {}  # unset: obstore looks in the environment (AWS_*)
        if config.endpoint:
            given["endpoint"] = config.endpoint
        if config.access_key_id:
            given["access_key_id"] = config.access_key_id
        if config.secret_access_key:
            given["secret_access_key"] = config.secret_access_key
        self._zarr: ZarrStore | None = None
        try:
            self._store = self._client(config, options, given)
        except BaseError as error:  # for example no credentials given or in the environment
            first = str(error).splitlines()[0]
            raise ValueError(f"The object store settings are incomplete: {first}") from None

    @staticmethod
    def _client(config: S3Config, options: dict[str, object], given: dict[str, str]) -> _ObstoreS3:
        return _ObstoreS3(
            config.bucket,
            region=config.region,
            virtual_hosted_style_request=False,
            client_options=options,  # type: ignore[arg-type]
            retry_config={
                "max_retries": config.retries,
                "backoff": {
                    "init_backoff": timedelta(milliseconds=100),
                    "max_backoff": timedelta(seconds=2),
                    "base": 2,
                },
                "retry_timeout": timedelta(seconds=config.timeout_seconds),
            },
            **given,  # type: ignore[arg-type]
        )

    def _path(self, key: str) -> str:
        return self.config.prefix + _checked_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with _answered("put", missing_is_unavailable=True):
            obstore.put(self._store, path, data)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        with _answered("get"):
            return bytes(obstore.get(self._store, path).bytes())

    def get_range(self, key: str, start: int, length: int) -> bytes:
        path = self._path(key)
        with _answered("get"):
            return bytes(obstore.get_range(self._store, path, start=start, length=length))

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with _answered("delete"):
                obstore.delete(self._store, path)
        except FileNotFoundError:
            return

    def exists(self, key: str) -> bool:
        path = self._path(key)
        try:
            with _answered("head"):
                obstore.head(self._store, path)
        except FileNotFoundError:
            return False
        return True

    def local_path(self, key: str) -> Path | None:
        return None

    def zarr_location(self, key: str) -> tuple[ZarrStore, str]:
        path = self._path(key)
        if self._zarr is None:
            self._zarr = zarr.storage.ObjectStore(self._store, read_only=True)
        return self._zarr, path

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        with _answered("put", missing_is_unavailable=True):
            obstore.put(self._store, target, path)  # multipart, chunk by chunk

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        path = self._path(key)
        with _answered("get"):
            result = obstore.get(self._store, path)
        size = int(result.meta["size"])

        def chunks() -> Iterator[bytes]:
            with _answered("get"):
                for chunk in result.stream(min_chunk_size=CHUNK):
                    yield bytes(chunk)

        return size, chunks()

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every object under ``prefix`` (a folder key such as ``images/``), with its time."""
        start = self._path(prefix.rstrip("/")) + "/"
        with _answered("list"):
            for chunk in obstore.list(self._store, prefix=start, chunk_size=1000):
                for meta in chunk:
                    yield meta["path"][len(self.config.prefix) :], meta["last_modified"]

    def check(self) -> None:
        """Raise ``StorageUnavailable`` unless the bucket answers (for readiness checks)."""
        with _answered("list"):
            next(iter(obstore.list(self._store, prefix=self.config.prefix, chunk_size=1)), None)


@contextmanager
def _answered(operation: str, *, missing_is_unavailable: bool = False) -> Iterator[None]:
    """Map obstore's errors: not found stays ``FileNotFoundError``; the rest, after obstore's
    own retries, is ``StorageUnavailable`` (logged without credentials)."""
    try:
        yield
    except FileNotFoundError:
        if not missing_is_unavailable:
            raise
        log.warning("object store %s failed: the bucket is missing", operation)
        raise StorageUnavailable(operation) from None
    except (BaseError, OSError) as error:
        log.warning("object store %s failed: %s", operation, str(error).splitlines()[0])
        raise StorageUnavailable(operation) from None

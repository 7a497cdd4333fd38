"""Where stored files live, behind a small interface: a local directory (the default, here) or
an S3-compatible bucket (``app.imaging.object_store``), chosen by ``MAMMOREAD_STORAGE``."""

from __future__ import annotations

import io
import os
import secrets
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np
import zarr.storage
from zarr.abc.store import Store as ZarrStore

from app.core.errors import Unavailable
from app.core.private import create_private, make_private_dir

DRAFT_SUFFIX = ".part"
IMAGES_DIR = "images"
PYRAMID_DIR = "pyramid"
ZARR_SUFFIX = ".zarr"
CHUNK = 1 << 20  # bytes per read when a file is copied or streamed


RETRY_AFTER_SECONDS = 5


class StorageUnavailable(Unavailable):
    """The image store did not answer (after its retries): 503, nothing changed."""

    code = "storage_unavailable"

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"The image store did not answer ({operation}); nothing was changed. "
            "Try again in a moment.",
            details=[{"operation": operation}],
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def local_path(self, key: str) -> Path | None:
        """A file path for memory-mapped reads, when the store is local."""
        ...

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        """Every whole stored file under the folder ``prefix``, with when it was written."""
        ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of a stored file from ``start`` (a range request on S3)."""
        ...

    def zarr_location(self, key: str) -> tuple[ZarrStore, str]:
        """Zarr's own read-only store for this one, and the path of ``key`` in it."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store a (large) file under ``key`` without reading it into memory; a file that
        already is ``key``'s own (the local store) stays where it is."""
        ...

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        """The size of ``key``'s object and its bytes in chunks (FileNotFoundError when
        there is none)."""
        ...


class LocalStore:
    """Files under a root directory, for the service's user only (folders 0700, files 0600).

    Writes are atomic: a draft ``.<name>.<random>.part`` beside the file, renamed when whole,
    so a crash leaves either nothing, a draft, or the whole file (see ``app.imaging.sweep``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._zarr: ZarrStore | None = None

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        make_private_dir(path.parent)
        draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}{DRAFT_SUFFIX}")
        try:
            with create_private(draft) as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(draft, path)
        finally:
            draft.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        with self._path(key).open("rb") as handle:
            handle.seek(start)
            return handle.read(length)

    def zarr_location(self, key: str) -> tuple[ZarrStore, str]:
        self._path(key)  # the same check of the key
        if self._zarr is None:
            self._zarr = zarr.storage.LocalStore(self.root, read_only=True)
        return self._zarr, key

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        if target == path.resolve():
            return
        make_private_dir(target.parent)
        draft = target.with_name(f".{target.name}.{secrets.token_hex(4)}{DRAFT_SUFFIX}")
        try:
            with path.open("rb") as source, create_private(draft) as handle:
                shutil.copyfileobj(source, handle, CHUNK)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(draft, target)
        finally:
            draft.unlink(missing_ok=True)

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        path = self._path(key)
        size = path.stat().st_size  # FileNotFoundError when it is gone

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk

        return size, chunks()

    def listing(self, prefix: str) -> Iterator[tuple[str, datetime]]:
        root = self.root.resolve()
        for path in sorted(self._path(prefix.rstrip("/")).rglob("*")):
            if path.is_file() and not path.name.endswith(DRAFT_SUFFIX):
                when = datetime.fromtimestamp(path.stat().st_mtime, UTC)
                yield str(path.relative_to(root)), when


def dicom_key(study_id: str, image_id: str) -> str:
    return f"{IMAGES_DIR}/{study_id}/{image_id}.dcm"


def level_key(study_id: str, image_id: str, level: int) -> str:
    """A level of the pyramid layout before Zarr (``PyramidFormat.NPY``)."""
    return f"{PYRAMID_DIR}/{study_id}/{image_id}/{level}.npy"


def pyramid_group(study_id: str, image_id: str) -> str:
    """The folder of an image's Zarr pyramid (``PyramidFormat.ZARR``)."""
    return f"{PYRAMID_DIR}/{study_id}/{image_id}{ZARR_SUFFIX}"


def array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def load_array(store: BlobStore, key: str) -> np.ndarray:
    path = store.local_path(key)
    if path is not None:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    return np.load(io.BytesIO(store.get(key)), allow_pickle=False)

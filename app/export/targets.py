"""Where an export goes: a zip archive or a folder, written file by file as a stream."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol, TextIO

from app.core.private import create_private, make_private_dir
from app.imaging.storage import BlobStore

CHUNK = 1 << 20


class Target(Protocol):
    def text(self, name: str) -> AbstractContextManager[TextIO]: ...

    def copy(self, name: str, source: Path) -> None: ...

    def write(self, name: str, data: bytes) -> None: ...


def copy_stored(target: Target, name: str, store: BlobStore, key: str) -> None:
    """A stored file into the export: copied from disk, or fetched from the object store."""
    source = store.local_path(key)
    if source is not None:
        target.copy(name, source)
    else:
        target.write(name, store.get(key))


class FolderTarget:
    """Files under a folder; each is written to a temporary name, then renamed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def text(self, name: str) -> Iterator[TextIO]:
        path = self._path(name)
        draft = path.with_name(f".{path.name}.part")
        with draft.open("w", encoding="utf-8", newline="") as handle:
            yield handle
        os.replace(draft, path)

    def copy(self, name: str, source: Path) -> None:
        shutil.copyfile(source, self._path(name))

    def write(self, name: str, data: bytes) -> None:
        path = self._path(name)
        draft = path.with_name(f".{path.name}.part")
        draft.write_bytes(data)
        os.replace(draft, path)

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"export file name escapes the folder: {name!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


class ZipTarget:
    """Members of one zip archive (deflated). Text members are written to temporary files
    first (several may be open at once, which a zip cannot do), so nothing is held in
    memory; each goes into the archive when it is closed."""

    def __init__(self, archive: zipfile.ZipFile, scratch: Path) -> None:
        self.archive = archive
        self.scratch = scratch

    @contextmanager
    def text(self, name: str) -> Iterator[TextIO]:
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="", dir=self.scratch) as f:
            yield f
            f.flush()
            f.buffer.seek(0)
            with self.archive.open(name, "w", force_zip64=True) as member:
                shutil.copyfileobj(f.buffer, member, CHUNK)

    def copy(self, name: str, source: Path) -> None:
        # DICOM pixel data is mostly compressed already: storing is as small and far faster.
        self.archive.write(source, name, compress_type=zipfile.ZIP_STORED)

    def write(self, name: str, data: bytes) -> None:
        self.archive.writestr(name, data, compress_type=zipfile.ZIP_STORED)


@contextmanager
def open_target(path: Path) -> Iterator[FolderTarget | ZipTarget]:
    """A zip when ``path`` ends in .zip (written to a temporary ``.part`` name, mode 0600,
    renamed when whole), else a folder."""
    if path.suffix.lower() != ".zip":
        yield FolderTarget(path)
        return
    make_private_dir(path.parent)
    draft = draft_of(path)
    draft.unlink(missing_ok=True)  # left by an export that crashed
    try:
        with (
            create_private(draft) as handle,
            zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z,
        ):
            yield ZipTarget(z, path.parent)
        os.replace(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def draft_of(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")

"""Files in: what an import reads (a ``Source``: uploads, files on disk, zip members), and the
checks on the bytes made before pydicom parses anything, so that a hostile file costs no more
memory than the file limit: zip archives are opened member by member (no nested archives, no
unsafe paths, within the configured counts and sizes), a file must start as DICOM does, and a
deflated data set is measured before pydicom inflates it."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import BinaryIO

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian

from app.imaging.kit import ImagingKit

MAX_FILE_BYTES = 2**30
ZIP_MAGIC = b"PK\x03\x04"
DICOM_HEAD = 132  # the preamble and "DICM"
CHUNK_BYTES = 2**20  # zip members and deflated data sets are read this much at a time


class Rejected(Exception):
    """A file that cannot be imported, with the reason to show for it."""


@dataclass(frozen=True)
class Source:
    """A file to import: a display name and a way to read its bytes (read once, late).

    ``open`` (optional) gives a seekable binary file instead, so a zip archive is read member
    by member rather than whole."""

    name: str
    read: Callable[[], bytes]
    open: Callable[[], BinaryIO] | None = None


# --- expanding uploads ----------------------------------------------------------------------


def expand(sources: Iterable[Source], kit: ImagingKit) -> Iterator[Source]:
    """Zip archives become their members; unsafe members become refusals, not files."""
    for source in sources:
        if is_housekeeping(PurePosixPath(source.name.replace("\\", "/")).name):
            continue
        if not source.name.lower().endswith(".zip"):
            yield source
            continue
        try:
            handle = source.open() if source.open else io.BytesIO(source.read())
            archive = zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, OSError, ValueError):
            yield _refusal(source.name, "The zip archive is damaged or not a zip file.")
            continue
        yield from _members(source.name, archive, kit)


def _members(name: str, archive: zipfile.ZipFile, kit: ImagingKit) -> Iterator[Source]:
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) > kit.max_zip_entries:
        yield _refusal(
            name,
            f"The zip holds {len(entries)} files; at most "
            f"{kit.max_zip_entries} are taken from one archive.",
        )
        return
    if sum(info.file_size for info in entries) > kit.max_unzipped_bytes:
        yield _refusal(name, "The zip expands to more than the configured limit (zip bomb?).")
        return
    for info in entries:
        member = f"{name}/{info.filename}"
        path = PurePosixPath(info.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or info.filename.startswith("/"):
            yield _refusal(member, "Unsafe path inside the zip (absolute or with '..').")
        elif is_housekeeping(path.name):
            continue
        elif info.file_size > MAX_FILE_BYTES:
            yield _refusal(member, f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
        else:
            yield Source(member, _reader(archive, info))


def is_housekeeping(name: str) -> bool:
    """Files that folders and archives carry beside images: skipped, not refused."""
    return name.startswith(".") or name.upper() in ("DICOMDIR", "THUMBS.DB")


def _reader(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            with archive.open(info) as handle:
                return _streamed(handle, info.file_size)
        except (zipfile.BadZipFile, RuntimeError, OSError, zlib.error, EOFError):
            raise Rejected("The zip entry is damaged or encrypted.") from None

    return read


def _streamed(handle: BinaryIO, declared: int) -> bytes:
    """A zip member read chunk by chunk, never whole at once: refused after its first bytes
    when it is not DICOM, and as soon as it runs past its declared size or the file limit."""
    head = handle.read(DICOM_HEAD)
    reason = head_refusal(head)
    if reason:
        raise Rejected(reason)
    buffer = io.BytesIO()
    buffer.write(head)
    while chunk := handle.read(CHUNK_BYTES):
        buffer.write(chunk)
        if buffer.tell() > MAX_FILE_BYTES:
            raise Rejected(f"The file is larger than {MAX_FILE_BYTES // 2**20} MB.")
        if buffer.tell() > declared:
            raise Rejected("The zip entry holds more than its declared size (damaged?).")
    return buffer.getvalue()


def head_refusal(head: bytes) -> str | None:
    """Whether a file's first 132 bytes can start a DICOM file (preamble, then "DICM")."""
    if head[:4] == ZIP_MAGIC:
        return "A zip archive is only opened when its name ends in .zip (not nested)."
    if head[128:DICOM_HEAD] != b"DICM":
        return "Not a DICOM file (no DICM preamble)."
    return None


def _refusal(name: str, reason: str) -> Source:
    def read() -> bytes:
        raise Rejected(reason)

    return Source(name, read)


# --- reading one file -----------------------------------------------------------------------


def read_dataset(source: Source) -> pydicom.Dataset:
    """The file parsed by pydicom, once its bytes passed the checks; ``Rejected`` with the
    reason otherwise."""
    try:
        data = source.read()
    except OSError as error:
        raise Rejected(f"The file could not be read: {error.strerror or error}.") from None
    reason = head_refusal(data[:DICOM_HEAD]) or inflation_refusal(data)
    if reason:
        raise Rejected(reason)
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except InvalidDicomError:
        raise Rejected("Not a DICOM file (no DICM preamble).") from None
    except Exception:  # pydicom raises many kinds on damaged files
        raise Rejected("The DICOM file is damaged or truncated.") from None


def inflation_refusal(data: bytes) -> str | None:
    """pydicom inflates a deflated data set whole: first make sure it stays under the file
    limit, inflating chunk by chunk and keeping nothing (a deflate bomb otherwise)."""
    stream = io.BytesIO(data)
    stream.seek(DICOM_HEAD)
    try:
        syntax = _read_file_meta_info(stream).get("TransferSyntaxUID")
    except Exception:  # a damaged header: dcmread says so
        return None
    if syntax != DeflatedExplicitVRLittleEndian:
        return None
    try:
        inflated = _inflated_size(memoryview(data)[stream.tell() :], MAX_FILE_BYTES)
    except zlib.error:
        return "The deflated data set is damaged."
    if inflated > MAX_FILE_BYTES:
        return f"The deflated data set expands to more than {MAX_FILE_BYTES // 2**20} MB."
    return None


def _inflated_size(deflated: memoryview, limit: int) -> int:
    """The inflated size of raw deflate data, counted up to just past ``limit``."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending, total = deflated, 0
    while not inflater.eof and total <= limit:
        inflated = len(inflater.decompress(pending, CHUNK_BYTES))
        pending, total = inflater.unconsumed_tail, total + inflated
        if not inflated and not pending:
            break
    return total

"""Import: one code path for browser uploads, the API and the CLI.

Each file is accepted whole or not at all: its stored files are written first (each as a
``.part`` draft renamed when whole) and removed again if the database transaction fails, and a
refusal leaves nothing behind. A crash in between leaves only drafts, files without a row and
an unfinished batch whose lease goes stale: ``app.imaging.sweep`` finds and ends them. One bad file
never stops the batch. Importing the same image again changes nothing and says so.
"""

from __future__ import annotations

import io
import logging
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO, Literal

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import Actor, record
from app.core import leases
from app.core.database import utcnow
from app.imaging import qc
from app.imaging.decoding import DecodeRefused, decode_capped
from app.imaging.dicom import FOR_PROCESSING, ImageMeta, read_meta, refusal
from app.imaging.display import DisplayParams, WindowChoice, apply_lut, build_lut, to_storage
from app.imaging.kit import ImagingKit
from app.imaging.models import Image, ImportBatch, QcFlag, Study
from app.imaging.pseudonymise import (
    Identifiers,
    NotPseudonymisable,
    black_out_corners,
    identifiers,
    pseudonymise,
    screened_meta,
)
from app.imaging.pyramid import build_levels
from app.imaging.storage import array_bytes, dicom_key, level_key

log = logging.getLogger(__name__)
Status = Literal["imported", "already_present", "rejected"]
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


@dataclass(frozen=True)
class Outcome:
    name: str
    status: Status
    reason: str | None = None
    study_id: str | None = None
    image_id: str | None = None
    flags: tuple[str, ...] = ()


@dataclass
class ImportReport:
    batch_id: int
    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("imported", "already_present", "rejected")}


Progress = Callable[[Outcome], None]


def import_sources(
    db: Session,
    kit: ImagingKit,
    sources: Iterable[Source],
    *,
    actor: Actor,
    channel: str,
    progress: Progress | None = None,
) -> ImportReport:
    # the batch's lease: a process starting meanwhile leaves it alone while this one beats
    keeper = leases.Keeper(sessionmaker(bind=db.get_bind().engine))
    batch = ImportBatch(
        user_id=actor.user.id if actor.user else None,
        actor_name=actor.display,
        channel=channel,
        owner=keeper.owner,
        heartbeat_at=utcnow(),
    )
    db.add(batch)
    db.commit()
    report = ImportReport(batch.id)
    keeper.hold(ImportBatch, batch.id)
    try:
        for source in expand(sources, kit):
            outcome = import_one(db, kit, source, batch.id)
            report.outcomes.append(outcome)
            if progress is not None:
                progress(outcome)
    finally:
        try:
            _finish(db, batch, report, actor)
        finally:
            keeper.stop()
    return report


def _finish(db: Session, batch: ImportBatch, report: ImportReport, actor: Actor) -> None:
    batch = db.merge(batch)
    batch.finished_at = utcnow()
    batch.imported = report.count("imported")
    batch.already_present = report.count("already_present")
    batch.rejected = report.count("rejected")
    batch.outcomes = [
        {"status": o.status, "reason": o.reason, "study_id": o.study_id, "image_id": o.image_id}
        for o in report.outcomes
    ]
    record(
        db,
        actor,
        "images.imported",
        object_type="import_batch",
        object_id=batch.id,
        **report.summary(),
    )
    db.commit()


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


# --- one file -------------------------------------------------------------------------------


@dataclass
class Prepared:
    """Everything computed from one file before anything is written."""

    meta: ImageMeta
    study_id: str
    series_id: str
    image_id: str
    file_bytes: bytes
    display: DisplayParams
    levels: list[np.ndarray]
    findings: list[qc.Finding]
    chest_wall_side: str | None
    pseudonym_scheme: str


def import_one(db: Session, kit: ImagingKit, source: Source, batch_id: int) -> Outcome:
    """One file's outcome. Nothing a file contains can stop the batch: the unforeseen is
    logged and reported as a refusal of that file alone."""
    try:
        return _import_one(db, kit, source, batch_id)
    except Exception:
        log.exception("import of one file failed unexpectedly")
        db.rollback()
        return Outcome(source.name, "rejected", "The file could not be processed (logged).")


def _import_one(db: Session, kit: ImagingKit, source: Source, batch_id: int) -> Outcome:
    try:
        dataset = _read_dataset(source)
        reason = refusal(dataset, kit.policy)
        if reason:
            raise Rejected(reason)
        ids = identifiers(dataset, kit.pseudonyms)
        if db.scalar(select(Image.id).where(Image.image_id == ids.image_id)) is not None:
            return Outcome(
                source.name,
                "already_present",
                "This image was imported before.",
                ids.study_id,
                ids.image_id,
            )
        prepared = prepare(dataset, kit)
    except Rejected as refusal_:
        return Outcome(source.name, "rejected", str(refusal_))
    try:
        image = _store(db, kit, prepared, batch_id)
    except IntegrityError:  # imported concurrently by another request
        return Outcome(
            source.name,
            "already_present",
            "This image was imported before.",
            prepared.study_id,
            prepared.image_id,
        )
    flags = tuple(f.kind for f in prepared.findings)
    return Outcome(source.name, "imported", None, prepared.study_id, image.image_id, flags)


def _read_dataset(source: Source) -> pydicom.Dataset:
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


def prepare(dataset: pydicom.Dataset, kit: ImagingKit) -> Prepared:
    """Decode once, build the display pyramid, run the checks, pseudonymise (after refusal())."""
    meta = screened_meta(read_meta(dataset), dataset, kit.keep_device_names)
    ids = identifiers(dataset, kit.pseudonyms)
    pixels = _decoded(dataset, meta)
    signed = int(dataset.get("PixelRepresentation", 0)) == 1
    if kit.blackout_fraction > 0:
        pixels = black_out_corners(pixels, kit.blackout_fraction, int(pixels.min()))
    storage = to_storage(pixels, signed)
    levels = build_levels(storage)
    clean = _pseudonymised(dataset, ids, kit)
    display = DisplayParams.from_dataset(clean, value_range=_value_range(dataset, storage))
    findings, side = _image_findings(meta, display, levels[-1], kit.blackout_fraction > 0)
    if kit.blackout_fraction > 0:
        clean.set_pixel_data(pixels, meta.photometric, meta.bits_stored)
        clean.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return Prepared(
        meta,
        ids.study_id,
        ids.series_id,
        ids.image_id,
        _encoded(clean),
        display,
        levels,
        findings,
        side,
        pseudonym_scheme=ids.scheme,
    )


def _pseudonymised(dataset: pydicom.Dataset, ids: Identifiers, kit: ImagingKit) -> pydicom.Dataset:
    try:
        return pseudonymise(
            dataset,
            ids,
            kit.keep,
            keep_device_names=kit.keep_device_names,
            blackout=kit.blackout_fraction > 0,
        )
    except NotPseudonymisable as error:
        raise Rejected(f"The file cannot be pseudonymised: {error}") from None


def _decoded(dataset: pydicom.Dataset, meta: ImageMeta) -> np.ndarray:
    """Decoded after refusal() checked the codestream's own size; compressed data is decoded
    in a worker process with a memory and time limit (decoding.py)."""
    try:
        pixels = decode_capped(dataset)
    except DecodeRefused as error:
        raise Rejected(str(error)) from None
    except Exception:  # decoders raise many kinds on damaged data
        raise Rejected("The pixel data could not be decoded (damaged or truncated).") from None
    if pixels.shape != (meta.rows, meta.columns):
        raise Rejected(f"The pixel data has shape {pixels.shape}, not {meta.rows}x{meta.columns}.")
    return pixels


def _value_range(dataset: pydicom.Dataset, storage: np.ndarray) -> tuple[float, float]:
    slope = float(dataset.get("RescaleSlope", 1) or 1)
    intercept = float(dataset.get("RescaleIntercept", 0) or 0)
    offset = 32768 if int(dataset.get("PixelRepresentation", 0)) == 1 else 0
    low, high = (float(v) - offset for v in (storage.min(), storage.max()))
    return tuple(sorted((low * slope + intercept, high * slope + intercept)))  # type: ignore[return-value]


def _image_findings(
    meta: ImageMeta, display: DisplayParams, small: np.ndarray, blackout: bool
) -> tuple[list[qc.Finding], str | None]:
    shown = apply_lut(small, build_lut(display, WindowChoice()))
    side = qc.chest_wall_side(shown)
    findings = [
        qc.laterality_finding(meta.laterality, side),
        qc.inversion_finding(shown, side),
    ]
    if meta.laterality is None or meta.view is None:
        findings.append(qc.Finding(qc.UNKNOWN_VIEW, "Laterality or view position is missing."))
    if (meta.presentation_intent or "").upper() == FOR_PROCESSING:
        findings.append(qc.Finding(qc.FOR_PROCESSING, "Raw detector data, not for reading."))
    if meta.burned_in_annotation and not blackout:
        findings.append(
            qc.Finding(
                qc.BURNED_IN_TEXT,
                "The file says text is burned into the pixels (it may identify the patient); "
                "check the image or import with corner blackout on.",
            )
        )
    return [f for f in findings if f is not None], side


def _encoded(dataset: pydicom.Dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# --- writing --------------------------------------------------------------------------------


def _store(db: Session, kit: ImagingKit, prepared: Prepared, batch_id: int) -> Image:
    keys = [dicom_key(prepared.study_id, prepared.image_id)]
    keys += [
        level_key(prepared.study_id, prepared.image_id, i) for i in range(len(prepared.levels))
    ]
    try:
        kit.store.put(keys[0], prepared.file_bytes)
        for key, level in zip(keys[1:], prepared.levels, strict=True):
            kit.store.put(key, array_bytes(level))
        image = _insert(db, prepared, keys[0], batch_id)
        db.commit()
    except BaseException:
        db.rollback()
        # a concurrent import of the same image owns these keys once its row is committed
        if db.scalar(select(Image.id).where(Image.image_id == prepared.image_id)) is None:
            for key in keys:
                kit.store.delete(key)
        raise
    return image


def _insert(db: Session, prepared: Prepared, file_key: str, batch_id: int) -> Image:
    meta = prepared.meta
    study = _study(db, prepared)
    image = Image(
        image_id=prepared.image_id,
        series_id=prepared.series_id,
        study_pk=study.id,
        laterality=meta.laterality,
        view=meta.view,
        rows=meta.rows,
        columns=meta.columns,
        bits_stored=meta.bits_stored,
        photometric=meta.photometric,
        presentation_intent=meta.presentation_intent,
        modality=meta.modality,
        manufacturer=meta.manufacturer,
        model=meta.model,
        pixel_spacing=meta.pixel_spacing,
        transfer_syntax=meta.transfer_syntax,
        display=prepared.display.to_json(),
        pyramid_widths=[int(level.shape[1]) for level in prepared.levels],
        chest_wall_side=prepared.chest_wall_side,
        file_key=file_key,
        file_size=len(prepared.file_bytes),
        import_batch_id=batch_id,
        pseudonym_scheme=prepared.pseudonym_scheme,
    )
    db.add(image)
    db.flush()
    for finding in prepared.findings:
        db.add(
            QcFlag(study_pk=study.id, image_pk=image.id, kind=finding.kind, detail=finding.detail)
        )
    db.flush()
    refresh_view_flags(db, study)
    return image


def _study(db: Session, prepared: Prepared) -> Study:
    """The image's study, created if new; a study created concurrently is simply used."""
    found = select(Study).where(Study.study_id == prepared.study_id)
    study = db.scalar(found)
    if study is not None:
        return study
    try:
        with db.begin_nested():
            study = Study(
                study_id=prepared.study_id,
                patient_age=prepared.meta.patient_age,
                patient_sex=prepared.meta.patient_sex,
            )
            db.add(study)
    except IntegrityError:
        return db.scalars(found).one()
    return study


def refresh_view_flags(db: Session, study: Study) -> None:
    """Missing and duplicate views are derived from the study's images: open flags follow them
    (an import that completes a study removes its "missing" flag); cleared ones stay cleared."""
    rows = db.execute(select(Image.laterality, Image.view).where(Image.study_pk == study.id))
    names = [qc.view_name(laterality, view) for laterality, view in rows]
    wanted = {(finding.kind, finding.detail) for finding in qc.view_findings(names)}
    existing = db.scalars(
        select(QcFlag).where(QcFlag.study_pk == study.id, QcFlag.kind.in_(qc.VIEW_FLAGS))
    ).all()
    for flag in existing:
        if flag.cleared_at is None and (flag.kind, flag.detail) not in wanted:
            db.delete(flag)
    known = {(flag.kind, flag.detail) for flag in existing}
    for kind, detail in sorted(wanted - known):
        db.add(QcFlag(study_pk=study.id, kind=kind, detail=detail))

"""Finding studies and images, QC flags, and serving display pixels."""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

import numpy as np
from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session

from app.audit.service import Actor, record
from app.core.database import newest_first_page, utcnow
from app.core.errors import Conflict, Invalid, NotFound, field_error
from app.imaging import qc, stored_pyramid, tiled
from app.imaging.display import (
    DisplayParams,
    DisplayProtocol,
    WindowChoice,
    build_lut,
    encode,
    render,
    under_protocol,
)
from app.imaging.kit import ImagingKit
from app.imaging.models import Image, ImportBatch, QcFlag, Study
from app.imaging.pyramid import pick_level
from app.imaging.tiled import TILE

RENDER_FORMATS = {"png": "image/png", "jpeg": "image/jpeg"}
MAX_RENDER_WIDTH = 8192
MAX_RENDER_PIXELS = 40 * 2**20
# Part of every ETag and cache key: bump it when the display chain changes what it draws.
RENDER_VERSION = "1"


# --- queries --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StudyQuery:
    text: str | None = None
    flag: str | None = None
    complete: bool | None = None
    manufacturer: str | None = None
    patient: str | None = None  # one woman's studies: her patient key


def _open_flag(kinds: tuple[str, ...] | None = None):
    condition = (QcFlag.study_pk == Study.id) & QcFlag.cleared_at.is_(None)
    if kinds:
        condition &= QcFlag.kind.in_(kinds)
    return exists().where(condition)


def _study_filter(query: StudyQuery) -> Select[tuple[Study]]:
    statement = select(Study)
    if query.text:
        needle = query.text.strip().lower()
        has_image = exists().where(Image.study_pk == Study.id, Image.image_id.startswith(needle))
        statement = statement.where(
            or_(Study.study_id.startswith(needle), Study.patient_key.startswith(needle), has_image)
        )
    if query.patient:
        statement = statement.where(Study.patient_key == query.patient.strip().lower())
    if query.flag:
        statement = statement.where(_open_flag((query.flag,)))
    if query.complete is not None:
        incomplete = _open_flag(qc.VIEW_FLAGS)
        statement = statement.where(~incomplete if query.complete else incomplete)
    if query.manufacturer:
        statement = statement.where(
            exists().where(Image.study_pk == Study.id, Image.manufacturer == query.manufacturer)
        )
    return statement


def list_studies(
    db: Session, query: StudyQuery, *, limit: int, offset: int
) -> tuple[list[Study], int]:
    return newest_first_page(db, _study_filter(query), Study.id, limit=limit, offset=offset)


def count_women(db: Session, query: StudyQuery) -> int:
    """The women the matching studies belong to: distinct patient keys, a study without one
    counting as a woman of its own."""
    matching = _study_filter(query).subquery()
    keyed = select(func.count(func.distinct(matching.c.patient_key)))
    unkeyed = select(func.count()).select_from(matching).where(matching.c.patient_key.is_(None))
    return int(db.scalar(keyed) or 0) + int(db.scalar(unkeyed) or 0)


def women_studies(db: Session, patient_keys: list[str]) -> dict[str, int]:
    """How many studies each of these women has in the installation."""
    if not patient_keys:
        return {}
    statement = (
        select(Study.patient_key, func.count())
        .where(Study.patient_key.in_(set(patient_keys)))
        .group_by(Study.patient_key)
    )
    return {key: int(count) for key, count in db.execute(statement).all()}


def manufacturers(db: Session) -> list[str]:
    statement = select(Image.manufacturer).where(Image.manufacturer.is_not(None)).distinct()
    return sorted(m for m in db.scalars(statement) if m)


def get_study(db: Session, study_id: str) -> Study:
    study = db.scalar(select(Study).where(Study.study_id == study_id.lower()))
    if study is None:
        raise NotFound(f"There is no study {study_id[:40]!r}.")
    return study


def get_image(db: Session, image_id: str) -> Image:
    image = db.scalar(select(Image).where(Image.image_id == image_id.lower()))
    if image is None:
        raise NotFound(f"There is no image {image_id[:40]!r}.")
    return image


def flags_of(db: Session, study: Study, *, include_cleared: bool = False) -> list[QcFlag]:
    statement = select(QcFlag).where(QcFlag.study_pk == study.id)
    if not include_cleared:
        statement = statement.where(QcFlag.cleared_at.is_(None))
    return list(db.scalars(statement.order_by(QcFlag.id)))


def open_flag_counts(db: Session) -> dict[str, int]:
    """How many studies carry an open flag of each kind (a study with two "missing view"
    flags counts once: the figures sit next to study lists and filters)."""
    studies = func.count(func.distinct(QcFlag.study_pk))
    rows = db.execute(
        select(QcFlag.kind, studies).where(QcFlag.cleared_at.is_(None)).group_by(QcFlag.kind)
    )
    return {kind: count for kind, count in rows.all()}  # noqa: C416 - rows are Row objects


def clear_flag(
    db: Session, actor: Actor, flag_id: int, reason: str, *, study: Study | None = None
) -> QcFlag:
    flag = db.get(QcFlag, flag_id)
    if flag is None or (study is not None and flag.study_pk != study.id):
        raise NotFound(f"There is no QC flag {flag_id}.")
    if flag.cleared_at is not None:
        raise Conflict("This QC flag was already cleared.", code="already_cleared")
    reason = reason.strip()
    if not reason:
        raise field_error(
            "reason",
            "Say why the flag can be cleared.",
            detail="A reason is required.",
        )
    flag.cleared_at = utcnow()
    flag.cleared_by = actor.user.id if actor.user else None
    flag.clear_reason = reason[:1000]
    record(
        db,
        actor,
        "qc.cleared",
        object_type="qc_flag",
        object_id=flag.id,
        kind=flag.kind,
        reason=flag.clear_reason,
    )
    db.commit()
    return flag


def imaging_summary(db: Session) -> dict[str, object]:
    complete = list_studies(db, StudyQuery(complete=True), limit=1, offset=0)[1]
    return {
        "studies": db.scalar(select(func.count()).select_from(Study)) or 0,
        "women": count_women(db, StudyQuery()),
        "complete": complete,
        "images": db.scalar(select(func.count()).select_from(Image)) or 0,
        "open_flags": open_flag_counts(db),
        "kinds": qc.KINDS,
    }


def import_history(db: Session, *, limit: int, offset: int) -> tuple[list[ImportBatch], int]:
    return newest_first_page(db, select(ImportBatch), ImportBatch.id, limit=limit, offset=offset)


# --- display pixels -------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderRequest:
    choice: WindowChoice
    width: int | None
    flip: bool
    fmt: str
    # one grey-scale function for images compared side by side (masking pairs)
    protocol: DisplayProtocol = DisplayProtocol.HEADER

    def validate(self, image: Image) -> None:
        if self.fmt not in RENDER_FORMATS:
            raise field_error(
                "format",
                f"Unknown format {self.fmt[:10]!r}; use png or jpeg.",
                detail="Use png or jpeg.",
            )
        widest = min(MAX_RENDER_WIDTH, 2 * image.columns)
        if self.width is not None and not 1 <= self.width <= widest:
            raise field_error(
                "width",
                f"Width must be 1 to {widest} pixels for this image.",
                detail="Out of range.",
            )
        width = self.width or image.columns
        if width * round(image.rows * width / image.columns) > MAX_RENDER_PIXELS:
            raise field_error(
                "width",
                "The requested image would be too large.",
                detail="Too large.",
            )
        if self.choice.width is not None and self.choice.width <= 0:
            raise field_error(
                "ww",
                "The window width must be positive.",
                detail="Must be greater than 0.",
            )
        presets = len(DisplayParams.from_json(image.display).windows)
        if self.choice.preset is not None and not 0 <= self.choice.preset < max(presets, 1):
            raise field_error(
                "preset",
                f"This image has {presets} window preset(s); preset must be 0 to "
                f"{max(presets - 1, 0)}.",
                detail="No such preset.",
            )

    def etag(self, image: Image) -> str:
        key = repr(
            (
                RENDER_VERSION,
                image.image_id,
                image.imported_at.isoformat(),
                self.choice,
                self.width,
                self.flip,
                self.fmt,
                # absent for the header's own display: its tags stay what they were
                *(() if self.protocol == DisplayProtocol.HEADER else (self.protocol,)),
            )
        )
        return '"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'


class Pixels:
    """Serves display pixels from the stored pyramid, with a bounded in-memory cache."""

    def __init__(self, kit: ImagingKit, cache_bytes: int = 256 * 2**20) -> None:
        self.kit = kit
        self.pyramids = stored_pyramid.Reader(kit.store)
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = 0
        self._lock = Lock()

    def rendered(self, image: Image, request: RenderRequest) -> bytes:
        key = ("render", image.image_id, image.imported_at, request)
        return self._cached(key, lambda: self._render(image, request))

    def raw(self, image: Image, level: int) -> bytes:
        """uint16 little-endian display data of one pyramid level, gzip-compressed."""
        self._check_level(image, level)
        key = ("raw", image.image_id, image.imported_at, level)

        def make() -> bytes:
            array = self._level(image, level).astype("<u2", copy=False)
            return gzip.compress(np.ascontiguousarray(array).tobytes(), compresslevel=1)

        return self._cached(key, make)

    def level_shape(self, image: Image, level: int) -> tuple[int, int]:
        return self.pyramids.shape(image, level)

    def tile(self, image: Image, level: int, row: int, col: int) -> tuple[bytes, tuple[int, int]]:
        """One TILE x TILE square of a level (smaller at the right and bottom edges): its
        uint16 little-endian values, gzip-compressed, and its shape. Only the stored tiles (or
        DICOM rows) it covers are read."""
        self._check_level(image, level)
        rows, cols = self.level_shape(image, level)
        region = tiled.tile_region((rows, cols), row, col)
        if region is None:
            down, across = tiled.grid((rows, cols))
            raise field_error(
                "tile",
                f"Level {level} has tiles 0-{down - 1} down and 0-{across - 1} across.",
                detail="No such tile.",
            )
        key = ("tile", image.image_id, image.imported_at, level, row, col)

        def make() -> bytes:
            values = self.pyramids.region(image, level, *region).astype("<u2", copy=False)
            return gzip.compress(np.ascontiguousarray(values).tobytes(), compresslevel=1)

        shape = (min(TILE, rows - row * TILE), min(TILE, cols - col * TILE))  # cut at the edges
        return self._cached(key, make), shape

    def _render(self, image: Image, request: RenderRequest) -> bytes:
        params = under_protocol(DisplayParams.from_json(image.display), request.protocol)
        try:
            lut = build_lut(params, request.choice)
        except ValueError as error:
            raise Invalid(str(error)) from None
        wanted = request.width or image.columns
        level = self._level(image, pick_level(image.pyramid_widths, wanted))
        pixels = render(level, lut, width=wanted, flip=request.flip)
        return encode(pixels, request.fmt)

    def _level(self, image: Image, level: int) -> np.ndarray:
        return self.pyramids.level(image, level)

    @staticmethod
    def _check_level(image: Image, level: int) -> None:
        if not 0 <= level < len(image.pyramid_widths):
            raise field_error(
                "level",
                f"This image has pyramid levels 0 to {len(image.pyramid_widths) - 1}.",
                detail="No such level.",
            )

    def _cached(self, key: tuple, make) -> bytes:
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            previous = self._cache.pop(key, None)  # computed concurrently by another request
            self._size += len(value) - (len(previous) if previous is not None else 0)
            self._cache[key] = value
            while self._size > self.cache_bytes and self._cache:
                _, evicted = self._cache.popitem(last=False)
                self._size -= len(evicted)
        return value

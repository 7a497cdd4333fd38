"""Imaging API: import, studies, images, display pixels, QC flags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from app.auth.deps import AdminPrincipal, CurrentPrincipal, Db
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES, field_error
from app.core.ids import Count, Id, Offset
from app.imaging import qc
from app.imaging.access import require_study_access
from app.imaging.display import DisplayProtocol, WindowChoice
from app.imaging.importer import Source, import_sources
from app.imaging.importing import queued
from app.imaging.models import Image, Study
from app.imaging.schemas import (
    ClearFlag,
    ImageOut,
    ImportBatchOut,
    ImportOut,
    ImportProgressOut,
    OutcomeOut,
    QcFlagOut,
    StudyDetailOut,
    StudyOut,
    StudyPage,
)
from app.imaging.service import (
    RENDER_FORMATS,
    RENDER_VERSION,
    RenderRequest,
    StudyQuery,
    clear_flag,
    count_women,
    flags_of,
    get_image,
    get_study,
    import_history,
    list_studies,
    women_studies,
)
from app.imaging.states import ImportChannel
from app.imaging.tiled import TILE
from app.imaging.views import flag_out, image_out

router = APIRouter(prefix="/api/v1", tags=["imaging"], responses=ERROR_RESPONSES)
# Display pixels never change for an image id: the URL names everything that shapes the bytes.
IMMUTABLE = "private, max-age=31536000, immutable"


ContinueBatch = Annotated[
    Id | None,
    Form(
        description="Add the files to an import batch you started with the same endpoint "
        "under an hour ago (POST /images: once its earlier request has ended): an upload "
        "sent in several requests stays one import."
    ),
]


def upload_sources(files: list[UploadFile]) -> list[Source]:
    """Uploaded files as import sources; each is read only when its turn comes."""
    return [
        Source(upload.filename or f"file-{index + 1}", upload.file.read, lambda u=upload: u.file)
        for index, upload in enumerate(files)
    ]


@router.post("/images", response_model=ImportOut, responses=FORM_RESPONSES)
def import_images(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    files: Annotated[list[UploadFile], File(description="DICOM files or zip archives.")],
    batch: ContinueBatch = None,
) -> ImportOut:
    """Import DICOM files (or zips of them): pseudonymised, checked, stored; idempotent."""
    kit = request.app.state.imaging
    report = import_sources(
        db,
        kit,
        upload_sources(files),
        actor=principal.actor,
        channel=ImportChannel.API,
        continue_batch=batch,
    )
    return ImportOut(
        batch_id=report.batch_id,
        **report.summary(),
        outcomes=[
            OutcomeOut(**outcome.__dict__, flag_texts=[qc.kind_text(f) for f in outcome.flags])
            for outcome in report.outcomes
        ],
    )


@router.post(
    "/imports",
    response_model=ImportProgressOut,
    status_code=202,
    responses=FORM_RESPONSES,
)
def queue_import(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    files: Annotated[list[UploadFile], File(description="DICOM files or zip archives.")],
    batch: ContinueBatch = None,
) -> ImportProgressOut:
    """Import DICOM files (or zips of them) in the background: they are stored as sent until
    the job queue's workers import them, several at once (pseudonymised, checked, stored;
    idempotent, as ``POST /images``). Follow the batch at ``GET /imports/{batch_id}``; the
    outcomes say each file's position in the upload, from 0."""
    state = request.app.state
    queued_batch = queued.queue_import(
        db,
        state.imaging,
        state.jobs,
        upload_sources(files),
        actor=principal.actor,
        channel=ImportChannel.API,
        continue_batch=batch,
    )
    return import_progress(db, queued_batch.id)


@router.get("/imports/{batch_id}", response_model=ImportProgressOut)
def import_batch(
    batch_id: Id,
    _: AdminPrincipal,
    db: Db,
    outcomes: Annotated[
        bool,
        Query(
            description="With every outcome so far; false: the counts alone (to follow a "
            "large upload cheaply, then read the outcomes once at its end)."
        ),
    ] = True,
) -> ImportProgressOut:
    """An import's progress and outcomes (any import: one run in its request is finished)."""
    return import_progress(db, batch_id, outcomes)


def import_progress(db: Db, batch_id: int, outcomes: bool = True) -> ImportProgressOut:
    return ImportProgressOut(**queued.progress_of(db, batch_id, with_outcomes=outcomes))


@router.get("/imports", response_model=list[ImportBatchOut])
def imports(
    _: AdminPrincipal,
    db: Db,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> list:
    return import_history(db, limit=limit, offset=offset)[0]


@router.get("/studies", response_model=StudyPage)
def studies(
    _: AdminPrincipal,
    db: Db,
    q: Annotated[str | None, Query(max_length=64, description="Study or image id prefix.")] = None,
    flag: Annotated[str | None, Query(max_length=32, description="Open QC flag kind.")] = None,
    complete: Annotated[bool | None, Query(description="Four standard views, once each.")] = None,
    manufacturer: Annotated[str | None, Query(max_length=64)] = None,
    patient: Annotated[
        str | None, Query(max_length=32, description="One woman's studies: her patient key.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> StudyPage:
    query = StudyQuery(q, flag, complete, manufacturer, patient)
    rows, total = list_studies(db, query, limit=limit, offset=offset)
    counts = women_studies(db, [s.patient_key for s in rows if s.patient_key])
    return StudyPage(
        total=total,
        women=count_women(db, query),
        items=[study_out(db, study, counts) for study in rows],
    )


@router.get("/studies/{study_id}", response_model=StudyDetailOut)
def study_detail(study_id: str, _: AdminPrincipal, db: Db) -> StudyDetailOut:
    study = get_study(db, study_id)
    flags = flags_of(db, study, include_cleared=True)
    return StudyDetailOut(
        **study_out(db, study).model_dump(),
        images=[image_out(image, flags) for image in study.images],
        flags=[flag_out(flag) for flag in flags],
    )


def viewable_image(db: Db, principal: CurrentPrincipal, image_id: str) -> Image:
    image = get_image(db, image_id)
    require_study_access(db, principal.user, image.study, f"image {image_id[:40]!r}")
    return image


@router.get("/images/{image_id}", response_model=ImageOut)
def image_detail(image_id: str, principal: CurrentPrincipal, db: Db) -> ImageOut:
    """Metadata, window presets, display parameters and QC flags of one image (readers get
    the open flags, kind and text only)."""
    image = viewable_image(db, principal, image_id)
    if not principal.user.is_admin:
        return image_out(image, flags_of(db, image.study), reader=True)
    return image_out(image, flags_of(db, image.study, include_cleared=True))


@router.get(
    "/images/{image_id}/render",
    response_class=Response,
    responses={200: {"content": {t: {} for t in RENDER_FORMATS.values()}}},
)
def render_image(
    image_id: str,
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    preset: Annotated[Count | None, Query(description="Window preset index.")] = None,
    wc: Annotated[float | None, Query(description="Window centre (with ww).")] = None,
    ww: Annotated[float | None, Query(description="Window width (with wc), > 0.")] = None,
    width: Annotated[int | None, Query(description="Output width; original when absent.")] = None,
    flip: bool = False,
    format: Annotated[str, Query(description="png (lossless) or jpeg.")] = "png",
    protocol: Annotated[
        DisplayProtocol,
        Query(
            description="header: the image's own VOI; the others: one function for all "
            "images compared side by side (a masking project's display protocol)."
        ),
    ] = DisplayProtocol.HEADER,
) -> Response:
    """The image through its display chain (rescale, VOI, inversion, flip, size)."""
    image = viewable_image(db, principal, image_id)
    if (wc is None) != (ww is None):
        raise field_error(
            "ww" if ww is None else "wc",
            "Give both wc and ww, or neither.",
            detail="Missing.",
        )
    choice = WindowChoice(preset=preset, center=wc, width=ww)
    wanted = RenderRequest(choice, width, flip, format, protocol)
    wanted.validate(image)
    etag = wanted.etag(image)
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    body = request.app.state.pixels.rendered(image, wanted)
    return Response(body, media_type=RENDER_FORMATS[format], headers=headers)


@router.get(
    "/images/{image_id}/raw",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def raw_image(
    image_id: str,
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    level: Annotated[int, Query(ge=0, le=16, description="Pyramid level; 0 = full size.")] = 0,
) -> Response:
    """Stored values (uint16, little-endian, row-major) of one pyramid level, gzip-encoded,
    for windowing in the browser. X-Image-Width and X-Image-Height give the shape."""
    image = viewable_image(db, principal, image_id)
    pixels = request.app.state.pixels
    body = pixels.raw(image, level)
    rows, columns = pixels.level_shape(image, level)
    stamp = f"{image.imported_at.timestamp():.0f}"
    etag = f'"{RENDER_VERSION}-{image.image_id}-{stamp}-{level}"'
    return _values_response(request, body, etag, {"X-Image-Width": columns, "X-Image-Height": rows})


@router.get(
    "/images/{image_id}/tiles/{level}/{row}/{col}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def image_tile(
    image_id: str,
    request: Request,
    principal: CurrentPrincipal,
    db: Db,
    level: Annotated[Count, Path(description="Pyramid level; 0 = full size.")],
    row: Annotated[Count, Path(description="Tile row, from the top.")],
    col: Annotated[Count, Path(description="Tile column, from the left.")],
) -> Response:
    """One 512x512 tile of a pyramid level (smaller at the right and bottom edges): stored
    values (uint16, little-endian, row-major), gzip-encoded, for windowing in the browser.
    X-Tile-Width and X-Tile-Height give its shape; X-Tile-Size the full tile size. Only the
    stored tiles it covers are read, so zooming costs the tiles on screen, not the level."""
    image = viewable_image(db, principal, image_id)
    body, (height, width) = request.app.state.pixels.tile(image, level, row, col)
    stamp = f"{image.imported_at.timestamp():.0f}"
    etag = f'"{RENDER_VERSION}-{image.image_id}-{stamp}-t{level}-{row}-{col}"'
    shape = {"X-Tile-Width": width, "X-Tile-Height": height, "X-Tile-Size": TILE}
    return _values_response(request, body, etag, shape)


def _values_response(request: Request, body: bytes, etag: str, shape: dict[str, int]) -> Response:
    """Stored values, gzip-encoded, cached for good; ``shape``'s headers readable by scripts."""
    headers = {
        "ETag": etag,
        "Cache-Control": IMMUTABLE,
        "Content-Encoding": "gzip",
        **{name: str(value) for name, value in shape.items()},
        "Access-Control-Expose-Headers": ", ".join(shape),
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/octet-stream", headers=headers)


@router.post("/qc-flags/{flag_id}/clear", response_model=QcFlagOut)
def clear_qc_flag(flag_id: Id, body: ClearFlag, principal: AdminPrincipal, db: Db) -> QcFlagOut:
    """Clear a QC flag with a reason (kept, with who and when)."""
    return flag_out(clear_flag(db, principal.actor, flag_id, body.reason))


# --- conversions ----------------------------------------------------------------------------


def study_out(db: Db, study: Study, woman_counts: dict[str, int] | None = None) -> StudyOut:
    views = sorted(image.view_name for image in study.images)
    open_kinds = sorted({flag.kind for flag in flags_of(db, study)})
    if woman_counts is None:
        woman_counts = women_studies(db, [study.patient_key] if study.patient_key else [])
    return StudyOut(
        study_id=study.study_id,
        patient_key=study.patient_key,
        study_date=study.study_date,
        woman_studies=woman_counts.get(study.patient_key or "", 1),
        patient_age=study.patient_age,
        patient_sex=study.patient_sex,
        created_at=study.created_at,
        views=views,
        open_flags=open_kinds,
    )

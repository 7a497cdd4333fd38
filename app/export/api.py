"""Export API: start an export job, follow it, download the archive; the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from app.audit.service import record
from app.auth.deps import AdminPrincipal, Db
from app.core.database import begin_write
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES
from app.core.ids import Count, Id
from app.export import jobs, reading_export
from app.export.models import ExportJob
from app.export.release_uploads import import_uploads
from app.export.states import ExportFormat, JobStatus, ProjectKind, StartAs

router = APIRouter(prefix="/api/v1", tags=["export"], responses=ERROR_RESPONSES)
SCHEMA_PATH = Path(__file__).parent / "schemas" / "vindr.schema.json"


class ExportIn(BaseModel):
    project_kind: ProjectKind = ProjectKind.READING
    project_id: Id
    format: ExportFormat = Field(
        description="vindr: the VinDr-Mammo CSV pair; json: the same nested; reads: every "
        "read with provenance; csaw: masking labels in the CSAW-M layout and the comparison "
        "log; comparisons: the comparison log alone."
    )
    include_non_final: bool = Field(
        default=False, description="vindr: also list the studies not final, with their status."
    )
    with_images: bool = Field(
        default=False, description="Add the DICOM files as images/<study_id>/<image_id>.dicom."
    )
    split_ratio: float = Field(default=0.8, description="Training share of a computed split.")
    split_seed: Count = Field(default=0, description="Seed of a computed split.")


class ExportJobOut(BaseModel):
    id: int
    project_kind: ProjectKind
    project_id: int
    project_name: str | None = Field(
        default=None, description="The project's name (none when the project is gone)."
    )
    format: ExportFormat
    options: dict[str, Any]
    status: JobStatus
    done: int
    total: int
    file_name: str | None
    size: int | None
    error: str | None
    attempts: int = Field(
        description="Runs started so far (a run a stopped worker left is run again)."
    )
    cancel_requested: bool = Field(
        description="Someone asked to cancel it; it stops at its next step."
    )
    download: str | None
    created_at: Any
    finished_at: Any


def job_out(job: ExportJob, project_name: str | None = None) -> ExportJobOut:
    return ExportJobOut(
        id=job.id,
        project_kind=job.project_kind,
        project_id=job.project_id,
        project_name=project_name,
        format=job.format,
        options=job.options,
        status=job.status,
        done=job.done,
        total=job.total,
        file_name=job.file_name,
        size=job.size,
        error=job.error,
        attempts=job.attempts,
        cancel_requested=bool(job.cancel_requested),
        download=f"/api/v1/exports/{job.id}/download" if job.status == JobStatus.DONE else None,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


def start_job(request: Request, db: Db, principal: AdminPrincipal, body: ExportIn) -> ExportJob:
    wanted = jobs.Request(
        body.project_kind,
        body.project_id,
        body.format,
        reading_export.Options(
            include_non_final=body.include_non_final,
            with_images=body.with_images,
            split_ratio=body.split_ratio,
            split_seed=body.split_seed,
        ),
    )
    state = request.app.state
    return jobs.start(db, principal.actor, wanted, state.jobs, state.run_export)


@router.post("/exports", response_model=ExportJobOut, status_code=status.HTTP_202_ACCEPTED)
def create_export(
    request: Request, body: ExportIn, principal: AdminPrincipal, db: Db
) -> ExportJobOut:
    """Start building an export in the background; follow it at /exports/{id}."""
    job = start_job(request, db, principal, body)
    return job_out(job, jobs.project_name(db, job))


@router.get("/exports", response_model=list[ExportJobOut])
def list_exports(
    _: AdminPrincipal, db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[ExportJobOut]:
    listed = jobs.recent(db, limit)
    names = jobs.project_names(db, listed)
    return [job_out(job, names.get((job.project_kind, job.project_id))) for job in listed]


@router.get("/exports/{job_id}", response_model=ExportJobOut)
def get_export(job_id: Id, _: AdminPrincipal, db: Db) -> ExportJobOut:
    job = jobs.get(db, job_id)
    return job_out(job, jobs.project_name(db, job))


@router.post("/exports/{job_id}/cancel", response_model=ExportJobOut)
def cancel_export(job_id: Id, principal: AdminPrincipal, db: Db) -> ExportJobOut:
    """Cancel an export: a queued one ends at once, a running one at its next step (the
    reply then still says running). 409 when it has ended already."""
    job = jobs.cancel(db, principal.actor, job_id)
    return job_out(job, jobs.project_name(db, job))


@router.get(
    "/exports/{job_id}/download",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
def download_export(
    job_id: Id, request: Request, principal: AdminPrincipal, db: Db
) -> StreamingResponse:
    """The finished archive (the audit log records who downloaded it, from the page or with an
    API token)."""
    job = jobs.get(db, job_id)
    size, chunks = jobs.file_of(job, request.app.state.imaging.store)
    begin_write(db)
    record(
        db,
        principal.actor,
        "export.downloaded",
        object_type="export_job",
        object_id=job.id,
        file=job.file_name,
        project=f"{job.project_kind}:{job.project_id}",
        via="token" if principal.token is not None else "session",
    )
    db.commit()
    return StreamingResponse(
        chunks,
        media_type="application/zip",
        headers={
            "Content-Length": str(size),
            # the name is a slug of the project's name (a-z, 0-9, -) and the format
            "Content-Disposition": f'attachment; filename="{job.file_name or "export.zip"}"',
        },
    )


@router.get("/export/schemas/vindr-json", response_model=dict[str, Any])
def vindr_json_schema(_: AdminPrincipal) -> dict[str, Any]:
    """The JSON Schema of the JSON export (annotations.json)."""
    return json.loads(SCHEMA_PATH.read_text())


class ReleaseOut(BaseModel):
    project_id: int
    project_name: str
    studies: int
    images_imported: int


@router.post(
    "/releases",
    response_model=ReleaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=FORM_RESPONSES,
)
def import_release(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    project_name: Annotated[str, Form(max_length=120)],
    breast_csv: Annotated[UploadFile, File(description="breast-level_annotations.csv")],
    finding_csv: Annotated[UploadFile, File(description="finding_annotations.csv")],
    dicom: Annotated[
        list[UploadFile] | None, File(description="The DICOM files or zips (optional).")
    ] = None,
    start_as: Annotated[
        StartAs,
        Form(description="final, or first_read: each label is a first read to re-read."),
    ] = StartAs.FINAL,
    first_reader: Annotated[
        str, Form(max_length=64, description="first_read: whose read the labels are.")
    ] = "",
    override_reason: Annotated[
        str,
        Form(
            max_length=2000,
            description="Import incomplete studies anyway (missing views, open QC flags), "
            "recorded with each study and in the audit log. Empty: they refuse the release.",
        ),
    ] = "",
) -> ReleaseOut:
    """Import a VinDr-format release as a reading project whose studies start final, or as
    first reads to be read again and arbitrated. Any problem refuses the whole release,
    listing every problem with its file and line."""
    done = import_uploads(
        request,
        db,
        principal,
        project_name,
        breast_csv,
        finding_csv,
        dicom,
        start_as,
        first_reader,
        override_reason,
    )
    return ReleaseOut(
        project_id=done.project.id,
        project_name=done.project.name,
        studies=done.studies,
        images_imported=done.images_imported,
    )

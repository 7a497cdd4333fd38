"""PACS API (administrators): DICOMweb sources, searches, and retrieval jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from app.auth.deps import AdminPrincipal, Db
from app.core.errors import ERROR_RESPONSES, ErrorResponse
from app.core.ids import Id
from app.pacs import jobs, service
from app.pacs.models import PacsRetrieval, PacsSource
from app.pacs.schemas import (
    ConnectionOut,
    FailureOut,
    RetrievalIn,
    RetrievalOut,
    SearchIn,
    SearchOut,
    SourceChange,
    SourceIn,
    SourceOut,
    StudyFoundOut,
)
from app.pacs.states import RetrievalStatus

router = APIRouter(prefix="/api/v1/pacs", tags=["pacs"], responses=ERROR_RESPONSES)
PACS_RESPONSES: dict[int | str, dict[str, Any]] = {
    424: {
        "model": ErrorResponse,
        "description": "The PACS could not be used: unreachable, credentials refused, not "
        "DICOMweb, or an error of its own (the code and message say which).",
    }
}


def source_out(source: PacsSource) -> SourceOut:
    return SourceOut(
        id=source.id,
        name=source.name,
        base_url=source.base_url,
        qido_root=source.qido_root,
        wado_root=source.wado_root,
        stow_root=source.stow_root,
        auth_kind=source.auth_kind,
        username=source.username,
        secret_set=service.secret_set(source),
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


def retrieval_out(job: PacsRetrieval, source_name: str | None) -> RetrievalOut:
    return RetrievalOut(
        id=job.id,
        source_id=job.source_id,
        source_name=source_name,
        status=job.status,
        studies=job.studies,
        studies_pending=job.studies_pending,
        instances=job.instances,
        imported=job.imported,
        already_present=job.already_present,
        rejected=job.rejected,
        failed=job.failed,
        failures=[FailureOut(**failure) for failure in job.failures or []],
        import_batches=list(job.batch_ids or []),
        error=job.error,
        runs=job.runs,
        resumable=job.status in RetrievalStatus.resumable() and job.source_id is not None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.get("/sources", response_model=list[SourceOut])
def list_sources(_: AdminPrincipal, db: Db) -> list[SourceOut]:
    return [source_out(source) for source in service.list_sources(db)]


@router.post("/sources", response_model=SourceOut, status_code=status.HTTP_201_CREATED)
def create_source(request: Request, body: SourceIn, principal: AdminPrincipal, db: Db) -> SourceOut:
    """Configure a DICOMweb source; its password or token is stored encrypted."""
    data = service.SourceData(**body.model_dump())
    settings = request.app.state.settings
    return source_out(service.create_source(db, principal.actor, settings, data))


@router.get("/sources/{source_id}", response_model=SourceOut)
def get_source(source_id: Id, _: AdminPrincipal, db: Db) -> SourceOut:
    return source_out(service.get_source(db, source_id))


@router.patch("/sources/{source_id}", response_model=SourceOut)
def update_source(
    request: Request, source_id: Id, body: SourceChange, principal: AdminPrincipal, db: Db
) -> SourceOut:
    """Change the fields given. ``secret``: omitted or null keeps it, "" removes it."""
    changes = body.model_dump(exclude_unset=True)
    if changes.get("secret", "") is None:
        changes.pop("secret")
    for required in ("name", "base_url", "auth_kind"):
        if required in changes and changes[required] is None:
            changes.pop(required)
    settings = request.app.state.settings
    return source_out(service.update_source(db, principal.actor, settings, source_id, changes))


@router.delete(
    "/sources/{source_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_source(source_id: Id, principal: AdminPrincipal, db: Db) -> Response:
    """Remove a source (refused while one of its retrievals runs); its jobs stay listed."""
    service.delete_source(db, principal.actor, source_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/sources/{source_id}/test", response_model=ConnectionOut, responses=PACS_RESPONSES)
def check_source(request: Request, source_id: Id, _: AdminPrincipal, db: Db) -> ConnectionOut:
    """Ask the source for one study: 200 when it answers; 424 naming the problem when it
    cannot be reached, refuses the credentials or is not a DICOMweb service."""
    checked = service.check_connection(db, request.app.state.settings, source_id)
    return ConnectionOut(ok=True, message=checked.message, milliseconds=checked.milliseconds)


@router.post("/search", response_model=SearchOut, responses=PACS_RESPONSES)
def search(request: Request, body: SearchIn, principal: AdminPrincipal, db: Db) -> SearchOut:
    """Search the source's studies (QIDO-RS): modality, date range, exact accession numbers
    and patient ids (one query each, merged), capped. A POST so that patient ids stay out of
    URLs and access logs; the results are neither stored nor logged."""
    criteria = service.Criteria(
        modality=body.modality,
        date_from=body.date_from,
        date_to=body.date_to,
        accession_numbers=tuple(body.accession_numbers),
        patient_ids=tuple(body.patient_ids),
    )
    found = service.search(
        db, principal.actor, request.app.state.settings, body.source_id, criteria
    )
    return SearchOut(
        studies=[
            StudyFoundOut(**{**row.__dict__, "modalities": list(row.modalities)})
            for row in found.studies
        ],
        capped=found.capped,
        cap=found.cap,
        queries=found.queries,
        message=found.message,
    )


@router.post("/retrievals", response_model=RetrievalOut, status_code=status.HTTP_202_ACCEPTED)
def start_retrieval(
    request: Request, body: RetrievalIn, principal: AdminPrincipal, db: Db
) -> RetrievalOut:
    """Retrieve studies (WADO-RS) in the background, each instance through the import;
    follow it at /retrievals/{id}."""
    state = request.app.state
    job = jobs.start(
        db, principal.actor, state.settings, body.source_id, body.study_uids, jobs.runner_of(state)
    )
    return retrieval_out(job, jobs.source_names(db, [job]).get(job.source_id or 0))


@router.get("/retrievals", response_model=list[RetrievalOut])
def list_retrievals(
    _: AdminPrincipal, db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RetrievalOut]:
    jobs.end_stale(db)
    listed = jobs.recent(db, limit)
    names = jobs.source_names(db, listed)
    return [retrieval_out(job, names.get(job.source_id or 0)) for job in listed]


@router.get("/retrievals/{job_id}", response_model=RetrievalOut)
def get_retrieval(job_id: Id, _: AdminPrincipal, db: Db) -> RetrievalOut:
    jobs.end_stale(db)
    job = jobs.get(db, job_id)
    return retrieval_out(job, jobs.source_names(db, [job]).get(job.source_id or 0))


@router.post(
    "/retrievals/{job_id}/resume",
    response_model=RetrievalOut,
    status_code=status.HTTP_202_ACCEPTED,
)
def resume_retrieval(
    request: Request, job_id: Id, principal: AdminPrincipal, db: Db
) -> RetrievalOut:
    """Fetch what a partial or failed retrieval is missing (its failures and the studies it
    did not reach); 409 while it runs or when it is done."""
    job = jobs.resume(db, principal.actor, job_id, jobs.runner_of(request.app.state))
    return retrieval_out(job, jobs.source_names(db, [job]).get(job.source_id or 0))

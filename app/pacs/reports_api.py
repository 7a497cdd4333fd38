"""Reads back to the PACS (administrators): a project study's final label and reads as DICOM
SR and GSPS, downloaded as a zip or sent with STOW-RS to a configured DICOMweb source."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from app.auth.deps import AdminPrincipal, Db
from app.core.errors import ERROR_RESPONSES, AppError, ErrorResponse
from app.core.ids import Id
from app.core.web import render
from app.pacs import reports_service
from app.pacs.reports_service import What

router = APIRouter(prefix="/api/v1/pacs/reports", tags=["pacs"], responses=ERROR_RESPONSES)
STUDY = "/projects/{project_id}/studies/{study_id}"
PACS_RESPONSES = {
    424: {
        "model": ErrorResponse,
        "description": "The PACS could not be used (unreachable, credentials refused, not "
        "DICOMweb) or refused objects (code pacs_refused: details list each object, whether "
        "it was stored and the PACS's reason).",
    }
}
WHAT_DESCRIPTION = (
    "final: the final label (409 study_not_final when the study is not final); reads: each "
    "submitted read, reader 1, reader 2 and the arbiter (409 no_reads without one); all: both, "
    "as far as they exist."
)


class SendIn(BaseModel):
    source_id: Id = Field(description="The configured DICOMweb source to STOW to.")
    what: What = Field(default=What.ALL, description=WHAT_DESCRIPTION)


class ObjectSentOut(BaseModel):
    name: str = Field(description="The object's name in the download zip.")
    kind: str = Field(description="SR or GSPS.")
    role: str = Field(description="final, reader1, reader2 or arbiter.")
    sop_instance_uid: str
    stored: bool
    reason: str | None = Field(description="The PACS's warning reason, if it gave one.")


class SendOut(BaseModel):
    source_id: int
    source_name: str
    host: str
    stored: int = Field(description="How many objects the PACS stored.")
    objects: list[ObjectSentOut]


@router.get(
    f"{STUDY}.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The .dcm files."}},
)
def download_reports(
    request: Request,
    project_id: Id,
    study_id: str,
    principal: AdminPrincipal,
    db: Db,
    what: Annotated[What, Query(description=WHAT_DESCRIPTION)] = What.ALL,
) -> Response:
    """The study's final label and reads as DICOM SR (TID 1500) and GSPS files, in a zip."""
    built = reports_service.build(db, request.app.state.imaging.store, project_id, study_id, what)
    data = reports_service.zipped(built.objects)
    reports_service.record_download(db, principal.actor, built, what)
    file_name = f"mammoread-reads-{project_id}-{built.project_study.study.study_id}.zip"
    return Response(
        data,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )


@router.post(f"{STUDY}/send", response_model=SendOut, responses=PACS_RESPONSES)
def send_reports(
    request: Request, project_id: Id, study_id: str, body: SendIn, principal: AdminPrincipal, db: Db
) -> SendOut:
    """Send the study's final label and/or reads as SR and GSPS to a DICOMweb source
    (STOW-RS). The objects reference the stored pseudonymised images."""
    state = request.app.state
    result = reports_service.send(
        db,
        state.settings,
        state.imaging.store,
        principal.actor,
        project_id,
        study_id,
        body.source_id,
        body.what,
    )
    return SendOut(
        source_id=result.source_id,
        source_name=result.source_name,
        host=result.host,
        stored=result.stored,
        objects=[ObjectSentOut(**sent.__dict__) for sent in result.objects],
    )


# --- the page an admin sends from (linked from the study review page) -----------------------

pages = APIRouter(prefix="/pacs/reports", include_in_schema=False)


def _send_page(
    request: Request, db: Db, project_id: int, study_id: str, status: int = 200, **context: Any
) -> HTMLResponse:
    facts = reports_service.study_facts(db, project_id, study_id)
    return render(
        request,
        "reading/review_pacs.html",
        {
            "facts": facts,
            "download": f"/api/v1/pacs/reports/projects/{project_id}/studies/{facts.study_id}",
            **context,
        },
        status,
    )


@pages.get(STUDY)
def send_page(
    request: Request, project_id: Id, study_id: str, _: AdminPrincipal, db: Db
) -> HTMLResponse:
    """What can be sent or downloaded, and the form that sends it to a configured PACS."""
    return _send_page(request, db, project_id, study_id)


@pages.post(STUDY)
def send_from_page(
    request: Request,
    project_id: Id,
    study_id: str,
    principal: AdminPrincipal,
    db: Db,
    source_id: Annotated[Id, Form()],
    what: Annotated[What, Form()] = What.ALL,
) -> HTMLResponse:
    """The form's answer: the page again with what the PACS stored, or why not."""
    state = request.app.state
    chosen = {"source_id": source_id, "what": what}
    try:
        result = reports_service.send(
            db,
            state.settings,
            state.imaging.store,
            principal.actor,
            project_id,
            study_id,
            source_id,
            what,
        )
    except AppError as error:
        db.rollback()
        return _send_page(
            request, db, project_id, study_id, error.status_code, error=error, chosen=chosen
        )
    return _send_page(request, db, project_id, study_id, result=result, chosen=chosen)

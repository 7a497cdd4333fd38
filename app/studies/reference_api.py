"""Reader-study API: a reading project's reference standard, imported per breast from a CSV
and listed with what is still missing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile

from app.auth.deps import AdminPrincipal
from app.core.deps import Db
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES
from app.core.ids import Id
from app.reading import service as reading_service
from app.studies import reference
from app.studies.reference import ImportSummary, ReferenceListing

router = APIRouter(prefix="/api/v1/studies", tags=["reader studies"], responses=ERROR_RESPONSES)


@router.post(
    "/projects/{project_id}/reference", response_model=ImportSummary, responses=FORM_RESPONSES
)
def import_reference(
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    file: Annotated[
        UploadFile,
        File(
            description="CSV, UTF-8, with the header study_id,laterality,truth,source,"
            "follow_up_months,date: one row per breast (laterality R/L or right/left; truth "
            "malignant, benign or normal; source pathology, follow_up or consensus; "
            "follow_up_months a whole number of 1 or more, required for follow_up; date "
            "YYYY-MM-DD, optional). Optional lesion columns image_id,xmin,ymin,xmax,ymax (all "
            "or none on a row): a breast has several rows only when each gives a lesion."
        ),
    ],
) -> Any:
    """Import the project's reference standard, all or nothing: every problem (of the file,
    or a study not in the project, an unknown study, a lesion on another study's image) is
    listed in one 422 ``invalid_reference`` with its line (the header is line 1) and nothing
    is stored. Otherwise the breasts given get these truths, replacing what they had; other
    breasts keep theirs."""
    project = reading_service.get_project(db, project_id)
    text = reference.read_reference_upload(file.file)
    return reference.import_reference(db, principal.actor, project, text)


@router.get("/projects/{project_id}/reference", response_model=ReferenceListing)
def list_reference(project_id: Id, _: AdminPrincipal, db: Db) -> Any:
    """The project's reference standard, one row per breast, with counts per truth and per
    source and the project's breasts that have no truth yet."""
    project = reading_service.get_project(db, project_id)
    return reference.reference_listing(db, project)

"""Reader-study API: the AI as a reader. A model's predictions for a reading project's
studies, imported from CSV files, and the project's models listed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from app.auth.deps import AdminPrincipal
from app.core.deps import Db
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES
from app.core.ids import Id
from app.reading import service as reading_service
from app.studies import predictions
from app.studies.predictions import ModelListing, PredictionsSummary
from app.studies.predictions_table import BOXES_FILE, SCORES_FILE

router = APIRouter(prefix="/api/v1/studies", tags=["reader studies"], responses=ERROR_RESPONSES)


@router.post(
    "/projects/{project_id}/models",
    response_model=PredictionsSummary,
    status_code=201,
    responses=FORM_RESPONSES,
)
def import_model(
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    name: Annotated[
        str, Form(max_length=1000, description="The model's name, 1 to 80 characters.")
    ],
    scores: Annotated[
        UploadFile,
        File(
            description="CSV, UTF-8, with the header study_id,left_malignant,right_malignant "
            "(optionally left_benign,right_benign, checked but not kept): one row per exam, "
            "each score a number between 0 and 1."
        ),
    ],
    description: Annotated[str, Form(max_length=10000)] = "",
    shown_to_readers: Annotated[
        bool, Form(description="Its marks are what readers see in the aided session.")
    ] = False,
    boxes: Annotated[
        UploadFile | None,
        File(
            description="Optional CSV, UTF-8, in VinDr-Mammo's finding layout plus a score: "
            "study_id,image_id,laterality,finding_categories,finding_birads,xmin,ymin,xmax,"
            "ymax,score (finding_categories like ['Mass'], finding_birads empty or "
            "'BI-RADS n', the box in the image's pixels, score between 0 and 1)."
        ),
    ] = None,
) -> Any:
    """Import a model's predictions as a new reader ``AI: <name>``, all or nothing: every
    problem of the files (or a study unknown or not in the project, a box on another study's
    or breast's image) is listed in one 422 ``invalid_predictions`` with its file and line
    (the header is line 1). A name the project has already is a 409 ``model_exists`` (a
    model is imported once); a second model shown to readers a 409 ``model_shown_already``."""
    project = reading_service.get_project(db, project_id)
    scores_text = predictions.read_predictions_upload(scores.file, SCORES_FILE)
    boxes_text = (
        predictions.read_predictions_upload(boxes.file, BOXES_FILE) if boxes is not None else None
    )
    return predictions.import_predictions(
        db,
        principal.actor,
        project,
        name,
        description,
        scores_text,
        boxes_text,
        shown_to_readers,
    )


@router.get("/projects/{project_id}/models", response_model=ModelListing)
def list_models(project_id: Id, _: AdminPrincipal, db: Db) -> Any:
    """The project's models: each with its reader name, whether readers are shown it, the
    breasts it scored, its boxes and the project's studies it gave no prediction for."""
    project = reading_service.get_project(db, project_id)
    return predictions.models_of(db, project)

"""Reader-study pages for a project's evidence: its reference standard and its models (the AI
as a reader), each listed with a form to import a CSV; a refused file comes back on the same
page with every problem by its file and line, and nothing stored (the API's services)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal
from app.core.deps import Db
from app.core.errors import field_error
from app.core.ids import Id
from app.core.web import form_or_error, render, see_other
from app.reading import service as reading_service
from app.reading.models import ReadingProject
from app.studies import predictions, reference
from app.studies.predictions_table import BOXES_FILE, SCORES_FILE

router = APIRouter(include_in_schema=False)
#: The breasts without a truth listed on the page (the API lists them all).
SHOWN_MISSING = 40


def _reference_page(
    request: Request, db: Db, project: ReadingProject, status: int = 200, **context: Any
) -> HTMLResponse:
    listing = reference.reference_listing(db, project)
    return render(
        request,
        "studies/reference.html",
        {
            "project": project,
            "summary": listing.summary,
            "missing": listing.summary.without_truth[:SHOWN_MISSING],
            **context,
        },
        status,
    )


@router.get("/projects/{project_id}/reference")
def reference_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _reference_page(request, db, reading_service.get_project(db, project_id))


@router.post("/projects/{project_id}/reference")
def import_reference(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    project = reading_service.get_project(db, project_id)

    def run() -> reference.ImportSummary:
        if file is None or not file.filename:
            raise field_error("file", "Choose the reference standard (CSV).")
        return reference.import_reference(
            db, principal.actor, project, reference.read_reference_upload(file.file)
        )

    return form_or_error(
        run,
        lambda summary: see_other(
            f"/projects/{project_id}/reference",
            notice=f"Reference standard imported: {summary.imported} breasts "
            f"({summary.replaced} replaced), {summary.lesions} lesion boxes.",
            request=request,
        ),
        lambda error: _reference_page(
            request,
            db,
            project,
            error.status_code,
            error=error.message,
            problems=error.details,
            file_name=file.filename if file else "",
        ),
        rollback=db.rollback,
    )


def _models_page(
    request: Request, db: Db, project: ReadingProject, status: int = 200, **context: Any
) -> HTMLResponse:
    form = {"name": "", "description": "", "shown_to_readers": False, **context.pop("form", {})}
    return render(
        request,
        "studies/models.html",
        {
            "project": project,
            "listing": predictions.models_of(db, project),
            "form": form,
            "aided": any(s.aided for s in reading_service.sessions_of(db, project)),
            **context,
        },
        status,
    )


@router.get("/projects/{project_id}/models")
def models_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _models_page(request, db, reading_service.get_project(db, project_id))


@router.post("/projects/{project_id}/models")
def import_model(
    request: Request,
    project_id: Id,
    principal: AdminPrincipal,
    db: Db,
    name: Annotated[str, Form(max_length=1000)] = "",
    description: Annotated[str, Form(max_length=10000)] = "",
    shown_to_readers: Annotated[str, Form(max_length=10)] = "",
    scores: Annotated[UploadFile | None, File()] = None,
    boxes: Annotated[UploadFile | None, File()] = None,
) -> Response:
    project = reading_service.get_project(db, project_id)
    shown = bool(shown_to_readers)

    def run() -> predictions.PredictionsSummary:
        if scores is None or not scores.filename:
            raise field_error("scores", "Choose the model's scores (CSV).")
        scores_text = predictions.read_predictions_upload(scores.file, SCORES_FILE)
        boxes_text = (
            predictions.read_predictions_upload(boxes.file, BOXES_FILE)
            if boxes is not None and boxes.filename
            else None
        )
        return predictions.import_predictions(
            db, principal.actor, project, name, description, scores_text, boxes_text, shown
        )

    return form_or_error(
        run,
        lambda summary: see_other(
            f"/projects/{project_id}/models",
            notice=f"{summary.reader_name} imported: {summary.breasts_scored} breasts scored, "
            f"{summary.boxes} marks.",
            request=request,
        ),
        lambda error: _models_page(
            request,
            db,
            project,
            error.status_code,
            error=error.message,
            problems=error.details,
            form={"name": name[:80], "description": description, "shown_to_readers": shown},
        ),
        rollback=db.rollback,
    )

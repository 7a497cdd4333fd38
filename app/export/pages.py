"""Export pages: start exports and follow them to the download; the agreement report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from app.auth.deps import AdminPrincipal, Db
from app.auth.models import User
from app.core.errors import AppError, field_error
from app.core.ids import Id, parse_integer
from app.core.web import render, see_other
from app.export import jobs, release, report
from app.export.api import import_uploads
from app.masking import service as masking_service
from app.reading import service as reading_service

router = APIRouter(include_in_schema=False)


def _exports_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        "export/exports.html",
        {
            "jobs": jobs.recent(db),
            "reading_projects": reading_service.list_projects(db),
            "masking_projects": masking_service.list_projects(db),
            "chosen": request.query_params.get("project", ""),
            **context,
        },
        status,
    )


@router.get("/exports")
def exports(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _exports_page(request, db)


@router.get("/exports/table")
def exports_table(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    """The job table alone, polled while a job is queued or running."""
    return render(request, "export/_jobs.html", {"jobs": jobs.recent(db)})


@router.post("/exports")
def start_export(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    project: Annotated[str, Form(max_length=40)] = "",
    format: Annotated[str, Form(max_length=20)] = "vindr",
    include_non_final: Annotated[str, Form(max_length=5)] = "",
    with_images: Annotated[str, Form(max_length=5)] = "",
    split_seed: Annotated[str, Form(max_length=12)] = "0",
) -> Response:
    kind, _, project_id = project.partition(":")
    try:
        wanted = jobs.Request(
            kind,
            parse_integer(project_id or "0"),
            format,
            release.Options(
                include_non_final=bool(include_non_final),
                with_images=bool(with_images),
                split_seed=parse_integer(split_seed or "0"),
            ),
        )
        state = request.app.state
        jobs.start(db, principal.actor, wanted, state.exports, state.run_export)
    except ValueError:
        return _exports_page(request, db, 422, error="Choose a project; the seed is a number.")
    except AppError as error:
        db.rollback()
        return _exports_page(request, db, error.status_code, error=error.message)
    return see_other("/exports")


@router.get("/projects/{project_id}/agreement")
def agreement_page(request: Request, project_id: Id, _: AdminPrincipal, db: Db) -> HTMLResponse:
    project = reading_service.get_project(db, project_id)
    return render(
        request,
        "export/agreement.html",
        {"project": project, "report": report.agreement_report(db, project)},
    )


def _release_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    readers = db.scalars(select(User).where(User.is_active.is_(True)).order_by(User.username))
    return render(request, "export/release.html", {"users": list(readers), **context}, status)


@router.get("/releases/import")
def release_form(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _release_page(request, db)


@router.post("/releases/import")
def release_import(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    project_name: Annotated[str, Form(max_length=120)] = "",
    breast_csv: Annotated[UploadFile | None, File()] = None,
    finding_csv: Annotated[UploadFile | None, File()] = None,
    dicom: Annotated[list[UploadFile] | None, File()] = None,
    start_as: Annotated[str, Form(max_length=20)] = "final",
    first_reader: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    form = {"project_name": project_name, "start_as": start_as, "first_reader": first_reader}
    try:
        if breast_csv is None or finding_csv is None or not breast_csv.filename:
            raise field_error("breast_csv", "Choose both CSV files of the release.")
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
        )
    except AppError as error:
        db.rollback()
        return _release_page(
            request, db, error.status_code, error=error.message, problems=error.details, form=form
        )
    return see_other(f"/projects/{done.project.id}")

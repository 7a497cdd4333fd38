"""Export pages: start exports and follow them to the download; import a release."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal, Db
from app.auth.users import list_active_users
from app.core.errors import Invalid, field_error
from app.core.ids import Id, parse_integer
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.export import jobs, reading_export
from app.export.models import ExportJob
from app.export.release_import import Intake
from app.export.release_uploads import import_uploads
from app.export.states import ExportFormat, JobStatus, ProjectKind, StartAs
from app.masking import service as masking_service
from app.reading import service as reading_service

router = APIRouter(include_in_schema=False)
expose_to_templates(JobStatus, ProjectKind, ExportFormat, StartAs)


def _exports_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    return render(
        request,
        "export/exports.html",
        {
            **_jobs_context(db),
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
    return render(request, "export/_jobs.html", _jobs_context(db))


def _jobs_context(db: Db) -> dict[str, Any]:
    """The recent jobs with their projects' names (the job table)."""
    listed = jobs.recent(db)
    return {"jobs": listed, "project_names": jobs.project_names(db, listed)}


@router.post("/exports")
def start_export(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    project: Annotated[str, Form(max_length=40)] = "",
    format: Annotated[str, Form(max_length=20)] = ExportFormat.VINDR,
    include_non_final: Annotated[str, Form(max_length=5)] = "",
    with_images: Annotated[str, Form(max_length=5)] = "",
    split_seed: Annotated[str, Form(max_length=12)] = "0",
) -> Response:
    kind, _, project_id = project.partition(":")

    def start() -> ExportJob:
        wanted = jobs.Request(
            kind,
            _whole(project_id),
            format,
            reading_export.Options(
                include_non_final=bool(include_non_final),
                with_images=bool(with_images),
                split_seed=_whole(split_seed),
            ),
        )
        state = request.app.state
        return jobs.start(db, principal.actor, wanted, state.jobs, state.run_export)

    return form_or_error(
        start,
        lambda job: see_other(
            "/exports", notice=f"Export {job.id} started; it is listed below.", request=request
        ),
        lambda error: _exports_page(request, db, error.status_code, error=error.message),
        rollback=db.rollback,
    )


@router.post("/exports/{job_id}/cancel")
def cancel_export(request: Request, job_id: Id, principal: AdminPrincipal, db: Db) -> Response:
    def said(job: ExportJob) -> str:
        if job.status == JobStatus.CANCELLED:
            return f"Export {job.id} cancelled."
        return f"Export {job.id} stops at its next step."

    return form_or_error(
        lambda: jobs.cancel(db, principal.actor, job_id),
        lambda job: see_other("/exports", notice=said(job), request=request),
        lambda error: _exports_page(request, db, error.status_code, error=error.message),
        rollback=db.rollback,
    )


def _whole(text: str) -> int:
    """The project id or the seed of the form; both are whole numbers."""
    try:
        return parse_integer(text or "0")
    except ValueError:
        raise Invalid("Choose a project; the seed is a number.") from None


def _release_page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    readers = list_active_users(db)
    return render(request, "export/release.html", {"users": readers, **context}, status)


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
    start_as: Annotated[str, Form(max_length=20)] = StartAs.FINAL,
    first_reader: Annotated[str, Form(max_length=64)] = "",
    override_reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    form = {
        "project_name": project_name,
        "start_as": start_as,
        "first_reader": first_reader,
        "override_reason": override_reason,
    }

    def run() -> Intake:
        if breast_csv is None or finding_csv is None or not breast_csv.filename:
            raise field_error("breast_csv", "Choose both CSV files of the release.")
        return import_uploads(
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

    return form_or_error(
        run,
        lambda done: see_other(
            f"/projects/{done.project.id}",
            notice=f"Release imported as project {done.project.name}.",
            request=request,
        ),
        lambda error: _release_page(
            request, db, error.status_code, error=error.message, problems=error.details, form=form
        ),
        rollback=db.rollback,
    )

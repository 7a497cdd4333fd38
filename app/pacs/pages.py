"""PACS page (administrators): configure the source, search, choose studies, retrieve, and
follow the jobs. The same service functions as the API. Search results are rendered once,
never stored (nor put in a cookie or a URL): they are PHI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal, Db
from app.core.errors import AppError, field_error
from app.core.ids import Id, parse_integer
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.pacs import jobs, service
from app.pacs.models import PacsRetrieval
from app.pacs.states import AuthKind, RetrievalStatus

router = APIRouter(include_in_schema=False)
expose_to_templates(AuthKind, RetrievalStatus)
Text = Annotated[str, Form(max_length=500)]
Secret = Annotated[str, Form(max_length=4096)]
Pasted = Annotated[str, Form(max_length=40000)]


def _page(request: Request, db: Db, status: int = 200, **context: Any) -> HTMLResponse:
    sources = service.list_sources(db)
    return render(
        request,
        "pacs/index.html",
        {
            **_jobs_context(db),
            "sources": sources,
            "search": context.pop("search", None) or {"modality": "MG"},
            "source_form": context.pop("source_form", None) or {},
            **context,
        },
        status,
    )


def _jobs_context(db: Db) -> dict[str, Any]:
    jobs.end_stale(db)
    listed = jobs.recent(db, 20)
    return {"jobs": listed, "source_names": jobs.source_names(db, listed)}


@router.get("/pacs")
def pacs_page(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _page(request, db)


@router.get("/pacs/jobs")
def pacs_jobs(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    """The retrieval table alone, polled while a retrieval is queued or running."""
    return render(request, "pacs/_jobs.html", _jobs_context(db))


def _failed(request: Request, db: Db, **context: Any):
    def answer(error: AppError) -> HTMLResponse:
        return _page(request, db, error.status_code, error=error.message, **context)

    return answer


@dataclass
class SourceForm:
    """The source form's fields (adding and editing a source post the same form)."""

    name: Annotated[str, Form(max_length=120)] = ""
    base_url: Text = ""
    qido_root: Text = ""
    wado_root: Text = ""
    auth_kind: Annotated[str, Form(max_length=16)] = AuthKind.NONE
    username: Annotated[str, Form(max_length=255)] = ""
    secret: Secret = ""

    def fields(self) -> dict[str, str]:
        """Every field but the secret (never echoed back, nor changed when left empty)."""
        return {k: v for k, v in self.__dict__.items() if k != "secret"}


@router.post("/pacs/sources")
def create_source(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    form: Annotated[SourceForm, Depends()],
) -> Response:
    data = service.SourceData(**form.fields(), stow_root=None, secret=form.secret or None)
    return form_or_error(
        lambda: service.create_source(db, principal.actor, request.app.state.settings, data),
        lambda source: see_other(
            "/pacs", notice=f"Source {source.name!r} added; test it below.", request=request
        ),
        _failed(request, db, source_form=form.fields()),
        rollback=db.rollback,
    )


@router.post("/pacs/sources/{source_id}")
def update_source(
    request: Request,
    source_id: Id,
    principal: AdminPrincipal,
    db: Db,
    form: Annotated[SourceForm, Depends()],
) -> Response:
    changes = {**form.fields(), **({"secret": form.secret} if form.secret else {})}
    settings = request.app.state.settings
    return form_or_error(
        lambda: service.update_source(db, principal.actor, settings, source_id, changes),
        lambda source: see_other("/pacs", notice=f"Source {source.name!r} saved.", request=request),
        _failed(request, db),
        rollback=db.rollback,
    )


@router.post("/pacs/sources/{source_id}/test")
def check_source(request: Request, source_id: Id, _: AdminPrincipal, db: Db) -> Response:
    settings = request.app.state.settings
    return form_or_error(
        lambda: service.check_connection(db, settings, source_id),
        lambda checked: see_other("/pacs", notice=checked.message, request=request),
        _failed(request, db),
        rollback=db.rollback,
    )


@router.post("/pacs/sources/{source_id}/delete")
def delete_source(request: Request, source_id: Id, principal: AdminPrincipal, db: Db) -> Response:
    return form_or_error(
        lambda: service.delete_source(db, principal.actor, source_id),
        lambda _: see_other("/pacs", notice="Source removed.", request=request),
        _failed(request, db),
        rollback=db.rollback,
    )


@router.post("/pacs/search")
def search(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    source_id: Annotated[str, Form(max_length=12)] = "",
    modality: Annotated[str, Form(max_length=16)] = "",
    date_from: Annotated[str, Form(max_length=10)] = "",
    date_to: Annotated[str, Form(max_length=10)] = "",
    accession_numbers: Pasted = "",
    patient_ids: Pasted = "",
) -> Response:
    """The results are rendered here, once (not a redirect: they are kept nowhere)."""
    form = {
        "source_id": source_id,
        "modality": modality,
        "date_from": date_from,
        "date_to": date_to,
        "accession_numbers": accession_numbers,
        "patient_ids": patient_ids,
    }

    def run() -> service.Found:
        criteria = service.Criteria(
            modality=modality,
            date_from=_day("date_from", date_from),
            date_to=_day("date_to", date_to),
            accession_numbers=service.pasted(accession_numbers),
            patient_ids=service.pasted(patient_ids),
        )
        settings = request.app.state.settings
        return service.search(
            db, principal.actor, settings, _whole("source_id", source_id), criteria
        )

    return form_or_error(
        run,
        lambda found: _page(request, db, search=form, found=found),
        _failed(request, db, search=form),
        rollback=db.rollback,
    )


@router.post("/pacs/retrievals")
def start_retrieval(
    request: Request,
    principal: AdminPrincipal,
    db: Db,
    source_id: Annotated[str, Form(max_length=12)] = "",
    study_uids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    def start() -> PacsRetrieval:
        state = request.app.state
        return jobs.start(
            db,
            principal.actor,
            state.settings,
            _whole("source_id", source_id),
            study_uids or [],
            jobs.runner_of(state),
        )

    return form_or_error(
        start,
        lambda job: see_other(
            "/pacs#retrievals",
            notice=f"Retrieval {job.id} started: {job.studies} studies.",
            request=request,
        ),
        _failed(request, db),
        rollback=db.rollback,
    )


@router.post("/pacs/retrievals/{job_id}/resume")
def resume_retrieval(request: Request, job_id: Id, principal: AdminPrincipal, db: Db) -> Response:
    return form_or_error(
        lambda: jobs.resume(db, principal.actor, job_id, jobs.runner_of(request.app.state)),
        lambda job: see_other(
            "/pacs#retrievals", notice=f"Retrieval {job.id} resumed.", request=request
        ),
        _failed(request, db),
        rollback=db.rollback,
    )


def _whole(field: str, text: str) -> int:
    try:
        return parse_integer(text)
    except ValueError:
        raise field_error(field, "Choose a source.") from None


def _day(field: str, text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise field_error(field, "A date is written YYYY-MM-DD.") from None

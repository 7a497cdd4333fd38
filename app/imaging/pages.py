"""Admin pages: studies (search and filters), a study with its viewer, import, import history."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal, Db
from app.core.ids import Id
from app.core.web import expose_to_templates, form_or_error, render, see_other
from app.imaging import qc
from app.imaging.service import (
    StudyQuery,
    clear_flag,
    count_women,
    flags_of,
    get_study,
    import_history,
    list_studies,
    manufacturers,
    open_flag_counts,
    women_studies,
)
from app.imaging.states import Completeness, ImportChannel, OutcomeStatus, QcKind
from app.imaging.views import image_out

router = APIRouter(include_in_schema=False)
expose_to_templates(OutcomeStatus, ImportChannel, QcKind, Completeness)
PAGE_SIZE = 50


@router.get("/studies")
def studies_page(
    request: Request,
    _: AdminPrincipal,
    db: Db,
    q: Annotated[str | None, Query(max_length=64)] = None,
    flag: Annotated[str | None, Query(max_length=32)] = None,
    complete: Annotated[str | None, Query(max_length=8)] = None,
    manufacturer: Annotated[str | None, Query(max_length=64)] = None,
    patient: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    completeness = Completeness.named(complete)
    wanted = None if completeness is None else completeness.wanted
    query = StudyQuery(q or None, flag or None, wanted, manufacturer or None, patient or None)
    rows, total = list_studies(db, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "imaging/studies.html",
        {
            "studies": [(study, {f.kind for f in flags_of(db, study)}) for study in rows],
            "total": total,
            "women": count_women(db, query),
            "woman_studies": women_studies(db, [s.patient_key for s in rows if s.patient_key]),
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "filters": {
                "q": q or "",
                "flag": flag or "",
                "complete": complete or "",
                "manufacturer": manufacturer or "",
                "patient": patient or "",
            },
            "flag_kinds": qc.KINDS,
            "flag_counts": open_flag_counts(db),
            "manufacturers": manufacturers(db),
        },
    )


def _study_page(
    request: Request, db: Db, study_id: str, status: int = 200, **context: object
) -> HTMLResponse:
    study = get_study(db, study_id)
    flags = flags_of(db, study, include_cleared=True)
    images = [image_out(image, flags).model_dump(mode="json") for image in study.images]
    return render(
        request,
        "imaging/study.html",
        {
            "study": study,
            "flags": flags,
            "flag_kinds": qc.KINDS,
            "images": images,
            "images_json": json.dumps(images),
            **context,
        },
        status=status,
    )


@router.get("/studies/{study_id}")
def study_page(request: Request, study_id: str, _: AdminPrincipal, db: Db) -> HTMLResponse:
    return _study_page(request, db, study_id)


@router.post("/studies/{study_id}/flags/{flag_id}/clear")
def clear_flag_page(
    request: Request,
    study_id: str,
    flag_id: Id,
    principal: AdminPrincipal,
    db: Db,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    return form_or_error(
        lambda: clear_flag(db, principal.actor, flag_id, reason, study=get_study(db, study_id)),
        lambda flag: see_other(
            f"/studies/{study_id}", notice=f"Flag cleared: {flag.detail}", request=request
        ),
        lambda error: _study_page(
            request, db, study_id, status=error.status_code, error=error.message
        ),
    )


@router.get("/import")
def import_page(request: Request, _: AdminPrincipal, db: Db) -> HTMLResponse:
    batches, total = import_history(db, limit=20, offset=0)
    return render(request, "imaging/import.html", {"batches": batches, "total": total})


@router.get("/imports")
def imports_page(
    request: Request,
    _: AdminPrincipal,
    db: Db,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> HTMLResponse:
    batches, total = import_history(db, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "imaging/imports.html",
        {"batches": batches, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE))},
    )

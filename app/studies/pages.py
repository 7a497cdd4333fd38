"""Reader-study pages: the MRMC analysis of an uploaded ratings table, shown on the page
that holds the form (nothing is stored, so the POST answers with the page)."""

from __future__ import annotations

from typing import Annotated, Any, cast, get_args

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from app.auth.deps import AdminPrincipal
from app.core.deps import Db
from app.core.errors import Conflict, Invalid, field_error
from app.core.ids import Id
from app.core.web import form_or_error, render
from app.reading import service as reading_service
from app.studies import figures_cache, project_analysis
from app.studies.analysis import Covariance, RatingsAnalysis, analyse
from app.studies.forest_plot import ForestPlot, forest_plot
from app.studies.ratings_table import read_ratings_upload
from app.studies.roc_plot import CurveInput, RocPlot, roc_plot

router = APIRouter(include_in_schema=False)
COVARIANCES: tuple[str, ...] = get_args(Covariance)
PAGE = "studies/ratings_analysis.html"


def _page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    form = {"covariance": "jackknife", "confidence": "95", **context.pop("form", {})}
    return render(request, PAGE, {"covariances": COVARIANCES, "form": form, **context}, status)


@router.get("/studies/ratings-analysis")
def ratings_analysis_form(request: Request, _: AdminPrincipal) -> HTMLResponse:
    return _page(request)


def confidence_alpha(confidence: str) -> float:
    """One minus the confidence given in percent (strictly between 0 and 100)."""
    try:
        value = float(confidence)
    except ValueError:
        value = float("nan")
    if not 0 < value < 100:
        raise field_error("confidence", "The confidence level is a percentage between 0 and 100.")
    return 1 - value / 100


@router.post("/studies/ratings-analysis")
def ratings_analysis(
    request: Request,
    _: AdminPrincipal,
    ratings: Annotated[UploadFile | None, File()] = None,
    covariance: Annotated[str, Form(max_length=20)] = "jackknife",
    confidence: Annotated[str, Form(max_length=12)] = "95",
) -> Response:
    form = {"covariance": covariance, "confidence": confidence}

    def run() -> RatingsAnalysis:
        if covariance not in COVARIANCES:
            raise field_error("covariance", f"Choose one of {', '.join(COVARIANCES)}.")
        alpha = confidence_alpha(confidence)
        if ratings is None or not ratings.filename:
            raise field_error("ratings", "Choose the ratings table (CSV).")
        study = read_ratings_upload(ratings.file)
        return analyse(study, covariance=cast(Covariance, covariance), alpha=alpha)

    def done(result: RatingsAnalysis) -> HTMLResponse:
        or_result = result.obuchowski_rockette
        plot = forest_plot(or_result.reader_figures, or_result.rrrc.treatments)
        return _page(
            request,
            result=result,
            plot=plot,
            file_name=ratings.filename if ratings else "",
            form=form,
        )

    return form_or_error(
        run,
        done,
        lambda error: _page(
            request, error.status_code, error=error.message, problems=error.details, form=form
        ),
    )


RESULTS_PAGE = "studies/project_results.html"
MAPPING_NAMES = {"seed002": "Seed 002: 1 / 2-3 / 0-4-5", "vindr": "VinDr: 1 / 2 / 3-5"}


@router.get("/projects/{project_id}/results")
def project_results(
    request: Request,
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    mapping: Annotated[str, Query(max_length=12)] = "seed002",
) -> HTMLResponse:
    """A reading project's results: the MRMC analysis of its reads and seed 002's tables."""
    project = reading_service.get_project(db, project_id)
    if mapping not in MAPPING_NAMES:
        mapping = "seed002"
    context: dict[str, Any] = {"project": project, "mapping": mapping, "mappings": MAPPING_NAMES}
    # computed once per state of the project (its reads, reference, models, settings)
    evidence = figures_cache.evidence_key(db, project)
    try:
        analysed = figures_cache.cached_analysis(db, project, evidence=evidence)
    except Conflict as error:
        context["not_analysable"] = error
    else:
        plot, roc = figures_cache.FIGURES.get(("results plots", evidence), lambda: _plots(analysed))
        context.update(analysed=analysed, result=analysed.analysis, plot=plot, roc=roc)
    try:
        context["accuracy"] = figures_cache.cached_accuracy(db, project, mapping, evidence=evidence)
    except Invalid as error:
        context["accuracy_refused"] = error.message
    context["truth_note"] = project_analysis.BASIS_NOTES[project.truth_basis]
    context["session_progress"] = reading_service.session_progress(db, project)
    return render(request, RESULTS_PAGE, context)


def _plots(analysed: project_analysis.ProjectAnalysis) -> tuple[ForestPlot, RocPlot]:
    """The results page's forest plot and ROC curves of an analysis."""
    or_result = analysed.analysis.obuchowski_rockette
    models = [m.auc for m in analysed.models if m.auc is not None]
    curves = [
        CurveInput(c.reader, c.session, c.auc, c.fpr, c.tpr, c.model) for c in analysed.curves
    ]
    return (
        forest_plot(or_result.reader_figures, or_result.rrrc.treatments, models),
        roc_plot(curves, analysed.analysis.study.treatments),
    )

"""Reader-study API: the MRMC analysis of an uploaded ratings table (long layout) and of a
reading project's own reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from app.auth.deps import AdminPrincipal
from app.core.deps import Db
from app.core.errors import ERROR_RESPONSES, FORM_RESPONSES
from app.core.ids import Id
from app.reading import service as reading_service
from app.studies import figures_cache, project_analysis
from app.studies.analysis import Covariance, RatingsAnalysis, analyse
from app.studies.project_accuracy import ProjectAccuracy
from app.studies.project_analysis import ProjectAnalysis
from app.studies.ratings_table import read_ratings_upload

router = APIRouter(prefix="/api/v1", tags=["reader studies"], responses=ERROR_RESPONSES)


@router.post("/studies/ratings-analysis", response_model=RatingsAnalysis, responses=FORM_RESPONSES)
def analyse_ratings(
    _: AdminPrincipal,
    ratings: Annotated[
        UploadFile,
        File(
            description="CSV with the header reader,treatment,case,truth,rating (MRMCaov's long "
            "layout; modality is taken for treatment): every reader rates every case in every "
            "treatment; truth 1 diseased, 0 not; higher ratings more suspicious."
        ),
    ],
    covariance: Annotated[
        Covariance,
        Form(description="OR covariance estimator: jackknife (as OR-DBM MRMC), delong, unbiased."),
    ] = "jackknife",
    alpha: Annotated[
        float, Form(gt=0, lt=1, description="One minus the intervals' confidence.")
    ] = 0.05,
) -> Any:
    """Analyse a study read elsewhere: per reader and treatment AUCs with intervals, the
    reader-averaged AUC per treatment, and Obuchowski-Rockette (random readers and cases, with
    Hillis' ddf; fixed readers; fixed cases) next to Dorfman-Berbaum-Metz. A table that is not
    fully crossed is refused with every problem named by its line. Nothing is stored."""
    study = read_ratings_upload(ratings.file)
    return analyse(study, covariance=covariance, alpha=alpha).to_dict()


@router.get("/studies/projects/{project_id}/analysis", response_model=ProjectAnalysis)
def analyse_project(
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    covariance: Annotated[Covariance, Query()] = "jackknife",
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
) -> Any:
    """The MRMC analysis of a reading project's own reads: one case per breast, each reader's
    rating in each session (the probability of malignancy where the protocol asks for it, else
    the ordinal BI-RADS with 0 between 3 and 4), against the reference standard or, when the
    project says so, its consensus labels (``truth_note`` says which). Breasts some reader
    did not rate (excluded, not imaged) or without a truth are listed in ``dropped`` with
    their reasons. 409 ``not_analysable`` until enough breasts are read by everyone."""
    project = reading_service.get_project(db, project_id)
    return figures_cache.cached_analysis(db, project, covariance=covariance, alpha=alpha).to_dict()


@router.get(
    "/studies/projects/{project_id}/ratings",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "text/plain": {}, project_analysis.XLSX: {}}}},
)
def project_ratings(
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    layout: Annotated[project_analysis.RatingsLayout, Query()] = "mrmcaov",
    models: Annotated[
        bool,
        Query(
            description="Add each imported model that scores every breast as one more reader "
            "(AI: <name>) with its score in every session."
        ),
    ] = False,
) -> Response:
    """The ratings the analysis uses, for another tool: MRMCaov's long CSV (``reader,
    treatment, case, truth, rating``), iMRMC's ``.imrmc`` text (also read by RJafroc), or
    RJafroc's JAFROC workbook (``DfReadDataFile(file, newExcelFileFormat = FALSE)``: sheets
    TRUTH, FP, TP with numbered cases and readers, and a Key sheet naming them). The file
    name says what the truth is (``reference-truth`` or ``consensus-truth``)."""
    project = reading_service.get_project(db, project_id)
    exported = project_analysis.ratings_file(db, project, layout, models=models)
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.file_name}"'},
    )


@router.get("/studies/projects/{project_id}/accuracy", response_model=ProjectAccuracy)
def project_accuracy_tables(
    project_id: Id,
    _: AdminPrincipal,
    db: Db,
    mapping: Annotated[Literal["seed002", "vindr"], Query()] = "seed002",
) -> Any:
    """Seed 002's tables: per reader and session the BI-RADS groups (seed 002's 1 / 2-3 /
    0-4-5, or VinDr's 1 / 2 / 3-5) against the reference's normal / benign / malignant: the
    confusion matrix, each group's sensitivity and specificity with Wilson intervals and
    counts, the macro means; the reader-averaged figures per session; reading time per case
    and per image; and every excluded case with its reason."""
    project = reading_service.get_project(db, project_id)
    return figures_cache.cached_accuracy(db, project, mapping).to_dict()

"""The full MRMC analysis of a study's ratings: Obuchowski-Rockette with the chosen covariance
(Hillis' denominator degrees of freedom) and Dorfman-Berbaum-Metz, side by side (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from app.core.errors import field_error
from app.stats.mrmc import DBMResult, ORResult, dbm_analysis, or_analysis
from app.stats.mrmc.results import plain
from app.stats.ratings import ReaderStudy

Covariance = Literal["jackknife", "delong", "unbiased"]
#: The unbiased estimator holds readings x diseased x non-diseased numbers (8 bytes each).
MAX_UNBIASED_PAIRS = 50_000_000


@dataclass(frozen=True)
class StudyShape:
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: int
    diseased: int
    non_diseased: int
    ratings: int


@dataclass(frozen=True)
class RatingsAnalysis:
    """What the analysis of one ratings table returns: the study's shape, the OR analysis
    (figure of merit: the empirical AUC) and the DBM analysis of the same AUCs."""

    study: StudyShape
    figure_of_merit: Literal["empirical_auc"]
    obuchowski_rockette: ORResult
    dbm: DBMResult

    def to_dict(self) -> dict:
        """Plain JSON (non-finite figures as ``None``, with their reasons beside them)."""
        return plain(self)


def analyse(
    study: ReaderStudy, *, covariance: Covariance = "jackknife", alpha: float = 0.05
) -> RatingsAnalysis:
    t, r, c = study.scores.shape
    pairs = t * r * study.n_diseased * study.n_normal
    if covariance == "unbiased" and pairs > MAX_UNBIASED_PAIRS:
        raise field_error(
            "covariance",
            f"The unbiased covariance compares every diseased with every non-diseased case for "
            f"every reading ({pairs:,} comparisons, more than {MAX_UNBIASED_PAIRS:,}); use "
            "jackknife or delong for a study this size.",
        )
    return RatingsAnalysis(
        study=StudyShape(
            treatments=study.treatments,
            readers=study.readers,
            cases=c,
            diseased=study.n_diseased,
            non_diseased=study.n_normal,
            ratings=t * r * c,
        ),
        figure_of_merit="empirical_auc",
        obuchowski_rockette=or_analysis(study, covariance_method=covariance, alpha=alpha),
        dbm=dbm_analysis(study, alpha=alpha),
    )

"""Multi-reader multi-case (MRMC) analysis of a fully crossed reader study's empirical AUCs.

- :func:`or_analysis`: Obuchowski-Rockette with Hillis' ddf, covariances by jackknife,
  DeLong or the unbiased estimator; RRRC, FRRC and RRFC; works from one treatment (the
  single-treatment analysis: ``or_analysis(study.subset(treatments=[name]))``) and one reader.
- :func:`dbm_analysis`: Dorfman-Berbaum-Metz on jackknife pseudovalues.
- :func:`model_vs_readers`: a model's AUC against the readers' average in one treatment.
- :func:`auc_matrix`: the empirical AUC per treatment and reader.
"""

from app.stats.mrmc.covariance import METHODS, Method, or_covariances
from app.stats.mrmc.dbm import DBMComponents, DBMMeanSquares, DBMResult, dbm_analysis, pseudovalues
from app.stats.mrmc.figures import auc_matrix, study_components
from app.stats.mrmc.model_vs_readers import ModelVsReaders, model_vs_readers
from app.stats.mrmc.obuchowski_rockette import ORComponents, ORResult, or_analysis
from app.stats.mrmc.results import (
    Analysis,
    Difference,
    GlobalTest,
    ReaderFigure,
    TreatmentEstimate,
)

__all__ = [
    "METHODS",
    "Analysis",
    "DBMComponents",
    "DBMMeanSquares",
    "DBMResult",
    "Difference",
    "GlobalTest",
    "Method",
    "ModelVsReaders",
    "ORComponents",
    "ORResult",
    "ReaderFigure",
    "TreatmentEstimate",
    "auc_matrix",
    "dbm_analysis",
    "model_vs_readers",
    "or_analysis",
    "or_covariances",
    "pseudovalues",
    "study_components",
]

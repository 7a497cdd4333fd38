"""The figure of merit of each reader in each treatment: the empirical AUC, with the
structural components every covariance estimator starts from."""

from __future__ import annotations

import numpy as np

from app.stats.ratings import ReaderStudy
from app.stats.roc import FloatArray, StructuralComponents, structural_components


def study_components(study: ReaderStudy) -> StructuralComponents:
    """The AUC and DeLong components of every (treatment, reader), flattened treatment-major:
    row ``t * readers + r``."""
    t, r, c = study.scores.shape
    return structural_components(study.truth, study.scores.reshape(t * r, c))


def auc_matrix(study: ReaderStudy) -> FloatArray:
    """The empirical AUC of each reader in each treatment, shape ``(treatments, readers)``."""
    t, r, _ = study.scores.shape
    return np.asarray(study_components(study).auc).reshape(t, r)

"""A model (the AI as a fixed "reader") against the readers in one treatment: the readers'
average AUC minus the model's AUC, with the readers random.

Hillis' single-treatment analysis applied to the differences ``D_j = A_j - A_model`` (the
approach of RJafroc's ``StSignificanceTestingCadVsRad``, method ``1T-RRRC``): the model is
fixed, so only the readers and the cases vary. With ``MS(R)`` the readers' mean square of
the ``D_j`` (the same as of the ``A_j``), ``Var`` the mean variance and ``Cov2`` the mean
covariance of two readers' ``D_j`` over cases (from the covariance of every reader's and the
model's AUC: ``Cov(D_j, D_k) = Cov(A_j, A_k) - Cov(A_j, A_m) - Cov(A_m, A_k) + Var(A_m)``):

- RRRC: ``SE = sqrt([MS(R) + r max(Cov2, 0)] / r)`` on
  ``[MS(R) + r max(Cov2, 0)]^2 / [MS(R)^2 / (r - 1)]`` degrees of freedom (t);
- FRRC (these readers): ``SE = sqrt([Var + (r - 1) max(Cov2, 0)] / r)`` (z).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from app.stats.mrmc import inference
from app.stats.mrmc.covariance import Method, covariance
from app.stats.mrmc.obuchowski_rockette import ONE_READER
from app.stats.mrmc.results import Difference, ReaderFigure, _Plain
from app.stats.ratings import ReaderStudy
from app.stats.roc import structural_components


@dataclass(frozen=True)
class ModelVsReaders(_Plain):
    """``readers_mean - model`` (``difference_*.treatment_a`` is ``"readers"``,
    ``treatment_b`` the model's name), with each reader's and the model's AUC and SE, and
    the components the test used."""

    treatment: str
    model: ReaderFigure
    readers: tuple[ReaderFigure, ...]
    readers_mean: float
    rrrc: Difference
    frrc: Difference
    ms_r: float | None
    var_error: float
    cov2: float | None
    covariance: str
    alpha: float


def model_vs_readers(
    study: ReaderStudy,
    model_scores: ArrayLike,
    *,
    treatment: str | None = None,
    model_name: str = "model",
    covariance_method: Method = "jackknife",
    alpha: float = 0.05,
) -> ModelVsReaders:
    """The readers of ``treatment`` (default: the study's only or first treatment) against a
    model whose scores (one per case, in the study's case order) are ``model_scores``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}.")
    name = treatment if treatment is not None else study.treatments[0]
    if name not in study.treatments:
        raise ValueError(f"no treatment {name!r} in the study.")
    model = np.asarray(model_scores, dtype=np.float64)
    if model.shape != (len(study.cases),):
        raise ValueError(
            f"the model needs one score per case ({len(study.cases)}); got shape {model.shape}."
        )
    if not np.all(np.isfinite(model)):
        raise ValueError("the model's scores must be finite numbers.")
    readers = study.scores[study.treatments.index(name)]
    r = readers.shape[0]
    scores = np.vstack([readers, model[None, :]])
    components = structural_components(study.truth, scores)
    matrix = covariance(covariance_method, components, study.truth, scores)
    aucs = components.auc
    # D = L A with L = [I_r | -1]: Cov(D) = L Cov(A) L^T.
    link = np.hstack([np.eye(r), -np.ones((r, 1))])
    cov_d = link @ matrix @ link.T
    differences = aucs[:r] - aucs[r]
    mean_difference = float(differences.mean())
    var = float(np.mean(np.diagonal(cov_d)))
    cov2 = float(cov_d[~np.eye(r, dtype=bool)].mean()) if r > 1 else None
    ms_r = float(np.sum((differences - mean_difference) ** 2) / (r - 1)) if r > 1 else None

    if ms_r is None or cov2 is None:
        rrrc = inference.difference(
            "readers",
            model_name,
            mean_difference,
            None,
            None,
            alpha,
            normal=False,
            reason=ONE_READER,
        )
    else:
        error = ms_r + r * max(cov2, 0.0)
        df = inference.hillis_df(error, ms_r, r - 1)
        rrrc = inference.difference(
            "readers", model_name, mean_difference, error / r, df, alpha, normal=False
        )
    frrc = inference.difference(
        "readers",
        model_name,
        mean_difference,
        (var + (r - 1) * max(cov2 or 0.0, 0.0)) / r,
        None,
        alpha,
        normal=True,
    )
    z = inference.quantile(alpha, None)

    def figure(reader: str, k: int) -> ReaderFigure:
        se = float(np.sqrt(max(matrix[k, k], 0.0)))
        value = float(aucs[k])
        return ReaderFigure(name, reader, value, se, value - z * se, value + z * se)

    return ModelVsReaders(
        treatment=name,
        model=figure(model_name, r),
        readers=tuple(figure(reader, j) for j, reader in enumerate(study.readers)),
        readers_mean=float(aucs[:r].mean()),
        rrrc=rrrc,
        frrc=frrc,
        ms_r=ms_r,
        var_error=var,
        cov2=cov2,
        covariance=covariance_method,
        alpha=alpha,
    )

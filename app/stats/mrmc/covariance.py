"""Estimators of the covariance matrix of the readers' AUCs over random cases, and the
Obuchowski-Rockette averages of it.

For ``k`` AUCs on the same cases (every treatment x reader, flattened), each estimator gives a
``(k, k)`` matrix:

- ``jackknife``: ``(c - 1) / c * sum_k (A_(k) - mean)(A_(k) - mean)^T`` over the ``c`` cases,
  ``A_(k)`` the AUCs with case ``k`` left out (in closed form from the structural
  components); as OR-DBM MRMC, RJafroc and MRMCaov.
- ``delong``: DeLong et al. (1988), from the structural components.
- ``unbiased``: the unbiased (U-statistic) estimator, as MRMCaov's ``unbiased`` and iMRMC
  (Gallas, 2006). With ``psi`` the kernel and ``M1..M4`` the unbiased means of
  ``psi_a(i, j) psi_b(i', j')`` over pairs with the same diseased and non-diseased case, the
  same diseased case only, the same non-diseased case only, and neither,

      Cov(A, B) = [M1 + (n0 - 1) M2 + (n1 - 1) M3 + (n1 - 1)(n0 - 1) M4] / (n1 n0) - M4

  It needs the kernel matrices, ``k x n1 x n0`` values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from app.stats.roc import FloatArray, StructuralComponents, delong_covariance

Method = Literal["jackknife", "delong", "unbiased"]
METHODS: tuple[Method, ...] = ("jackknife", "delong", "unbiased")


def jackknife_covariance(components: StructuralComponents) -> FloatArray:
    """The jackknife covariance of the AUCs over all ``n1 + n0`` cases."""
    left_out = components.jackknife_values()
    cases = left_out.shape[1]
    centred = left_out - left_out.mean(axis=1, keepdims=True)
    return (cases - 1) / cases * (centred @ centred.T)


def unbiased_covariance(truth: np.ndarray, scores: FloatArray) -> FloatArray:
    """The unbiased estimator for ``scores`` of shape ``(k, cases)`` against ``truth``."""
    positive = np.asarray(truth).astype(bool)
    x, y = scores[:, positive], scores[:, ~positive]
    n1, n0 = x.shape[1], y.shape[1]
    if n1 < 2 or n0 < 2:
        raise ValueError(
            "the unbiased covariance needs at least 2 diseased and 2 non-diseased cases."
        )
    k = scores.shape[0]
    psi = (x[:, :, None] > y[:, None, :]) + 0.5 * (x[:, :, None] == y[:, None, :])
    flat = psi.reshape(k, n1 * n0)
    same_both = flat @ flat.T  # sum over (i, j) of psi_a(i, j) psi_b(i, j)
    rows = psi.sum(axis=2)  # (k, n1): sum over j
    columns = psi.sum(axis=1)  # (k, n0): sum over i
    same_diseased = rows @ rows.T  # sum over i, j, j'
    same_normal = columns @ columns.T  # sum over i, i', j
    totals = flat.sum(axis=1)
    everything = np.outer(totals, totals)
    m1 = same_both / (n1 * n0)
    m2 = (same_diseased - same_both) / (n1 * n0 * (n0 - 1))
    m3 = (same_normal - same_both) / (n0 * n1 * (n1 - 1))
    m4 = (everything - same_diseased - same_normal + same_both) / (n1 * (n1 - 1) * n0 * (n0 - 1))
    return (m1 + (n0 - 1) * m2 + (n1 - 1) * m3 + (n1 - 1) * (n0 - 1) * m4) / (n1 * n0) - m4


def covariance(
    method: Method, components: StructuralComponents, truth: np.ndarray, scores: FloatArray
) -> FloatArray:
    """The covariance matrix by ``method``; ``scores`` (``(k, cases)``) only for ``unbiased``."""
    if method == "jackknife":
        return jackknife_covariance(components)
    if method == "delong":
        return delong_covariance(components)
    if method == "unbiased":
        return unbiased_covariance(truth, scores)
    raise ValueError(f"covariance must be one of {', '.join(METHODS)}; got {method!r}.")


@dataclass(frozen=True)
class ORCovariances:
    """The Obuchowski-Rockette averages of a ``(t r, t r)`` covariance matrix (treatment
    major): ``var`` of the AUCs' variances; ``cov1`` of covariances of one reader in two
    treatments, ``cov2`` of two readers in one treatment, ``cov3`` of two readers in two
    treatments (``None`` where the study has one treatment or one reader). Per treatment:
    ``var_by_treatment``, ``cov2_by_treatment``; per reader: ``var_by_reader``,
    ``cov1_by_reader``."""

    var: float
    cov1: float | None
    cov2: float | None
    cov3: float | None
    var_by_treatment: tuple[float, ...]
    cov2_by_treatment: tuple[float | None, ...]
    var_by_reader: tuple[float, ...]
    cov1_by_reader: tuple[float | None, ...]


def or_covariances(matrix: FloatArray, treatments: int, readers: int) -> ORCovariances:
    """Average the covariance matrix into OR's Var and Cov1, Cov2, Cov3."""
    t, r = treatments, readers
    blocks = matrix.reshape(t, r, t, r)
    same_t = np.eye(t, dtype=bool)[:, None, :, None]
    same_r = np.eye(r, dtype=bool)[None, :, None, :]

    def mean(mask: np.ndarray) -> float | None:
        mask = np.broadcast_to(mask, blocks.shape)
        return float(blocks[mask].mean()) if mask.any() else None

    var = mean(same_t & same_r)
    assert var is not None
    diagonal = np.diagonal(matrix).reshape(t, r)
    by_treatment_cov2: list[float | None] = []
    for i in range(t):
        block = blocks[i, :, i, :]
        off = ~np.eye(r, dtype=bool)
        by_treatment_cov2.append(float(block[off].mean()) if r > 1 else None)
    by_reader_cov1: list[float | None] = []
    for j in range(r):
        block = blocks[:, j, :, j]
        off = ~np.eye(t, dtype=bool)
        by_reader_cov1.append(float(block[off].mean()) if t > 1 else None)
    return ORCovariances(
        var=var,
        cov1=mean(~same_t & same_r),
        cov2=mean(same_t & ~same_r),
        cov3=mean(~same_t & ~same_r),
        var_by_treatment=tuple(float(v) for v in diagonal.mean(axis=1)),
        cov2_by_treatment=tuple(by_treatment_cov2),
        var_by_reader=tuple(float(v) for v in diagonal.mean(axis=0)),
        cov1_by_reader=tuple(by_reader_cov1),
    )

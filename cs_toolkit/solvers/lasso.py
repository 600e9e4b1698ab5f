"""The LASSO objective and its duality gap, for any batch of codes (used by ISTA/FISTA's stopping rules).

For each signal ``y`` (a row of ``Y``) the LASSO is

    F(x) = 1/2 ||A x - y||_2^2 + lam ||x||_1        (optionally subject to x >= 0).
"""

from __future__ import annotations

import numpy as np

from .._validation import check_signals
from ..exceptions import ValidationError
from ..sensing import LinearOperator
from ._common import _check_lam, _ops, prepare

__all__ = ["lasso_objective", "duality_gap"]


def lasso_objective(A, Y, X, lam, *, nonneg=False):
    """LASSO objective ``1/2 ||A x - y||^2 + lam ||x||_1`` for each signal.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
    Y : ndarray of shape (m,) or (n_signals, m)
    X : ndarray of shape (n,) or (n_signals, n)
    lam : float or ndarray of shape (n_signals,)
    nonneg : bool, default False
        Return ``inf`` for signals with a negative entry.

    Returns
    -------
    float or ndarray of shape (n_signals,)
        Computed in float64.
    """
    A, Y2, was_1d, _ = prepare(A, Y)
    X2, _ = check_signals(X, "X", n_features=A.shape[1], dtype=np.float64)
    if X2.shape[0] != Y2.shape[0]:
        raise ValidationError(f"X and Y must hold the same number of signals, got {X2.shape[0]} and {Y2.shape[0]}.")
    lam_arr = _check_lam(lam, Y2.shape[0])
    fwd, _ = _ops(_float64(A), np.float64)
    R = fwd(X2) - Y2
    f = 0.5 * np.einsum("ij,ij->i", R, R) + lam_arr * np.abs(X2).sum(axis=1)
    if nonneg:
        f = np.where((X2 < 0).any(axis=1), np.inf, f)
    return f[0] if was_1d else f


def _float64(A):
    """``A`` in float64 (an operator as it is: its products are cast)."""
    return A if isinstance(A, LinearOperator) else A.astype(np.float64)


def _gap_from_parts(R, AtR, X, lam, Y, nonneg):
    """Duality gap per row from the residual ``R = y - A x`` and ``AtR = A^T R`` (float64)."""
    r2 = np.einsum("ij,ij->i", R, R)
    yr = np.einsum("ij,ij->i", Y, R)
    primal = 0.5 * r2 + lam * np.abs(X).sum(axis=1)
    c = np.maximum(AtR.max(axis=1), 0.0) if nonneg else np.abs(AtR).max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(c > lam, lam / np.where(c > 0, c, 1.0), 1.0)
    dual = s * yr - 0.5 * s * s * r2
    return np.maximum(primal - dual, 0.0), primal


def duality_gap(A, Y, X, lam, *, nonneg=False):
    """Duality gap of the LASSO at ``X``, with the dual point obtained by scaling the residual.

    The dual of ``min 1/2||Ax-y||^2 + lam||x||_1`` is ``max 1/2||y||^2 - 1/2||y - theta||^2``
    subject to ``||A^T theta||_inf <= lam`` (``A^T theta <= lam`` with ``x >= 0``); the feasible
    point is ``theta = s r`` with ``r = y - A x`` and ``s = min(1, lam / ||A^T r||_inf)``.

    Returns
    -------
    gap : float or ndarray of shape (n_signals,)
        Non-negative; zero exactly at the optimum.
    """
    A, Y2, was_1d, _ = prepare(A, Y)
    X2, _ = check_signals(X, "X", n_features=A.shape[1], dtype=np.float64)
    lam_arr = _check_lam(lam, Y2.shape[0])
    Yd = Y2.astype(np.float64)
    fwd, adj = _ops(_float64(A), np.float64)
    R = Yd - fwd(X2)
    AtR = adj(R)
    gap, _ = _gap_from_parts(R, AtR, X2, lam_arr, Yd, nonneg)
    return gap[0] if was_1d else gap

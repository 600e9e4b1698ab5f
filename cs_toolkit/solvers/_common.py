"""Plumbing shared by the solvers: the convex diagnostics record, input preparation, matrix products.

* :class:`SolverInfo`, returned with ``return_info=True`` by the convex solvers;
* ``_prepare(A, Y)``: validates a matrix (or operator) and a batch of measurements and brings
  them to one float dtype;
* ``_check_lam``: a per-signal l1 penalty;
* ``_products``: the products ``Z A^T A``, ``X A^T`` and ``R A`` of a batch for a dense matrix
  (through the Gram matrix when that is cheaper) or a matrix-free operator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_matrix, check_scalar, check_signals, result_dtype
from ..exceptions import ValidationError
from ..sensing import LinearOperator

__all__ = ["SolverInfo"]

@dataclass
class SolverInfo:
    """Diagnostics returned with ``return_info=True`` by the convex solvers.

    Attributes
    ----------
    n_iter : ndarray of int, shape (n_signals,)
        Iterations (or path steps) run for each signal.
    converged : ndarray of bool, shape (n_signals,)
        Whether each signal met the stopping rule.
    elapsed : float
        Wall-clock seconds spent in the solver (validation included).
    objective : ndarray of shape (n_iter + 1, n_signals) or None
        Objective after each iteration (first row: the starting point),
        only with ``history=True``.
    gap : ndarray of shape (n_signals,) or None
        Final duality gap per signal, when it was computed.
    diverged : ndarray of bool, shape (n_signals,) or None
        Signals stopped because their iterates became non-finite or grew beyond
        what a convergent run allows (their last accepted iterate is returned).
    pivot_ratio : ndarray of shape (n_signals,) or None
        :func:`lars`, and :func:`ista`/:func:`fista` on float32 input: the smallest
        normalised Cholesky pivot of the final active set, ``min_p L_pp / ||a_{j_p}||`` (the sine of the smallest angle
        between an active atom and the span of the atoms before it; 1 for
        orthogonal atoms, 1 for an empty active set). A value below
        ``sqrt(eps)`` of the input dtype raises an ``IllConditionedWarning``. ista/fista
        check only with ``tol > 0`` and leave NaN where nothing was checked: every
        signal when ``tol=0``, diverged signals, supports larger than ``m`` or than 256 atoms.
    """

    n_iter: np.ndarray
    converged: np.ndarray
    elapsed: float
    objective: np.ndarray | None = None
    gap: np.ndarray | None = None
    diverged: np.ndarray | None = None
    pivot_ratio: np.ndarray | None = None


def _prepare(A, Y, *, allow_operator=True):
    """Validate ``A`` and ``Y`` and bring them to one float dtype. Returns (A, Y2, was_1d, dtype)."""
    A = check_matrix(A, "A", allow_operator=allow_operator)
    Y2, was_1d = check_signals(Y, "Y", n_features=A.shape[0])
    dtype = result_dtype(A.dtype, Y2.dtype)
    if isinstance(A, LinearOperator):
        if A.dtype != dtype:
            dtype = A.dtype if A.dtype == np.float64 else dtype
    else:
        A = np.ascontiguousarray(A, dtype=dtype)
    Y2 = np.ascontiguousarray(Y2, dtype=dtype)
    return A, Y2, was_1d, dtype


def _check_lam(lam, n_signals):
    """``lam`` as a float64 array of shape (n_signals,), each >= 0 and finite."""
    if np.ndim(lam) == 0:
        return np.full(n_signals, check_scalar("lam", lam, low=0.0))
    arr = check_array(lam, "lam", ndim=1, dtype=np.float64)
    if arr.shape[0] != n_signals:
        raise ValidationError(f"lam must be a scalar or have one value per signal ({n_signals},), got shape {arr.shape}.")
    if np.any(arr < 0):
        raise ValidationError(f"lam must be >= 0, got a minimum of {arr.min()}.")
    return arr.copy()


def _use_gram(m, n, n_signals):
    """Whether ``Z (A^T A)`` (one GEMM) beats ``(Z A^T) A`` (two) for a dense ``A``.

    The flop counts are ``k n^2`` and ``2 k m n``. Below ``n = 2 m`` the Gram form wins;
    at ``n = 2 m`` (workload C) the counts tie and one square GEMM still runs faster than
    two thin ones without the ``(k, m)`` intermediate, once the batch is large enough to
    pay for forming ``A^T A`` (``m n^2`` flops, a fraction of one iteration).
    """
    return n < 2 * m or (n <= 2 * m and n_signals >= 64)


def _products(A, dtype, n_signals):
    """Return ``(mode, AtY_fn, prod_fn, objective_parts_fn)`` for the matrix products.

    ``prod(Z, out)`` returns ``Z A^T A``; ``mode`` is "gram", "dense" or "operator".
    """
    if isinstance(A, LinearOperator):
        def prod(Z, out=None):
            return np.ascontiguousarray(A._adjoint(np.ascontiguousarray(A._forward(Z), dtype=A.dtype)), dtype=dtype)

        def fwd(X):
            return np.asarray(A._forward(np.ascontiguousarray(X, dtype=A.dtype)), dtype=dtype)

        def adj(R):
            return np.asarray(A._adjoint(np.ascontiguousarray(R, dtype=A.dtype)), dtype=dtype)

        return "operator", prod, fwd, adj
    m, n = A.shape
    fwd = lambda X: X @ A.T  # noqa: E731
    adj = lambda R: R @ A  # noqa: E731
    if _use_gram(m, n, n_signals):
        G = A.T @ A

        def prod(Z, out=None):
            if out is None or out.shape != Z.shape:
                return Z @ G
            return np.matmul(Z, G, out=out)

        return "gram", prod, fwd, adj
    AT = np.ascontiguousarray(A.T)
    buf = {}  # the (k, m) intermediate, reused across iterations

    def prod(Z, out=None):
        T = buf.get(Z.shape[0])
        if T is None:
            buf.clear()
            T = buf[Z.shape[0]] = np.empty((Z.shape[0], m), dtype=Z.dtype)
        np.matmul(Z, AT, out=T)
        if out is None or out.shape != Z.shape:
            return T @ A
        return np.matmul(T, A, out=out)

    return "dense", prod, fwd, adj


def _spectral_norm2(A):
    if isinstance(A, LinearOperator):
        return float(A.norm()) ** 2
    return float(np.linalg.norm(A.astype(np.float64), 2)) ** 2


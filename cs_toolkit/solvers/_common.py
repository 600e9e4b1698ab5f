"""Plumbing shared by the solvers: diagnostics records, status codes, input preparation, products.

* :class:`SolverInfo` (convex solvers) and :class:`GreedyInfo` (greedy and thresholding
  solvers), returned with ``return_info=True``;
* :class:`Status`, the per-signal codes the ISTA/FISTA, OMP and LARS kernels write;
* :func:`prepare`: validates a matrix (or operator) and a batch of measurements and brings
  them to one float dtype, the prologue of every solver;
* ``_check_lam``, ``_check_sparsity``, ``_check_tol``: the solvers' common options;
* :func:`_ops`: the one operator adapter, ``X -> X A^T`` and ``R -> R A`` on row batches
  for an array or a matrix-free operator (its batch ``_forward``/``_adjoint``);
* ``_products``: adds ``Z A^T A`` (through the Gram matrix when that is cheaper) for ISTA/FISTA/AMP.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from .._validation import (
    check_array,
    check_int,
    check_matrix,
    check_scalar,
    check_signals,
    dense_matrix,
    result_dtype,
)
from ..exceptions import SparsityClippedWarning, ValidationError
from ..sensing import LinearOperator

__all__ = ["SolverInfo", "GreedyInfo", "Status", "prepare"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Status(IntEnum):
    """Per-signal outcome codes that the solver kernels write (into ``int8``/``int64`` arrays)
    and the wrappers read; one meaning per code across solvers.

    The kernels take the values as compile-time constants and numba caches them with the
    compiled code: add codes, never renumber one.
    """

    RUNNING = 0  #: ISTA/FISTA: still iterating (rows not RUNNING are frozen)
    DONE = 0  #: OMP, LARS: ended without event (``kmax`` atoms selected; the path reached ``lam``)
    CONVERGED = 1  #: met the stopping rule (ISTA/FISTA: tolerance or a zero signal; OMP: error target)
    NONFINITE = 2  #: ISTA/FISTA diverged: the new iterate had a non-finite entry
    GREW = 3  #: ISTA/FISTA diverged: the iterate left the ball of a convergent run, or its change grew
    MAX_ITER = 4  #: LARS: the budget of path steps ran out before ``lam``
    DEPENDENT = 5  #: OMP: the next atom was numerically dependent; LARS: a variable could not enter
    EXHAUSTED = 6  #: OMP: the residual has no correlation left (all numerically zero)


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


@dataclass
class GreedyInfo:
    """Diagnostics returned with ``return_info=True`` by the greedy and thresholding solvers.

    Attributes
    ----------
    n_iter : ndarray of int, shape (n_signals,)
        Iterations run per signal (for OMP: atoms selected).
    converged : ndarray of bool, shape (n_signals,)
        Whether each signal stopped on its stopping rule (sparsity reached, error
        target met, residual exhausted or, for the iterative methods, the tolerance
        met) rather than on ``max_iter`` or on dependent atoms.
    resid_norm : ndarray of float64, shape (n_signals,)
        Final residual norm ``||y - A x||_2`` per signal (NaN when unknown, e.g.
        :func:`omp_gram` without ``y_norms2``).
    elapsed : float
        Wall-clock seconds spent in the solver, validation included.
    method : str
        Name of the solver (and kernel) used, e.g. ``"omp/batch"``.
    history : ndarray of float64 or None
        With ``history=True``: residual norm after each iteration, shape
        ``(n_signals, n_iterations_max)``, NaN after a signal stopped.
    """

    n_iter: np.ndarray
    converged: np.ndarray
    resid_norm: np.ndarray
    elapsed: float
    method: str = ""
    history: np.ndarray | None = None


def prepare(A, Y, *, dense=False, allow_operator=True):
    """Validate ``A`` and ``Y`` and bring them to one float dtype; returns ``(A, Y2, was_1d, dtype)``.

    ``A`` is an array or (with ``allow_operator``) a :class:`~cs_toolkit.sensing.LinearOperator`;
    with ``dense=True`` an operator is replaced by its explicit matrix (``to_dense()``).
    Arrays come back C-contiguous in the common dtype (float32 only if both are float32).
    """
    # Fast path for small repeated calls: a C-contiguous float array whose sum is finite
    # has only finite entries. Anything else goes through the shared checkers (which
    # also produce the error messages).
    if not _fast_ok(A, 2):
        A = check_matrix(A, "A", allow_operator=allow_operator)
    if isinstance(A, LinearOperator) and dense:
        A = dense_matrix(A, "A", copy=False, dtype=None)
    if _fast_ok(Y, Y.ndim if type(Y) is np.ndarray and Y.ndim in (1, 2) else -1) and Y.shape[-1] == A.shape[0]:
        was_1d = Y.ndim == 1
        Y2 = Y[None, :] if was_1d else Y
    else:
        Y2, was_1d = check_signals(Y, "Y", n_features=A.shape[0])
    dtype = result_dtype(A.dtype, Y2.dtype)
    if not isinstance(A, LinearOperator):
        A = np.ascontiguousarray(A, dtype=dtype)
    Y2 = np.ascontiguousarray(Y2, dtype=dtype)
    return A, Y2, was_1d, dtype


def _fast_ok(a, ndim: int) -> bool:
    return (
        type(a) is np.ndarray
        and a.ndim == ndim
        and a.dtype in _FLOATS
        and a.flags.c_contiguous
        and a.size > 0
        and bool(np.isfinite(np.add.reduce(a, axis=None)))
    )


def _check_sparsity(k, limit: int, *, name: str = "n_nonzero_coefs", what: str = "min(m, n)") -> int:
    """``k`` as an int in ``[1, limit]``; larger values are clipped with a warning."""
    k = check_int(name, k, low=1)
    if k > limit:
        warnings.warn(
            f"{name}={k} is larger than {what}={limit}; using {limit}.", SparsityClippedWarning, stacklevel=3
        )
        k = limit
    return k


def _check_tol(tol, name: str = "tol"):
    return None if tol is None else check_scalar(name, tol, low=0.0)


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


def _ops(A, dtype):
    """(forward, adjoint) acting on C-contiguous row batches: ``X -> X A^T`` and ``R -> R A``."""
    if isinstance(A, LinearOperator):
        def fwd(X):
            return np.asarray(A._forward(np.ascontiguousarray(X, dtype=A.dtype)), dtype=dtype)

        def adj(R):
            return np.asarray(A._adjoint(np.ascontiguousarray(R, dtype=A.dtype)), dtype=dtype)
    else:
        AT = A.T

        def fwd(X):
            return X @ AT

        def adj(R):
            return R @ A
    return fwd, adj


def _use_gram(m, n, n_signals):
    """Whether ``Z (A^T A)`` (one GEMM) beats ``(Z A^T) A`` (two) for a dense ``A``.

    The flop counts are ``k n^2`` and ``2 k m n``. Below ``n = 2 m`` the Gram form wins;
    at ``n = 2 m`` the counts tie and one square GEMM still runs faster than
    two thin ones without the ``(k, m)`` intermediate, once the batch is large enough to
    pay for forming ``A^T A`` (``m n^2`` flops, a fraction of one iteration).
    """
    return n < 2 * m or (n <= 2 * m and n_signals >= 64)


def _products(A, dtype, n_signals):
    """Return ``(mode, prod, fwd, adj)``: ``prod(Z, out)`` returns ``Z A^T A``, ``fwd`` and ``adj``
    are those of :func:`_ops`; ``mode`` is "gram", "dense" or "operator"."""
    fwd, adj = _ops(A, dtype)
    if isinstance(A, LinearOperator):
        def prod(Z, out=None):
            return np.ascontiguousarray(A._adjoint(np.ascontiguousarray(A._forward(Z), dtype=A.dtype)), dtype=dtype)

        return "operator", prod, fwd, adj
    m, n = A.shape
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


def _spectral_norm2(A, name: str = "A"):
    """``||A||_2^2`` (the Lipschitz constant of the least-squares gradient) as a finite float.

    Raises
    ------
    ValidationError
        ``A``'s scale overflows: its norm or the square of it is not finite in float64.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        op = isinstance(A, LinearOperator)
        nrm = float(A.norm()) if op else float(np.linalg.norm(A.astype(np.float64), 2))
    nrm2 = nrm * nrm  # inf on overflow (``nrm ** 2`` raises a bare OverflowError)
    if not np.isfinite(nrm2):
        raise ValidationError(
            f"{name}'s scale overflows: its norm is not finite (||{name}||_2^2, the Lipschitz "
            f"constant of the step, overflows float64: ||{name}||_2 = {nrm:.3g}); rescale {name} "
            f"and Y (e.g. divide both by max(abs({name})))."
        )
    return nrm2


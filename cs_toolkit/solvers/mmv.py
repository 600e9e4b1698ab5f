"""Joint sparsity: multiple measurement vectors (MMV) that share one support.

An MMV problem is ``Y = X A^T`` with ``Y`` of shape ``(n_vectors, m)`` and the rows of ``X``
(``n_vectors, n``) nonzero on the same few columns (channels of one recording, frames of a
stationary scene). A batch of independent MMV problems is a 3-D array
``(n_problems, n_vectors, m)``; the result then has shape ``(n_problems, n_vectors, n)``.
Solvers: simultaneous OMP (:func:`somp`), M-FISTA for the l2,1 (row) penalty
(:func:`mmv_fista`), and the MMV versions of CoSaMP and subspace pursuit
(:func:`mmv_cosamp`, :func:`mmv_sp`).
"""

from __future__ import annotations

import time

import numpy as np

from .._validation import (
    check_array,
    check_int,
    check_matrix,
    check_scalar,
    dense_matrix,
    result_dtype,
)
from ..exceptions import ValidationError
from ..sensing import LinearOperator
from ._common import Status
from ._registry import register_solver
from .group import _fwd_adj_lips, gomp_supports, ls_on_columns
from .omp import GreedyInfo, _check_sparsity, _check_tol
from .structured import group_fista

__all__ = ["somp", "mmv_fista", "mmv_cosamp", "mmv_sp", "check_mmv"]


def check_mmv(A, Y, *, dense=True):
    """Validate an MMV problem; returns ``(A, Y3, was_2d, dtype)`` with ``Y3`` 3-D.

    Raises
    ------
    ValidationError
        ``Y`` not 2-D ``(n_vectors, m)`` or 3-D ``(n_problems, n_vectors, m)``, or its last
        axis not the ``m`` rows of ``A`` (the message names ``Y`` and both shapes).
    """
    A = check_matrix(A, "A")
    if isinstance(A, LinearOperator) and dense:
        A = dense_matrix(A, "A", copy=False, dtype=None)
    Yc = check_array(Y, "Y", ndim=(2, 3))
    m = A.shape[0]
    if Yc.shape[-1] != m:
        raise ValidationError(
            f"Dimension mismatch for Y: an MMV problem is (n_vectors, m) and a batch (n_problems, n_vectors, m) "
            f"with m = {m} (the rows of A); got shape {Yc.shape}."
        )
    dtype = result_dtype(A.dtype, Yc.dtype)
    if not isinstance(A, LinearOperator):
        A = np.ascontiguousarray(A, dtype=dtype)
    was_2d = Yc.ndim == 2
    Y3 = np.ascontiguousarray(Yc[None] if was_2d else Yc, dtype=dtype)
    return A, Y3, was_2d, dtype


def _info(n_iter, conv, A, Y3, X3, t0, method):
    R = (Y3 - X3 @ A.T).astype(np.float64)
    rn = np.sqrt(np.einsum("pvm,pvm->p", R, R))
    return GreedyInfo(n_iter=np.asarray(n_iter), converged=np.asarray(conv), resid_norm=rn,
                      elapsed=time.perf_counter() - t0, method=method)


@register_solver(
    "somp",
    kind="joint",
    sparsity_param="n_nonzero_coefs",
    operator_ok=False,
    summary="Simultaneous OMP for vectors sharing one support (Tropp, Gilbert & Strauss 2006).",
)
def somp(A, Y, *, n_nonzero_coefs, tol=None, return_info=False):
    """Simultaneous orthogonal matching pursuit (SOMP) for jointly sparse vectors.

    Parameters
    ----------
    A : ndarray of shape (m, n)
        Sensing matrix (an operator is made dense).
    Y : ndarray of shape (n_vectors, m) or (n_problems, n_vectors, m)
        One MMV problem (its rows share a support) or a batch of independent ones.
    n_nonzero_coefs : int
        Size ``k`` of the shared support; clipped to ``min(m, n)`` with a warning.
    tol : float, optional
        Also stop once ``||Y - X A^T||_F <= tol ||Y||_F``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`, one entry per problem.

    Returns
    -------
    X : ndarray of shape (n_vectors, n) or (n_problems, n_vectors, n)
        Row-jointly sparse codes (least squares on the shared support).
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        ``Y`` neither 2-D nor 3-D or not matching ``A``, ``n_nonzero_coefs`` missing or < 1.

    Notes
    -----
    Tropp, Gilbert & Strauss (2006), "Algorithms for simultaneous sparse approximation,
    Part I": ``j = argmax_j ||R a_j||_2`` over the residuals of all vectors, least squares
    on the shared support. Numba kernel: :mod:`cs_toolkit.solvers._group_numba`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((16, 30)) / 4.0
    >>> X = np.zeros((3, 30)); X[:, [2, 7, 19]] = rng.standard_normal((3, 3))
    >>> np.flatnonzero(np.abs(somp(A, X @ A.T, n_nonzero_coefs=3)).sum(axis=0)).tolist()
    [2, 7, 19]
    """
    t0 = time.perf_counter()
    A, Y3, was_2d, dtype = check_mmv(A, Y)
    m, n = A.shape
    if n_nonzero_coefs is None:
        raise ValidationError("n_nonzero_coefs is required (the size k of the shared support); got None.")
    k = _check_sparsity(n_nonzero_coefs, min(m, n))
    tol = _check_tol(tol)
    order = np.arange(n, dtype=np.int64)
    starts = np.arange(n + 1, dtype=np.int64)
    sel, nsel, status = gomp_supports(A, Y3, order, starts, k, 0.0 if tol is None else tol, dtype)
    X3 = np.zeros((Y3.shape[0], Y3.shape[1], n), dtype)
    for p in range(Y3.shape[0]):
        cols = np.sort(sel[p, :nsel[p]])
        X3[p][:, cols] = ls_on_columns(A, Y3[p], cols)
    out = X3[0] if was_2d else X3
    if not return_info:
        return out
    return out, _info(nsel, status != Status.DEPENDENT, A, Y3, X3, t0, "somp")


@register_solver(
    "mmv_fista",
    kind="joint",
    sparsity_param=None,
    operator_ok=True,
    summary="M-FISTA: FISTA for 1/2||XA^T-Y||_F^2 + lam sum_j ||X[:, j]||_2 (l2,1 row penalty).",
)
def mmv_fista(A, Y, *, lam, max_iter=2000, tol=1e-8, x0=None, return_info=False):
    """M-FISTA: the l2,1-penalised least squares for jointly sparse vectors.

    Solves ``min_X 1/2 ||X A^T - Y||_F^2 + lam sum_j ||X[:, j]||_2`` (one penalty per column
    of ``X``, i.e. per atom shared by all vectors), for one MMV problem or a batch.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
    Y : ndarray of shape (n_vectors, m) or (n_problems, n_vectors, m)
    lam : float
        Penalty weight ``>= 0``.
    max_iter : int, default 2000
    tol : float, default 1e-8
        Stop a problem once ``||X_new - X||_F <= tol ||X_new||_F``.
    x0 : ndarray of the shape of the result, optional
        Warm start; not modified.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.SolverInfo` (``gap``: the duality gap per problem).

    Returns
    -------
    X : ndarray of shape (n_vectors, n) or (n_problems, n_vectors, n)
    info : SolverInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, ``lam < 0``, ``x0`` of the wrong shape.

    Notes
    -----
    Cotter, Rao, Engan & Kreutz-Delgado (2005) for the l2,1 MMV penalty; solved by FISTA with
    restart, the prox being the group soft threshold on the columns of ``X``. It is the group
    LASSO of the vectorised problem, so it shares :func:`group_lasso`'s loop and duality gap.

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[3.0, 0.1], [4.0, 0.1]])    # two vectors, A = I
    >>> np.round(mmv_fista(np.eye(2), Y, lam=1.0), 4)
    array([[2.4, 0. ],
           [3.2, 0. ]])
    """
    from . import SolverInfo

    t0 = time.perf_counter()
    A, Y3, was_2d, dtype = check_mmv(A, Y, dense=False)
    m, n = A.shape
    lam = check_scalar("lam", lam, low=0.0)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0)
    P, V, _ = Y3.shape
    if x0 is None:
        X0 = np.zeros((P, V * n), dtype)
    else:
        X0a = check_array(x0, "x0", ndim=(2, 3), dtype=dtype, copy=True)
        want = (V, n) if was_2d else (P, V, n)
        if X0a.shape != want:
            raise ValidationError(f"x0 must have shape {want} (the shape of the result), got {X0a.shape}.")
        X0 = X0a.reshape(P, V * n)
    fwd1, adj1, lips = _fwd_adj_lips(A, dtype)

    def fwd(Xr):
        return fwd1(np.ascontiguousarray(Xr).reshape(-1, n)).reshape(Xr.shape[0], V * m)

    def adj(Rr):
        return adj1(np.ascontiguousarray(Rr).reshape(-1, m)).reshape(Rr.shape[0], V * n)

    labels = np.tile(np.arange(n, dtype=np.int64), V)
    order = np.argsort(labels, kind="stable").astype(np.int64)
    starts = np.arange(0, V * n + 1, V, dtype=np.int64)
    Xr, n_iter, conv, gap, _ = group_fista(fwd, adj, Y3.reshape(P, V * m), X0, lam, lips, order, starts,
                                           max_iter=max_iter, tol=tol, dtype=dtype)
    X3 = Xr.reshape(P, V, n)
    out = X3[0] if was_2d else X3
    if not return_info:
        return out
    return out, SolverInfo(n_iter=n_iter, converged=conv, elapsed=time.perf_counter() - t0, gap=gap)


def _top_cols(M, k):
    """Indices of the ``k`` columns of ``M`` with the largest l2 norms."""
    s = np.einsum("vj,vj->j", M, M, dtype=np.float64)
    k = min(k, s.size)
    return np.argpartition(-s, k - 1)[:k]


def _mmv_greedy(A, Y3, k, max_iter, tol, variant):
    """MMV CoSaMP / SP for every problem of ``Y3``; returns ``(X3, n_iter, converged)``."""
    P, V, m = Y3.shape
    n = A.shape[1]
    X3 = np.zeros((P, V, n), Y3.dtype)
    n_iter = np.zeros(P, np.int64)
    conv = np.zeros(P, bool)
    for p in range(P):
        Yp = Y3[p]
        ny = float(np.linalg.norm(Yp))
        if ny == 0:
            conv[p] = True
            continue
        if variant == "sp":
            T = np.sort(_top_cols(Yp @ A, k))
            Xp = np.zeros((V, n), Y3.dtype)
            Xp[:, T] = ls_on_columns(A, Yp, T)
            rn = float(np.linalg.norm(Yp - Xp @ A.T))
        else:
            T = np.zeros(0, np.int64)
            Xp = np.zeros((V, n), Y3.dtype)
            rn = ny
        for _ in range(max_iter):
            if rn <= tol * ny:
                conv[p] = True
                break
            R = Yp - Xp @ A.T
            extra = _top_cols(R @ A, 2 * k if variant == "cosamp" else k)
            U = np.union1d(T, extra)
            B = np.zeros((V, n), Y3.dtype)
            B[:, U] = ls_on_columns(A, Yp, U)
            Tn = np.sort(_top_cols(B, k))
            Xn = np.zeros((V, n), Y3.dtype)
            if variant == "cosamp":
                Xn[:, Tn] = B[:, Tn]
            else:
                Xn[:, Tn] = ls_on_columns(A, Yp, Tn)
            rnn = float(np.linalg.norm(Yp - Xn @ A.T))
            n_iter[p] += 1
            if variant == "sp" and rnn >= rn:  # SP: stop when the residual no longer decreases
                conv[p] = True
                break
            dx = float(np.linalg.norm(Xn - Xp))
            Xp, T, rn = Xn, Tn, rnn
            if dx <= tol * float(np.linalg.norm(Xn)):
                conv[p] = True
                break
        conv[p] |= rn <= tol * ny
        X3[p] = Xp
    return X3, n_iter, conv


_MMV_DOC = """
    Parameters
    ----------
    A : ndarray of shape (m, n)
        Sensing matrix (an operator is made dense).
    Y : ndarray of shape (n_vectors, m) or (n_problems, n_vectors, m)
        One MMV problem or a batch of independent ones.
    n_nonzero_coefs : int
        Size ``k`` of the shared support.
    max_iter : int, default 100
        Maximum iterations per problem.
    tol : float, default 1e-6
        Stop a problem once ``||Y - X A^T||_F <= tol ||Y||_F`` or the iterate settles.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`, one entry per problem.

    Returns
    -------
    X : ndarray of shape (n_vectors, n) or (n_problems, n_vectors, n)
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        ``Y`` not matching ``A``, ``n_nonzero_coefs`` missing or < 1, bad ``max_iter``/``tol``.
"""


def _mmv_entry(A, Y, n_nonzero_coefs, max_iter, tol, return_info, variant):
    t0 = time.perf_counter()
    A, Y3, was_2d, dtype = check_mmv(A, Y)
    m, n = A.shape
    if n_nonzero_coefs is None:
        raise ValidationError("n_nonzero_coefs is required (the size k of the shared support); got None.")
    k = _check_sparsity(n_nonzero_coefs, min(m, n))
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = check_scalar("tol", tol, low=0.0)
    X3, n_iter, conv = _mmv_greedy(A, Y3, k, max_iter, tol, variant)
    out = X3[0] if was_2d else X3
    if not return_info:
        return out
    return out, _info(n_iter, conv, A, Y3, X3, t0, f"mmv_{variant}")


@register_solver(
    "mmv_cosamp",
    kind="joint",
    sparsity_param="n_nonzero_coefs",
    operator_ok=False,
    summary="MMV CoSaMP: rows share the support, atoms ranked by their l2 norm over the vectors.",
)
def mmv_cosamp(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, return_info=False):
    """CoSaMP for jointly sparse vectors (the support selection uses column norms over all vectors).
    {doc}
    Notes
    -----
    Needell & Tropp's CoSaMP with the joint-sparsity model of Baraniuk et al. (2010):
    ``Omega`` = the ``2k`` atoms of largest ``||R a_j||_2``, least squares for all vectors
    on ``Omega U supp(X)``, keep the ``k`` columns of largest l2 norm.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((16, 30)) / 4.0
    >>> X = np.zeros((3, 30)); X[:, [2, 7, 19]] = rng.standard_normal((3, 3))
    >>> np.flatnonzero(np.abs(mmv_cosamp(A, X @ A.T, n_nonzero_coefs=3)).sum(axis=0)).tolist()
    [2, 7, 19]
    """
    return _mmv_entry(A, Y, n_nonzero_coefs, max_iter, tol, return_info, "cosamp")


@register_solver(
    "mmv_sp",
    kind="joint",
    sparsity_param="n_nonzero_coefs",
    operator_ok=False,
    summary="MMV subspace pursuit: rows share the support, atoms ranked by their l2 norm over the vectors.",
)
def mmv_sp(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, return_info=False):
    """Subspace pursuit for jointly sparse vectors.
    {doc}
    Notes
    -----
    Dai & Milenkovic's subspace pursuit with support scores ``||R a_j||_2`` over the vectors:
    merge ``k`` new atoms, least squares, keep ``k`` columns, least squares; stop when the
    residual no longer decreases.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((16, 30)) / 4.0
    >>> X = np.zeros((3, 30)); X[:, [2, 7, 19]] = rng.standard_normal((3, 3))
    >>> np.flatnonzero(np.abs(mmv_sp(A, X @ A.T, n_nonzero_coefs=3)).sum(axis=0)).tolist()
    [2, 7, 19]
    """
    return _mmv_entry(A, Y, n_nonzero_coefs, max_iter, tol, return_info, "sp")


mmv_cosamp.__doc__ = mmv_cosamp.__doc__.replace("{doc}", _MMV_DOC)
mmv_sp.__doc__ = mmv_sp.__doc__.replace("{doc}", _MMV_DOC)

"""CoSaMP and subspace pursuit, batch-first in NumPy.

Both solvers alternate support identification with least squares on small
supports. Each iteration works on the whole batch of signals still running:
two products (``R @ A`` and ``X @ A.T``: BLAS for arrays, the batch
``_forward``/``_adjoint`` of a matrix-free operator), row-wise top-k selection
and a batched least-squares solve on gathered atoms (normal equations of at
most 3k atoms, ``np.linalg.solve`` on a stack of small systems). For an
operator the gathered atoms are its columns ``A e_j``, obtained by applying it
to unit vectors (only for the atoms a support needs, cached), so the result is
that of the dense matrix up to rounding. Converged signals leave the working set.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import check_int
from ..exceptions import ConvergenceWarning
from ..sensing import LinearOperator
from ._prox import _topk_mask, keep_largest
from ._registry import register_solver
from .omp import GreedyInfo, _check_sparsity, _prepare

__all__ = ["cosamp", "subspace_pursuit"]

_CHUNK = 512  # signals per batched least-squares solve (bounds the (chunk, s, m) gather)
_COL_BLOCK = 1 << 22  # entries of the unit-vector batch applied to an operator at once
_COL_CACHE = 1 << 24  # cache an operator's columns when n * m is at most this


# ----------------------------------------------------------------------------------------
# helpers shared with thresholding.py
# ----------------------------------------------------------------------------------------
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


def _columns(A, dtype):
    """Atom source ``cols(idx) -> A.T[idx]`` (any index array shape; rows are atoms ``A e_j``).

    For an array this is a gather from ``A.T``. For an operator the atoms are computed by
    applying it to unit vectors, only for the indices asked, in blocks of at most
    ``_COL_BLOCK`` entries, and kept (when ``n m <= _COL_CACHE``) for later calls.
    """
    if not isinstance(A, LinearOperator):
        At = np.ascontiguousarray(A.T)
        return lambda idx: At[idx]
    m, n = A.shape
    cache = np.empty((n, m), dtype) if n * m <= _COL_CACHE else None
    have = np.zeros(n, bool)

    def compute(u):
        out = np.empty((u.size, m), dtype)
        step = max(1, _COL_BLOCK // n)
        for b0 in range(0, u.size, step):
            ub = u[b0:b0 + step]
            E = np.zeros((ub.size, n), A.dtype)
            E[np.arange(ub.size), ub] = 1
            out[b0:b0 + ub.size] = np.asarray(A._forward(E), dtype=dtype)
        return out

    def cols(idx):
        idx = np.asarray(idx)
        u, inv = np.unique(idx, return_inverse=True)
        if cache is None:
            return compute(u)[inv.reshape(idx.shape)]
        new = u[~have[u]]
        if new.size:
            cache[new] = compute(new)
            have[new] = True
        return cache[idx]

    return cols


def _ls_on_mask(cols, Y, mask, s_max):
    """Least squares of each row of ``Y`` on the atoms ``mask[i]`` (at most ``s_max`` per row).

    ``cols`` is an atom source from :func:`_columns`. Returns dense codes ``(N, n)`` with
    zeros off the supports. Padding slots (rows with fewer atoms) get identity
    equations, so they solve to zero and do not disturb the fit.
    """
    N, n = mask.shape
    m = Y.shape[1]
    B = np.zeros((N, n), dtype=Y.dtype)
    s = min(s_max, n)
    if N == 0 or s == 0:
        return B
    for c0 in range(0, N, _CHUNK):
        c1 = min(N, c0 + _CHUNK)
        mk = mask[c0:c1]
        order = np.argsort(~mk, axis=1, kind="stable")[:, :s]
        valid = np.take_along_axis(mk, order, axis=1)
        As = cols(order) * valid[..., None]                    # (c, s, m)
        Gs = As @ As.transpose(0, 2, 1)                         # (c, s, s)
        diag = np.arange(s)
        Gs[:, diag, diag] += ~valid
        rhs = As @ Y[c0:c1, :, None]                            # (c, s, 1)
        count = valid.sum(axis=1)
        redo = count > m  # more atoms than measurements: minimum-norm least squares
        try:
            coef = np.linalg.solve(Gs, rhs)[..., 0]
            redo |= ~np.all(np.isfinite(coef), axis=1)
        except np.linalg.LinAlgError:  # an exactly singular system (dependent atoms)
            coef = np.zeros((c1 - c0, s), dtype=Y.dtype)
            redo[:] = True
        if redo.any():
            for i in np.flatnonzero(redo):
                sel = order[i][valid[i]]
                coef[i] = 0
                if sel.size:
                    sol = np.linalg.lstsq(cols(sel).T, Y[c0 + i], rcond=None)[0]
                    coef[i, : sel.size] = sol
        np.put_along_axis(B[c0:c1], order, (coef * valid).astype(Y.dtype, copy=False), axis=1)
    return B


def _row_norms(M):
    return np.sqrt(np.einsum("ij,ij->i", M, M, dtype=np.float64))


def _init_state(Y2, n, dtype, max_iter, history):
    """Per-signal bookkeeping of a batch solver that starts from ``X = 0``.

    Returns ``(X, ny, rn, n_iter, conv, hist, active)``: zero codes, the norms of
    the measurements (also the initial residual norms), iteration counts, the
    converged flags (zero signals are done at once), the optional residual history
    and the indices of the signals still running.
    """
    N = Y2.shape[0]
    X = np.zeros((N, n), dtype)
    ny = _row_norms(Y2)
    rn = ny.copy()
    n_iter = np.zeros(N, np.int64)
    conv = ny == 0
    hist = np.full((N, max_iter), np.nan) if history else None
    active = np.flatnonzero(~conv)
    return X, ny, rn, n_iter, conv, hist, active


def _record(rn, n_iter, hist, active, it, r):
    """Store the residual norms ``r`` of the ``active`` signals after iteration ``it``."""
    rn[active] = r
    n_iter[active] += 1
    if hist is not None:
        hist[active, it] = r


def _finish(X, was_1d, return_info, n_iter, conv, rn, t0, method, hist):
    out = X[0] if was_1d else X
    if not return_info:
        return out
    return out, GreedyInfo(n_iter=n_iter, converged=conv, resid_norm=rn, elapsed=time.perf_counter() - t0,
                           method=method, history=hist)


def _warn_not_converged(conv, name, max_iter):
    n_bad = int(np.count_nonzero(~conv))
    if n_bad:
        warnings.warn(
            f"{name}: {n_bad} signal(s) did not meet the tolerance in max_iter={max_iter} iterations.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _check_common(A, Y, n_nonzero_coefs, max_iter, tol, *, dense=True):
    from .omp import _check_tol

    A, Y2, was_1d, dtype = _prepare(A, Y, dense=dense)
    m, n = A.shape
    if n_nonzero_coefs is None:
        from ..exceptions import ValidationError

        raise ValidationError("n_nonzero_coefs is required (the sparsity level k, an int >= 1); got None.")
    k = _check_sparsity(n_nonzero_coefs, min(m, n))
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = _check_tol(tol)
    return A, Y2, was_1d, dtype, k, max_iter, tol


# ----------------------------------------------------------------------------------------
# docstring sections shared by cosamp, subspace_pursuit, iht and htp
# ----------------------------------------------------------------------------------------
_DOC = {
    "{params_top}": """Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix, or a matrix-free operator: products use its batch
        ``_forward``/``_adjoint``; least squares on a support uses its columns
        ``A e_j``, computed on demand (the result equals the dense matrix's up to rounding).
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``min(m, n)`` with a ``SparsityClippedWarning``.""",
    "{params_end}": """history : bool, default False
        Record the residual norm ``||y - A x||`` after each iteration in ``info.history``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        k-sparse codes, float32 only if ``A`` and ``Y`` are.
    info : GreedyInfo
        Only with ``return_info=True``.""",
    "{raises}": """ValidationError
        Shape mismatch, non-finite input, ``n_nonzero_coefs`` missing or < 1""",
}


def _fill_doc(func):
    """Expand the ``{params_top}``, ``{params_end}`` and ``{raises}`` sections of ``func``'s docstring."""
    doc = func.__doc__
    for key, text in _DOC.items():
        doc = doc.replace(key, text)
    func.__doc__ = doc
    return func


# ----------------------------------------------------------------------------------------
# solvers
# ----------------------------------------------------------------------------------------
@register_solver(
    "cosamp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="CoSaMP: 2k proxy atoms, merge, least squares, prune to k (Needell & Tropp 2009).",
)
def cosamp(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Compressive sampling matching pursuit (CoSaMP).

    {params_top}
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||`` or, for noisy data, once
        the iterates settle: ``||x_new - x|| <= tol ||x_new||``.
    {params_end}

    Raises
    ------
    {raises}, bad ``max_iter``/``tol``.

    Warns
    -----
    ConvergenceWarning
        Signals that did not meet ``tol`` within ``max_iter`` iterations.

    Notes
    -----
    Needell & Tropp (2009), "CoSaMP: Iterative signal recovery from incomplete and
    inaccurate samples", Algorithm 1: ``Omega = supp_2k(A^T r)``, ``T = Omega U supp(x)``,
    ``b = argmin_{supp(b) in T} ||y - A b||``, ``x = H_k(b)``, ``r = y - A x``.
    When ``3k > m`` the least squares is minimum-norm (``lstsq``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[4, 9]] = [1.0, -1.0]
    >>> np.flatnonzero(cosamp(A, A @ x, n_nonzero_coefs=2))
    array([4, 9])
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype, k, max_iter, tol = _check_common(A, Y, n_nonzero_coefs, max_iter, tol, dense=False)
    m, n = A.shape
    fwd, adj = _ops(A, dtype)
    cols = _columns(A, dtype)
    X, ny, rn, n_iter, conv, hist, active = _init_state(Y2, n, dtype, max_iter, history)
    for it in range(max_iter):
        if active.size == 0:
            break
        Ya = Y2[active]
        Ra = Ya - fwd(X[active]) if it else Ya
        T = _topk_mask(adj(Ra), 2 * k) | (X[active] != 0)
        B = _ls_on_mask(cols, Ya, T, 3 * k)
        Xa = keep_largest(B, k).astype(dtype, copy=False)
        dx = _row_norms(Xa - X[active])
        X[active] = Xa
        r = _row_norms(Ya - fwd(Xa))
        _record(rn, n_iter, hist, active, it, r)
        done = (r <= tol * ny[active]) | (dx <= tol * _row_norms(Xa))
        conv[active[done]] = True
        active = active[~done]
    _warn_not_converged(conv, "cosamp", max_iter)
    return _finish(X, was_1d, return_info, n_iter, conv, rn, t0, "cosamp", hist)


@register_solver(
    "sp",
    kind="greedy",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Subspace pursuit: merge k new atoms, least squares, prune to k (Dai & Milenkovic 2009).",
)
def subspace_pursuit(A, Y, *, n_nonzero_coefs, max_iter=100, tol=1e-6, history=False, return_info=False):
    """Subspace pursuit (SP).

    {params_top}
    max_iter : int, default 100
        Maximum iterations per signal (SP normally stops much earlier).
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||``.
    {params_end}

    Raises
    ------
    {raises}.

    Notes
    -----
    Dai & Milenkovic (2009), "Subspace pursuit for compressive sensing signal
    reconstruction": ``T~ = T U supp_k(A^T r)``, ``b = LS on T~``,
    ``T' = supp_k(b)``, ``x' = LS on T'``; accept while ``||r'|| < ||r||``,
    otherwise stop with the previous ``(T, x)``. The registry name is ``"sp"``.
    ``info.converged`` is True for every signal that stopped on ``tol`` or because its
    residual stopped decreasing.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((30, 60)) / np.sqrt(30)
    >>> x = np.zeros(60); x[[4, 9]] = [1.0, -1.0]
    >>> np.flatnonzero(subspace_pursuit(A, A @ x, n_nonzero_coefs=2))
    array([4, 9])
    """
    t0 = time.perf_counter()
    A, Y2, was_1d, dtype, k, max_iter, tol = _check_common(A, Y, n_nonzero_coefs, max_iter, tol, dense=False)
    m, n = A.shape
    N = Y2.shape[0]
    fwd, adj = _ops(A, dtype)
    cols = _columns(A, dtype)
    ny = _row_norms(Y2)
    T = _topk_mask(adj(Y2), k)
    X = _ls_on_mask(cols, Y2, T, k)
    X[ny == 0] = 0
    rn = _row_norms(Y2 - fwd(X))
    n_iter = np.zeros(N, np.int64)
    conv = np.zeros(N, bool)
    hist = np.full((N, max_iter + 1), np.nan) if history else None
    if hist is not None:
        hist[:, 0] = rn
    done0 = rn <= tol * ny
    conv[done0] = True
    active = np.flatnonzero(~done0)
    for it in range(max_iter):
        if active.size == 0:
            break
        Ya = Y2[active]
        Ra = Ya - fwd(X[active])
        Tt = T[active] | _topk_mask(adj(Ra), k)
        B = _ls_on_mask(cols, Ya, Tt, 2 * k)
        Tn = _topk_mask(B, k)
        Xn = _ls_on_mask(cols, Ya, Tn, k)
        rnn = _row_norms(Ya - fwd(Xn))
        n_iter[active] += 1
        better = rnn < rn[active]
        acc = active[better]
        T[acc] = Tn[better]
        X[acc] = Xn[better]
        rn[acc] = rnn[better]
        if hist is not None:
            hist[active, it + 1] = rn[active]
        done = ~better | (rnn <= tol * ny[active])
        conv[active[done]] = True
        active = active[~done]
    return _finish(X, was_1d, return_info, n_iter, conv, rn, t0, "sp", hist)


_fill_doc(cosamp)
_fill_doc(subspace_pursuit)

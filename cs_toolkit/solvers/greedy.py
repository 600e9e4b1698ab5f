"""CoSaMP and subspace pursuit, batch-first in NumPy.

Both solvers alternate support identification with least squares on small
supports. Each iteration works on the whole batch of signals still running:
two BLAS products (``R @ A`` and ``X @ A.T``), row-wise top-k selection and a
batched least-squares solve on gathered atoms (normal equations of at most 3k
atoms, ``np.linalg.solve`` on a stack of small systems). Converged signals leave
the working set.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import check_int
from ..exceptions import ConvergenceWarning
from ._prox import keep_largest
from ._registry import register_solver
from .omp import GreedyInfo, _check_sparsity, _prepare

__all__ = ["cosamp", "subspace_pursuit"]

_CHUNK = 512  # signals per batched least-squares solve (bounds the (chunk, s, m) gather)


# ----------------------------------------------------------------------------------------
# helpers shared with thresholding.py
# ----------------------------------------------------------------------------------------
def _topk_mask(V, k):
    """Boolean mask of the ``k`` entries of largest magnitude in each row of ``V``."""
    N, n = V.shape
    mask = np.zeros((N, n), dtype=bool)
    if k >= n:
        mask[:] = True
        return mask
    idx = np.argpartition(-np.abs(V), k - 1, axis=1)[:, :k]
    np.put_along_axis(mask, idx, True, axis=1)
    return mask


def _ls_on_mask(At, Y, mask, s_max):
    """Least squares of each row of ``Y`` on the atoms ``mask[i]`` (at most ``s_max`` per row).

    ``At`` is ``A.T`` (n, m), C-contiguous. Returns dense codes ``(N, n)`` with
    zeros off the supports. Padding slots (rows with fewer atoms) get identity
    equations, so they solve to zero and do not disturb the fit.
    """
    N, n = mask.shape
    m = At.shape[1]
    B = np.zeros((N, n), dtype=At.dtype)
    s = min(s_max, n)
    if N == 0 or s == 0:
        return B
    for c0 in range(0, N, _CHUNK):
        c1 = min(N, c0 + _CHUNK)
        mk = mask[c0:c1]
        order = np.argsort(~mk, axis=1, kind="stable")[:, :s]
        valid = np.take_along_axis(mk, order, axis=1)
        As = At[order] * valid[..., None]                      # (c, s, m)
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
            coef = np.zeros((c1 - c0, s), dtype=At.dtype)
            redo[:] = True
        if redo.any():
            for i in np.flatnonzero(redo):
                sel = order[i][valid[i]]
                coef[i] = 0
                if sel.size:
                    sol = np.linalg.lstsq(At[sel].T, Y[c0 + i], rcond=None)[0]
                    coef[i, : sel.size] = sol
        np.put_along_axis(B[c0:c1], order, (coef * valid).astype(At.dtype, copy=False), axis=1)
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

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix; an operator is made explicit with ``to_dense()``.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``min(m, n)`` with a ``SparsityClippedWarning``.
    max_iter : int, default 100
        Maximum iterations per signal.
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||`` or, for noisy data, once
        the iterates settle: ``||x_new - x|| <= tol ||x_new||``.
    history : bool, default False
        Record the residual norm after each iteration in ``info.history``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        k-sparse codes, float32 only if ``A`` and ``Y`` are.
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite input, ``n_nonzero_coefs`` missing or < 1, bad ``max_iter``/``tol``.

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
    A, Y2, was_1d, dtype, k, max_iter, tol = _check_common(A, Y, n_nonzero_coefs, max_iter, tol)
    m, n = A.shape
    At = np.ascontiguousarray(A.T)
    X, ny, rn, n_iter, conv, hist, active = _init_state(Y2, n, dtype, max_iter, history)
    for it in range(max_iter):
        if active.size == 0:
            break
        Ya = Y2[active]
        Ra = Ya - X[active] @ A.T if it else Ya
        T = _topk_mask(Ra @ A, 2 * k) | (X[active] != 0)
        B = _ls_on_mask(At, Ya, T, 3 * k)
        Xa = keep_largest(B, k).astype(dtype, copy=False)
        dx = _row_norms(Xa - X[active])
        X[active] = Xa
        r = _row_norms(Ya - Xa @ A.T)
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

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix; an operator is made explicit with ``to_dense()``.
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``min(m, n)`` with a ``SparsityClippedWarning``.
    max_iter : int, default 100
        Maximum iterations per signal (SP normally stops much earlier).
    tol : float, default 1e-6
        Stop a signal once ``||y - A x|| <= tol ||y||``.
    history : bool, default False
        Record the residual norm after each iteration in ``info.history``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        k-sparse codes.
    info : GreedyInfo
        Only with ``return_info=True``; ``converged`` is True for every signal
        that stopped on ``tol`` or because its residual stopped decreasing.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite input, ``n_nonzero_coefs`` missing or < 1.

    Notes
    -----
    Dai & Milenkovic (2009), "Subspace pursuit for compressive sensing signal
    reconstruction": ``T~ = T U supp_k(A^T r)``, ``b = LS on T~``,
    ``T' = supp_k(b)``, ``x' = LS on T'``; accept while ``||r'|| < ||r||``,
    otherwise stop with the previous ``(T, x)``. The registry name is ``"sp"``.

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
    A, Y2, was_1d, dtype, k, max_iter, tol = _check_common(A, Y, n_nonzero_coefs, max_iter, tol)
    m, n = A.shape
    N = Y2.shape[0]
    At = np.ascontiguousarray(A.T)
    ny = _row_norms(Y2)
    T = _topk_mask(Y2 @ A, k)
    X = _ls_on_mask(At, Y2, T, k)
    X[ny == 0] = 0
    rn = _row_norms(Y2 - X @ A.T)
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
        Ra = Ya - X[active] @ A.T
        Tt = T[active] | _topk_mask(Ra @ A, k)
        B = _ls_on_mask(At, Ya, Tt, 2 * k)
        Tn = _topk_mask(B, k)
        Xn = _ls_on_mask(At, Ya, Tn, k)
        rnn = _row_norms(Ya - Xn @ A.T)
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

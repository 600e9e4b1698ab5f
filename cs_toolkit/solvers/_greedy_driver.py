"""The batch driver shared by the greedy and thresholding solvers (CoSaMP, SP, IHT, HTP).

:class:`GreedyRun` is the prologue, the bookkeeping and the epilogue of every such solver:
validation (:func:`_check_common`), the products (:func:`~cs_toolkit.solvers._common._ops`),
the atoms of a support (:func:`_columns`) and least squares on them (:func:`_ls_on_mask`),
the per-signal state (codes, residual norms, iteration counts, convergence flags, history)
of the signals still running, the ConvergenceWarning and the :class:`GreedyInfo` returned.
The iterations themselves stay in ``greedy.py`` and ``thresholding.py``.
"""

from __future__ import annotations

import inspect
import time
import warnings

import numpy as np

from .._validation import check_int
from ..exceptions import ConvergenceWarning, ValidationError
from ..sensing import LinearOperator
from ._common import GreedyInfo, _check_sparsity, _check_tol, _ops, prepare

_CHUNK = 512  # signals per batched least-squares solve (bounds the (chunk, s, m) gather)
_COL_BLOCK = 1 << 22  # entries of the unit-vector batch applied to an operator at once
_COL_CACHE = 1 << 24  # cache an operator's columns when n * m is at most this


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


def _warn_not_converged(conv, name, max_iter, stacklevel=3):
    n_bad = int(np.count_nonzero(~conv))
    if n_bad:
        warnings.warn(
            f"{name}: {n_bad} signal(s) did not meet the tolerance in max_iter={max_iter} iterations.",
            ConvergenceWarning,
            stacklevel=stacklevel,
        )


def _check_common(A, Y, n_nonzero_coefs, max_iter, tol, *, dense=True):
    A, Y2, was_1d, dtype = prepare(A, Y, dense=dense)
    m, n = A.shape
    if n_nonzero_coefs is None:
        raise ValidationError("n_nonzero_coefs is required (the sparsity level k, an int >= 1); got None.")
    k = _check_sparsity(n_nonzero_coefs, min(m, n))
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = _check_tol(tol)
    return A, Y2, was_1d, dtype, k, max_iter, tol


_K_DOC = """
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``min(m, n)`` with a ``SparsityClippedWarning``."""
_DOC = {
    "{params_top}": """Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix, or a matrix-free operator: products use its batch
        ``_forward``/``_adjoint``; least squares on a support uses its columns
        ``A e_j``, computed on demand (the result equals the dense matrix's up to rounding).
    Y : ndarray of shape (m,) or (n_signals, m)
        Measurements, one signal per row.""" + _K_DOC,
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
    blocks = "n_nonzero_blocks" in inspect.signature(func).parameters  # the block solvers' sparsity
    for key, text in _DOC.items():
        if blocks:
            text = text.replace(_K_DOC, "").replace("``n_nonzero_coefs``", "``n_nonzero_blocks``")
        doc = doc.replace(key, text)
    func.__doc__ = doc
    return func


class GreedyRun:
    """One batch of a greedy or thresholding solver, started from ``X = 0``.

    Attributes: the validated ``A``, ``Y`` (2-D), ``was_1d``, ``dtype``, ``k``, ``max_iter``,
    ``tol``; the products ``fwd``/``adj`` (:func:`_ops`) and the atom source ``cols``
    (:func:`_columns`, built on first use); the state of :func:`_init_state` (``X``, ``ny``,
    ``rn``, ``n_iter``, ``conv``, ``hist``) and ``active``, the indices of the signals still
    running, which the solver's loop shrinks.
    """

    def __init__(self, name, A, Y, n_nonzero_coefs, max_iter, tol, history):
        self.t0 = time.perf_counter()
        self.name = name
        (self.A, self.Y, self.was_1d, self.dtype, self.k, self.max_iter,
         self.tol) = _check_common(A, Y, n_nonzero_coefs, max_iter, tol, dense=False)
        self.n = self.A.shape[1]
        self.fwd, self.adj = _ops(self.A, self.dtype)
        self._cols = None
        (self.X, self.ny, self.rn, self.n_iter, self.conv, self.hist,
         self.active) = _init_state(self.Y, self.n, self.dtype, self.max_iter, history)

    @property
    def cols(self):
        if self._cols is None:
            self._cols = _columns(self.A, self.dtype)
        return self._cols

    def iterations(self):
        """The iterations ``(it, active)`` of the loop, until ``max_iter`` or no signal runs."""
        for it in range(self.max_iter):
            if self.active.size == 0:
                return
            yield it, self.active

    def record(self, it, r):
        """Store the residual norms ``r`` of the running signals after iteration ``it``."""
        _record(self.rn, self.n_iter, self.hist, self.active, it, r)

    def stop(self, done):
        """Mark the running signals ``done`` (a mask over ``active``) converged; keep the others."""
        self.conv[self.active[done]] = True
        self.active = self.active[~done]

    def finish(self, return_info, *, warn=True):
        """The codes (and :class:`GreedyInfo`), after warning about signals that did not converge."""
        if warn:
            _warn_not_converged(self.conv, self.name, self.max_iter, stacklevel=4)
        return _finish(self.X, self.was_1d, return_info, self.n_iter, self.conv, self.rn, self.t0, self.name,
                       self.hist)

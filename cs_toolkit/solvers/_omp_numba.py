"""Numba kernels of orthogonal matching pursuit (OMP).

Two per-signal kernels, each with a serial range driver and a ``prange``
driver over blocks of signals (one thread = contiguous signals, workspaces
allocated once per block):

* ``_omp_gram_*`` -- Batch-OMP (Rubinstein, Zibulevsky & Elad, 2008). Works
  only with the Gram matrix ``G = A^T A`` and the correlations ``A^T y``.
* ``_omp_qr_*`` -- OMP on ``A`` itself, for few signals or when ``G`` is too
  large: modified Gram-Schmidt on the selected atoms, i.e. a progressive
  Cholesky factor ``R^T R = A_I^T A_I`` built in measurement space.

Status codes written per signal (:class:`~cs_toolkit.solvers._common.Status`): ``DONE`` =
``kmax`` atoms selected, ``DEPENDENT`` = the next atom was (numerically) dependent on the
selected ones, ``CONVERGED`` = error target met, ``EXHAUSTED`` = residual exhausted (all
correlations numerically zero).

Batch-OMP bookkeeping (derived from the paper's Algorithm 5)
-------------------------------------------------------------
Let ``I`` be the selected atoms, ``L`` the Cholesky factor of ``G[I, I]`` and
``U = G[:, I] L^{-T}`` (stored as rows, ``U[t]`` has length ``n``). Then
``G[:, I] gamma_I = U z`` with ``z = L^{-1} alpha0_I``, so the correlations of
the residual are ``alpha = alpha0 - U z``. Adding atom ``i`` with
``w = L^{-1} G[I, i]``: since ``U L^T = G[:, I]``, row ``i`` of ``U`` is ``w``,
the new diagonal is ``sqrt(G_ii - w.w)``, the new row of ``U`` is
``(G[i] - U^T w) / L_ss`` and the new entry of ``z`` is ``alpha_i / L_ss``
(``alpha_i = alpha0_i - w.z``). The squared residual is
``||y||^2 - ||z||^2`` (the paper's ``eps_k = ||y||^2 - <gamma, alpha0_I>``),
so each step costs ``O(n |I|)`` with no triangular solve; ``gamma = L^{-T} z``
is solved once at the end.

Per step the kernel makes one pass over ``n`` per four rows of ``U`` (:func:`_u_row`) and one
pass that scales the new row, updates ``alpha`` and reduces ``max |alpha|`` on the integer bits
(the next atom is then the first entry with those bits); the last atom's row of ``U`` and the
update after it are skipped (nothing reads them). Together 15-17 % less time than one row per
pass, a separate search and a full last step (workloads A and B of ``benchmarks/solvers.py``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload

from .._config import JIT, JIT_PARALLEL
from ._chol_numba import _chol_append, _chol_solve_t, _rows_gemv
from ._common import Status

_DONE, _CONVERGED, _DEPENDENT, _EXHAUSTED = (int(Status.DONE), int(Status.CONVERGED), int(Status.DEPENDENT),
                                             int(Status.EXHAUSTED))


#: Signals whose correlations ``Y @ A`` are computed by one product in :func:`_omp_y_range`.
_Y_BLOCK = 64


def _abs_mask(v):  # pragma: no cover - replaced by the overload below inside kernels
    raise NotImplementedError


@overload(_abs_mask, jit_options=JIT)
def _abs_mask_impl(v):
    """The integer of ``v``'s element width whose bits clear a float's sign bit."""
    if v.dtype == types.float32:
        return lambda v: np.int32(0x7FFFFFFF)
    return lambda v: np.int64(0x7FFFFFFFFFFFFFFF)


@intrinsic
def _float_bits(typingctx, x):
    """The bits of a float as a signed integer of the same width (a bit cast, no conversion)."""
    rt = {types.float64: types.int64, types.float32: types.int32}.get(x)
    if rt is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(rt))

    return rt(x), codegen


@njit(**JIT)
def _first_with_bits(v, mx, mask):  # pragma: no cover - compiled
    """First index ``j`` with ``bits(v[j]) & mask == mx`` (``mask``: :func:`_abs_mask`), or -1."""
    n = v.shape[0]
    j0 = 0
    while j0 + 16 <= n:  # a branch-free test of 16 entries at a time, then the scan of the one hit
        hit = False
        for j in range(j0, j0 + 16):
            hit |= (_float_bits(v[j]) & mask) == mx
        if hit:
            break
        j0 += 16
    for j in range(j0, n):
        if (_float_bits(v[j]) & mask) == mx:
            return j
    return -1


@njit(**JIT)
def _argmax_abs(v):  # pragma: no cover - compiled
    """First index of the largest ``|v_j|`` (finite ``v``) and that value.

    For non-negative IEEE floats the order of the values is the order of their
    bit patterns read as integers, so the maximum is an integer max-reduction
    over ``bits & ~sign`` (which LLVM vectorises without fast-math), followed by
    a search for its first occurrence: about twice as fast as a branchy scan.
    """
    mask = _abs_mask(v)
    mx = _float_bits(v[0]) & mask
    for j in range(1, v.shape[0]):
        mx = max(mx, _float_bits(v[j]) & mask)
    j = max(_first_with_bits(v, mx, mask), 0)
    return j, abs(v[j])


@njit(**JIT)
def _solve_scatter(L, z, s, gamma, idx, xrow):  # pragma: no cover - compiled
    """Solve ``L[:s, :s]^T gamma = z[:s]`` and scatter into ``xrow[idx]``."""
    _chol_solve_t(L, s, z, gamma)
    for t in range(s):
        xrow[idx[t]] = gamma[t]


@njit(**JIT)
def _u_row(U, L, Gi, s):  # pragma: no cover - compiled
    """``U[s] = G[i] - sum_{t<s} L[s, t] U[t]`` (before the division by ``L[s, s]``), four rows of
    ``U`` per pass over ``n`` (each pass loads and stores ``U[s]`` once: fewer memory operations
    per multiply-add than one row per pass)."""
    n = Gi.shape[0]
    u = U[s]
    f = s % 4 if s % 4 or s == 0 else 4  # rows folded into the first pass, which starts from G[i]
    if f == 0:
        for j in range(n):
            u[j] = Gi[j]
    elif f == 1:
        w0 = L[s, 0]
        u0 = U[0]
        for j in range(n):
            u[j] = Gi[j] - w0 * u0[j]
    elif f == 2:
        w0, w1 = L[s, 0], L[s, 1]
        u0, u1 = U[0], U[1]
        for j in range(n):
            u[j] = Gi[j] - (w0 * u0[j] + w1 * u1[j])
    elif f == 3:
        w0, w1, w2 = L[s, 0], L[s, 1], L[s, 2]
        u0, u1, u2 = U[0], U[1], U[2]
        for j in range(n):
            u[j] = Gi[j] - ((w0 * u0[j] + w1 * u1[j]) + w2 * u2[j])
    else:
        w0, w1, w2, w3 = L[s, 0], L[s, 1], L[s, 2], L[s, 3]
        u0, u1, u2, u3 = U[0], U[1], U[2], U[3]
        for j in range(n):
            u[j] = Gi[j] - ((w0 * u0[j] + w1 * u1[j]) + (w2 * u2[j] + w3 * u3[j]))
    for t in range(f, s, 4):
        w0, w1, w2, w3 = L[s, t], L[s, t + 1], L[s, t + 2], L[s, t + 3]
        u0, u1, u2, u3 = U[t], U[t + 1], U[t + 2], U[t + 3]
        for j in range(n):
            u[j] -= (w0 * u0[j] + w1 * u1[j]) + (w2 * u2[j] + w3 * u3[j])


@njit(**JIT)
def _omp_gram_one(G, alpha, y2, kmax, tol, use_tol, rel_stop, rel_dep, U, L, idx, z, gamma, xrow, hist):
    """Batch-OMP for one signal. ``alpha`` holds ``A^T y`` on entry (overwritten)."""  # pragma: no cover
    n = alpha.shape[0]
    eps = y2
    if use_tol and eps <= tol:
        return _DONE, _CONVERGED, eps
    best, amax = _argmax_abs(alpha)
    mask = _abs_mask(alpha)
    mx = mask & 0  # (typed before the loop; set by every step that continues)
    thresh = amax * rel_stop
    rec = hist.shape[0] > 0
    s = 0
    status = _DONE
    while s < kmax:
        if amax <= thresh or amax == 0.0:
            status = _EXHAUSTED
            break
        i = best
        for t in range(s):  # w = L^{-1} G[I, i] is column i of U
            L[s, t] = U[t, i]
        d = _chol_append(L, s, G[i, i], rel_dep)
        if d < 0.0:
            status = _DEPENDENT
            break
        lss = L[s, s]
        zs = alpha[i] / lss
        z[s] = zs
        idx[s] = i
        if s + 1 < kmax:  # the last atom's row of U and the correlations after it are never read
            _u_row(U, L, G[i], s)
            u = U[s]
            inv = lss / d  # 1 / lss in the working dtype
            mx = mask & 0
            for j in range(n):  # scale the row, update the correlations, and their largest |.|
                uj = u[j] * inv
                u[j] = uj
                aj = alpha[j] - zs * uj
                alpha[j] = aj
                mx = max(mx, _float_bits(aj) & mask)
        s += 1
        eps -= float(zs) * float(zs)
        if rec:
            hist[s - 1] = eps
        if use_tol and eps <= tol:
            status = _CONVERGED
            break
        if s == kmax:
            break
        for t in range(s):
            alpha[idx[t]] = 0.0
        best = _first_with_bits(alpha, mx, mask)
        if best < 0:  # the largest was a selected atom's correlation (now zero): search again
            best, amax = _argmax_abs(alpha)
        else:
            amax = abs(alpha[best])
    _solve_scatter(L, z, s, gamma, idx, xrow)
    return s, status, eps


@njit(**JIT)
def _omp_gram_rows(G, AtY, y2, row0, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                   start, stop):  # pragma: no cover - compiled
    """Batch-OMP on signals ``start:stop`` whose correlations and squared norms are row
    ``sig - row0`` of ``AtY`` and ``y2`` (serial); workspaces allocated once."""
    n = G.shape[0]
    kw = max(kmax, 1)
    alpha = np.empty(n, G.dtype)
    U = np.empty((kw, n), G.dtype)
    L = np.zeros((kw, kw), G.dtype)
    idx = np.zeros(kw, np.int64)
    z = np.empty(kw, G.dtype)
    gamma = np.empty(kw, G.dtype)
    rec = H.shape[1] > 0
    for sig in range(start, stop):
        row = AtY[sig - row0]
        for j in range(n):
            alpha[j] = row[j]
        h = H[sig] if rec else H[0]
        s, st, e = _omp_gram_one(G, alpha, y2[sig - row0], kmax, tol, use_tol, rel_stop, rel_dep,
                                 U, L, idx, z, gamma, X[sig], h)
        n_iter[sig] = s
        status[sig] = st
        resid2[sig] = e


@njit(**JIT)
def _omp_gram_range(G, AtY, y2, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, start, stop):
    """Batch-OMP on signals ``start:stop`` of precomputed correlations ``AtY`` (serial)."""  # pragma: no cover
    _omp_gram_rows(G, AtY, y2, 0, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                   start, stop)


@njit(**JIT_PARALLEL)
def _omp_gram_batch(G, AtY, y2, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, block):
    """Batch-OMP over all rows of ``AtY``, ``prange`` over blocks of ``block`` signals."""  # pragma: no cover
    N = AtY.shape[0]
    nb = (N + block - 1) // block
    for b in prange(nb):
        _omp_gram_rows(G, AtY, y2, 0, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                       b * block, min(N, (b + 1) * block))


@njit(**JIT)
def _omp_y_range(G, A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, start, stop):
    """Batch-OMP on signals ``start:stop`` of the measurements ``Y`` (serial).

    The correlations ``Y[lo:hi] @ A`` are computed ``_Y_BLOCK`` signals at a time, into a block
    that stays in cache (no ``(N, n)`` array of correlations), so in the parallel driver every
    thread computes its own: the product scales with the threads instead of running before the
    kernel on one.
    """  # pragma: no cover - compiled
    m, n = A.shape
    y2 = np.empty(_Y_BLOCK)
    buf = np.empty((_Y_BLOCK, n), A.dtype)  # reused: a fresh product per block would be a fresh
    for lo in range(start, stop, _Y_BLOCK):  # allocation, and page faults, every time
        hi = min(stop, lo + _Y_BLOCK)
        AtY = buf[: hi - lo]
        np.dot(Y[lo:hi], A, AtY)
        for i in range(hi - lo):
            v = 0.0
            for p in range(m):
                v += float(Y[lo + i, p]) * float(Y[lo + i, p])
            y2[i] = v
        _omp_gram_rows(G, AtY, y2, lo, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                       lo, hi)


@njit(**JIT_PARALLEL)
def _omp_y_batch(G, A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, block):
    """Batch-OMP over all rows of ``Y``, ``prange`` over blocks of ``block`` signals."""  # pragma: no cover
    N = Y.shape[0]
    nb = (N + block - 1) // block
    for b in prange(nb):
        _omp_y_range(G, A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                     b * block, min(N, (b + 1) * block))


@njit(**JIT)
def _omp_qr_one(A, y, kmax, tol, use_tol, rel_stop, rel_dep, Q, L, idx, z, gamma, r, alpha, xrow, hist):
    """OMP for one signal on ``A`` (m, n) by modified Gram-Schmidt; ``L[s, t] = <q_t, a_i>``."""  # pragma: no cover
    m, n = A.shape
    eps = 0.0
    for p in range(m):
        r[p] = y[p]
        eps += float(y[p]) * float(y[p])
    if use_tol and eps <= tol:
        return _DONE, _CONVERGED, eps
    rec = hist.shape[0] > 0
    thresh = -1.0
    s = 0
    status = _DONE
    while s < kmax:
        _rows_gemv(A, r, m, alpha)  # alpha = A^T r
        for t in range(s):
            alpha[idx[t]] = 0.0
        i, amax = _argmax_abs(alpha)
        if s == 0:
            thresh = amax * rel_stop
        if amax <= thresh or amax == 0.0:
            status = _EXHAUSTED
            break
        q = Q[s]
        a2 = 0.0
        for p in range(m):
            v = A[p, i]
            q[p] = v
            a2 += float(v) * float(v)
        for t in range(s):
            qt = Q[t]
            w = 0.0
            for p in range(m):
                w += float(qt[p]) * float(q[p])
            L[s, t] = w
            for p in range(m):
                q[p] -= w * qt[p]
        d = 0.0
        for p in range(m):
            d += float(q[p]) * float(q[p])
        if not d > rel_dep * a2:
            status = _DEPENDENT
            break
        lss = np.sqrt(d)
        L[s, s] = lss
        zs = 0.0
        for p in range(m):
            q[p] = q[p] / lss
            zs += float(q[p]) * float(r[p])
        z[s] = zs
        eps = 0.0
        for p in range(m):
            r[p] -= zs * q[p]
            eps += float(r[p]) * float(r[p])
        idx[s] = i
        s += 1
        if rec:
            hist[s - 1] = eps
        if use_tol and eps <= tol:
            status = _CONVERGED
            break
    _solve_scatter(L, z, s, gamma, idx, xrow)
    return s, status, eps


@njit(**JIT)
def _omp_qr_range(A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, start, stop):
    """OMP on ``A`` for signals ``start:stop`` (serial); workspaces allocated once."""  # pragma: no cover
    m, n = A.shape
    kw = max(kmax, 1)
    Q = np.empty((kw, m), A.dtype)
    L = np.zeros((kw, kw), A.dtype)
    idx = np.zeros(kw, np.int64)
    z = np.empty(kw, A.dtype)
    gamma = np.empty(kw, A.dtype)
    r = np.empty(m, A.dtype)
    alpha = np.empty(n, A.dtype)
    rec = H.shape[1] > 0
    for sig in range(start, stop):
        h = H[sig] if rec else H[0]
        s, st, e = _omp_qr_one(A, Y[sig], kmax, tol, use_tol, rel_stop, rel_dep, Q, L, idx, z, gamma,
                               r, alpha, X[sig], h)
        n_iter[sig] = s
        status[sig] = st
        resid2[sig] = e


@njit(**JIT_PARALLEL)
def _omp_qr_batch(A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H, block):
    """OMP on ``A`` over all rows of ``Y``, ``prange`` over blocks of ``block`` signals."""  # pragma: no cover
    N = Y.shape[0]
    nb = (N + block - 1) // block
    for b in prange(nb):
        _omp_qr_range(A, Y, kmax, tol, use_tol, rel_stop, rel_dep, X, n_iter, status, resid2, H,
                      b * block, min(N, (b + 1) * block))

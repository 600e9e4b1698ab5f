"""Numba kernels of the LARS-lasso homotopy (exact LASSO solutions).

Everything is expressed with the Gram matrix ``G = A^T A`` and the
correlations ``c0 = A^T y``, so one signal costs ``O(n |S|)`` per breakpoint
(``S`` the active set) and the batch runs in parallel over chunks of signals,
each chunk with its own scratch memory. The active-set system
``G_SS d = s_S`` is solved with a Cholesky factor extended by one row when a
variable enters and downdated by Givens rotations when one leaves
(:mod:`cs_toolkit.solvers._chol_numba`).

Status codes: 0 reached ``lam``; 1 stopped at ``max_steps``; 2 a variable
could not enter because it was (numerically) dependent on the active set.

Conditioning: each signal also reports the smallest normalised pivot of its
final factor, ``min_q L_qq / sqrt(G_jj)`` (``j`` the q-th active variable),
the sine of the angle between an active column and the span of the columns
before it. ``cond(A_S) >= 1 / ratio``, so it is a free lower bound of the
active-set condition number (the wrapper warns below ``sqrt(eps)``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL
from ._chol_numba import _chol_add, _chol_remove, _chol_solve, _chol_solve_t, _rows_gemv
from ._common import Status

_DONE, _MAX_ITER, _DEPENDENT = int(Status.DONE), int(Status.MAX_ITER), int(Status.DEPENDENT)

#: A variable enters only if its squared Cholesky pivot exceeds this fraction of ``G_jj``.
REL_DEP = 1e-10


@njit(**JIT)
def _copy_row(src, i, dst, q):  # pragma: no cover - compiled
    """``dst[q] = src[i]`` as a loop: a slice assignment would compile numba's shape-mismatch
    message (its unicode formatting), about 8 s of the first call for nothing."""
    for j in range(src.shape[1]):
        dst[q, j] = src[i, j]


@njit(**JIT)
def _crossings(c, a, flag, lam_cur, nonneg, dropped, dropped_sign, g):  # pragma: no cover - compiled
    """``g[j]``: the step at which free variable ``j``'s correlation ``c_j - t a_j`` reaches the
    penalty ``lam_cur - t`` (``(lam - c_j) / (1 - a_j)``) or its negative (``(lam + c_j) / (1 + a_j)``,
    not with ``nonneg``), the smaller positive one; ``+inf`` for none and for active or blocked
    variables. The variable that just left may not re-enter with the sign it had.

    Branch-free over ``j`` (both quotients are computed, then selected), so LLVM vectorises it;
    the values are the same quotients a per-variable scan would compare.
    """
    for j in range(c.shape[0]):
        cj = c[j]
        aj = a[j]
        g1 = (lam_cur - cj) / (1.0 - aj)
        g2 = (lam_cur + cj) / (1.0 + aj)
        v1 = g1 if (aj < 1.0 and g1 > 0.0) else np.inf
        v2 = g2 if (not nonneg and aj > -1.0 and g2 > 0.0) else np.inf
        v = min(v1, v2)
        g[j] = v if flag[j] == 0 else np.inf
    # the variable that just left, again with its forbidden sign excluded: testing ``j == dropped``
    # inside the loop above keeps LLVM from vectorising it (1.1-1.5x slower LARS, measured)
    if dropped >= 0 and flag[dropped] == 0:
        cj = c[dropped]
        aj = a[dropped]
        v = np.inf
        if aj < 1.0 and not dropped_sign > 0.0:
            g1 = (lam_cur - cj) / (1.0 - aj)
            if g1 > 0.0:
                v = g1
        if not nonneg and aj > -1.0 and not dropped_sign < 0.0:
            g2 = (lam_cur + cj) / (1.0 + aj)
            if 0.0 < g2 < v:
                v = g2
        g[dropped] = v


@njit(**JIT)
def _argmin_pos(v):  # pragma: no cover - compiled
    """First index of the smallest entry of ``v`` (entries positive or ``+inf``) and that entry.

    Positive IEEE floats order as their bit patterns read as integers, so the minimum is an
    integer reduction (vectorised by LLVM without fast-math) and then a search for its first
    occurrence: the index a strict ``<`` scan would keep.
    """
    iv = v.view(np.int64)
    mn = iv[0]
    for j in range(1, iv.shape[0]):
        mn = min(mn, iv[j])
    for j in range(iv.shape[0]):
        if iv[j] == mn:
            return j, v[j]
    return 0, v[0]


@njit(**JIT)
def _lars_one(G, c0, lam, nonneg, max_steps, x, c, AB, L, GS, act, signs, d, z, rhs, flag, record, path_lam, path_x):
    """LARS-lasso homotopy for one signal; writes ``x`` and returns ``(n_steps, status, n_rec, pivot_ratio)``.

    ``flag[j]``: 1 active, 2 blocked (dependent), 0 free. Scratch arrays are
    overwritten. With ``record``, breakpoints go to ``path_lam``/``path_x``.
    """
    n = G.shape[0]
    pmax = L.shape[0]
    for j in range(n):
        c[j] = c0[j]
        x[j] = 0.0
        flag[j] = 0
    lam_cur = 0.0
    j0 = -1
    for j in range(n):
        v = c[j] if nonneg else abs(c[j])
        if v > lam_cur:
            lam_cur = v
            j0 = j
    n_rec = 0
    if record:
        path_lam[0] = max(lam_cur, lam)
        for j in range(n):
            path_x[0, j] = 0.0
        n_rec = 1
    if lam_cur <= lam:
        return 0, _DONE, n_rec, 1.0
    status = _DONE
    p = 0
    if not _chol_add(G, act, 0, j0, L, REL_DEP):
        return 0, _DEPENDENT, n_rec, 0.0
    act[0] = j0
    _copy_row(G, j0, GS, 0)
    signs[0] = 1.0 if c[j0] > 0 else -1.0
    flag[j0] = 1
    p = 1
    dropped = -1  # the variable that just left, and the sign it had: it may not re-enter
    dropped_sign = 0.0  # with that sign (a root at gamma = 0) but may re-enter later with the other
    steps = 0
    nz = 0
    AB[:, :] = 0.0  # directions of this and the previous step (c -= gprev * b is applied lazily)
    gbuf = AB[2]  # the crossing steps of the free variables
    cur = 0
    b = AB[1]
    gprev = 0.0
    while True:
        if steps >= max_steps:
            status = _MAX_ITER
            break
        for q in range(nz, p):  # z = L^{-1} s: rows of L before nz are unchanged
            v = signs[q]
            for r in range(q):
                v -= L[q, r] * z[r]
            z[q] = v / L[q, q]
        nz = p
        _chol_solve_t(L, p, z, d)
        a = AB[cur]
        b = AB[1 - cur]
        _rows_gemv(GS, d, p, a)
        gamma = lam_cur - lam
        event = 0
        who = -1
        if p < pmax:
            for j in range(n):
                c[j] -= gprev * b[j]
            _crossings(c, a, flag, lam_cur, nonneg, dropped, dropped_sign, gbuf)
            j_min, g_min = _argmin_pos(gbuf)
            if g_min < gamma:
                gamma = g_min
                event = 1
                who = j_min
        for q in range(p):
            xq = x[act[q]]
            if xq * d[q] < 0.0:
                g = -xq / d[q]
                if g < gamma:
                    gamma = g
                    event = 2
                    who = q
        # move along the path
        for q in range(p):
            x[act[q]] += gamma * d[q]
        if p >= pmax:  # no scan happened: apply the pending update now
            for j in range(n):
                c[j] -= gprev * b[j]
        lam_cur -= gamma
        steps += 1
        gprev = gamma
        cur = 1 - cur
        b = AB[1 - cur]
        if event == 0:
            lam_cur = lam
            break
        if event == 2:
            jd = act[who]
            dropped_sign = signs[who]
            x[jd] = 0.0
            flag[jd] = 0
            for q in range(who, p - 1):
                act[q] = act[q + 1]
                signs[q] = signs[q + 1]
                _copy_row(GS, q + 1, GS, q)
            _chol_remove(L, p, who)  # Givens downdate of the rows below the removed one
            p -= 1
            nz = who
            dropped = jd
        else:
            if _chol_add(G, act, p, who, L, REL_DEP):
                act[p] = who
                _copy_row(G, who, GS, p)
                if nonneg:
                    signs[p] = 1.0
                else:
                    signs[p] = 1.0 if c[who] - gprev * b[who] > 0 else -1.0
                flag[who] = 1
                p += 1
                dropped = -1
            else:
                flag[who] = 2
                status = _DEPENDENT
        if record and n_rec < path_lam.shape[0]:
            path_lam[n_rec] = lam_cur
            for j in range(n):
                path_x[n_rec, j] = x[j]
            n_rec += 1
        if p == 0:  # everything dropped out: restart from the correlations
            for j in range(n):
                c[j] -= gprev * b[j]
            gprev = 0.0
            lam_best = 0.0
            j0 = -1
            for j in range(n):
                v = c[j] if nonneg else abs(c[j])
                if flag[j] == 0 and v > lam_best:
                    lam_best = v
                    j0 = j
            if j0 < 0 or lam_best <= lam:
                lam_cur = lam
                break
            _chol_add(G, act, 0, j0, L, REL_DEP)
            act[0] = j0
            _copy_row(G, j0, GS, 0)
            nz = 0
            signs[0] = 1.0 if c[j0] > 0 else -1.0
            flag[j0] = 1
            p = 1
    # polish: solve G_SS x_S = c0_S - lam s_S exactly when the path reached lam
    if status != _MAX_ITER and p > 0:
        for q in range(p):
            rhs[q] = c0[act[q]] - lam * signs[q]
        _chol_solve(L, p, rhs, z, d)
        ok = True
        for q in range(p):
            if d[q] * signs[q] < 0.0:
                ok = False
        if ok:
            for q in range(p):
                x[act[q]] = d[q]
    if record and n_rec < path_lam.shape[0] and path_lam[n_rec - 1] > lam:
        path_lam[n_rec] = lam
        for j in range(n):
            path_x[n_rec, j] = x[j]
        n_rec += 1
    ratio = 1.0
    for q in range(p):
        gq = G[act[q], act[q]]
        if gq > 0.0:
            ratio = min(ratio, L[q, q] / np.sqrt(gq))
    return steps, status, n_rec, ratio


@njit(**JIT_PARALLEL)
def _lars_batch(G, C0, lams, nonneg, max_steps, pmax, n_chunks, X, n_steps, status, pivot):
    """Run :func:`_lars_one` on every row of ``C0`` (parallel over chunks of rows)."""
    k, n = C0.shape
    for ch in prange(n_chunks):
        lo = (ch * k) // n_chunks
        hi = ((ch + 1) * k) // n_chunks
        c = np.empty(n)
        AB = np.empty((3, n))
        L = np.empty((pmax, pmax))
        GS = np.empty((pmax, n))
        act = np.empty(pmax, dtype=np.int64)
        signs = np.empty(pmax)
        d = np.empty(pmax)
        z = np.empty(pmax)
        rhs = np.empty(pmax)
        flag = np.empty(n, dtype=np.int8)
        path_lam = np.empty(0)
        path_x = np.empty((0, n))
        for i in range(lo, hi):
            s, st, _, pr = _lars_one(G, C0[i], lams[i], nonneg, max_steps, X[i], c, AB, L, GS, act, signs, d, z, rhs,
                                 flag, False, path_lam, path_x)
            n_steps[i] = s
            status[i] = st
            pivot[i] = pr

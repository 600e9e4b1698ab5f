"""Small dense linear-algebra kernels shared by the active-set solvers (OMP, LARS, MP).

All factors are lower triangular, ``L L^T = G[S, S]`` for an ordered active set
``S``, stored row by row in the leading ``p x p`` block of a preallocated
``L`` (row ``q`` belongs to the ``q``-th active variable):

* :func:`_chol_append` finishes a new row once its off-diagonal part
  ``w = L^{-1} G[S, j]`` is in place (the callers get ``w`` in different ways:
  a triangular solve for LARS, a row of ``U = G[:, S] L^{-T}`` for Batch-OMP).
* :func:`_chol_add` is the full append: triangular solve, then :func:`_chol_append`.
* :func:`_chol_remove` deletes a row and restores the triangle with Givens
  rotations (``O(p^2)`` instead of refactorising the rows below, ``O(p^3)``).
* :func:`_chol_solve_t` solves ``L^T x = z``; :func:`_rows_gemv` is
  ``out = v[:p] @ M[:p]`` over contiguous rows (``A^T r``, ``G[:, S] d``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT


@njit(**JIT)
def _chol_append(L, p, gjj, rel_dep):  # pragma: no cover - compiled
    """Set ``L[p, p] = sqrt(gjj - ||L[p, :p]||^2)``; return the squared pivot, or -1.0 if dependent.

    The new variable counts as (numerically) dependent on the active set when
    the squared pivot is not larger than ``rel_dep * gjj``; ``L`` is then left
    without a diagonal entry on row ``p`` and the caller must not use the row.
    """
    d = gjj
    for t in range(p):
        d -= L[p, t] * L[p, t]
    if not d > rel_dep * gjj:
        return -1.0
    L[p, p] = np.sqrt(d)
    return d


@njit(**JIT)
def _chol_add(G, act, p, j, L, rel_dep):  # pragma: no cover - compiled
    """Append variable ``j`` as row ``p`` of the factor of ``G[act[:p], act[:p]]``; False if dependent."""
    for q in range(p):
        L[p, q] = (G[act[q], j] - _dot(L[q], L[p], q)) / L[q, q]
    return _chol_append(L, p, G[j, j], rel_dep) >= 0.0


@njit(**JIT)
def _dot(u, v, q):  # pragma: no cover - compiled
    """``u[:q] @ v[:q]`` with four partial sums (a single sum would wait on each addition)."""
    s0 = s1 = s2 = s3 = 0.0
    r = 0
    while r + 4 <= q:
        s0 += u[r] * v[r]
        s1 += u[r + 1] * v[r + 1]
        s2 += u[r + 2] * v[r + 2]
        s3 += u[r + 3] * v[r + 3]
        r += 4
    while r < q:
        s0 += u[r] * v[r]
        r += 1
    return (s0 + s1) + (s2 + s3)


@njit(**JIT)
def _chol_remove(L, p, who):  # pragma: no cover - compiled
    """Delete row ``who`` of the ``p x p`` factor; the leading ``(p-1) x (p-1)`` block becomes
    the factor of the active set without that variable.

    Removing the row leaves rows ``who..p-2`` with one entry right of the
    diagonal; a Givens rotation of columns ``(c, c + 1)`` for ``c = who..p-2``
    zeroes it (orthogonal on the right, so ``L L^T`` is unchanged) and keeps the
    diagonal positive.
    """
    for q in range(who, p - 1):
        for r in range(q + 2):
            L[q, r] = L[q + 1, r]
    for c in range(who, p - 1):
        a = L[c, c]
        b = L[c, c + 1]
        h = np.hypot(a, b)
        cs = a / h
        sn = b / h
        L[c, c] = h
        L[c, c + 1] = 0.0
        for q in range(c + 1, p - 1):
            u = L[q, c]
            v = L[q, c + 1]
            L[q, c] = cs * u + sn * v
            L[q, c + 1] = cs * v - sn * u


@njit(**JIT)
def _chol_solve_t(L, p, z, out):  # pragma: no cover - compiled
    """Solve ``L[:p, :p]^T out = z[:p]`` (reads ``L`` by rows)."""
    for q in range(p):
        out[q] = z[q]
    for q in range(p - 1, -1, -1):
        v = out[q] / L[q, q]
        out[q] = v
        for r in range(q):
            out[r] -= L[q, r] * v


@njit(**JIT)
def _chol_solve(L, p, b, z, out):  # pragma: no cover - compiled
    """Solve ``L L^T out = b`` for the leading ``p x p`` block (``z`` is scratch)."""
    for q in range(p):
        s = b[q]
        for r in range(q):
            s -= L[q, r] * z[r]
        z[q] = s / L[q, q]
    _chol_solve_t(L, p, z, out)


@njit(**JIT)
def _rows_gemv(M, v, p, out):  # pragma: no cover - compiled
    """``out = v[:p] @ M[:p]`` as axpys over contiguous rows of ``M``, four rows per pass."""
    n = out.shape[0]
    for j in range(n):
        out[j] = 0.0
    q = 0
    while q + 4 <= p:
        v0, v1, v2, v3 = v[q], v[q + 1], v[q + 2], v[q + 3]
        m0, m1, m2, m3 = M[q], M[q + 1], M[q + 2], M[q + 3]
        for j in range(n):
            out[j] += (v0 * m0[j] + v1 * m1[j]) + (v2 * m2[j] + v3 * m3[j])
        q += 4
    while q < p:
        vq = v[q]
        mq = M[q]
        for j in range(n):
            out[j] += vq * mq[j]
        q += 1

"""Numba kernel of the group / simultaneous orthogonal matching pursuit.

One kernel serves block-OMP (one measurement vector per problem, groups of atoms) and
simultaneous OMP for multiple measurement vectors (several vectors sharing one support,
groups of one atom): per problem ``p`` with residuals ``R`` (``n_vectors x m``), each step

    g* = argmax_g  sum_{j in g} ||R a_j||^2          (over groups not yet selected)

adds the atoms of ``g*`` to an orthonormal basis ``Q`` of the selected atoms (modified
Gram-Schmidt, run twice) and removes their span from every residual. The kernel returns
the selected groups; the caller solves the least squares on their atoms. Status per problem
(:class:`~cs_toolkit.solvers._common.Status`): ``DONE`` = ``max_groups`` groups selected,
``CONVERGED`` = residual below the tolerance, ``DEPENDENT`` = no atom left that is independent
of the selected ones (or ``m`` atoms selected), ``EXHAUSTED`` = residual orthogonal to every
remaining atom.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL
from .._linalg_numba import orthogonalise_twice
from ._common import Status
from ._prox import _group_threshold_row, _is_identity

_DONE, _CONVERGED, _DEPENDENT, _EXHAUSTED = (int(Status.DONE), int(Status.CONVERGED), int(Status.DEPENDENT),
                                             int(Status.EXHAUSTED))


@njit(**JIT)
def _gomp_problem(A, Yp, order, starts, max_groups, tol2, rel_dep, sel, nsel, status, p, R, Q, C, score):
    m, n = A.shape
    L = Yp.shape[0]
    G = starts.shape[0] - 1
    for a in range(L):
        for i in range(m):
            R[a, i] = Yp[a, i]
    y2 = 0.0
    for a in range(L):
        for i in range(m):
            y2 += np.float64(R[a, i]) * np.float64(R[a, i])
    taken = np.zeros(G, np.uint8)
    nq = 0
    count = 0
    status[p] = _DONE
    r2 = y2
    while count < max_groups:
        if r2 <= tol2 * y2:
            status[p] = _CONVERGED
            break
        if nq >= m:
            status[p] = _DEPENDENT
            break
        for a in range(L):
            for j in range(n):
                C[a, j] = 0.0
            for i in range(m):
                r = np.float64(R[a, i])
                if r != 0.0:
                    for j in range(n):
                        C[a, j] += r * np.float64(A[i, j])
        best = -1.0
        gbest = -1
        for g in range(G):
            if taken[g]:
                continue
            s = 0.0
            for q in range(starts[g], starts[g + 1]):
                j = order[q]
                for a in range(L):
                    s += C[a, j] * C[a, j]
            if s > best:
                best = s
                gbest = g
        if gbest < 0 or best <= 0.0:
            status[p] = _EXHAUSTED
            break
        taken[gbest] = 1
        added = 0
        for q in range(starts[gbest], starts[gbest + 1]):
            if nq >= m:
                break
            j = order[q]
            n0 = 0.0
            for i in range(m):
                v = np.float64(A[i, j])
                score[i] = v
                n0 += v * v
            orthogonalise_twice(score, Q, nq)
            nv = 0.0
            for i in range(m):
                nv += score[i] * score[i]
            if n0 == 0.0 or nv <= rel_dep * rel_dep * n0:
                continue
            nv = np.sqrt(nv)
            for i in range(m):
                Q[nq, i] = score[i] / nv
            for a in range(L):
                d = 0.0
                for i in range(m):
                    d += np.float64(R[a, i]) * Q[nq, i]
                for i in range(m):
                    R[a, i] = np.float64(R[a, i]) - d * Q[nq, i]
            nq += 1
            added += 1
        sel[p, count] = gbest
        count += 1
        r2 = 0.0
        for a in range(L):
            for i in range(m):
                r2 += np.float64(R[a, i]) * np.float64(R[a, i])
        if added == 0:
            status[p] = _DEPENDENT
            break
    nsel[p] = count


@njit(**JIT_PARALLEL)
def _gomp_batch(A, Y3, order, starts, max_groups, tol2, rel_dep, sel, nsel, status):
    """:func:`_gomp_problem` for every problem ``Y3[p]`` (``prange`` over problems)."""
    m, n = A.shape
    L = Y3.shape[1]
    for p in prange(Y3.shape[0]):
        R = np.empty((L, m), np.float64)
        Q = np.empty((m, m), np.float64)
        C = np.empty((L, n), np.float64)
        w = np.empty(m, np.float64)
        _gomp_problem(A, Y3[p], order, starts, max_groups, tol2, rel_dep, sel, nsel, status, p, R, Q, C, w)


@njit(**JIT)
def _gomp_serial(A, Y3, order, starts, max_groups, tol2, rel_dep, sel, nsel, status):
    """Serial twin of :func:`_gomp_batch`."""
    m, n = A.shape
    L = Y3.shape[1]
    R = np.empty((L, m), np.float64)
    Q = np.empty((m, m), np.float64)
    C = np.empty((L, n), np.float64)
    w = np.empty(m, np.float64)
    for p in range(Y3.shape[0]):
        _gomp_problem(A, Y3[p], order, starts, max_groups, tol2, rel_dep, sel, nsel, status, p, R, Q, C, w)


@njit(**JIT_PARALLEL)
def _group_threshold_rows_par(V, out, order, starts, thr, hard, block):
    """Group soft / hard threshold of every row (the kernels of ``_prox.py``), ``prange`` over
    blocks of ``block`` rows: the parallel twin of ``_prox._group_threshold_rows``."""
    N = V.shape[0]
    contig = _is_identity(order)
    for b in prange((N + block - 1) // block):
        for i in range(b * block, min(N, (b + 1) * block)):
            _group_threshold_row(V[i], out[i], order, starts, thr[i], hard, contig)

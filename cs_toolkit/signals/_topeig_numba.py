"""Numba kernel: the eigenpairs of a small symmetric matrix above a given value, and only those.

The low-rank filter (:mod:`cs_toolkit.signals._lowrank_numba`) needs, for every group of patches,
the eigenvectors of a 16 x 16 Gram matrix whose eigenvalues pass its shrinkage threshold: most
often one to four. A full eigendecomposition (LAPACK's, about 23 us at this size) spends most of
its time on the eigenvectors it will discard. Here (Golub & Van Loan, *Matrix Computations*,
sections 8.3-8.4; Demmel, *Applied Numerical Linear Algebra*, 5.3):

1. Householder reduction to a tridiagonal ``T = Q^T A Q`` (the reflectors kept);
2. Sturm counts of ``T - lambda I`` (the signs of its LDL^T pivots) give how many eigenvalues lie
   above the threshold, and multisection (eight counts at once, vectorised) brackets each of them
   to 1e-7 of its size;
3. inverse iteration on ``T - sigma I`` from that estimate (tridiagonal LU with partial pivoting,
   tiny pivots replaced) gives each eigenvector, orthogonalised against the ones before (so a
   cluster of close eigenvalues gets an orthonormal basis of its eigenspace), and its Rayleigh
   quotient the eigenvalue: to rounding for an eigenvalue separated from the others by much more
   than 1e-7 of its size, within the cluster's width otherwise;
4. the reflectors map them back: ``v = Q y``.

When many eigenvalues pass, step 3 gives way to implicit symmetric QR steps with Wilkinson shifts
on ``T`` (Golub & Van Loan 8.3), which find all eigenpairs at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._config import JIT, JIT_SUMS
from .._linalg_numba import orthogonalise_twice

#: Points of one multisection step (eight: one AVX-512 vector of float64).
_POINTS = 8


@njit(**JIT)
def topeig_workspace(n):  # pragma: no cover - compiled
    """The float64 work array :func:`top_eigenpairs` takes for matrices of size ``n`` (allocate
    once per thread, reuse for every matrix)."""
    return np.empty((3 * n + 9, max(n, _POINTS)))  # B, H, Y (n rows each), then 9 vectors


@njit(**JIT_SUMS)
def _tridiagonalize(A, d, e, H, p):  # pragma: no cover - compiled
    """Householder reduction of the symmetric ``A`` (overwritten) to ``T`` with diagonal ``d`` and
    off-diagonal ``e`` (``e[i] = T[i + 1, i]``, ``e[n - 1] = 0``); ``H[k]`` is the unit vector of
    reflector ``k`` (``I - 2 h h^T``, zero in its first ``k + 1`` entries; all zero when none was
    needed): ``T = H_{n-3} ... H_0 A H_0 ... H_{n-3}``. ``p``: work (n). The loops run over whole
    rows (fixed length, vectorised); the zeros keep the rows already reduced as they are."""
    n = A.shape[0]
    for k in range(n):
        for i in range(n):
            H[k, i] = 0.0
    for k in range(n - 2):
        s = 0.0
        for i in range(k + 2, n):
            s += A[i, k] * A[i, k]
        x0 = A[k + 1, k]
        d[k] = A[k, k]
        if s == 0.0:  # already tridiagonal in this column
            e[k] = x0
            continue
        norm = np.sqrt(s + x0 * x0)
        alpha = -norm if x0 >= 0.0 else norm
        e[k] = alpha
        H[k, k + 1] = x0 - alpha
        for i in range(k + 2, n):
            H[k, i] = A[i, k]
        inv = 1.0 / np.sqrt(s + H[k, k + 1] * H[k, k + 1])
        for i in range(n):
            H[k, i] *= inv
        # trailing block B <- (I - 2hh^T) B (I - 2hh^T) = B - h w^T - w h^T, w = 2 (B h - (h^T B h) h)
        kk = 0.0
        for i in range(n):
            v = 0.0
            for j in range(n):
                v += A[i, j] * H[k, j]
            p[i] = v if i > k else 0.0
            kk += H[k, i] * p[i]
        for i in range(n):
            p[i] = 2.0 * (p[i] - kk * H[k, i])
        for i in range(n):
            hi, pi = H[k, i], p[i]
            for j in range(n):
                A[i, j] -= hi * p[j] + pi * H[k, j]
    for k in range(max(n - 2, 0), n):
        d[k] = A[k, k]
    if n >= 2:
        e[n - 2] = A[n - 1, n - 2]
    e[n - 1] = 0.0


@njit(**JIT)
def _pivot(v, pivmin):  # pragma: no cover - compiled
    """A pivot of the Sturm recurrence, one smaller than ``pivmin`` in size taken as ``-pivmin``."""
    return -pivmin if abs(v) < pivmin else v


@njit(**JIT)
def _count_below(d, e2, lam, pivmin):  # pragma: no cover - compiled
    """How many eigenvalues of the tridiagonal ``T`` (diagonal ``d``, squared off-diagonal ``e2``)
    lie below ``lam``: the negative pivots of ``T - lam I = L D L^T`` (Sturm)."""
    q = _pivot(d[0] - lam, pivmin)
    count = 1 if q < 0.0 else 0
    for i in range(1, d.shape[0]):
        q = _pivot(d[i] - lam - e2[i - 1] / q, pivmin)
        if q < 0.0:
            count += 1
    return count


@njit(**JIT)
def _multisect(d, e2, a, b, j, pivmin, rel, x, q, c):  # pragma: no cover - compiled
    """Narrow ``[a, b]``, which holds the eigenvalue of index ``j`` (increasing order) of the
    tridiagonal ``T`` (diagonal ``d``, squared off-diagonal ``e2``), to a width of ``rel`` times
    its size; the counts at ``_POINTS`` points are computed together (independent chains, one
    vector). ``x``, ``q``, ``c``: work (``_POINTS``)."""
    n = d.shape[0]
    while b - a > rel * max(abs(a), abs(b)) + pivmin:
        h = (b - a) / (_POINTS + 1)
        for t in range(_POINTS):
            x[t] = a + (t + 1) * h
            q[t] = _pivot(d[0] - x[t], pivmin)
            c[t] = 1.0 if q[t] < 0.0 else 0.0
        for i in range(1, n):  # the recurrence of _count_below at the eight points
            for t in range(_POINTS):
                q[t] = _pivot(d[i] - x[t] - e2[i - 1] / q[t], pivmin)
                c[t] += 1.0 if q[t] < 0.0 else 0.0
        na, nb = a, b
        for t in range(_POINTS):
            if c[t] <= j:
                na = x[t]
            elif x[t] < nb:
                nb = x[t]
        if na == a and nb == b:
            break  # no representable progress
        a, b = na, nb
    return 0.5 * (a + b)


@njit(**JIT)
def _inverse_iteration(d, e, sigma, Y, t, scale, dd, du, du2, dl, swap, y):  # pragma: no cover - compiled
    """``Y[t]``: the unit eigenvector of the tridiagonal ``(d, e)`` for the eigenvalue nearest
    ``sigma``, orthogonal to ``Y[:t]``, by three steps of inverse iteration; returns its Rayleigh
    quotient. ``dd`` ... ``y``: work (n)."""
    n = d.shape[0]
    tiny = 1e-14 * scale + 1e-300
    for i in range(n):
        dd[i] = d[i] - sigma
        du[i] = e[i]
        dl[i] = e[i]
        du2[i] = 0.0
        swap[i] = 0.0
    for i in range(n - 1):  # T - sigma I = P L U, U with two superdiagonals
        if abs(dd[i]) >= abs(dl[i]):
            if abs(dd[i]) < tiny:
                dd[i] = tiny
            f = dl[i] / dd[i]
            dl[i] = f
            dd[i + 1] -= f * du[i]
        else:
            f = dd[i] / dl[i]
            dd[i] = dl[i]
            dl[i] = f
            tmp = du[i]
            du[i] = dd[i + 1]
            dd[i + 1] = tmp - f * dd[i + 1]
            if i < n - 2:
                du2[i] = du[i + 1]
                du[i + 1] = -f * du[i + 1]
            swap[i] = 1.0
    if abs(dd[n - 1]) < tiny:
        dd[n - 1] = tiny
    for i in range(n):  # a start with no special structure, different for every t
        y[i] = 1.0 + 0.37 * ((i * 7 + t * 13) % 11) / 11.0
    for _ in range(3):
        for i in range(n - 1):  # L z = P y
            if swap[i] != 0.0:
                tmp = y[i]
                y[i] = y[i + 1]
                y[i + 1] = tmp - dl[i] * y[i]
            else:
                y[i + 1] -= dl[i] * y[i]
        for i in range(n - 1, -1, -1):  # U y = z
            v = y[i]
            if i + 1 < n:
                v -= du[i] * y[i + 1]
            if i + 2 < n:
                v -= du2[i] * y[i + 2]
            y[i] = v / dd[i]
        orthogonalise_twice(y, Y, t)  # orthogonal to the eigenvectors found before
        norm = 0.0
        for i in range(n):
            norm += y[i] * y[i]
        norm = 1.0 / np.sqrt(norm)
        for i in range(n):
            y[i] *= norm
    rq = 0.0
    for i in range(n):
        Y[t, i] = y[i]
        v = d[i] * y[i]
        if i > 0:
            v += e[i - 1] * y[i - 1]
        if i + 1 < n:
            v += e[i] * y[i + 1]
        rq += y[i] * v
    return rq


@njit(**JIT)
def _tridiagonal_eigen(d, e, Y):  # pragma: no cover - compiled
    """All eigenpairs of the tridiagonal ``(d, e)`` (both overwritten: ``d`` becomes the
    eigenvalues, unordered) by implicit symmetric QR steps with Wilkinson shifts, deflating at the
    bottom (Golub & Van Loan, algorithms 8.3.2-8.3.3); ``Y[t]``: the unit eigenvector of ``d[t]``
    (the rotations accumulated on the rows of ``Y``, which starts as the identity)."""
    n = d.shape[0]
    for a in range(n):
        for i in range(n):
            Y[a, i] = 1.0 if a == i else 0.0
    eps = 2.3e-16
    hi = n - 1
    steps = 0
    while hi > 0 and steps < 30 * n:
        if abs(e[hi - 1]) <= eps * (abs(d[hi - 1]) + abs(d[hi])):
            e[hi - 1] = 0.0
            hi -= 1
            continue
        lo = hi - 1
        while lo > 0 and abs(e[lo - 1]) > eps * (abs(d[lo - 1]) + abs(d[lo])):
            lo -= 1
        if lo > 0:
            e[lo - 1] = 0.0
        delta = 0.5 * (d[hi - 1] - d[hi])
        f = e[hi - 1]
        root = np.sqrt(delta * delta + f * f)
        mu = d[hi] - f * f / (delta + (root if delta >= 0.0 else -root))
        x, z = d[lo] - mu, e[lo]
        for k in range(lo, hi):  # chase the bulge down; rotation (c, s) on rows and columns k, k + 1
            r = np.sqrt(x * x + z * z)
            if r == 0.0:
                break
            c, sn = x / r, z / r
            if k > lo:
                e[k - 1] = r
            a, b, f = d[k], d[k + 1], e[k]
            d[k] = c * c * a + 2.0 * c * sn * f + sn * sn * b
            d[k + 1] = sn * sn * a - 2.0 * c * sn * f + c * c * b
            e[k] = c * sn * (b - a) + (c * c - sn * sn) * f
            if k < hi - 1:
                x, z = e[k], sn * e[k + 1]
                e[k + 1] *= c
            for i in range(n):
                yk, yk1 = Y[k, i], Y[k + 1, i]
                Y[k, i] = c * yk + sn * yk1
                Y[k + 1, i] = c * yk1 - sn * yk
        steps += 1


@njit(**JIT)
def top_eigenpairs(A, above, lam, V, work, most):  # pragma: no cover - compiled
    """The eigenpairs of the symmetric ``n x n`` matrix ``A`` whose eigenvalues exceed ``above``:
    returns their number ``m``, ``lam[:m]`` (decreasing, but for the order inside a cluster of
    eigenvalues closer than 1e-7 of their size) and ``V[:, :m]`` (orthonormal columns). ``A`` is
    not modified; computed in float64 whatever its type; ``work`` from :func:`topeig_workspace`.
    When there are more than ``most`` such eigenvalues, returns ``n`` and all the eigenvalues
    (unordered), from implicit QR steps on the tridiagonal form (cheaper then than one inverse
    iteration per pair), with the eigenvectors of those above ``above`` only (the other columns of
    ``V`` are left as they were: the reflectors' back-transformation is the dearest part left)."""
    n = A.shape[0]
    B, H, Y = work[:n, :n], work[n:2 * n, :n], work[2 * n:3 * n, :n]
    r0 = 3 * n
    d, e, e2 = work[r0, :n], work[r0 + 1, :n], work[r0 + 2, :n]
    for i in range(n):
        for j in range(n):
            B[i, j] = A[i, j]
    _tridiagonalize(B, d, e, H, work[r0 + 3, :n])
    lo, hi = np.inf, -np.inf  # Gershgorin bounds of T
    for i in range(n):
        e2[i] = e[i] * e[i]
        r = (abs(e[i - 1]) if i > 0 else 0.0) + abs(e[i])
        lo = min(lo, d[i] - r)
        hi = max(hi, d[i] + r)
    scale = max(abs(lo), abs(hi))
    pivmin = max(1e-290, 1e-30 * scale * scale)
    hi += 1e-14 * scale + pivmin  # strictly above every eigenvalue
    m = n - _count_below(d, e2, above, pivmin)
    if m > most:  # all of them, from implicit QR steps on T
        _tridiagonal_eigen(d, e, Y)
        m = n
        for t in range(n):
            lam[t] = d[t]
    else:
        for t in range(m):
            sigma = _multisect(d, e2, max(above, lo), hi, n - 1 - t, pivmin, 1e-7,
                               work[r0 + 3, :_POINTS], work[r0 + 4, :_POINTS], work[r0 + 5, :_POINTS])
            lam[t] = _inverse_iteration(d, e, sigma, Y, t, scale, work[r0 + 3, :n], work[r0 + 4, :n],
                                        work[r0 + 5, :n], work[r0 + 6, :n], work[r0 + 7, :n], work[r0 + 8, :n])
    for t in range(m):  # v = H_0 (H_1 (... H_{n-3} y)), for the eigenvalues above ``above`` only
        if lam[t] <= above:
            continue
        for i in range(n):
            V[i, t] = Y[t, i]
        for k in range(n - 3, -1, -1):
            dot = 0.0
            for i in range(k + 1, n):
                dot += H[k, i] * V[i, t]
            if dot != 0.0:
                for i in range(k + 1, n):
                    V[i, t] -= 2.0 * dot * H[k, i]
    return m

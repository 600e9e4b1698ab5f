"""Numba kernels of the dictionary updates (K-SVD, approximate K-SVD, online BCD).

Kernels take arrays and scalars, write into preallocated outputs, never raise
and draw no random numbers (``ARCHITECTURE.md``, Conventions). Arrays are C-contiguous:

* ``D`` dictionary ``(n_features, n_atoms)``,
* ``C`` codes ``(n_signals, n_atoms)`` (dense, mostly zeros),
* ``R`` residual ``X - C @ D.T`` ``(n_signals, n_features)``, kept up to date.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL


@njit(**JIT)
def _users_by_atom(C, indptr, users):
    """Column-compressed support of ``C``: the signals using atom ``j`` are
    ``users[indptr[j]:indptr[j + 1]]`` (in increasing order).

    ``indptr`` has length ``n_atoms + 1``; ``users`` must hold ``nnz(C)`` entries
    (call with a too-short ``users`` only after counting: see :func:`_count_users`).
    """
    n_signals, n_atoms = C.shape
    pos = indptr[:-1].copy()
    for i in range(n_signals):
        for j in range(n_atoms):
            if C[i, j] != 0.0:
                users[pos[j]] = i
                pos[j] += 1


@njit(**JIT)
def _count_users(C, counts):
    """``counts[j]`` = number of signals whose code uses atom ``j``."""
    n_signals, n_atoms = C.shape
    counts[:] = 0
    for i in range(n_signals):
        for j in range(n_atoms):
            if C[i, j] != 0.0:
                counts[j] += 1


@njit(**JIT)
def _top_eigvec_power(M, start, d, v, tol, max_iter):
    """Top eigenvector of the symmetric positive semidefinite ``M`` into ``d`` by power
    iteration from ``start``; True when converged.

    Converged means the eigen-residual ``||M d - rho d||`` (``rho = d^T M d``) is at most
    ``tol * rho``: then ``rho`` is within ``tol^2 rho / gap`` of the top eigenvalue and
    ``d`` within ``tol rho / gap`` of its eigenvector; True also needs the certificate
    ``2 (1 - tol)^2 rho^2 > ||M||_F^2`` that this eigenvalue is the largest. A slowly converging
    (clustered) spectrum, a spread one without the certificate, a start converging to
    another eigenvector or ``M = 0`` give False (after at most ``max_iter`` products),
    and the caller takes a full eigendecomposition instead. In
    K-SVD the start, the previous atom, is usually close already: a few dozen 64 x 64
    products replace an ``eigh`` ten times their cost.
    """
    n = M.shape[0]
    nrm = 0.0
    for f in range(n):
        d[f] = start[f]
        nrm += d[f] * d[f]
    if nrm == 0.0:
        return False
    fro2 = 0.0
    for a in range(n):
        for b in range(n):
            fro2 += M[a, b] * M[a, b]
    nrm = np.sqrt(nrm)
    for f in range(n):
        d[f] /= nrm
    for _ in range(max_iter):
        for a in range(n):  # v = M d (M symmetric: read rows)
            acc = 0.0
            for b in range(n):
                acc += M[a, b] * d[b]
            v[a] = acc
        rho = 0.0
        vv = 0.0
        for f in range(n):
            rho += d[f] * v[f]
            vv += v[f] * v[f]
        if rho <= 0.0:
            return False
        res2 = 0.0  # formed term by term: vv - rho^2 would cancel below tol
        for f in range(n):
            r = v[f] - rho * d[f]
            res2 += r * r
        nv = np.sqrt(vv)
        for f in range(n):
            d[f] = v[f] / nv
        if res2 <= (tol * rho) ** 2:
            # an eigenvalue lam >= (1 - tol) rho lies within tol rho of rho; it is the largest
            # when 2 (1 - tol)^2 rho^2 > ||M||_F^2 (a larger one would make ||M||_F^2 > 2 lam^2).
            # A start (nearly) orthogonal to the top eigenvector can converge to another one:
            # then this fails
            return 2.0 * ((1.0 - tol) * rho) ** 2 > fro2
    return False


@njit(**JIT)
def _ksvd_sweep(D, C, R, indptr, users, exact, tol):
    """One K-SVD dictionary sweep, atom by atom, in place on ``D``, ``C`` and ``R``.

    For atom ``j`` with users ``I``, the error without the atom is
    ``E = R[I] + outer(C[I, j], d_j)`` (the full residual is never re-formed).
    ``exact``: ``d_j, C[I, j]`` = best rank-1 approximation of ``E`` (top
    eigenvector of ``E^T E``: power iteration from the current atom until the
    eigen-residual is ``tol`` relative, else ``eigh``). Otherwise one power step from the current codes
    (Rubinstein et al. 2008): ``d = E^T g / ||E^T g||``, ``g = E d``. Both never
    increase ``||R||_F``. Unused atoms are left unchanged.
    """
    n_features, n_atoms = D.shape
    max_users = 0
    for j in range(n_atoms):
        nu = indptr[j + 1] - indptr[j]
        if nu > max_users:
            max_users = nu
    E = np.empty((max(max_users, 1), n_features), dtype=D.dtype)
    d = np.empty(n_features, dtype=D.dtype)
    v = np.empty(n_features, dtype=D.dtype)
    max_power = 4 * n_features
    g = np.empty(max(max_users, 1), dtype=D.dtype)
    for j in range(n_atoms):
        s = indptr[j]
        nu = indptr[j + 1] - s
        if nu == 0:
            continue
        for t in range(nu):
            i = users[s + t]
            cij = C[i, j]
            g[t] = cij
            for f in range(n_features):
                E[t, f] = R[i, f] + cij * D[f, j]
        Ej = E[:nu]
        if exact:
            M = Ej.T @ Ej
            if not _top_eigvec_power(M, D[:, j], d, v, tol, max_power):
                w, V = np.linalg.eigh(M)
                for f in range(n_features):
                    d[f] = V[f, n_features - 1]
            dot = 0.0
            for f in range(n_features):
                dot += d[f] * D[f, j]
            if dot < 0.0:  # keep the sign of the previous atom (reproducible, smooth)
                for f in range(n_features):
                    d[f] = -d[f]
        else:
            for f in range(n_features):
                d[f] = 0.0
            for t in range(nu):  # d = E^T g, row by row (contiguous)
                gt = g[t]
                for f in range(n_features):
                    d[f] += E[t, f] * gt
            nrm = 0.0
            for f in range(n_features):
                nrm += d[f] * d[f]
            nrm = np.sqrt(nrm)
            if nrm == 0.0:
                for f in range(n_features):
                    d[f] = D[f, j]
            else:
                for f in range(n_features):
                    d[f] /= nrm
        for t in range(nu):
            i = users[s + t]
            acc = 0.0
            for f in range(n_features):
                acc += E[t, f] * d[f]
            C[i, j] = acc
            for f in range(n_features):
                R[i, f] = E[t, f] - acc * d[f]
        for f in range(n_features):
            D[f, j] = d[f]


@njit(**JIT)
def _bcd_update(D, A, B, n_sweeps, out_dead):
    """Block-coordinate update of Mairal et al. (2009), Algorithm 2, in place on ``D``.

    ``A = sum a a^T`` ``(n_atoms, n_atoms)`` (symmetric), ``B = sum x a^T`` ``(n_features, n_atoms)``.
    For each atom: ``u = d_j + (b_j - D a_j) / A_jj``, then ``d_j = u / ||u||``.
    Atoms with ``A_jj == 0`` (never used) are left alone and flagged in ``out_dead``.
    """
    n_features, n_atoms = D.shape
    u = np.empty(n_features, dtype=D.dtype)
    acc = np.empty(n_features)
    Dt = np.ascontiguousarray(D.T)  # atoms as rows, kept equal to D's columns
    for j in range(n_atoms):
        out_dead[j] = A[j, j] <= 0.0
    for _ in range(n_sweeps):
        for j in range(n_atoms):
            ajj = A[j, j]
            if ajj <= 0.0:
                continue
            # D a_j (A symmetric) as axpys over the rows of D^T: vectorised over the features,
            # each sum still taken in the order k = 0, 1, ... (a dot product per feature would
            # wait on every addition)
            for f in range(n_features):
                acc[f] = 0.0
            for k in range(n_atoms):
                ajk = A[j, k]
                for f in range(n_features):
                    acc[f] += Dt[k, f] * ajk
            for f in range(n_features):
                u[f] = D[f, j] + (B[f, j] - acc[f]) / ajj
            nrm = 0.0
            for f in range(n_features):
                nrm += u[f] * u[f]
            nrm = np.sqrt(nrm)
            if nrm > 0.0:
                for f in range(n_features):
                    v = u[f] / nrm
                    D[f, j] = v
                    Dt[j, f] = v


def _sparse_residual_impl(X, C, D, R, rn2):
    """``R = X - C @ D.T`` and ``rn2[i] = ||R[i]||^2`` using the sparsity of ``C``
    (one pass over ``C``; a dense product would cost ``n_atoms`` times more)."""
    n_signals, n_atoms = C.shape
    n_features = D.shape[0]
    Dt = np.ascontiguousarray(D.T)
    for i in prange(n_signals):
        for f in range(n_features):
            R[i, f] = X[i, f]
        for j in range(n_atoms):
            c = C[i, j]
            if c != 0.0:
                for f in range(n_features):
                    R[i, f] -= c * Dt[j, f]
        acc = 0.0
        for f in range(n_features):
            acc += R[i, f] * R[i, f]
        rn2[i] = acc


_sparse_residual = njit(**JIT_PARALLEL)(_sparse_residual_impl)
#: Serial twin for small batches, where starting threads costs more than the work.
_sparse_residual_serial = njit(**JIT)(_sparse_residual_impl)


@njit(**JIT)
def _accumulate_stats(Xb, Cb, A, B, beta):
    """``A = beta A + Cb^T Cb`` and ``B = beta B + Xb^T Cb`` using the sparsity of ``Cb``."""
    n_signals, n_atoms = Cb.shape
    n_features = Xb.shape[1]
    A *= beta
    B *= beta
    idx = np.empty(n_atoms, dtype=np.int64)
    for i in range(n_signals):
        nnz = 0
        for j in range(n_atoms):
            if Cb[i, j] != 0.0:
                idx[nnz] = j
                nnz += 1
        for p in range(nnz):
            jp = idx[p]
            cp = Cb[i, jp]
            for q in range(nnz):
                A[jp, idx[q]] += cp * Cb[i, idx[q]]
            for f in range(n_features):
                B[f, jp] += Xb[i, f] * cp

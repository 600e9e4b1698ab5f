"""Numba kernels of the sliding-window patch denoisers (:mod:`cs_toolkit.signals._denoisers`).

Patches are the rows of an ``(n_rows * n_cols, p * p)`` array in row-major position
order, each patch raveled row-major (what ``sliding_window_view(...).reshape`` gives).
Every kernel works in the floating type of its arrays (float32 or float64; scratch follows it).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL


@njit(**JIT_PARALLEL)
def _hard_threshold_rows(C, thr, weights):  # pragma: no cover - compiled
    """Zero ``|C[i, k]| <= thr`` for ``k >= 1`` and scale row ``i`` by its weight
    ``weights[i] = 1 / (kept entries of row i)``, in place."""
    for i in prange(C.shape[0]):
        kept = 1
        for k in range(1, C.shape[1]):
            if abs(C[i, k]) > thr:
                kept += 1
            else:
                C[i, k] = 0.0
        w = 1.0 / kept
        weights[i] = w
        for k in range(C.shape[1]):
            C[i, k] *= w


@njit(**JIT_PARALLEL)
def _wiener_rows(C, Q, s2, weights):  # pragma: no cover - compiled
    """``C[i, k] *= g`` with ``g = Q[i, k]^2 / (Q[i, k]^2 + s2)`` for ``k >= 1``, then row ``i``
    scaled by its weight ``weights[i] = 1 / sum_k g^2`` (``g = 1`` for ``k = 0``), in place."""
    for i in prange(C.shape[0]):
        energy = 1.0
        for k in range(1, C.shape[1]):
            q = Q[i, k] * Q[i, k]
            g = q / (q + s2)
            C[i, k] *= g
            energy += g * g
        w = 1.0 / energy
        weights[i] = w
        for k in range(C.shape[1]):
            C[i, k] *= w


@njit(parallel=True, **JIT)
def _block_match(F, cols, n_rows, n_cols, refs_r, refs_c, radius, k, out):  # pragma: no cover - compiled
    """Block matching: ``out[g]`` = the ``k`` patch positions (``r * n_cols + c``) nearest to the
    reference patch at ``(refs_r[g], refs_c[g])``, in squared distance between the columns
    ``cols`` of rows of ``F`` (one row per patch position, e.g. its spectrum), searched in the
    window of ``radius`` positions around it, nearest first; the reference itself always comes first, and ties go to the position met
    first in row-major order (a stable sort of the window, found by insertion into the ``k``
    best so far rather than by sorting the whole window)."""
    d_len = cols.shape[0]
    half = d_len // 2
    for g in prange(refs_r.shape[0]):
        r0 = refs_r[g]
        c0 = refs_c[g]
        ref = r0 * n_cols + c0
        rlo = max(0, r0 - radius)
        rhi = min(n_rows - 1, r0 + radius)
        clo = max(0, c0 - radius)
        chi = min(n_cols - 1, c0 + radius)
        best_d = np.empty(k, F.dtype)
        best_p = out[g]
        best_d[0] = -1.0
        best_p[0] = ref
        n = 1
        for r in range(rlo, rhi + 1):
            for c in range(clo, chi + 1):
                q = r * n_cols + c
                if q == ref:
                    continue
                s = 0.0
                for j in range(half):
                    v = F[ref, cols[j]] - F[q, cols[j]]
                    s += v * v
                if n == k and s >= best_d[k - 1]:
                    continue  # already too far (the rest only adds; the first features weigh most)
                for j in range(half, d_len):
                    v = F[ref, cols[j]] - F[q, cols[j]]
                    s += v * v
                if n == k:
                    if s >= best_d[k - 1]:
                        continue
                    i = k - 1
                else:
                    i = n
                    n += 1
                while best_d[i - 1] > s:  # best_d[0] = -1 stops it
                    best_d[i] = best_d[i - 1]
                    best_p[i] = best_p[i - 1]
                    i -= 1
                best_d[i] = s
                best_p[i] = q


@njit(**JIT)
def _group_shrink(C, Q, groups, H, thr, s2, wiener, S, Wp, bands, self_guided=False):  # pragma: no cover - compiled
    """Collaborative filtering of groups of patch spectra (the 3-D transform step of BM3D).

    For every group ``g``, the rows ``C[groups[g]]`` (2-D DCT spectra of its patches) are
    transformed along the group by ``H`` (the orthonormal DCT-II ``(k, k)``); the 3-D spectrum is hard
    thresholded at ``thr`` (the group's mean, entry ``[0, 0]``, kept) or, with ``wiener``, scaled
    by the empirical Wiener gain ``q^2 / (q^2 + s2)`` of the same spectrum ``q`` of ``Q``; then
    transformed back and added to ``S[row] += w * estimate``, ``Wp[row] += w`` with the group's
    weight ``w`` (1 / kept coefficients, or 1 / sum of squared gains).

    ``bands`` splits the groups into runs ``bands[b]:bands[b + 1]`` whose rows of ``S`` do not
    meet those of the run after next: even runs are filtered in parallel, then odd runs.
    ``self_guided``: ``Q`` is ``C`` (the Wiener gains come from the spectrum being filtered, which
    is then computed once).
    """
    for parity in range(2):
        _group_shrink_runs(C, Q, groups, H, thr, s2, wiener, S, Wp, bands, parity, self_guided)


@njit(parallel=True, **JIT)
def _group_shrink_runs(C, Q, groups, H, thr, s2, wiener, S, Wp, bands, parity, self_guided):  # pragma: no cover
    for i in prange(parity_run_count(bands, parity)):
        g0, g1 = parity_run(bands, parity, i)
        _shrink_run(C, Q, groups, H, thr, s2, wiener, S, Wp, g0, g1, self_guided)


@njit(**JIT)
def parity_run_count(bands, parity):  # pragma: no cover - compiled
    """How many of the runs of groups ``bands[b]:bands[b + 1]`` (the bands of
    :func:`cs_toolkit.signals._denoisers._runs`) have ``b % 2 == parity``: the collaborative filters
    run the even runs in parallel, then the odd ones (runs two apart write to different rows)."""
    return (bands.shape[0] - 1 - parity + 1) // 2


@njit(**JIT)
def parity_run(bands, parity, i):  # pragma: no cover - compiled
    """The groups ``(start, stop)`` of the ``i``-th run with ``b % 2 == parity`` (see
    :func:`parity_run_count`)."""
    b = parity + 2 * i
    return bands[b], bands[b + 1]


@njit(**JIT)
def _group_spectrum_dense(C, rows, H, Z):  # pragma: no cover - compiled
    """``Z = H @ C[rows]`` for any ``k x k`` matrix ``H`` (no symmetry used)."""
    k, n = rows.shape[0], C.shape[1]
    Z[:, :] = 0.0
    for b in range(k):
        row = rows[b]
        for a in range(k):
            h = H[a, b]
            for c in range(n):
                Z[a, c] += h * C[row, c]


@njit(**JIT)
def _group_scatter_dense(Z, rows, H, w, S):  # pragma: no cover - compiled
    """``S[rows] += w * H.T @ Z`` for any ``k x k`` matrix ``H``: the adjoint of
    :func:`_group_spectrum_dense`, added in place."""
    k, n = rows.shape[0], Z.shape[1]
    for b in range(k):
        row = rows[b]
        for a in range(k):
            h = w * H[a, b]
            for c in range(n):
                S[row, c] += h * Z[a, c]


@njit(**JIT)
def _group_spectrum(C, rows, H, Z, W):  # pragma: no cover - compiled
    """``Z = H @ C[rows]``: the 3-D spectrum of a group (transform along the group of its rows).

    ``H`` is the orthonormal DCT-II of size ``k`` (:func:`_group_transform`): its even rows are
    symmetric and its odd rows antisymmetric (``H[a, k-1-b] = (-1)^a H[a, b]``), so for even ``k``
    the even rows act on the sums ``C[rows[b]] + C[rows[k-1-b]]`` and the odd rows on the
    differences, ``b < k / 2``: half the multiply-adds. ``W`` is ``(k, n)`` scratch."""
    k = rows.shape[0]
    n = C.shape[1]
    if k % 2:
        _group_spectrum_dense(C, rows, H, Z)
        return
    half = k // 2
    for b in range(half):
        r1 = rows[b]
        r2 = rows[k - 1 - b]
        for c in range(n):
            u = C[r1, c]
            v = C[r2, c]
            W[b, c] = u + v
            W[half + b, c] = u - v
    for a in range(k):
        off = half * (a % 2)
        for c in range(n):
            Z[a, c] = 0.0
        for b in range(half):
            h = H[a, b]
            for c in range(n):
                Z[a, c] += h * W[off + b, c]


@njit(**JIT)
def _fold_into(W, rows, S):  # pragma: no cover - compiled
    """``S[rows[b]] += W[b] + W[half + b]`` and ``S[rows[k-1-b]] += W[b] - W[half + b]`` for ``b <
    half = k / 2``: the even and odd halves of a scattered group (:func:`_group_scatter`) unfolded
    onto its mirrored members."""
    k = rows.shape[0]
    half = k // 2
    for b in range(half):
        r1 = rows[b]
        r2 = rows[k - 1 - b]
        for c in range(W.shape[1]):
            e = W[b, c]
            o = W[half + b, c]
            S[r1, c] += e + o
            S[r2, c] += e - o


@njit(**JIT)
def _group_scatter(Z, rows, H, w, S, W):  # pragma: no cover - compiled
    """``S[rows] += w * H.T @ Z``: the adjoint of :func:`_group_spectrum` (the same symmetry of the
    DCT ``H``), added in place; ``W`` is ``(k, n)`` scratch."""
    k = rows.shape[0]
    n = Z.shape[1]
    if k % 2:
        _group_scatter_dense(Z, rows, H, w, S)
        return
    half = k // 2
    W[:, :] = 0.0
    for a in range(k):
        off = half * (a % 2)
        for b in range(half):
            h = w * H[a, b]
            for c in range(n):
                W[off + b, c] += h * Z[a, c]
    _fold_into(W, rows, S)


@njit(**JIT)
def _group_scatter_kept(Z, rows, H, w, S, W):  # pragma: no cover - compiled
    """:func:`_group_scatter` for an even group size and a sparse ``Z`` (what survives hard
    thresholding): a row of ``Z`` with few non-zero entries (under ``n / 8``) visits only those,
    a fuller one is added whole (vectorised; its zeros add nothing), an empty one not at all. The
    same sums in the same order as :func:`_group_scatter`, less terms that are zero."""
    k = rows.shape[0]
    n = Z.shape[1]
    half = k // 2
    dense_from = max(1, n // 8)
    W[:, :] = 0.0
    for a in range(k):
        off = half * (a % 2)
        nz = 0
        for c in range(n):
            nz += 1 if Z[a, c] != 0.0 else 0
        if nz == 0:
            continue
        if nz >= dense_from:
            for b in range(half):
                h = w * H[a, b]
                for c in range(n):
                    W[off + b, c] += h * Z[a, c]
        else:  # the branch on every entry costs less than the 8 multiply-adds it skips
            for c in range(n):
                z = Z[a, c]
                if z != 0.0:
                    for b in range(half):
                        W[off + b, c] += (w * H[a, b]) * z
    _fold_into(W, rows, S)


@njit(**JIT)
def _shrink_run(C, Q, groups, H, thr, s2, wiener, S, Wp, g0, g1, self_guided):  # pragma: no cover - compiled
    k = groups.shape[1]
    n = C.shape[1]
    Z = np.empty((k, n), C.dtype)
    G = np.empty((k, n), C.dtype)
    W = np.empty((k, n), C.dtype)
    for g in range(g0, g1):
        _group_spectrum(C, groups[g], H, Z, W)
        if wiener:
            if self_guided:
                G[:, :] = Z
            else:
                _group_spectrum(Q, groups[g], H, G, W)
            energy = 0.0
            for a in range(k):
                for c in range(n):
                    q = G[a, c] * G[a, c]
                    gain = q / (q + s2)
                    Z[a, c] *= gain
                    energy += gain * gain
            w = 1.0 / max(energy, 1e-12)
        else:  # the group's mean Z[0, 0] is kept and counted whatever its size
            z00 = Z[0, 0]
            kept = 1 - (1 if abs(z00) > thr else 0)
            for a in range(k):
                for c in range(n):
                    z = Z[a, c]
                    big = abs(z) > thr
                    Z[a, c] = z if big else 0.0
                    kept += 1 if big else 0
            Z[0, 0] = z00
            w = 1.0 / kept
        for b in range(k):
            Wp[groups[g, b]] += w
        if not wiener and k % 2 == 0:  # few coefficients survive thresholding (1-30 %): skip the zeros
            _group_scatter_kept(Z, groups[g], H, w, S, W)
        else:
            _group_scatter(Z, groups[g], H, w, S, W)


# ----------------------------------------------------------------------------------------
# separable 2-D DCT of all sliding patches, and its adjoint
# ----------------------------------------------------------------------------------------
@njit(**JIT)
def _patch_dct_rows(x, c, C, r0, r1):  # pragma: no cover - compiled
    """``C[idx] = (c P c^T).ravel()`` for every ``p x p`` patch ``P`` of ``x`` whose top row is in
    ``[r0, r1)`` (``idx`` its row-major position): the 2-D DCT spectra of sliding patches,
    computed separably (``c`` the 1-D DCT matrix), one row of patches at a time in a transposed
    buffer with contiguous inner loops (about ``p^3 / 2 + p^2`` multiply-adds a patch instead of
    ``p^4``). ``c`` must be the orthonormal DCT-II matrix: the pass along the rows uses its
    symmetric (even) and antisymmetric (odd) rows."""
    p = c.shape[0]
    n_cols, W = x.shape[1] - p + 1, x.shape[1]
    h2 = p // 2
    V = np.empty((p, W), C.dtype)
    L = np.empty((p * p, n_cols), C.dtype)
    E = np.empty((h2 + 1, n_cols), C.dtype)  # sums of mirrored samples (and the middle one)
    O = np.empty((max(h2, 1), n_cols), C.dtype)  # their differences
    for r in range(r0, r1):
        V[:, :] = 0.0
        for i in range(p):
            for u in range(p):
                h = c[i, u]
                for col in range(W):
                    V[i, col] += h * x[r + u, col]
        L[:, :] = 0.0
        for i in range(p):
            # along the row, the DCT's even rows see sums of mirrored samples, its odd rows
            # their differences (c[j, p - 1 - v] = (-1)^j c[j, v]): half the multiply-adds
            for v in range(h2):
                for q in range(n_cols):
                    a = V[i, q + v]
                    b = V[i, q + p - 1 - v]
                    E[v, q] = a + b
                    O[v, q] = a - b
            if p % 2:
                for q in range(n_cols):
                    E[h2, q] = V[i, q + h2]
            for j in range(p):
                k = i * p + j
                if j % 2 == 0:
                    for v in range(h2 + p % 2):
                        h = c[j, v]
                        for q in range(n_cols):
                            L[k, q] += h * E[v, q]
                else:
                    for v in range(h2):
                        h = c[j, v]
                        for q in range(n_cols):
                            L[k, q] += h * O[v, q]
        base = r * n_cols
        for q in range(n_cols):
            for k in range(p * p):
                C[base + q, k] = L[k, q]


@njit(**JIT)
def _patch_idct_rows(C, c, out, r0, r1):  # pragma: no cover - compiled
    """``out[patch idx] += c^T S c`` for every row ``S = C[idx]`` of a patch whose top row is in
    ``[r0, r1)`` (the adjoint of :func:`_patch_dct_rows`, the same ``c``); writes rows ``r0`` to
    ``r1 + p - 2`` of ``out``."""
    p = c.shape[0]
    n_cols, W = out.shape[1] - p + 1, out.shape[1]
    h2 = p // 2
    V = np.empty((p, W), C.dtype)
    L = np.empty((p * p, n_cols), C.dtype)
    Ev = np.empty(n_cols, C.dtype)
    Ov = np.empty(n_cols, C.dtype)
    for r in range(r0, r1):
        base = r * n_cols
        for q in range(n_cols):
            for k in range(p * p):
                L[k, q] = C[base + q, k]
        V[:, :] = 0.0
        for i in range(p):
            # the transpose of the even/odd split of _patch_dct_rows: sample v and its mirror
            # p - 1 - v get the even rows' sum plus / minus the odd rows' sum
            for v in range(h2 + p % 2):
                Ev[:] = 0.0
                Ov[:] = 0.0
                for j in range(0, p, 2):
                    h = c[j, v]
                    k = i * p + j
                    for q in range(n_cols):
                        Ev[q] += h * L[k, q]
                if v < h2:
                    for j in range(1, p, 2):
                        h = c[j, v]
                        k = i * p + j
                        for q in range(n_cols):
                            Ov[q] += h * L[k, q]
                    for q in range(n_cols):
                        V[i, q + v] += Ev[q] + Ov[q]
                        V[i, q + p - 1 - v] += Ev[q] - Ov[q]
                else:  # the middle sample of an odd p: odd rows vanish there
                    for q in range(n_cols):
                        V[i, q + v] += Ev[q]
        for i in range(p):
            for u in range(p):
                h = c[i, u]
                for col in range(W):
                    out[r + u, col] += h * V[i, col]


@njit(**JIT_PARALLEL)
def _patch_dct_parallel(x, c, C, n_chunks):  # pragma: no cover - compiled
    """:func:`_patch_dct_rows` over all patch rows, ``n_chunks`` runs of rows in parallel."""
    n_rows = x.shape[0] - c.shape[0] + 1
    for i in prange(n_chunks):
        _patch_dct_rows(x, c, C, i * n_rows // n_chunks, (i + 1) * n_rows // n_chunks)


@njit(**JIT_PARALLEL)
def _patch_idct_parallel(C, c, out, height):  # pragma: no cover - compiled
    """:func:`_patch_idct_rows` over all patch rows in bands of ``height >= p - 1`` rows: the even
    bands in parallel, then the odd ones (a band writes into the next band's rows, never further)."""
    n_rows = out.shape[0] - c.shape[0] + 1
    n_bands = (n_rows + height - 1) // height
    for parity in range(2):
        for b in prange((n_bands - parity + 1) // 2):
            r0 = (2 * b + parity) * height
            _patch_idct_rows(C, c, out, r0, min(r0 + height, n_rows))


@njit(**JIT)
def _footprint_sum(w, p, out):  # pragma: no cover - compiled
    """``out[r + u, c + v] += w[r, c]`` for ``0 <= u, v < p``: every patch position's weight spread
    over its ``p x p`` pixels (separably: along rows, then along columns)."""
    n_rows, n_cols = w.shape
    tmp = np.zeros((n_rows, out.shape[1]), out.dtype)
    for r in range(n_rows):
        for q in range(n_cols):
            for v in range(p):
                tmp[r, q + v] += w[r, q]
    for r in range(n_rows):
        for u in range(p):
            for col in range(out.shape[1]):
                out[r + u, col] += tmp[r, col]


@njit(**JIT_PARALLEL)
def _zero(S):  # pragma: no cover - compiled
    """``S[...] = 0`` for a 2-D array, its rows shared between the threads (a large buffer is
    zeroed at the memory bandwidth of both cores rather than one)."""
    for i in prange(S.shape[0]):
        for j in range(S.shape[1]):
            S[i, j] = 0.0

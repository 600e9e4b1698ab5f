"""Numba kernel of the exact tree projection (best rooted-subtree approximation).

Given energies ``e_i = v_i^2`` on the nodes of a forest and a budget ``k``, find the set
``S`` of at most ``k`` nodes, closed under taking parents (a node is in ``S`` only if its
parent is), that maximises ``sum_{i in S} e_i``. This is the model projection of tree-sparse
model-based compressed sensing (Baraniuk, Cevher, Duarte & Hegde 2010).

Dynamic program over the pre-order of the forest (the tree knapsack in O(n k) time): with
the nodes in pre-order ``p_0, p_1, ...`` and ``size_i`` the number of nodes in the subtree
of ``p_i``, let ``D[i, j]`` be the best energy using at most ``j`` nodes among positions
``i, i+1, ...`` where a node can be taken only together with its ancestors still in that
suffix (or roots). Then

    D[i, j] = max(D[i + size_i, j],  e_{p_i} + D[i + 1, j - 1])   (j >= 1)

(skip the whole subtree of ``p_i``, or take ``p_i`` and continue into its descendants and
what follows them), ``D[n, j] = 0``. Taking ``p_i`` makes its children, the next positions,
available; skipping it jumps past all of them. The optimum is ``D[0, k]``, the support is
read back by replaying the choices. This is exact (the same optimum as enumerating every
rooted subtree; tested against brute force); time and memory ``O(n k)`` per signal.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._config import JIT, JIT_PARALLEL


@njit(**JIT)
def _tree_project_row(v, pre, size, k, D, mask):
    """Best rooted subtree of at most ``k`` nodes for one row ``v``; writes ``mask`` (uint8).

    ``pre`` is the pre-order of the forest, ``size[i]`` the subtree size of ``pre[i]``,
    ``D`` a float64 workspace of shape ``(n + 1, k + 1)``.
    """
    n = pre.shape[0]
    for j in range(k + 1):
        D[n, j] = 0.0
    for i in range(n - 1, -1, -1):
        e = np.float64(v[pre[i]])
        e = e * e
        nxt = i + size[i]
        D[i, 0] = 0.0
        for j in range(1, k + 1):
            skip = D[nxt, j]
            take = e + D[i + 1, j - 1]
            D[i, j] = take if take > skip else skip
    for j in range(n):
        mask[j] = 0
    i = 0
    j = k
    while i < n and j > 0:
        e = np.float64(v[pre[i]])
        e = e * e
        if e + D[i + 1, j - 1] > D[i + size[i], j]:  # the DP's own comparison
            mask[pre[i]] = 1
            i += 1
            j -= 1
        else:
            i += size[i]


@njit(**JIT_PARALLEL)
def _tree_project_batch(V, pre, size, k, mask, block):
    """:func:`_tree_project_row` on every row of ``V``: ``prange`` over blocks of ``block`` rows,
    one workspace per block."""
    n = V.shape[1]
    N = V.shape[0]
    for b in prange((N + block - 1) // block):
        D = np.empty((n + 1, k + 1), np.float64)
        for i in range(b * block, min(N, (b + 1) * block)):
            _tree_project_row(V[i], pre, size, k, D, mask[i])


@njit(**JIT)
def _tree_project_serial(V, pre, size, k, mask):
    """Serial twin of :func:`_tree_project_batch`, for small batches."""
    n = V.shape[1]
    D = np.empty((n + 1, k + 1), np.float64)
    for i in range(V.shape[0]):
        _tree_project_row(V[i], pre, size, k, D, mask[i])


@njit(**JIT)
def _tree_l0_row(v, pre, ppos, lam, val, out):
    """Prox of ``lam * |S|`` over rooted subtrees ``S`` for one row, in O(n); writes ``out``.

    Minimises ``1/2 ||v - u||^2 + lam |supp(u)|`` over ``u`` supported on a rooted subtree:
    ``u = v_S`` with ``S`` maximising ``sum_{i in S} (v_i^2 / 2 - lam)``. Works in pre-order
    positions (``ppos[t]`` is the position of the parent of ``pre[t]``, ``-1`` for a root):
    bottom-up ``val[t] = v^2 / 2 - lam + sum_{children c} max(val[c], 0)``; top-down, a node is
    kept when ``val[t] > 0`` and its parent is kept (a dropped node's ``val`` is set to ``-1`` so
    that its children see it).
    """
    n = pre.shape[0]
    for t in range(n):
        a = np.float64(v[pre[t]])
        val[t] = 0.5 * a * a - lam
    for t in range(n - 1, -1, -1):
        p = ppos[t]
        if p >= 0 and val[t] > 0.0:
            val[p] += val[t]
    for t in range(n):
        p = ppos[t]
        j = pre[t]
        if val[t] > 0.0 and (p < 0 or val[p] > 0.0):
            out[j] = v[j]
        else:
            val[t] = -1.0
            out[j] = 0.0


@njit(**JIT_PARALLEL)
def _tree_l0_batch(V, pre, ppos, lam, out, block):
    """:func:`_tree_l0_row` on every row of ``V``: ``prange`` over blocks of ``block`` rows."""
    N = V.shape[0]
    for b in prange((N + block - 1) // block):
        val = np.empty(V.shape[1], np.float64)
        for i in range(b * block, min(N, (b + 1) * block)):
            _tree_l0_row(V[i], pre, ppos, lam, val, out[i])


@njit(**JIT)
def _tree_l0_serial(V, pre, ppos, lam, out):
    """Serial twin of :func:`_tree_l0_batch`."""
    val = np.empty(V.shape[1], np.float64)
    for i in range(V.shape[0]):
        _tree_l0_row(V[i], pre, ppos, lam, val, out[i])

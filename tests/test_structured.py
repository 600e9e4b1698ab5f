"""Structured sparsity: group / block, joint (MMV) and tree models (issue 17).

Proximal operators against ``scipy.optimize.minimize`` or enumeration, the tree projection
against brute force on small trees, exact recovery of planted structured signals, batch ==
loop, the KKT conditions of the group LASSO, and the bad inputs.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from scipy import optimize

from cs_toolkit.bench import ProblemFamily, phase_transition, run_benchmark
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.signals import block_sparse_signals, jointly_sparse_signals, tree_sparse_signals
from cs_toolkit.solvers import (
    block_cosamp,
    block_iht,
    block_omp,
    group_hard_threshold,
    group_lasso,
    group_soft_threshold,
    keep_largest,
    list_solvers,
    mmv_cosamp,
    mmv_fista,
    mmv_sp,
    solve,
    somp,
    tree_cosamp,
    tree_iht,
    tree_l0_prox,
    tree_projection,
)
from cs_toolkit.transforms import Wavelet, Wavelet2

DTYPES = (np.float32, np.float64)


def _matrix(m, n, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    return (A / np.linalg.norm(A, axis=0)).astype(dtype)


def _rel(a, b):
    return float(np.linalg.norm(np.asarray(a, float) - np.asarray(b, float)) / np.linalg.norm(np.asarray(b, float)))


# ------------------------------------------------------------------------------------------
# proximal operators
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_group_soft_threshold_matches_minimize(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(7)
    groups = np.array([3, 3, 1, 1, 1, 8, 0])  # arbitrary labels, unsorted
    t = 0.8

    def obj(u):
        pen = sum(np.linalg.norm(u[groups == g]) for g in np.unique(groups))
        return 0.5 * np.sum((u - x) ** 2) + t * pen

    ours = group_soft_threshold(x, groups, t)
    best = None
    for x0 in (x, np.zeros_like(x), ours + 1e-3):
        r = optimize.minimize(obj, x0, method="Powell", options={"xtol": 1e-10, "ftol": 1e-14, "maxiter": 50000})
        best = r if best is None or r.fun < best.fun else best
    assert obj(ours) <= best.fun + 1e-9
    np.testing.assert_allclose(ours, best.x, atol=1e-3)


@pytest.mark.parametrize("seed", range(4))
def test_group_hard_threshold_is_the_l0_group_prox(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(6)
    groups = np.array([0, 0, 1, 1, 2, 2])
    t = 1.1

    def obj(u):
        nz = sum(np.any(u[groups == g] != 0) for g in range(3))
        return 0.5 * np.sum((u - x) ** 2) + 0.5 * t * t * nz

    # enumerate the kept groups (given the support, the best u is x on it)
    cands = []
    for keep in itertools.product([0, 1], repeat=3):
        u = np.where(np.array(keep)[groups] == 1, x, 0.0)
        cands.append(obj(u))
    ours = group_hard_threshold(x, groups, t)
    assert obj(ours) == pytest.approx(min(cands), abs=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_prox_batch_dtype_and_no_mutation(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 12)).astype(dtype)
    X0 = X.copy()
    g = np.arange(12) // 3
    for f in (group_soft_threshold, group_hard_threshold):
        out = f(X, g, 0.7)
        assert out.dtype == dtype and out.shape == X.shape
        rows = np.stack([f(X[i], g, 0.7) for i in range(5)])
        np.testing.assert_array_equal(out, rows)
    np.testing.assert_array_equal(X, X0)
    # groups of one: the group soft threshold is the soft threshold
    np.testing.assert_allclose(group_soft_threshold(X, np.arange(12), 0.5),
                               np.sign(X) * np.maximum(np.abs(X) - 0.5, 0), rtol=1e-6)


def test_group_prox_large_batch_parallel_path_equals_rows():
    import numba

    X = np.random.default_rng(5).standard_normal((72, 4096))  # above the parallel threshold
    g = np.arange(4096) // 8
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        for f in (group_soft_threshold, group_hard_threshold):
            out = f(X, g, 2.0)
            np.testing.assert_array_equal(out[::9], np.stack([f(x, g, 2.0) for x in X[::9]]))
        P = np.random.default_rng(6).standard_normal((8200, 1024))  # tree kernels above their threshold
        W = Wavelet(1024, "haar")
        # every row (the parallel kernels split the rows into blocks: a block's last row is not special)
        np.testing.assert_array_equal(tree_projection(P[:3000], W, 5),
                                      np.stack([tree_projection(p, W, 5) for p in P[:3000]]))
        out = tree_l0_prox(P, W, 1.0)
        kept = np.count_nonzero(out, axis=1)
        assert np.mean(kept > 0) > 0.99 and kept.max() < 512  # something kept and removed in (almost) every row
        np.testing.assert_array_equal(out, np.stack([tree_l0_prox(p, W, 1.0) for p in P]))
    finally:
        numba.set_num_threads(before)


# ------------------------------------------------------------------------------------------
# trees
# ------------------------------------------------------------------------------------------
def _random_forest(n, rng, n_roots=1):
    parents = np.full(n, -1)
    for i in range(n_roots, n):
        parents[i] = rng.integers(0, i)
    perm = rng.permutation(n)  # relabel so that parents are not sorted before children
    inv = np.empty(n, int)
    inv[perm] = np.arange(n)
    out = np.full(n, -1)
    for i in range(n):
        out[inv[i]] = -1 if parents[i] < 0 else inv[parents[i]]
    return out


def _rooted(S, parents):
    return all(parents[i] < 0 or parents[i] in S for i in S)


def _brute_tree(x, parents, k=None, lam=None):
    n = x.size
    best, best_S = -np.inf, ()
    for r in range(0, n + 1):
        if k is not None and r > k:
            break
        for S in itertools.combinations(range(n), r):
            if not _rooted(set(S), parents):
                continue
            e = float(np.sum(x[list(S)] ** 2))
            val = e if lam is None else 0.5 * e - lam * len(S)
            if val > best + 1e-12:
                best, best_S = val, S
    return best, best_S


@pytest.mark.parametrize("seed", range(8))
def test_tree_projection_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 10
    parents = _random_forest(n, rng, n_roots=1 + seed % 3)
    x = rng.standard_normal(n) * rng.uniform(0.1, 3.0, n)
    for k in (1, 2, 4, 7):
        best, _ = _brute_tree(x, parents, k=k)
        out = tree_projection(x, parents, k)
        S = set(np.flatnonzero(out))
        assert len(S) <= k and _rooted(S, parents)
        assert np.sum(out ** 2) == pytest.approx(best, rel=1e-12, abs=1e-12)
        np.testing.assert_array_equal(out[list(S)], x[list(S)])


@pytest.mark.parametrize("seed", range(6))
def test_tree_l0_prox_matches_brute_force(seed):
    rng = np.random.default_rng(100 + seed)
    n = 9
    parents = _random_forest(n, rng, n_roots=1 + seed % 2)
    x = rng.standard_normal(n) * 2
    for lam in (0.05, 0.4, 1.5):
        best, _ = _brute_tree(x, parents, lam=lam)
        out = tree_l0_prox(x, parents, lam)
        S = set(np.flatnonzero(out))
        assert _rooted(S, parents)
        assert 0.5 * np.sum(out ** 2) - lam * len(S) == pytest.approx(max(best, 0.0), abs=1e-12)


def test_tree_projection_of_a_flat_forest_keeps_the_largest():
    x = np.random.default_rng(3).standard_normal((4, 30))
    np.testing.assert_array_equal(tree_projection(x, np.full(30, -1), 5), keep_largest(x, 5))


@pytest.mark.parametrize("dtype", DTYPES)
def test_tree_projection_batch_equals_loop(dtype):
    W = Wavelet(64, "haar")
    X = np.random.default_rng(1).standard_normal((12, 64)).astype(dtype)
    out = tree_projection(X, W, 9)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, np.stack([tree_projection(x, W, 9) for x in X]))


def test_wavelet_tree_parents():
    W = Wavelet(32, "db2", level=3)
    p = W.tree_parents()
    n0 = W.coef_lengths[0]
    assert p.shape == (32,) and np.all(p[:n0] == -1) and np.all(p[n0:] >= 0)
    assert np.all(p[n0:2 * n0] == np.arange(n0))
    # every detail node of a level coarser than the finest has exactly two children
    counts = np.bincount(p[p >= 0], minlength=32)
    assert np.all(counts[n0:32 - 16] == 2) and np.all(counts[16:] == 0)
    W2 = Wavelet2((16, 16), "haar", level=2)
    p2 = W2.tree_parents()
    assert np.count_nonzero(p2 < 0) == 16  # the 4 x 4 approximation
    counts = np.bincount(p2[p2 >= 0], minlength=256)
    assert set(np.unique(counts)) == {0, 3, 4}  # roots: one child per band; details: four
    # a detail coefficient has the same band as its parent: the quadtree is the one of the layout
    coeffs = np.zeros((16, 16))
    coeffs.ravel()[p2[p2 >= 0]] = 1.0
    assert coeffs[:4, :4].all() and coeffs[:8, :8].sum() == 64 and coeffs[8:, 8:].sum() == 0


# ------------------------------------------------------------------------------------------
# exact recovery of planted structured signals
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", [block_omp, block_cosamp, block_iht])
def test_block_solvers_recover_planted_blocks(solver, dtype):
    n, bs, k = 128, 4, 16
    X = block_sparse_signals(6, n, k, bs, rng=0, dtype=dtype)
    A = _matrix(64 if solver is block_iht else 48, n, 1, dtype)  # IHT needs more measurements
    Y = X @ A.T
    Xh = solver(A, Y, groups=np.arange(n) // bs, n_nonzero_blocks=k // bs)
    assert Xh.dtype == dtype and Xh.shape == X.shape
    tol = 1e-3 if dtype == np.float32 else 1e-5
    for i in range(6):
        assert _rel(Xh[i], X[i]) < tol


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", [tree_cosamp, tree_iht])
def test_tree_solvers_recover_planted_trees(solver, dtype):
    W = Wavelet(256, "haar")
    X = tree_sparse_signals(5, W, 12, rng=2, dtype=dtype)
    A = _matrix(48, 256, 3, dtype)
    Xh = solver(A, X @ A.T, tree=W, n_nonzero_coefs=12)
    assert Xh.dtype == dtype
    tol = 1e-3 if dtype == np.float32 else 1e-5
    for i in range(5):
        assert _rel(Xh[i], X[i]) < tol


def test_tree_cosamp_beats_cosamp_on_tree_sparse_signals():
    W = Wavelet(512, "haar")
    X = tree_sparse_signals(10, W, 24, rng=4)
    A = _matrix(72, 512, 5)  # 3k
    Y = X @ A.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = solve(A, Y, method="cosamp", n_nonzero_coefs=24, max_iter=30)
        tree = solve(A, Y, method="tree_cosamp", tree=W, n_nonzero_coefs=24, max_iter=30)
    ok = lambda Z: np.mean(np.linalg.norm(Z - X, axis=1) / np.linalg.norm(X, axis=1) < 1e-3)  # noqa: E731
    assert ok(tree) >= 0.9 and ok(tree) > ok(plain)


def test_tree_cosamp_on_a_2d_wavelet_tree_and_operator():
    from cs_toolkit.sensing import make_sensing

    W2 = Wavelet2((16, 16), "haar")
    c = tree_sparse_signals(1, W2, 10, rng=6)[0]
    Phi = make_sensing("srdct", 80, 256, rng=7)
    Aop = Phi @ W2
    y = Aop.forward(c)
    ch = tree_cosamp(Aop, y, tree=W2, n_nonzero_coefs=10)
    assert _rel(ch, c) < 1e-6


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", [somp, mmv_cosamp, mmv_sp])
def test_mmv_solvers_recover_a_shared_support(solver, dtype):
    X = jointly_sparse_signals(4, 100, 8, n_problems=3, rng=8, dtype=dtype)
    A = _matrix(30, 100, 9, dtype)
    Y = X @ A.T
    Xh = solver(A, Y, n_nonzero_coefs=8)
    assert Xh.dtype == dtype and Xh.shape == X.shape
    tol = 1e-3 if dtype == np.float32 else 1e-6
    for p in range(3):
        assert _rel(Xh[p], X[p]) < tol
        np.testing.assert_allclose(solver(A, Y[p], n_nonzero_coefs=8), Xh[p], rtol=1e-4, atol=1e-5)


def test_joint_recovery_needs_fewer_measurements_than_per_vector():
    X = jointly_sparse_signals(6, 128, 12, n_problems=8, rng=10)
    A = _matrix(28, 128, 11)
    Y = X @ A.T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joint = somp(A, Y, n_nonzero_coefs=12)
        plain = solve(A, Y.reshape(-1, 28), method="omp", n_nonzero_coefs=12).reshape(X.shape)
    ok = lambda Z: np.mean([_rel(Z[p], X[p]) < 1e-3 for p in range(8)])  # noqa: E731
    assert ok(joint) >= 0.75 and ok(joint) > ok(plain)


# ------------------------------------------------------------------------------------------
# group LASSO and M-FISTA: KKT, duality gap, warm start, batch == loop
# ------------------------------------------------------------------------------------------
def _check_group_kkt(A, y, x, groups, lam, tol):
    g = A.T @ (y - A @ x)
    for lab in np.unique(groups):
        sel = groups == lab
        xg, gg = x[sel], g[sel]
        if np.linalg.norm(xg) > 0:
            np.testing.assert_allclose(gg, lam * xg / np.linalg.norm(xg), atol=tol)
        else:
            assert np.linalg.norm(gg) <= lam + tol


@pytest.mark.parametrize("seed", range(3))
def test_group_lasso_kkt_and_gap(seed):
    rng = np.random.default_rng(seed)
    A = _matrix(30, 60, seed)
    groups = np.repeat(np.arange(20), 3)
    X = block_sparse_signals(3, 60, 9, 3, rng=seed)
    Y = X @ A.T + 0.01 * rng.standard_normal((3, 30))
    lam = 0.05
    Xh, info = group_lasso(A, Y, groups=groups, lam=lam, tol=1e-12, max_iter=20000, return_info=True)
    assert np.all(info.converged) and np.all(info.gap < 1e-9)
    for i in range(3):
        _check_group_kkt(A, Y[i], Xh[i], groups, lam, 1e-6)
    # warm start at the solution: converges at once, same point
    X2, info2 = group_lasso(A, Y, groups=groups, lam=lam, tol=1e-12, max_iter=20000, x0=Xh, return_info=True)
    assert np.all(info2.n_iter <= 3)
    np.testing.assert_allclose(X2, Xh, atol=1e-8)
    # batch == loop
    for i in range(3):
        np.testing.assert_allclose(group_lasso(A, Y[i], groups=groups, lam=lam, tol=1e-12, max_iter=20000),
                                   Xh[i], atol=1e-8)


def test_group_lasso_zero_above_lambda_max_and_float32():
    A = _matrix(20, 40, 0, np.float32)
    y = np.random.default_rng(1).standard_normal(20).astype(np.float32)
    groups = np.arange(40) // 4
    c = A.T @ y
    lam_max = max(np.linalg.norm(c[groups == g]) for g in range(10))
    x = group_lasso(A, y, groups=groups, lam=float(lam_max) * 1.0001)
    assert x.dtype == np.float32 and not np.any(x)


def test_mmv_fista_kkt_and_batch():
    A = _matrix(24, 50, 2)
    X = jointly_sparse_signals(3, 50, 5, n_problems=2, rng=3)
    Y = X @ A.T
    lam = 0.02
    Xh, info = mmv_fista(A, Y, lam=lam, tol=1e-12, max_iter=20000, return_info=True)
    assert Xh.shape == X.shape and np.all(info.gap < 1e-9)
    for p in range(2):
        G = (Y[p] - Xh[p] @ A.T) @ A  # (n_vectors, n): gradient columns
        for j in range(50):
            nx = np.linalg.norm(Xh[p][:, j])
            if nx > 0:
                np.testing.assert_allclose(G[:, j], lam * Xh[p][:, j] / nx, atol=1e-6)
            else:
                assert np.linalg.norm(G[:, j]) <= lam + 1e-6
        np.testing.assert_allclose(mmv_fista(A, Y[p], lam=lam, tol=1e-12, max_iter=20000), Xh[p], atol=1e-8)
        # the 5 largest columns are the planted support
        top = np.argsort(-np.linalg.norm(Xh[p], axis=0))[:5]
        assert set(top) == set(np.flatnonzero(np.abs(X[p]).sum(0)))


@pytest.mark.parametrize("solver", [block_omp, block_cosamp, block_iht])
def test_block_batch_equals_loop(solver):
    X = block_sparse_signals(5, 64, 8, 4, rng=12)
    A = _matrix(24, 64, 13)
    Y = X @ A.T + 0.01 * np.random.default_rng(14).standard_normal((5, 24))
    g = np.arange(64) // 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        B = solver(A, Y, groups=g, n_nonzero_blocks=2)
        for i in range(5):
            np.testing.assert_allclose(solver(A, Y[i], groups=g, n_nonzero_blocks=2), B[i], rtol=1e-7, atol=1e-9)


def test_inputs_not_modified():
    A = _matrix(20, 40, 15)
    Y = np.random.default_rng(16).standard_normal((2, 20))
    A0, Y0 = A.copy(), Y.copy()
    g = np.arange(40) // 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group_lasso(A, Y, groups=g, lam=0.1, x0=np.ones((2, 40)))
        block_cosamp(A, Y, groups=g, n_nonzero_blocks=2)
        tree_cosamp(A, Y, tree=Wavelet(40, "haar", level=3), n_nonzero_coefs=4)
        somp(A, Y, n_nonzero_coefs=3)
        mmv_fista(A, Y, lam=0.1)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(Y, Y0)


# ------------------------------------------------------------------------------------------
# bad inputs: errors name the argument
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [np.arange(39), np.zeros((8, 5), int), np.linspace(0, 1, 40), ["a"] * 40, None])
def test_bad_group_labels_are_rejected(groups):
    A = _matrix(20, 40, 0)
    y = np.ones(20)
    for call in (lambda: group_lasso(A, y, groups=groups, lam=0.1),
                 lambda: block_omp(A, y, groups=groups, n_nonzero_blocks=1),
                 lambda: block_cosamp(A, y, groups=groups, n_nonzero_blocks=1),
                 lambda: group_soft_threshold(np.ones(40), groups, 1.0)):
        with pytest.raises(ValidationError, match="groups"):
            call()


def test_bad_trees_are_rejected():
    A = _matrix(20, 64, 0)
    y = np.ones(20)
    with pytest.raises(ValidationError, match=r"tree.*\(64,\)"):
        tree_cosamp(A, y, tree=Wavelet(32, "haar"), n_nonzero_coefs=3)
    with pytest.raises(ValidationError, match="tree"):
        tree_iht(A, y, tree=np.full(64, -1.0), n_nonzero_coefs=3)
    cyc = np.full(64, -1)
    cyc[1], cyc[2] = 2, 1
    with pytest.raises(ValidationError, match="tree.*cycle"):
        tree_projection(np.ones(64), cyc, 3)
    with pytest.raises(ValidationError, match="tree"):
        tree_projection(np.ones(64), np.full(64, 70), 3)
    with pytest.raises(ValidationError, match="tree"):
        tree_sparse_signals(2, np.arange(5), 2)  # node 0 is its own parent


def test_mmv_shape_mismatch_is_rejected():
    A = _matrix(20, 40, 0)
    for solver, kw in ((somp, {"n_nonzero_coefs": 2}), (mmv_cosamp, {"n_nonzero_coefs": 2}),
                       (mmv_sp, {"n_nonzero_coefs": 2}), (mmv_fista, {"lam": 0.1})):
        with pytest.raises(ValidationError, match=r"Y.*m = 20"):
            solver(A, np.ones((3, 21)), **kw)
        with pytest.raises(ValidationError, match="Y must be 2-D or 3-D"):
            solver(A, np.ones(20), **kw)
    with pytest.raises(ValidationError, match="x0"):
        mmv_fista(A, np.ones((3, 20)), lam=0.1, x0=np.zeros((2, 40)))


def test_missing_structure_options():
    A = _matrix(20, 40, 0)
    with pytest.raises(ValidationError, match="n_nonzero_blocks"):
        block_cosamp(A, np.ones(20), groups=np.arange(40) // 4, n_nonzero_blocks=None)
    with pytest.raises(ValidationError, match="lam"):
        group_lasso(A, np.ones(20), groups=np.arange(40) // 4, lam=-1.0)
    with pytest.raises(ValidationError, match="block_size"):
        block_sparse_signals(2, 40, 6, 4)


# ------------------------------------------------------------------------------------------
# registry and bench
# ------------------------------------------------------------------------------------------
def test_registry_kinds():
    assert set(list_solvers("group")) == {"group_lasso", "block_omp", "block_cosamp", "block_iht"}
    assert set(list_solvers("joint")) == {"somp", "mmv_fista", "mmv_cosamp", "mmv_sp"}
    assert set(list_solvers("tree")) == {"tree_cosamp", "tree_iht"}


def test_structured_generators():
    X = block_sparse_signals(3, 24, 8, 4, rng=0)
    assert np.all((X.reshape(3, 6, 4) != 0).any(axis=2).sum(axis=1) == 2)
    J = jointly_sparse_signals(4, 30, 5, rng=1)
    assert (J != 0).any(axis=0).sum() == 5 and np.all((J != 0).sum(axis=1) == 5)
    W = Wavelet(128, "haar")
    T = tree_sparse_signals(5, W, 9, rng=2)
    p = W.tree_parents()
    assert np.all((T != 0).sum(axis=1) == 9)
    assert np.all((T[:, p >= 0] == 0) | (T[:, p[p >= 0]] != 0))
    np.testing.assert_array_equal(tree_sparse_signals(5, W, 9, rng=2), T)


def test_bench_structured_families():
    problems = [ProblemFamily(n=64, m=32, k=8, structure="block", block_size=4),
                ProblemFamily(n=64, m=32, k=6, structure="tree"),
                ProblemFamily(n=64, m=24, k=5, structure="joint", n_signals=4)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = run_benchmark(problems, ["cosamp", "block_cosamp", "tree_cosamp", "mmv_cosamp"], n_trials=2,
                            progress=False)
    rate = {(r["problem"], r["solver"]): r["success_rate"] for r in res.summary()}
    assert rate[(problems[0].label, "block_cosamp")] == 1.0
    assert rate[(problems[1].label, "tree_cosamp")] == 1.0
    assert rate[(problems[2].label, "mmv_cosamp")] == 1.0
    with pytest.raises(ValidationError, match="structure"):
        ProblemFamily(n=64, m=32, k=8, structure="blocks")
    with pytest.raises(ValidationError, match="block_size"):
        ProblemFamily(n=64, m=32, k=6, structure="block", block_size=4)


def test_phase_transition_per_structure():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = phase_transition(["cosamp", "tree_cosamp"], n=64, deltas=[0.5], rhos=[0.2], n_trials=2,
                               progress=False, problem_options={"structure": "tree"})
    assert set(res.solvers) == {"cosamp", "tree_cosamp"}
    assert res.success_grid("tree_cosamp")[0, 0] == 1.0
    with pytest.raises(ValidationError, match="problem_options"):
        phase_transition("cosamp", n=64, deltas=[0.5], rhos=[0.2], n_trials=1, progress=False,
                         problem_options={"colour": 1})

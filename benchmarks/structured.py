"""Benchmark of the structured-sparsity solvers: block, joint (MMV) and tree models.

Parts
-----
recovery  Measurements needed for 95 % exact recovery (relative error < 1e-3) against the
          sparsity, plain solver beside its structured twin, on noiseless problems with a
          Gaussian matrix (unit-norm columns):
          tree   Haar wavelet tree of ``Wavelet(n, "haar")``, random rooted subtrees of k
                 nodes (``tree_sparse_signals``): cosamp vs tree_cosamp, iht vs tree_iht;
          block  blocks of 4 (``block_sparse_signals``): cosamp vs block_cosamp, omp vs block_omp;
          joint  4 vectors sharing a support (``jointly_sparse_signals``): cosamp and omp per
                 vector vs mmv_cosamp and somp (a trial succeeds when every vector is recovered).
          For each solver, m runs up a grid (steps of k/4 from 1.5 k) and the first m with at
          least 95 % successes is reported (the trials of one m: ``n_mats`` matrices x
          ``n_per`` signals). Iterative solvers get ``max_iter=30``.
prox      Time per call of the group soft threshold (l2,1 prox) and of the tree projection on
          a batch, against SPAMS (``spams.proximalFlat`` with ``regul="group-lasso-l2"``,
          ``spams.proximalTree`` with ``regul="tree-l0"``) when ``import spams`` works, at the
          same thread count. SPAMS's tree-l0 prox is the penalised form (lambda * number of
          nodes): it is compared with ours of the same problem (``tree_l0_prox``, O(n)), and
          the constrained projection (at most k nodes, ``tree_projection``, O(nk)) is timed
          beside it with the number of nonzeros kept.
image     Whole-image CS of a bundled image (downsampled): ``y = Phi x`` with a structured
          operator (``make_sensing("srdct", ...)``), ``x = W c`` with the Haar ``Wavelet2``;
          the coefficients are recovered by cosamp / tree_cosamp / iht / tree_iht on the
          composed operator ``Phi @ W`` with ``k = m / 4``, and by ``whole_image_cs`` (FISTA, l1),
          PSNR reported.

The load average is printed before each part (the machine may be shared).

Usage::

    python benchmarks/structured.py                     # all parts
    python benchmarks/structured.py --quick             # small sizes (smoke test)
    python benchmarks/structured.py --parts recovery --threads 1
"""

from __future__ import annotations

import argparse
import math
import os
import time
import warnings

import numpy as np


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def _set_threads(n_threads):
    import numba

    numba.set_num_threads(n_threads)
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=n_threads)
    except ImportError:  # pragma: no cover
        pass


# ------------------------------------------------------------------------------------------
# recovery: measurements for 95 % success
# ------------------------------------------------------------------------------------------
def _matrix(m, n, rng):
    A = rng.standard_normal((m, n))
    return A / np.linalg.norm(A, axis=0)


def _success(X, Xh, per_problem):
    """Success per trial: a row (or, for MMV, all rows of the problem) within 1e-3 relative error."""
    err = np.linalg.norm(Xh - X, axis=-1) / np.maximum(np.linalg.norm(X, axis=-1), 1e-300)
    ok = err < 1e-3
    return ok.all(axis=-1) if per_problem else ok


def _rate(structure, solver, n, m, k, n_mats, n_per, seed, opts):
    from cs_toolkit.signals import block_sparse_signals, jointly_sparse_signals, tree_sparse_signals
    from cs_toolkit.solvers import solve

    ok = []
    for t in range(n_mats):
        rng = np.random.default_rng([seed, m, k, t])
        A = _matrix(m, n, rng)
        if structure == "tree":
            X = tree_sparse_signals(n_per, opts["tree"], k, rng=rng)
        elif structure == "block":
            X = block_sparse_signals(n_per, n, k, 4, rng=rng)
        else:
            X = jointly_sparse_signals(4, n, k, n_problems=n_per, rng=rng)
        Y = X @ A.T
        kw = dict(opts.get(solver, {}))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if structure == "joint" and solver in ("cosamp", "omp"):  # per vector
                Xh = solve(A, Y.reshape(-1, m), method=solver, **kw).reshape(X.shape)
            else:
                Xh = solve(A, Y, method=solver, **kw)
        ok.append(_success(X, Xh, structure == "joint"))
    return float(np.mean(np.concatenate(ok)))


def m95(structure, solver, n, k, n_mats, n_per, opts, seed=0):
    """Smallest m of the grid ``ceil(c k)``, ``c = 1.5, 1.75, ...`` with >= 95 % successes."""
    c = 1.5
    while True:
        m = min(n, int(math.ceil(c * k)))
        r = _rate(structure, solver, n, m, k, n_mats, n_per, seed, opts)
        if r >= 0.95 or m >= n:
            return m, r
        c += 0.25


def part_recovery(quick):
    from cs_toolkit.transforms import Wavelet

    print(f"\n== recovery: measurements for 95 % exact recovery ({load()})")
    n_mats, n_per = (2, 5) if quick else (4, 10)
    n_tree = 256 if quick else 1024
    W = Wavelet(n_tree, "haar")
    it = {"max_iter": 30}
    cases = [
        ("tree", n_tree, [10] if quick else [20, 40], [("cosamp", "tree_cosamp"), ("iht", "tree_iht")],
         {"tree": W, "cosamp": it, "iht": it, "tree_cosamp": {**it, "tree": W}, "tree_iht": {**it, "tree": W}}),
        ("block", 128 if quick else 512, [8] if quick else [16, 32], [("cosamp", "block_cosamp"), ("omp", "block_omp")],
         {"block_cosamp": {**it, "groups": "blocks"}, "block_omp": {"groups": "blocks"}, "cosamp": it}),
        ("joint", 128 if quick else 256, [4] if quick else [8, 16], [("cosamp", "mmv_cosamp"), ("omp", "somp")],
         {"cosamp": it, "mmv_cosamp": {"max_iter": 30}}),
    ]
    print(f"trials per m: {n_mats} matrices x {n_per} signals = {n_mats * n_per}; m grid ceil(c k), c = 1.5 + 0.25 j")
    print(f"{'model':6} {'n':>5} {'k':>4} {'plain':>8} {'m95':>5} {'m/k':>5} {'struct.':>13} {'m95':>5} {'m/k':>5} "
          f"{'ratio':>6} {'time_s':>7}")
    rows = []
    for structure, n, ks, pairs, opts in cases:
        for k in ks:
            sparsity = {"cosamp": k, "omp": k, "iht": k, "tree_cosamp": k, "tree_iht": k, "mmv_cosamp": k,
                        "somp": k, "block_cosamp": k // 4, "block_omp": k // 4}
            for plain, struct in pairs:
                t0 = time.perf_counter()
                res = {}
                for s in (plain, struct):
                    o = dict(opts.get(s, {}))
                    if o.get("groups") == "blocks":
                        o["groups"] = np.arange(n) // 4
                    key = "n_nonzero_blocks" if s.startswith("block") else "n_nonzero_coefs"
                    o[key] = sparsity[s]
                    res[s] = m95(structure, s, n, k, n_mats, n_per, {**opts, s: o})
                mp_, ms = res[plain][0], res[struct][0]
                dt = time.perf_counter() - t0
                print(f"{structure:6} {n:5d} {k:4d} {plain:>8} {mp_:5d} {mp_ / k:5.2f} {struct:>13} {ms:5d} "
                      f"{ms / k:5.2f} {mp_ / ms:6.2f} {dt:7.1f}", flush=True)
                rows.append((structure, n, k, plain, mp_, struct, ms))
    return rows


# ------------------------------------------------------------------------------------------
# prox timing against SPAMS
# ------------------------------------------------------------------------------------------
def _best(fn, repeats):
    fn()
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def _spams_tree(parents):
    """SPAMS tree description of a forest with one variable per node (variables in pre-order)."""
    import scipy.sparse as ssp

    from cs_toolkit.solvers.tree import check_tree

    _, pre, _ = check_tree(parents, parents.size)
    where = np.empty(parents.size, np.int64)
    where[pre] = np.arange(parents.size)
    child = where[np.flatnonzero(parents >= 0)]
    par = where[parents[parents >= 0]]
    g = ssp.csc_matrix((np.ones(child.size, bool), (child, par)), shape=(parents.size, parents.size))
    tree = {"eta_g": np.ones(parents.size), "groups": g,
            "own_variables": np.arange(parents.size, dtype=np.int32),
            "N_own_variables": np.ones(parents.size, dtype=np.int32)}
    return tree, pre


def part_prox(quick, threads):
    import numba

    from cs_toolkit.solvers import group_soft_threshold, tree_l0_prox, tree_projection
    from cs_toolkit.transforms import Wavelet

    try:
        import spams
    except ImportError:
        spams = None
    print(f"\n== prox: time per call ({load()}); numba threads {numba.get_num_threads()}, "
          f"SPAMS numThreads {threads}; {'SPAMS not installed: ours only' if spams is None else 'SPAMS found'}")
    rng = np.random.default_rng(0)
    repeats = 3 if quick else 7
    # group soft threshold
    N, n, gs = (64, 1024, 8) if quick else (256, 4096, 8)
    X = rng.standard_normal((N, n))
    groups = np.arange(n) // gs
    lam = 2.0
    t_ours = _best(lambda: group_soft_threshold(X, groups, lam), repeats)
    line = f"group soft threshold  batch {N} x n={n}, groups of {gs}: ours {t_ours * 1e3:8.3f} ms"
    if spams is not None:
        U = np.asfortranarray(X.T)
        t_sp = _best(lambda: spams.proximalFlat(U, lambda1=lam, regul="group-lasso-l2", size_group=gs,
                                                numThreads=threads), repeats)
        ref = spams.proximalFlat(U, lambda1=lam, regul="group-lasso-l2", size_group=gs, numThreads=threads).T
        err = float(np.max(np.abs(ref - group_soft_threshold(X, groups, lam))))
        line += f"   SPAMS {t_sp * 1e3:8.3f} ms   speed-up {t_sp / t_ours:5.2f}x   max |diff| {err:.1e}"
    print(line)
    # tree projection
    N, n, k = (64, 256, 20) if quick else (256, 1024, 64)
    W = Wavelet(n, "haar")
    parents = W.tree_parents()
    C = rng.standard_normal((N, n)) * (2.0 ** (-np.log2(np.arange(n) + 2)))  # decaying like wavelet coefficients
    tree_projection(C[:2], parents, k)
    t_ours = _best(lambda: tree_projection(C, parents, k), repeats)
    nnz = float(np.mean(np.count_nonzero(tree_projection(C, parents, k), axis=1)))
    line = f"tree projection       batch {N} x n={n}, k={k}: ours {t_ours * 1e3:8.3f} ms (nnz {nnz:.0f})"
    if spams is not None:
        tree, pre = _spams_tree(parents)
        U = np.asfortranarray(C[:, pre].T)
        # lambda of the penalised tree-l0 prox chosen so that it keeps about k nodes too
        lam0 = float(np.sort((C * C).ravel())[::-1][N * k] / 2)
        t_sp = _best(lambda: spams.proximalTree(U, tree, lambda1=lam0, regul="tree-l0", numThreads=threads),
                     repeats)
        out = spams.proximalTree(U, tree, lambda1=lam0, regul="tree-l0", numThreads=threads)
        nnz_sp = float(np.mean(np.count_nonzero(out, axis=0)))
        line += f"   SPAMS tree-l0 {t_sp * 1e3:8.3f} ms (nnz {nnz_sp:.0f})   speed-up {t_sp / t_ours:5.2f}x"
    print(line)
    # the same penalised problem as SPAMS's tree-l0: ours in O(n) per row
    lam0 = float(np.sort((C * C).ravel())[::-1][N * k] / 2)
    t_ours = _best(lambda: tree_l0_prox(C, parents, lam0), repeats)
    mine = tree_l0_prox(C, parents, lam0)
    line = (f"tree-l0 prox          batch {N} x n={n}, lambda={lam0:.2e}: ours {t_ours * 1e3:8.3f} ms "
            f"(nnz {np.mean(np.count_nonzero(mine, axis=1)):.0f})")
    if spams is not None:
        t_sp = _best(lambda: spams.proximalTree(U, tree, lambda1=lam0, regul="tree-l0", numThreads=threads),
                     repeats)
        out = spams.proximalTree(U, tree, lambda1=lam0, regul="tree-l0", numThreads=threads)
        err = float(np.max(np.abs(out.T - mine[:, pre])))
        line += f"   SPAMS {t_sp * 1e3:8.3f} ms   speed-up {t_sp / t_ours:5.2f}x   max |diff| {err:.1e}"
    print(line)


# ------------------------------------------------------------------------------------------
# image: tree model on wavelet coefficients
# ------------------------------------------------------------------------------------------
def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


def part_image(quick):
    from cs_toolkit.data import load_image
    from cs_toolkit.sensing import make_sensing
    from cs_toolkit.signals import whole_image_cs
    from cs_toolkit.solvers import solve
    from cs_toolkit.transforms import Wavelet2

    side = 32 if quick else 64
    img = load_image("camera")
    f = img.shape[0] // side
    x = img[: side * f, : side * f].reshape(side, f, side, f).mean(axis=(1, 3))
    n = side * side
    Wt = Wavelet2((side, side), "haar")
    print(f"\n== image: camera downsampled to {side}x{side} (n={n}), srdct operator, Haar tree ({load()})")
    ratios = (0.25, 0.4) if quick else (0.15, 0.25, 0.35)
    print(f"{'ratio':>5} {'m':>5} {'k':>5} " + " ".join(f"{s:>12}" for s in
          ("cosamp", "tree_cosamp", "iht", "tree_iht", "whole_fista")) + "   (PSNR dB; time s)")
    for r in ratios:
        m = int(round(r * n))
        k = m // 4
        Phi = make_sensing("srdct", m, n, rng=np.random.default_rng(1))
        y = Phi.forward(x.ravel())
        Aop = Phi @ Wt
        cells = []
        for method in ("cosamp", "tree_cosamp", "iht", "tree_iht"):
            opts = {"n_nonzero_coefs": k, "max_iter": 30}
            if method.startswith("tree"):
                opts["tree"] = Wt
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = solve(Aop, y, method=method, **opts)
            dt = time.perf_counter() - t0
            rec = Wt.forward(c).reshape(side, side)
            cells.append(f"{_psnr(np.clip(rec, 0, 1), x):6.2f};{dt:5.1f}")
        t0 = time.perf_counter()
        rec, q = whole_image_cs(x, r, operator="srdct", wavelet="haar", rng=1)
        cells.append(f"{_psnr(rec, x):6.2f};{time.perf_counter() - t0:5.1f}")
        print(f"{r:5.2f} {m:5d} {k:5d} " + " ".join(f"{c:>12}" for c in cells), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--parts", default="recovery,prox,image", help="comma-separated: recovery, prox, image")
    ap.add_argument("--threads", type=int, default=1, help="numba / BLAS / SPAMS threads (default 1)")
    args = ap.parse_args(argv)
    quick = args.quick or os.environ.get("CS_TOOLKIT_QUICK") == "1"
    _set_threads(args.threads)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    print(f"structured-sparsity benchmark, {'quick' if quick else 'full'} sizes, {args.threads} thread(s), "
          f"{os.cpu_count()} CPUs, {load()}")
    t0 = time.perf_counter()
    if "recovery" in parts:
        part_recovery(quick)
    if "prox" in parts:
        part_prox(quick, args.threads)
    if "image" in parts:
        part_image(quick)
    print(f"\ntotal {time.perf_counter() - t0:.1f} s, {load()}")


if __name__ == "__main__":
    main()

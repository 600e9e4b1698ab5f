"""Dictionary-learning benchmark: cs-toolkit (K-SVD, approximate K-SVD, MOD, online)
against scikit-learn's MiniBatchDictionaryLearning and SPAMS trainDL.

Data: 8x8 patches of scikit-image's ``camera`` (mean removed per patch, the set
scaled to unit variance), 20,000 patches, 256 atoms, quality measured as the
relative representation error ``||X - C D^T||_F / ||X||_F`` of OMP with 5 atoms
(the same cs-toolkit OMP for every dictionary). Printed: error against time for
each contender, time for ours to reach each peer's final error and the ratios,
the K-SVD time per iteration, planted-dictionary recovery rates and K-SVD
denoising PSNRs (learned vs DCT dictionary, sigma = 25).

The contenders run in interleaved rounds at the same thread count; the minimum
over rounds is reported with the load average (the machines are shared).

Usage::

    python benchmarks/dictionary.py            # full run
    python benchmarks/dictionary.py --quick    # tiny smoke run
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def load_patches(n_patches, rng, patch_size=8):
    from skimage import data

    img = data.camera().astype(np.float64) / 255.0
    win = np.lib.stride_tricks.sliding_window_view(img, (patch_size, patch_size)).reshape(-1, patch_size ** 2)
    X = win[np.sort(rng.choice(win.shape[0], n_patches, replace=False))].copy()
    X -= X.mean(axis=1, keepdims=True)
    X /= X.std()
    return X


def omp_error(D, X, k):
    from cs_toolkit.dictionary import sparse_encode

    D = np.ascontiguousarray(D / np.linalg.norm(D, axis=0))
    t = time.perf_counter()
    C = sparse_encode(X, D, n_nonzero_coefs=k)
    dt = time.perf_counter() - t
    return float(np.linalg.norm(X - C @ D.T) / np.linalg.norm(X)), dt


def time_to(curve, target):
    """First time at which the error curve [(t, err), ...] reaches ``target`` (inf if never)."""
    for t, e in curve:
        if e <= target * (1 + 1e-9):
            return t
    return float("inf")


def run_ours(method, X, args):
    from cs_toolkit import dictionary as dl

    common = dict(n_nonzero_coefs=args.k, rng=0)
    t0 = time.perf_counter()
    if method == "online":
        n_batches = -(-X.shape[0] // 256)  # the error curve at eighths of an epoch (not timed)
        res = dl.online_dictionary_learning(X, args.n_atoms, batch_size=256, n_epochs=args.epochs,
                                            eval_every=max(1, n_batches // 8), **common)
    else:
        func = {"ksvd": dl.ksvd, "approx_ksvd": dl.approx_ksvd, "mod": dl.mod}[method]
        res = func(X, args.n_atoms, max_iter=args.iters, **common)
    total = time.perf_counter() - t0
    curve = list(zip(res.history["time"], res.history["error"], strict=True))
    return {"curve": curve, "total": total, "error": res.error, "history": res.history}


def run_sklearn(X, args):
    from sklearn.decomposition import MiniBatchDictionaryLearning

    est = MiniBatchDictionaryLearning(n_components=args.n_atoms, alpha=args.lam, batch_size=256, max_iter=1,
                                      transform_algorithm="omp", transform_n_nonzero_coefs=args.k,
                                      random_state=0, n_jobs=args.threads)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    fit = time.perf_counter() - t
    err, code_t = omp_error(est.components_.T, X, args.k)
    return {"total": fit, "code_time": code_t, "error": err}


def run_spams(X, args, mode):
    import spams

    n_batches = -(-X.shape[0] // 256)
    Xf = np.asfortranarray(X.T)
    kw = dict(K=args.n_atoms, iter=n_batches * args.spams_epochs, batchsize=256, numThreads=args.threads,
              verbose=False)
    if mode == "l1":
        kw.update(lambda1=args.lam, mode=2)
    else:  # l0-constrained coding inside trainDL (mode 3: ||a||_0 <= lambda1)
        kw.update(lambda1=float(args.k), mode=3)
    t = time.perf_counter()
    D = spams.trainDL(Xf, **kw)
    fit = time.perf_counter() - t
    D = np.ascontiguousarray(D)
    Dn = D / np.linalg.norm(D, axis=0)
    t = time.perf_counter()
    A = spams.omp(Xf, np.asfortranarray(Dn), L=args.k, numThreads=args.threads)
    sp_code = time.perf_counter() - t
    C = np.asarray(A.todense()).T
    sp_err = float(np.linalg.norm(X - C @ Dn.T) / np.linalg.norm(X))
    err, code_t = omp_error(D, X, args.k)
    return {"total": fit, "code_time": code_t, "error": err, "spams_omp_error": sp_err, "spams_omp_time": sp_code}


def planted_rates(args):
    from cs_toolkit import dictionary as dl

    n_features, n_atoms, n_signals, k = 20, 30, (600 if args.quick else 1500), 3
    out = {}
    for noise in (0.0, 0.01, 0.05):
        rng = np.random.default_rng(2024)
        D = rng.standard_normal((n_features, n_atoms))
        D /= np.linalg.norm(D, axis=0)
        C = np.zeros((n_signals, n_atoms))
        for i in range(n_signals):
            C[i, rng.choice(n_atoms, k, replace=False)] = rng.standard_normal(k)
        X = C @ D.T + noise * rng.standard_normal((n_signals, n_features))
        for name in ("ksvd", "approx_ksvd", "mod", "online"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if name == "online":
                    res = dl.online_dictionary_learning(X, n_atoms, n_nonzero_coefs=k, batch_size=100,
                                                        n_epochs=5 if args.quick else 20, rng=1)
                else:
                    res = getattr(dl, name)(X, n_atoms, n_nonzero_coefs=k, max_iter=10 if args.quick else 40, rng=1)
            G = np.abs(D.T @ res.dictionary)
            out[(name, noise)] = float(np.mean(1 - G.max(axis=1) < 0.01))
    return out


def denoising(args):
    from skimage import data

    from cs_toolkit.dictionary import denoise_image
    from cs_toolkit.metrics import psnr

    img = data.camera().astype(np.float64) / 255.0
    size = 64 if args.quick else args.denoise_size
    r0 = (img.shape[0] - size) // 2
    clean = img[r0:r0 + size, r0:r0 + size]
    sigma = 25.0 / 255.0
    noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
    out = {"noisy": psnr(clean, noisy)}
    for d in ("dct", "learn"):
        t = time.perf_counter()
        den = denoise_image(noisy, sigma, dictionary=d, n_atoms=256, step=1, max_iter=3 if args.quick else 10,
                            n_train=20000, rng=0)
        out[d] = (psnr(clean, den), time.perf_counter() - t)
    return size, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    p.add_argument("--patches", type=int, default=20000)
    p.add_argument("--n-atoms", type=int, default=256)
    p.add_argument("--k", type=int, default=5, help="OMP sparsity")
    p.add_argument("--iters", type=int, default=15, help="iterations of the batch methods")
    p.add_argument("--epochs", type=int, default=3, help="epochs of our online method")
    p.add_argument("--spams-epochs", type=int, default=1, help="passes of SPAMS trainDL")
    p.add_argument("--lam", type=float, default=1.0, help="l1 penalty of scikit-learn and SPAMS (mode 2)")
    p.add_argument("--threads", type=int, default=1, help="threads for everyone (BLAS, numba, SPAMS, sklearn)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--denoise-size", type=int, default=256)
    p.add_argument("--skip", nargs="*", default=[], help="parts to skip: peers planted denoise")
    args = p.parse_args(argv)
    if args.quick:
        args.patches, args.n_atoms, args.iters, args.epochs, args.rounds = 2000, 64, 3, 1, 1

    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    limits = threadpool_limits(args.threads)
    print(f"threads={args.threads}  load average at start: {os.getloadavg()}")

    from cs_toolkit import dictionary as dl

    t = time.perf_counter()
    dl.ksvd(np.random.default_rng(0).standard_normal((300, 16)), 20, n_nonzero_coefs=3, max_iter=1, rng=0)
    dl.approx_ksvd(np.random.default_rng(0).standard_normal((300, 16)), 20, n_nonzero_coefs=3, max_iter=1, rng=0)
    dl.mod(np.random.default_rng(0).standard_normal((300, 16)), 20, n_nonzero_coefs=3, max_iter=1, rng=0)
    dl.online_dictionary_learning(np.random.default_rng(0).standard_normal((300, 16)), 20, n_nonzero_coefs=3,
                                  batch_size=100, rng=0)
    print(f"first calls (numba compile or cache load, all methods): {time.perf_counter() - t:.2f} s")

    X = load_patches(args.patches, np.random.default_rng(0))
    print(f"data: {X.shape[0]} patches of 8x8 from camera, {args.n_atoms} atoms, OMP-{args.k} error")

    ours = ["ksvd", "approx_ksvd", "mod", "online"]
    peers = [] if "peers" in args.skip else ["sklearn", "spams_l1", "spams_l0"]
    try:
        import spams  # noqa: F401
    except ImportError:
        peers = [c for c in peers if not c.startswith("spams")]
        print("spams not installed: SPAMS skipped")
    results = {}
    contenders = ours + peers
    for r in range(args.rounds):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for c in order:
            if c == "sklearn":
                out = run_sklearn(X, args)
            elif c.startswith("spams"):
                out = run_spams(X, args, c.split("_")[1])
            else:
                out = run_ours(c, X, args)
            prev = results.get(c)
            if prev is None or out["total"] < prev["total"]:
                results[c] = out
        print(f"round {r + 1} done, load average {os.getloadavg()}")

    print("\n== error (OMP-%d, relative) vs time (s) ==" % args.k)
    for c in ours:
        res = results[c]
        pts = ", ".join(f"{t:.2f}s:{e:.4f}" for t, e in res["curve"])
        print(f"{c:12s} {pts}")
    for c in peers:
        res = results[c]
        extra = ""
        if "spams_omp_error" in res:
            extra = f" (spams.omp: {res['spams_omp_error']:.4f} in {res['spams_omp_time']:.2f}s)"
        print(f"{c:12s} fit {res['total']:.2f}s -> error {res['error']:.4f}; "
              f"OMP coding {res['code_time']:.2f}s{extra}")

    print("\n== time for ours to reach each peer's final error (ratio = peer fit time / ours) ==")
    for p_ in peers:
        target = results[p_]["error"]
        row = []
        for c in ours:
            tt = time_to(results[c]["curve"], target)
            ratio = results[p_]["total"] / tt if np.isfinite(tt) and tt > 0 else 0.0
            row.append(f"{c} {tt:.2f}s (x{ratio:.1f})" if np.isfinite(tt) else f"{c} not reached")
        print(f"{p_:9s} target {target:.4f} in {results[p_]['total']:.2f}s: " + "; ".join(row))

    h = results["ksvd"]["history"]
    per_iter = np.diff(h["time"])
    print(f"\nK-SVD time per iteration (coding + update) on {X.shape[0]} patches: "
          f"min {per_iter.min():.3f}s, median {np.median(per_iter):.3f}s")
    D = np.ascontiguousarray(dl.overcomplete_dct2(8, args.n_atoms))
    C = dl.sparse_encode(X, D, n_nonzero_coefs=args.k)
    best = {True: np.inf, False: np.inf}
    for _ in range(3):
        for exact in (True, False):
            D1, C1 = D.copy(), C.copy()
            R = X - C1 @ D1.T
            t = time.perf_counter()
            dl.ksvd_update(D1, C1, R, exact=exact)
            best[exact] = min(best[exact], time.perf_counter() - t)
    t = time.perf_counter()
    dl.sparse_encode(X, D, n_nonzero_coefs=args.k)
    print(f"  dictionary update alone: exact {best[True]:.3f}s, approximate {best[False]:.3f}s; "
          f"OMP-{args.k} coding {time.perf_counter() - t:.3f}s")

    if "planted" not in args.skip:
        rates = planted_rates(args)
        print("\n== planted dictionary (20 x 30, 3 atoms/signal) recovery rate (1 - |<d, d_hat>| < 0.01) ==")
        for noise in (0.0, 0.01, 0.05):
            print(f"noise {noise:<5}: " + ", ".join(f"{m} {rates[(m, noise)]:.2f}"
                                                 for m in ("ksvd", "approx_ksvd", "mod", "online")))
    if "denoise" not in args.skip:
        size, out = denoising(args)
        print(f"\n== K-SVD denoising, camera {size}x{size}, sigma=25 (of 255), 8x8 patches, step 1 ==")
        print(f"noisy {out['noisy']:.2f} dB; DCT {out['dct'][0]:.2f} dB ({out['dct'][1]:.1f}s); "
              f"learned {out['learn'][0]:.2f} dB ({out['learn'][1]:.1f}s)")
    print(f"\nload average at end: {os.getloadavg()}")
    limits.restore_original_limits()


if __name__ == "__main__":
    main()

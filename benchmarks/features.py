"""Sparse codes as features (issue 22): accuracy on digits, coding speed against scikit-learn's
``SparseCoder`` and sparse-representation classification under occlusion.

Data: scikit-learn's bundled ``load_digits`` (1,797 images of 8x8 pixels, scaled to [0, 1]), one
held-out split ``train_test_split(test_size=0.3, stratify=y, random_state=0)``: 1,257 training and
540 test images. Every model is fitted on the training part only, and its hyper-parameters are
fixed here (the classifier's C is chosen by 3-fold cross-validation on the training part).

1. Features + the same linear classifier (StandardScaler + LogisticRegression): raw pixels, PCA,
   and the pooled patch codes of :class:`cs_toolkit.features.SparseCodeTransformer` (64 atoms
   learned by K-SVD on 4x4 patches, LARS l1 codes or OMP codes, split signs, mean pooling over a
   2x2 grid: 512 features).
2. Coding 100,000 mean-removed 8x8 patches of scikit-image's pictures over a 256-atom dictionary
   (the overcomplete 2-D DCT) with OMP at the same sparsity (5 atoms): cs-toolkit's batch OMP
   (through the transformer) against ``sklearn.decomposition.SparseCoder(transform_algorithm="omp")``
   at the same thread count (threadpoolctl for BLAS, ``numba.set_num_threads``); best of the rounds.
3. SRC on digits with 0 / 10 / 30 % of each test image occluded by one random rectangular block of
   uniform random values (the block is drawn per image with a fixed seed): SRC (LARS l1), robust
   SRC (over ``[D, I]``), 1-nearest neighbour and a linear SVM, all on the raw training images.

The machine may be shared: the load average is printed with the timings.

Usage::

    python benchmarks/features.py            # full run
    python benchmarks/features.py --quick    # smaller sizes, a smoke run
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def load_average():
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, stratify=y, random_state=0)


def linear_classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return GridSearchCV(pipe, {"logisticregression__C": [0.01, 0.1, 1.0]}, cv=3)


def patch_code_zeros(sct, images):
    """Fraction of exact zeros of the patch codes of a fitted image-mode transformer (before the sign
    split and the pooling): the sparsity of the activations themselves."""
    from cs_toolkit.features import SparseCodeTransformer, extract_patches

    P = extract_patches(images.reshape(-1, 8, 8), sct.patch_size, stride=sct.stride).reshape(-1, sct.dictionary_.shape[0])
    P = P - P.mean(axis=1, keepdims=True)
    coder = SparseCodeTransformer(method=sct.method, lam=sct.lam, n_nonzero_coefs=sct.n_nonzero_coefs,
                                  dictionary=sct.dictionary_).fit(P[:2])
    return float(np.mean(coder.transform(P) == 0))


def accuracy_section(quick):
    from sklearn.decomposition import PCA

    from cs_toolkit.features import SparseCodeTransformer

    Xtr, Xte, ytr, yte = digits_split()
    if quick:
        Xtr, ytr = Xtr[:400], ytr[:400]
    print(f"\n== digits: features + LogisticRegression (C by 3-fold CV), held-out split "
          f"{Xtr.shape[0]} train / {Xte.shape[0]} test ==")
    common = dict(image_shape=(8, 8), patch_size=4, grid=2, pooling="mean", split_sign=True, max_iter=10,
                  random_state=0)
    rows = [("raw pixels (64)", None),
            ("PCA 32 components", PCA(32, random_state=0)),
            ("sparse codes, LARS lam=0.1 (512)", SparseCodeTransformer(64, method="lars", lam=0.1, **common)),
            ("sparse codes, OMP k=3 (512)", SparseCodeTransformer(64, n_nonzero_coefs=3, **common))]
    results = {}
    for name, feat in rows:
        t0 = time.perf_counter()
        Ftr = Xtr if feat is None else feat.fit_transform(Xtr)
        Fte = Xte if feat is None else feat.transform(Xte)
        zeros = patch_code_zeros(feat, Xte[:200]) if isinstance(feat, SparseCodeTransformer) else float("nan")
        clf = linear_classifier().fit(Ftr, ytr)
        acc = 100.0 * clf.score(Fte, yte)
        results[name] = acc
        print(f"  {name:36s} accuracy {acc:6.2f} %   C={clf.best_params_['logisticregression__C']:<5}  "
              f"patch-code zeros {zeros:6.3f}   {time.perf_counter() - t0:5.1f} s")
    gain = results["sparse codes, LARS lam=0.1 (512)"] - results["raw pixels (64)"]
    print(f"  gain of the sparse codes (LARS) over raw pixels: {gain:+.2f} points (goal: >= +2)")
    return results


def speed_section(quick, threads, rounds):
    import numba
    from skimage import data as skdata
    from sklearn.decomposition import SparseCoder
    from threadpoolctl import threadpool_limits

    from cs_toolkit.dictionary import overcomplete_dct2
    from cs_toolkit.features import SparseCodeTransformer, extract_patches

    n_patches = 20_000 if quick else 100_000
    rng = np.random.default_rng(0)
    ims = [skdata.camera(), skdata.moon(), skdata.coins(), skdata.page()]
    P = np.concatenate([extract_patches(im.astype(np.float64) / 255.0, 8, stride=2).reshape(-1, 64) for im in ims])
    P = P[rng.choice(P.shape[0], n_patches, replace=False)]
    P -= P.mean(axis=1, keepdims=True)
    D = overcomplete_dct2(8, 256)
    k = 5
    print(f"\n== coding {n_patches:,} 8x8 patches, 256 atoms (overcomplete DCT), OMP with {k} atoms, "
          f"{threads} thread(s) ==")
    print("  " + load_average())
    ours = SparseCodeTransformer(dictionary=D, n_nonzero_coefs=k).fit(P[:10])
    theirs = SparseCoder(dictionary=D.T, transform_algorithm="omp", transform_n_nonzero_coefs=k, n_jobs=None)
    numba.set_num_threads(threads)
    times = {"cs-toolkit": [], "scikit-learn": []}
    with threadpool_limits(threads):
        ours.transform(P[:100])  # compile
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs.transform(P[:100])
        for _ in range(rounds):
            t0 = time.perf_counter()
            C1 = ours.transform(P)
            times["cs-toolkit"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                C2 = theirs.transform(P)
            times["scikit-learn"].append(time.perf_counter() - t0)
    best = {key: min(v) for key, v in times.items()}
    same_support = float(np.mean(np.all((C1 != 0) == (C2 != 0), axis=1)))
    nnz1, nnz2 = np.count_nonzero(C1, axis=1).mean(), np.count_nonzero(C2, axis=1).mean()
    err1 = np.linalg.norm(P - C1 @ D.T) / np.linalg.norm(P)
    err2 = np.linalg.norm(P - C2 @ D.T) / np.linalg.norm(P)
    for key in best:
        print(f"  {key:13s} {best[key]:7.3f} s (best of {rounds}; all: {', '.join(f'{t:.3f}' for t in times[key])})")
    print(f"  speed-up {best['scikit-learn'] / best['cs-toolkit']:.1f}x (goal: >= 10x); mean non-zeros per code "
          f"{nnz1:.2f} vs {nnz2:.2f}; same support for {100 * same_support:.1f} % of the patches; "
          f"relative errors {err1:.4f} vs {err2:.4f}")
    print("  " + load_average())
    return best


def occlude(X, fraction, rng, side=8):
    """Each image (row) gets one random block of about ``fraction`` of its pixels, filled with U(0, 1);
    returns the occluded copy and the block's (height, width)."""
    out = X.copy()
    if fraction == 0:
        return out, (0, 0)
    area = fraction * side * side
    h = max(1, int(round(np.sqrt(area))))
    w = max(1, int(round(area / h)))
    for row in out:
        img = row.reshape(side, side)
        r, c = rng.integers(0, side - h + 1), rng.integers(0, side - w + 1)
        img[r:r + h, c:c + w] = rng.random((h, w))
    return out, (h, w)


def src_section(quick):
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from cs_toolkit.features import SRCClassifier

    Xtr, Xte, ytr, yte = digits_split()
    if quick:
        Xte, yte = Xte[:150], yte[:150]
    print(f"\n== SRC on digits under occlusion: {Xtr.shape[0]} training images as the dictionary, "
          f"{Xte.shape[0]} test images ==")
    models = {"SRC (LARS, lam=0.01)": SRCClassifier("lars", lam=0.01),
              "robust SRC [D, I] (LARS)": SRCClassifier("lars", lam=0.01, robust=True),
              "1-nearest neighbour": KNeighborsClassifier(1),
              "linear SVM (C=0.1)": make_pipeline(StandardScaler(), LinearSVC(C=0.1, max_iter=20000))}
    for m in models.values():
        m.fit(Xtr, ytr)
    table = {}
    for frac in (0.0, 0.1, 0.3):
        rng = np.random.default_rng(42)
        Xo, (h, w) = occlude(Xte, frac, rng)
        block = f"{h}x{w}" if frac else "none"
        line = []
        for name, m in models.items():
            t0 = time.perf_counter()
            acc = 100.0 * float(np.mean(m.predict(Xo) == yte))
            table[(frac, name)] = acc
            line.append(f"{name} {acc:6.2f} % ({time.perf_counter() - t0:.1f} s)")
        print(f"  occlusion {int(frac * 100):2d} % (block {block}): " + "; ".join(line))
    return table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--threads", type=int, default=1, help="threads of both coders (default 1)")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best reported)")
    args = parser.parse_args(argv)
    print("cs-toolkit features benchmark; " + load_average() + f"; {os.cpu_count()} CPUs (the machine may be shared)")
    accuracy_section(args.quick)
    speed_section(args.quick, args.threads, 1 if args.quick else args.rounds)
    src_section(args.quick)


if __name__ == "__main__":
    main()

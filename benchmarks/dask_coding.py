"""Sparse coding out of core: millions of 8x8 patches against a learned dictionary with Dask.

The patches (8x8, mean removed) are drawn chunk by chunk from the bundled ``brick`` and
``coins`` pictures, a fixed seed per chunk, as a lazy Dask array ``Y`` that never sits in memory
as a whole; ``cs_toolkit.solvers.omp(D, Y, n_nonzero_coefs=8)`` returns the lazy codes (one task
per chunk, the 256-atom dictionary, learned by K-SVD on 20,000 other patches, one node of the
graph), reduced to the relative residual energy as the chunks finish. The in-memory path codes
one chunk's worth of patches as a NumPy array for comparison. Throughput is signals per second
per core (numba and BLAS threads of the in-memory path = the Dask workers' thread count).

Run from the repository root::

    python benchmarks/dask_coding.py                    # 1,000,000 patches, 2 threads
    python benchmarks/dask_coding.py --n 10000000       # the README's 10 million
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

PATCH = 8
CHUNK = 100_000


def _pictures():
    from cs_toolkit.data import load_image

    return [load_image(n).astype(np.float64) for n in ("brick", "coins")]


def _patches(seed, n, pictures):
    """``n`` random mean-removed 8x8 patches (rows), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, PATCH * PATCH))
    which = rng.integers(len(pictures), size=n)
    for i, img in enumerate(pictures):
        idx = np.flatnonzero(which == i)
        r = rng.integers(img.shape[0] - PATCH + 1, size=idx.size)
        c = rng.integers(img.shape[1] - PATCH + 1, size=idx.size)
        win = np.lib.stride_tricks.sliding_window_view(img, (PATCH, PATCH))
        out[idx] = win[r, c].reshape(idx.size, -1)
    return out - out.mean(axis=1, keepdims=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1_000_000, help="number of patches (default 1,000,000)")
    p.add_argument("--threads", type=int, default=2, help="threads (Dask worker threads; in-memory numba threads)")
    p.add_argument("--k", type=int, default=8, help="nonzeros per code (default 8)")
    args = p.parse_args()

    import dask.array as da
    from dask import delayed
    from distributed import Client, LocalCluster
    from threadpoolctl import threadpool_limits

    from cs_toolkit.dictionary import ksvd

    print(f"load average at start: {os.getloadavg()}")
    pictures = _pictures()
    D = ksvd(_patches(12345, 20_000, pictures), 256, n_nonzero_coefs=args.k, max_iter=10, rng=0).dictionary
    n_chunks = -(-args.n // CHUNK)
    sizes = [min(CHUNK, args.n - i * CHUNK) for i in range(n_chunks)]

    import numba

    from cs_toolkit.solvers import omp

    numba.set_num_threads(args.threads)
    with threadpool_limits(1):
        omp(D, _patches(0, 1000, pictures), n_nonzero_coefs=args.k)  # compile
        Y = _patches(1, CHUNK, pictures)
        t = time.perf_counter()
        X = omp(D, Y, n_nonzero_coefs=args.k)
        t_mem = time.perf_counter() - t
    R = Y - X @ D.T
    print(f"in memory: {CHUNK:,} patches in {t_mem:.2f} s on {args.threads} threads: "
          f"{CHUNK / t_mem / args.threads:,.0f} signals/s per core; relative residual {np.sum(R * R) / np.sum(Y * Y):.4f}")

    with LocalCluster(n_workers=1, threads_per_worker=args.threads, processes=True,
                      dashboard_address=None) as cluster, Client(cluster):
        Yd = da.concatenate([da.from_delayed(delayed(_patches)(s + 2, n, pictures), shape=(n, PATCH * PATCH),
                                             dtype=np.float64) for s, n in enumerate(sizes)])
        Xd = omp(D, Yd, n_nonzero_coefs=args.k)  # lazy: one task per chunk
        Rd = Yd - Xd @ D.T
        da.compute(omp(D, Yd[:1000], n_nonzero_coefs=args.k).sum())  # compile in the worker
        t = time.perf_counter()
        res, energy = da.compute((Rd * Rd).sum(), (Yd * Yd).sum())
        t_dask = time.perf_counter() - t
    print(f"out of core (Dask, {n_chunks} chunks of {CHUNK:,}, 1 worker x {args.threads} threads): {args.n:,} patches "
          f"in {t_dask:.1f} s: {args.n / t_dask / args.threads:,.0f} signals/s per core (drawing the patches "
          f"included); relative residual {res / energy:.4f}")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

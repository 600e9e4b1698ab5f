"""Per-iteration cost of our ISTA/FISTA against their bare matrix products and SPAMS (workload C).

Workload C: A of shape (250, 500) with N(0, 1/m) entries, 1000 signals x ~ Bernoulli(0.1) * N(0, 1),
y = A x, lam = 0.05 for 1/2||Ax - y||^2 + lam ||x||_1; a fixed number of iterations (tol=0, no restart).

For each dtype (float32, float64) and thread count (1, 2), in interleaved rounds (best of R):
  * ours           : ``fista`` / ``ista`` with ``max_iter=iters, tol=0, restart=None``
  * products, 2    : the two GEMMs of the textbook iteration, ``(Z @ A.T) @ A``, in a numpy loop
                     (preallocated outputs): the reference of the issue's 1.3x goal
  * products, ours : the products our solver actually runs (``Z @ (A^T A)`` when it picks the Gram
                     form, see ``cs_toolkit.solvers.ista._use_gram``), in the same numpy loop
  * SPAMS          : ``fistaFlat`` (``ista=True`` for ISTA) with the same fixed step, on a subset of
                     signals (time scaled to the full batch); skipped when spams is not installed.
Quality: mean objective of ours and SPAMS on the SPAMS subset (the same iterations from x = 0, so
they agree to rounding).

Timings collapse when another process holds the second core: the script prints the load average
before and after; trust figures taken at a load below ~1.5.

Run ``python benchmarks/fista.py`` (``--quick`` for a tiny smoke test).
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np
from threadpoolctl import threadpool_limits

from cs_toolkit.solvers import fista, ista, lasso_objective
from cs_toolkit.solvers._common import _products

try:  # the same workload C as benchmarks/lasso.py (this script's directory is on sys.path)
    from lasso import workload
except ImportError:  # pragma: no cover - run from elsewhere
    from benchmarks.lasso import workload


def _bare_two(A, k, iters):
    """The two products per iteration, ``(Z A^T) A``, with preallocated outputs."""
    AT = np.ascontiguousarray(A.T)
    Z = np.zeros((k, A.shape[1]), A.dtype)
    T = np.empty((k, A.shape[0]), A.dtype)
    P = np.empty_like(Z)

    def run():
        for _ in range(iters):
            np.matmul(Z, AT, out=T)
            np.matmul(T, A, out=P)
        return P

    return run


def _bare_ours(A, k, iters):
    """The products our solver runs, through its own product function."""
    mode, prod, _, _ = _products(A, A.dtype, k)
    Z = np.zeros((k, A.shape[1]), A.dtype)
    P = np.empty_like(Z)

    def run():
        out = P
        for _ in range(iters):
            out = prod(Z, out)
        return out

    return mode, run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--subset", type=int, default=100, help="signals given to SPAMS (time scaled)")
    ap.add_argument("--no-spams", action="store_true")
    args = ap.parse_args(argv)
    m, n, k = (20, 40, 64) if args.quick else (250, 500, 1000)
    rounds = 2 if args.quick else args.rounds
    iters = 5 if args.quick else args.iters
    sub = min(args.subset, k)
    lam = args.lam
    threads = [int(t) for t in args.threads.split(",")]
    spams = None
    if not args.no_spams:
        try:
            import spams
        except ImportError:  # pragma: no cover
            spams = None
    A64, Y64 = workload(m, n, k, 0.1)
    print(f"workload C: A {m}x{n}, {k} signals, lam={lam}, {iters} iterations, rounds={rounds}, "
          f"SPAMS {'on ' + str(sub) + ' signals, scaled' if spams else 'not available'}")
    print(f"load average at start: {os.getloadavg()}")
    t = time.perf_counter()
    fista(A64[:5, :10].astype(np.float32), Y64[:2, :5].astype(np.float32), lam=lam, max_iter=2, tol=0)
    fista(A64[:5, :10], Y64[:2, :5], lam=lam, max_iter=2, tol=0)
    print(f"first-call compile/cache-load (fista f32 + f64, tiny): {time.perf_counter() - t:.2f} s")

    scale = k / sub
    L = float(np.linalg.norm(A64, 2) ** 2)
    contenders = []  # (key, fn) with key = (threads, dtype, method, what)
    data = {}
    for dt in (np.float32, np.float64):
        A, Y = A64.astype(dt), Y64.astype(dt)
        name = np.dtype(dt).name
        data[name] = (A, Y)
        mode, bare_ours = _bare_ours(A, k, iters)
        bare_two = _bare_two(A, k, iters)
        Df, Yf = np.asfortranarray(A), np.asfortranarray(Y[:sub].T)
        for T in threads:
            for meth, solver in (("fista", fista), ("ista", ista)):
                kw = dict(restart=None) if meth == "fista" else {}
                contenders.append(((T, name, meth, "ours"),
                                   lambda s=solver, A=A, Y=Y, kw=kw: s(A, Y, lam=lam, max_iter=iters, tol=0, **kw)))
                if spams is not None:
                    def run_spams(Df=Df, Yf=Yf, T=T, is_ista=meth == "ista", dt=dt):
                        W0 = np.asfortranarray(np.zeros((n, Yf.shape[1]), dt))
                        return spams.fistaFlat(Yf, Df, W0, loss="square", regul="l1", lambda1=lam, max_it=iters,
                                               tol=1e-14, L0=L, fixed_step=True, it0=iters + 1, numThreads=T,
                                               ista=is_ista).T

                    contenders.append(((T, name, meth, "spams"), run_spams))
            contenders.append(((T, name, "-", "products, 2 GEMMs"), bare_two))
            contenders.append(((T, name, "-", f"products, ours ({mode})"), bare_ours))

    times: dict[tuple, list[float]] = {}
    outs = {}
    for T in threads:
        numba.set_num_threads(min(T, numba.config.NUMBA_NUM_THREADS))
        with threadpool_limits(limits=T):
            for _ in range(rounds):
                for key, fn in contenders:
                    if key[0] != T:
                        continue
                    t0 = time.perf_counter()
                    out = fn()
                    dt_s = time.perf_counter() - t0
                    times.setdefault(key, []).append(dt_s * (scale if key[3] == "spams" else 1.0))
                    outs[key] = out
    print(f"load average at end: {os.getloadavg()}")

    best = {key: min(v) for key, v in times.items()}
    print(f"\n{'threads':>7s} {'dtype':>8s} {'method':>6s} {'contender':28s} {'best s':>8s} {'ms/iter':>8s}")
    for key, v in best.items():
        print(f"{key[0]:7d} {key[1]:>8s} {key[2]:>6s} {key[3]:28s} {v:8.4f} {1e3 * v / iters:8.3f}")

    print("\nratios (best times; per-iteration cost over the products; goal <= 1.3 against the 2 GEMMs):")
    for T in threads:
        for name in ("float32", "float64"):
            two = best[(T, name, "-", "products, 2 GEMMs")]
            own = next(v for key, v in best.items() if key[:3] == (T, name, "-") and key[3].startswith("products, ours"))
            for meth in ("fista", "ista"):
                ours = best[(T, name, meth, "ours")]
                line = (f"  {T} thread(s) {name} {meth:5s}: ours / 2 GEMMs = {ours / two:.2f}, "
                        f"ours / its own products = {ours / own:.2f}")
                if (T, name, meth, "spams") in best:
                    line += f", SPAMS / ours = {best[(T, name, meth, 'spams')] / ours:.2f}"
                print(line)

    if spams is not None:
        print("\nquality on the SPAMS subset (mean objective, float64 evaluation):")
        for name, (A, Y) in data.items():
            for meth in ("fista", "ista"):
                key_o, key_s = (threads[-1], name, meth, "ours"), (threads[-1], name, meth, "spams")
                fo = lasso_objective(A64, Y64[:sub], np.asarray(outs[key_o][:sub], np.float64), lam).mean()
                fs = lasso_objective(A64, Y64[:sub], np.asarray(outs[key_s], np.float64), lam).mean()
                print(f"  {name} {meth:5s}: ours {fo:.8g}, SPAMS {fs:.8g}, relative difference {abs(fo - fs) / fs:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark of cs-toolkit's OMP against scikit-learn, SPAMS and PyLops.

Workloads
---------
A       dictionary 64 x 256 (unit-norm Gaussian columns), 10,000 signals with 8
        atoms + Gaussian noise (std 0.01), recover k = 8.
B       dictionary 256 x 1024, 2,000 signals, k = 16.
single  one signal, A 64 x 256, k = 8: microseconds per call.
scaling 1 -> 2 thread speed-ups on A and B (contenders interleaved, one thread count at a time): a
        dense BLAS product (the correlations ``Y D``, the best a compute-bound kernel can do
        here), our pursuit kernel alone (``omp_gram``: Gram matrix and correlations given), our whole ``omp`` and SPAMS's.
spin    our pursuit kernel alone on A and B at 1 and 2 threads, after an idle pause and right after a
        2-thread BLAS product: OpenBLAS's workers spin after a product (2^OPENBLAS_THREAD_TIMEOUT
        cycles, 2^28 by default) and take the cores of the kernel that follows. This script imports
        NumPy before cs_toolkit, so OpenBLAS sees the shell's setting: compare a run with
        ``OPENBLAS_THREAD_TIMEOUT=16`` (what ``import cs_toolkit`` sets when it comes first).
jit     first-call (compile) time per solver in a fresh process with an empty
        numba cache, then a second process's import + first call with that cache warm
        (with --quick: only the warm second process, on the package's own cache).

Every contender sees the same data, at the same thread count (threadpoolctl for
BLAS/OpenMP, ``numba.set_num_threads``); after a warm-up the contenders are run
in interleaved rounds and the minimum is reported. scikit-learn and PyLops are
timed on a subset and scaled to the full batch (said in the table). Quality is
reported beside speed: fraction of signals whose support equals SPAMS' and the
relative residual ``||Y - X D^T||_F / ||Y||_F``.

Usage::

    python benchmarks/solvers.py                    # everything, 1 and 2 threads
    python benchmarks/solvers.py --workloads A,single
    python benchmarks/solvers.py --quick            # tiny sizes (smoke test)
    OPENBLAS_THREAD_TIMEOUT=16 python benchmarks/solvers.py --workloads spin
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from functools import partial

import numpy as np

WORKLOADS = {
    # name: (m, n, n_signals, true atoms, k, noise)
    "A": (64, 256, 10_000, 8, 8, 0.01),
    "B": (256, 1024, 2_000, 16, 16, 0.01),
}
QUICK = {"A": (16, 48, 200, 3, 3, 0.01), "B": (32, 96, 100, 4, 4, 0.01)}


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def make_problem(m, n, n_signals, k_true, noise, seed=0):
    """Unit-norm Gaussian dictionary ``D`` (m, n) and signals ``Y = X D^T + noise`` (rows)."""
    rng = np.random.default_rng(seed)
    D = rng.standard_normal((m, n))
    D /= np.linalg.norm(D, axis=0)
    X = np.zeros((n_signals, n))
    for i in range(n_signals):
        X[i, rng.choice(n, k_true, replace=False)] = rng.standard_normal(k_true)
    Y = X @ D.T + noise * rng.standard_normal((n_signals, m))
    return D, np.ascontiguousarray(Y), X


def _import_spams():
    try:
        import spams  # noqa: F401

        return spams
    except Exception as exc:  # pragma: no cover - optional peer
        print(f"  (SPAMS not available: {exc})")
        return None


def _timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def _support_rows(X):
    return [frozenset(np.flatnonzero(r)) for r in X]


def run_batch(name, shape, threads, rounds, quick):
    import numba
    from threadpoolctl import threadpool_limits

    from cs_toolkit.solvers import omp

    m, n, N, k_true, k, noise = shape
    D, Y, _ = make_problem(m, n, N, k_true, noise)
    spams = _import_spams()
    Yf = Y.T  # (m, N) Fortran-ordered view, no copy
    Df = np.asfortranarray(D)
    n_sk = N if quick else min(N, 1000)
    n_pl = min(N, 5 if quick else 20)

    def ours():
        return omp(D, Y, n_nonzero_coefs=k)

    def ours_qr():
        return omp(D, Y, n_nonzero_coefs=k, precompute=False)

    def sk():
        from sklearn.linear_model import orthogonal_mp_gram

        Ys = Y[:n_sk]
        return orthogonal_mp_gram(D.T @ D, (Ys @ D).T, n_nonzero_coefs=k).T

    def sp():
        return spams.omp(Yf, Df, L=k, numThreads=numba.get_num_threads()).T.toarray()

    def pl():
        import pylops
        from pylops.optimization.sparsity import omp as pl_omp

        op = pylops.MatrixMult(D)
        return np.array([pl_omp(op, Y[i], niter_outer=k, sigma=0.0)[0] for i in range(n_pl)])

    contenders = [("cs-toolkit omp (auto: Batch-OMP)", ours, 1.0), ("cs-toolkit omp (QR, no Gram)", ours_qr, 1.0)]
    if spams is not None:
        contenders.append(("SPAMS omp", sp, 1.0))
    contenders.append((f"sklearn orthogonal_mp_gram ({n_sk} sig, scaled)", sk, N / n_sk))
    contenders.append((f"PyLops omp ({n_pl} sig one by one, scaled)", pl, N / n_pl))

    for t in threads:
        numba.set_num_threads(t)
        with threadpool_limits(limits=t):
            best = {}
            outs = {}
            for label, f, _ in contenders:  # warm-up (and compile)
                outs[label] = f()
            for rnd in range(rounds):
                for label, f, _scale in contenders:
                    if label.startswith("PyLops") and rnd > 0 and not quick:
                        continue  # the slow peer: one timed round is enough
                    dt, _out = _timed(f)
                    best[label] = min(best.get(label, np.inf), dt)
        print(f"\nworkload {name}: D {m}x{n}, {N} signals, k={k}, {t} thread(s); {load()}")
        ref_label = contenders[0][0]
        t_ref = best[ref_label]
        sup_sp = _support_rows(outs["SPAMS omp"]) if spams is not None else None
        print(f"  {'contender':<48} {'time [s]':>10} {'us/signal':>10} {'x ours':>8} {'same supp':>10} {'rel res':>9}")
        for label, _f, scale in contenders:
            tt = best[label] * scale
            Xo = outs[label]
            rows = Xo.shape[0]
            rel = np.linalg.norm(Y[:rows] - Xo @ D.T) / np.linalg.norm(Y[:rows])
            same = ""
            if sup_sp is not None:
                s = _support_rows(Xo)
                same = f"{np.mean([a == b for a, b in zip(s, sup_sp[:rows], strict=True)]):.4f}"
            print(f"  {label:<48} {tt:>10.4f} {1e6 * tt / N:>10.2f} {tt / t_ref:>8.2f} {same:>10} {rel:>9.5f}")


def run_single(rounds, quick):
    from cs_toolkit.solvers import omp

    D, Y, _ = make_problem(64, 256, 1, 8, 0.01, seed=1)
    y = Y[0]
    omp(D, y, n_nonzero_coefs=8)
    reps = 200 if quick else 3000
    best, med = np.inf, []
    for _ in range(rounds):
        ts = np.empty(reps)
        for i in range(reps):
            t = time.perf_counter()
            omp(D, y, n_nonzero_coefs=8)
            ts[i] = time.perf_counter() - t
        best = min(best, ts.min())
        med.append(np.median(ts))
    print(f"\nsingle: one signal, A 64x256, k=8: best {1e6 * best:.1f} us/call, "
          f"median {1e6 * min(med):.1f} us/call (goal < 50 us); {load()}")
    spams = _import_spams()
    if spams is not None:
        Yf, Df = np.asfortranarray(Y.T), np.asfortranarray(D)
        spams.omp(Yf, Df, L=8, numThreads=1)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            spams.omp(Yf, Df, L=8, numThreads=1)
            ts.append(time.perf_counter() - t)
        print(f"  SPAMS omp, same signal: best {1e6 * min(ts):.1f} us/call")


_COLD = textwrap.dedent(
    """
    import time, numpy as np
    t0 = time.perf_counter()
    from cs_toolkit.solvers import omp, omp_gram, mp, cosamp, subspace_pursuit, iht, htp
    t_imp = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    A = rng.standard_normal((32, 64)); A /= np.linalg.norm(A, axis=0)
    Y = rng.standard_normal((40, 32))
    calls = {CALLS}
    print(f"import {t_imp:.3f}")
    for name, f in calls:
        t = time.perf_counter(); f(); t1 = time.perf_counter() - t
        t = time.perf_counter(); f(); t2 = time.perf_counter() - t
        print(f"{name} {t1:.3f} {t2:.4f}")
    """
)
_CALLS_ALL = """[
    ("omp single (QR kernel, serial)", lambda: omp(A, Y[0], n_nonzero_coefs=4)),
    ("omp batch (Batch-OMP, parallel)", lambda: omp(A, Y, n_nonzero_coefs=4, precompute=True)),
    ("omp batch (QR kernel, parallel)", lambda: omp(A, Y, n_nonzero_coefs=4, precompute=False)),
    ("omp float32 (Batch-OMP)", lambda: omp(A.astype(np.float32), Y.astype(np.float32), n_nonzero_coefs=4)),
    ("mp (Gram kernel, parallel)", lambda: mp(A, Y, max_iter=20)),
    ("mp single (matrix kernel)", lambda: mp(A, Y[0], max_iter=2)),
    ("cosamp (numpy)", lambda: cosamp(A, Y, n_nonzero_coefs=4, max_iter=3)),
    ("sp (numpy)", lambda: subspace_pursuit(A, Y, n_nonzero_coefs=4)),
    ("iht (numpy)", lambda: iht(A, Y, n_nonzero_coefs=4, max_iter=3)),
    ("htp (numpy)", lambda: htp(A, Y, n_nonzero_coefs=4, max_iter=3)),
]"""
_WARM = textwrap.dedent(
    """
    import time
    t0, c0 = time.perf_counter(), time.process_time()
    import numpy as np
    from cs_toolkit.solvers import omp
    rng = np.random.default_rng(0)
    A = rng.standard_normal((64, 256)); y = rng.standard_normal(64)
    omp(A, y, n_nonzero_coefs=8)
    t1, c1 = time.perf_counter() - t0, time.process_time() - c0
    omp(A, rng.standard_normal((2000, 64)), n_nonzero_coefs=8)
    print(f"{t1:.3f} {time.perf_counter() - t0:.3f} {c1:.3f}")
    """
)


def _run_py(code, env):
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    if res.returncode != 0:
        raise RuntimeError(res.stderr)
    return res.stdout, wall


def run_jit(quick):
    print(f"\njit: {load()}")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        if not quick:
            out, wall = _run_py(_COLD.replace("{CALLS}", _CALLS_ALL), env)
            print(f"  cold numba cache (fresh process, empty cache dir), process wall {wall:.1f} s:")
            print(f"  {'call':<36} {'1st call [s]':>12} {'2nd call [s]':>12}")
            for line in out.strip().splitlines():
                if line.startswith("import"):
                    print(f"  {'import cs_toolkit.solvers':<36} {float(line.split()[1]):>12.3f}")
                    continue
                *name, t1, t2 = line.split()
                print(f"  {' '.join(name):<36} {float(t1):>12.3f} {float(t2):>12.4f}")
        else:  # smoke test: the package's own numba cache (cold only on a first run)
            env = dict(os.environ)
            _run_py(_WARM, env)
        out, wall = _run_py(_WARM, env)
        t1, t2, c1 = (float(v) for v in out.split())
        print(f"  warm cache, second process: import + first omp call {t1:.3f} s wall, {c1:.3f} s CPU "
              f"(goal < 1 s); with a first 2000-signal Batch-OMP call {t2:.3f} s; "
              f"process wall incl. interpreter start {wall:.2f} s")


def run_scaling(rounds, quick):
    """1 -> 2 thread speed-ups of the parts of the work (see the module docstring)."""
    spams = _import_spams()
    for name, shape in (QUICK if quick else WORKLOADS).items():
        _scaling_one(name, shape, rounds, spams)


def _pursuit_problem(shape):
    """The workload ``shape``'s dictionary ``D`` and signals ``Y``, and our pursuit kernel alone
    on them (``omp_gram`` with the Gram matrix, correlations and signal norms computed here)."""
    from cs_toolkit.solvers import omp_gram

    m, n, N, k_true, k, noise = shape
    D, Y, _ = make_problem(m, n, N, k_true, noise)
    G, AtY = D.T @ D, Y @ D
    return D, Y, partial(omp_gram, G, AtY, n_nonzero_coefs=k, y_norms2=np.einsum("ij,ij->i", Y, Y))


def _scaling_one(name, shape, rounds, spams):
    """:func:`run_scaling` on one workload."""
    import numba
    from threadpoolctl import threadpool_limits

    from cs_toolkit.solvers import omp

    m, n, N, k_true, k, noise = shape
    D, Y, kernel = _pursuit_problem(shape)
    Yf, Df = Y.T, np.asfortranarray(D)

    parts = [("BLAS product Y D (correlations)", lambda t: Y @ D),
             ("our Batch-OMP kernel alone (omp_gram)", lambda t: kernel()),
             ("our omp() in all", lambda t: omp(D, Y, n_nonzero_coefs=k))]
    if spams is not None:
        parts.append(("SPAMS omp", lambda t: spams.omp(Yf, Df, L=k, numThreads=t)))
    best = {}
    for t in (1, 2):  # one thread count at a time: alternating them slowed the one-thread calls
        numba.set_num_threads(t)  # (threads of the other count still winding down)
        with threadpool_limits(limits=t):
            for rnd in range(rounds + 1):  # round 0 warms up
                for label, f in parts:
                    dt, _ = _timed(partial(f, t))
                    if rnd:
                        best[label, t] = min(best.get((label, t), np.inf), dt)
    print(f"\nscaling, workload {name} (D {m}x{n}, {N} signals, k={k}); {load()}")
    print(f"  {'part':40s} {'1 thread [s]':>12s} {'2 threads [s]':>13s} {'speed-up':>9s}")
    for label, _ in parts:
        t1, t2 = best[label, 1], best[label, 2]
        print(f"  {label:40s} {t1:12.4f} {t2:13.4f} {t1 / t2:9.2f}")


def run_spin(rounds, quick, shell_timeout):
    """Our pursuit kernel at 1 and 2 threads after a pause and right after a 2-thread product."""
    import numba
    from threadpoolctl import threadpool_limits

    print(f"\nspin: OPENBLAS_THREAD_TIMEOUT in the shell: {shell_timeout or 'unset (OpenBLAS: 28)'}; {load()}")
    print(f"  {'workload':8s} {'threads':>7s} {'after a pause [s]':>18s} {'after a product [s]':>20s}")
    for name, shape in (QUICK if quick else WORKLOADS).items():
        D, Y, kernel = _pursuit_problem(shape)
        for t in (1, 2):
            numba.set_num_threads(t)
            best = [np.inf, np.inf]
            with threadpool_limits(limits=2):
                kernel()
                for _ in range(rounds):
                    time.sleep(0.3)  # every worker asleep
                    best[0] = min(best[0], _timed(kernel)[0])
                    Y @ D  # OpenBLAS's two workers, spinning after it
                    best[1] = min(best[1], _timed(kernel)[0])
            print(f"  {name:8s} {t:7d} {best[0]:18.4f} {best[1]:20.4f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--workloads", default="A,B,single,scaling,jit",
                   help="comma list of A, B, single, scaling, spin, jit (default all but spin)")
    p.add_argument("--threads", default="1,2", help="comma list of thread counts (default 1,2)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds after warm-up (minimum reported)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = p.parse_args(argv)
    names = [w.strip() for w in args.workloads.split(",") if w.strip()]
    bad = sorted(set(names) - {"A", "B", "single", "scaling", "spin", "jit"})
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from A, B, single, scaling, spin, jit")
    shell_timeout = os.environ.get("OPENBLAS_THREAD_TIMEOUT")  # before cs_toolkit sets its default
    threads = [int(t) for t in args.threads.split(",")]
    rounds = 2 if args.quick else args.rounds
    print(f"cs-toolkit solver benchmark; {os.cpu_count()} CPUs; {load()}")
    for w in names:
        if w in WORKLOADS:
            run_batch(w, (QUICK if args.quick else WORKLOADS)[w], threads, rounds, args.quick)
        elif w == "single":
            run_single(rounds, args.quick)
        elif w == "scaling":
            run_scaling(rounds, args.quick)
        elif w == "spin":
            run_spin(rounds, args.quick, shell_timeout)
        elif w == "jit":
            run_jit(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

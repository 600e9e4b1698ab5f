"""Start-up costs: ``import cs_toolkit``, ``cs-toolkit --help`` and every registered solver's
first call, cold (empty numba cache: what a fresh install pays once) and cached (the
compiled kernels read back from numba's on-disk cache: every later process).

Each measurement runs in a fresh interpreter. The cold runs use an empty temporary
``NUMBA_CACHE_DIR`` per solver, so no solver profits from another's compilation; the
cached runs reuse that folder. The problem is small (64 x 128, 8 signals, float64), so
the first call is almost all compilation (and cache loading). The load average is printed.

Run from the repository root::

    python benchmarks/startup.py                # every solver
    python benchmarks/startup.py omp lars       # some of them
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

_FIRST_CALL = """
import time
t0 = time.perf_counter()
import numpy as np
import cs_toolkit as cs
from cs_toolkit.solvers import get_solver, solve
t1 = time.perf_counter()
spec = get_solver({name!r})
rng = np.random.default_rng(0)
A = rng.standard_normal((64, 128)) / 8.0
X = np.zeros((8, 128))
X[:, :4] = 1.0
Y = X @ A.T
opts = {{}}
if spec.sparsity_param:
    opts[spec.sparsity_param] = 4
if "lam" in spec.options and spec.options["lam"] is None:
    opts["lam"] = 1e-2
if "groups" in spec.options:
    opts["groups"] = np.repeat(np.arange(32), 4)
if "tree" in spec.options:
    from cs_toolkit.transforms import Wavelet
    opts["tree"] = Wavelet(128).tree_parents()
if {name!r} == "qiht":
    opts["bin_width"] = 0.25
    Y = np.round(Y / 0.25) * 0.25
elif spec.kind == "quantized":
    Y = np.sign(Y)
import warnings
warnings.simplefilter("ignore")
t2 = time.perf_counter()
solve(A, Y, method={name!r}, **opts)
t3 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t3 - t2:.3f}}")
"""


def _run(code, env):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    if out.returncode:
        return None, out.stderr.strip().splitlines()[-1]
    return [float(v) for v in out.stdout.split()], None


def _wall(cmd, env, repeat=5):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, capture_output=True, env=env, check=True, timeout=120)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv=None):
    from cs_toolkit.solvers import list_solvers

    names = (argv if argv is not None else sys.argv[1:]) or list_solvers()
    env = dict(os.environ)
    print(f"load average at start: {os.getloadavg()}")
    bare = _wall([sys.executable, "-c", "pass"], env)
    imp = _wall([sys.executable, "-c", "import cs_toolkit"], env)
    hlp = _wall([sys.executable, "-m", "cs_toolkit.cli", "--help"], env)
    print(f"python -c pass: {bare:.3f} s; import cs_toolkit: {imp:.3f} s (+{imp - bare:.3f}); "
          f"cs-toolkit --help: {hlp:.3f} s (+{hlp - bare:.3f}) (best of 5, wall clock)")
    print("\n| solver | import (s) | first call, cold cache (s) | first call, cached (s) |")
    print("|---|---|---|---|")
    for name in names:
        with tempfile.TemporaryDirectory() as cache:
            env_n = dict(env, NUMBA_CACHE_DIR=cache)
            cold, err = _run(_FIRST_CALL.format(name=name), env_n)
            warm, err2 = _run(_FIRST_CALL.format(name=name), env_n)
        if cold is None or warm is None:
            print(f"| {name} | failed: {err or err2} | | |")
            continue
        print(f"| `{name}` | {warm[0]:.2f} | {cold[1]:.2f} | {warm[1]:.2f} |", flush=True)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

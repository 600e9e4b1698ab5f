"""Start-up costs: ``import cs_toolkit``, ``cs-toolkit --help`` and every registered solver's
first call, cold (empty numba cache: what a fresh install pays once without the warm-up) and
cached (the compiled kernels read back from numba's on-disk cache: every later process), and the
time of ``cs-toolkit warmup`` for the solver (float64 and float32, serial and parallel kernels:
what the install pays) with the first call of a fresh process after it.

Each measurement runs in a fresh interpreter. The cold runs use an empty temporary
``NUMBA_CACHE_DIR`` per solver, so no solver profits from another's compilation; the
cached runs reuse that folder. The problem is small (64 x 128, 8 signals, float64), so
the first call is almost all compilation (and cache loading). The load average is printed.

Run from the repository root::

    python benchmarks/startup.py                # every solver
    python benchmarks/startup.py omp lars       # some of them
"""

from __future__ import annotations

import argparse
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
from cs_toolkit.solvers import solve
from cs_toolkit.solvers.warmup import tiny_problem
t1 = time.perf_counter()
A, Y, opts = tiny_problem({name!r})
import warnings
warnings.simplefilter("ignore")
t2 = time.perf_counter()
solve(A, Y, method={name!r}, **opts)
t3 = time.perf_counter()
print(f"{{t1 - t0:.3f}} {{t3 - t2:.3f}}")
"""

_WARM_UP = """
import time
from cs_toolkit.solvers.warmup import warm_up
t0 = time.perf_counter()
warm_up([{name!r}])
print(f"{{time.perf_counter() - t0:.3f}}")
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

    known = list_solvers()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("solvers", nargs="*", metavar="SOLVER",
                   help=f"registered solvers to measure (default: all of them: {', '.join(known)})")
    names = p.parse_args(argv).solvers or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        p.error(f"unknown solver(s) {', '.join(unknown)}; expected registered solvers")
    env = dict(os.environ)
    print(f"load average at start: {os.getloadavg()}")
    bare = _wall([sys.executable, "-c", "pass"], env)
    imp = _wall([sys.executable, "-c", "import cs_toolkit"], env)
    hlp = _wall([sys.executable, "-m", "cs_toolkit.cli", "--help"], env)
    print(f"python -c pass: {bare:.3f} s; import cs_toolkit: {imp:.3f} s (+{imp - bare:.3f}); "
          f"cs-toolkit --help: {hlp:.3f} s (+{hlp - bare:.3f}) (best of 5, wall clock)")
    print("\n| solver | import (s) | first call, cold cache (s) | first call, cached (s) "
          "| `cs-toolkit warmup` (s) | first call after it (s) |")
    print("|---|---|---|---|---|---|")
    for name in names:
        with tempfile.TemporaryDirectory() as cache:
            env_n = dict(env, NUMBA_CACHE_DIR=cache)
            cold, err = _run(_FIRST_CALL.format(name=name), env_n)
            warm, err2 = _run(_FIRST_CALL.format(name=name), env_n)
        with tempfile.TemporaryDirectory() as cache:  # a fresh install that ran the warm-up
            env_n = dict(env, NUMBA_CACHE_DIR=cache)
            wup, err3 = _run(_WARM_UP.format(name=name), env_n)
            after, err4 = _run(_FIRST_CALL.format(name=name), env_n)
        if None in (cold, warm, wup, after):
            print(f"| {name} | failed: {err or err2 or err3 or err4} | | | | |")
            continue
        print(f"| `{name}` | {warm[0]:.2f} | {cold[1]:.2f} | {warm[1]:.2f} | {wup[0]:.2f} | {after[1]:.2f} |",
              flush=True)
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

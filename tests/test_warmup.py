"""``warm_up`` / ``cs-toolkit warmup``: after it, a fresh process's first solver call compiles
nothing (every kernel it needs is read back from numba's on-disk cache)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from cs_toolkit.cli import main
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.solvers import get_solver, list_solvers, solve
from cs_toolkit.solvers.warmup import tiny_problem, warm_up

_FIRST_CALLS = """
import warnings
import numpy as np
from numba.core.registry import CPUDispatcher
import cs_toolkit.solvers as S
from cs_toolkit.solvers.warmup import tiny_problem
warnings.simplefilter("ignore")
for dtype in (np.float64, np.float32):
    for n in (8, 2048):
        A, Y, opts = tiny_problem("omp", n, dtype)
        S.solve(A, Y, method="omp", **opts)
misses = hits = 0
for name, mod in list(__import__("sys").modules.items()):
    if not name.startswith("cs_toolkit."):
        continue
    for obj in vars(mod).values():
        if isinstance(obj, CPUDispatcher):
            misses += sum(obj.stats.cache_misses.values())
            hits += sum(obj.stats.cache_hits.values())
print(hits, misses)
"""


def _run(code, cache):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.slow
def test_after_warmup_first_call_compiles_nothing(tmp_path):
    hits, misses = map(int, _run(_FIRST_CALLS, tmp_path).split())
    assert misses > 0  # an empty cache: the first process compiles (the check can fail)
    cache = tmp_path / "warm"
    _run("from cs_toolkit.solvers.warmup import warm_up; warm_up(['omp'])", cache)
    hits, misses = map(int, _run(_FIRST_CALLS, cache).split())
    assert misses == 0 and hits > 0


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("method", list_solvers())
def test_tiny_problem_is_solved(method):
    A, Y, opts = tiny_problem(method, 8, np.float32)
    assert A.dtype == np.float32 and A.shape == (64, 128)
    X = solve(A, Y, method=method, **{**opts, **({"max_iter": 2} if "max_iter" in get_solver(method).options
                                                 else {})})
    assert np.asarray(X).shape[-1] == 128


def test_warm_up_reports_each_method_and_checks_arguments():
    seen = []
    out = warm_up(["omp", "iht"], ["float64"], progress=lambda name, s: seen.append(name))
    assert [name for name, _ in out] == seen == ["omp", "iht"]
    assert all(s >= 0.0 for _, s in out)
    with pytest.raises(ValidationError, match="dtypes"):
        warm_up(["omp"], ["int32"])
    with pytest.raises(Exception, match="nope"):
        warm_up(["nope"])
    with pytest.raises(ValidationError, match="n_signals"):
        tiny_problem("omp", 0)
    with pytest.raises(ValidationError, match="dtype"):
        tiny_problem("omp", 8, np.int64)


def test_cli_warmup(capsys):
    assert main(["warmup", "omp", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "omp" in out and "compiled and cached" in out
    assert main(["warmup", "nope"]) == 2
    assert "METHOD" in capsys.readouterr().err


_IMAGE_CALL = """
import numpy as np
from numba.core.registry import CPUDispatcher
from cs_toolkit.signals.image import measure_image, reconstruct_image
img = np.random.default_rng(5).random((96, 64))
reconstruct_image(measure_image(img, 0.3, rng=1), method="pnp_nl_learned", max_iter=3)
misses = hits = 0
for name, mod in list(__import__("sys").modules.items()):
    if name.startswith("cs_toolkit."):
        for obj in vars(mod).values():
            if isinstance(obj, CPUDispatcher):
                misses += sum(obj.stats.cache_misses.values())
                hits += sum(obj.stats.cache_hits.values())
print(hits, misses)
"""


@pytest.mark.slow
def test_image_warm_up_leaves_the_default_image_method_nothing_to_compile(tmp_path):
    from cs_toolkit.signals._image_nlstages import DEFAULT_NL_MODEL

    if not DEFAULT_NL_MODEL.is_file():
        pytest.skip("no bundled model")
    hits, misses = map(int, _run(_IMAGE_CALL, tmp_path).split())
    assert misses > 0  # an empty cache compiles (the check can fail)
    cache = tmp_path / "warm"
    _run("from cs_toolkit.signals import warm_up_image_kernels; warm_up_image_kernels()", cache)
    hits, misses = map(int, _run(_IMAGE_CALL, cache).split())
    assert misses == 0 and hits > 0

"""Compile every solver's numba kernels ahead of time, into numba's on-disk cache.

The kernels compile lazily on their first call and are cached on disk (``cache=True``), so only
the first call in a fresh environment pays the compilation: 1 to 15 s for the largest kernels on a
small machine. :func:`warm_up` pays it once, right after installation (``cs-toolkit warmup``), by
running each registered solver on tiny problems of each dtype: a few signals (the serial kernels)
and a batch large enough for the parallel ones. Every later process, the user's first call
included, reads the compiled code back from the cache (a fraction of a second).

:func:`tiny_problem` is also what ``benchmarks/startup.py`` times, so the warm-up covers what that
benchmark measures.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._validation import check_float_dtype, check_int
from ._registry import get_solver, list_solvers, solve

__all__ = ["tiny_problem", "warm_up"]

#: Signals of the serial call and of the batch call (enough for every parallel threshold, small
#: enough that the solves themselves take a few milliseconds).
_SMALL, _LARGE = 8, 2048
#: Solvers with no numba kernel of their own (one small call compiles what they share).
_NO_KERNELS = frozenset({"basis_pursuit"})


def tiny_problem(method: str, n_signals: int = _SMALL, dtype=np.float64):
    """``(A, Y, options)``: a 64 x 128 problem with 4-sparse signals that ``method`` accepts.

    Sparsity parameters are set to 4, a required ``lam`` to ``1e-2``, groups to 32 blocks of 4,
    the tree to a 128-sample wavelet tree; one-bit and quantised solvers get quantised
    measurements.
    """
    spec = get_solver(method)
    n_signals = check_int("n_signals", n_signals, low=1)
    dtype = check_float_dtype("dtype", dtype)
    rng = np.random.default_rng(0)
    A = (rng.standard_normal((64, 128)) / 8.0).astype(dtype)
    X = np.zeros((n_signals, 128), dtype=dtype)
    X[:, :4] = 1.0
    Y = X @ A.T
    opts = {}
    if spec.sparsity_param:
        opts[spec.sparsity_param] = 4
    if "lam" in spec.options and spec.options["lam"] is None:
        opts["lam"] = 1e-2
    if "groups" in spec.options:
        opts["groups"] = np.repeat(np.arange(32), 4)
    if "tree" in spec.options:
        from ..transforms import Wavelet

        opts["tree"] = Wavelet(128).tree_parents()
    if method == "qiht":
        opts["bin_width"] = 0.25
        Y = np.round(Y / 0.25) * 0.25
    elif spec.kind == "quantized":
        Y = np.sign(Y)
    return A, Y, opts


def warm_up(methods=None, dtypes=("float64", "float32"), *, progress=None) -> list[tuple[str, float]]:
    """Run every solver in ``methods`` (default: all registered) once per dtype and batch size.

    Parameters
    ----------
    methods : list of str, optional
        Registered solver names; default :func:`list_solvers`.
    dtypes : sequence of {"float64", "float32"}
        The dtypes to compile for (the solvers keep float32 in float32 kernels).
    progress : callable, optional
        Called as ``progress(method, seconds)`` after each solver.

    Returns
    -------
    list of (str, float)
        Each solver and the seconds its calls took (compilation, or cache loading when the kernels
        were already cached).
    """
    names = list_solvers() if methods is None else list(methods)
    for name in names:
        get_solver(name)  # an unknown name fails here, before any compilation
    dts = [check_float_dtype("dtypes", d) for d in dtypes]
    out = []
    for name in names:
        t0 = time.perf_counter()
        for dt in dts:
            for n_signals in (_SMALL, _LARGE):
                A, Y, opts = tiny_problem(name, n_signals, dt)
                if n_signals == _LARGE:
                    if name in _NO_KERNELS:
                        continue
                    if "max_iter" in get_solver(name).options:
                        opts["max_iter"] = 2  # the kernels' types do not depend on it
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tiny problems: max_iter, conditioning notes
                    solve(A, Y, method=name, **opts)
        dt_s = time.perf_counter() - t0
        out.append((name, dt_s))
        if progress is not None:
            progress(name, dt_s)
    return out

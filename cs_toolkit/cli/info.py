"""``cs-toolkit info``, ``cs-toolkit solvers`` and ``cs-toolkit warmup``: versions, the solver
registry, and compiling the solvers' kernels ahead of their first call."""

from __future__ import annotations

import platform


def register(sub) -> None:
    p = sub.add_parser("info", help="print versions of cs-toolkit and its dependencies")
    p.set_defaults(func=_info)
    p = sub.add_parser("solvers", help="list the registered sparse recovery solvers and their options")
    p.set_defaults(func=_solvers)
    p = sub.add_parser(
        "warmup", help="compile every solver's numba kernels into the on-disk cache (run once after installing)",
        description="Compile the solvers' numba kernels now, for float64 and float32, and (without "
                    "METHOD) those of the default image methods, so that no later first call pays the "
                    "compilation (it reads the cached code instead). Takes two to four minutes once; a "
                    "second run only reads the cache.")
    p.add_argument("methods", nargs="*", metavar="METHOD", help="solvers to compile (default: all registered)")
    p.add_argument("--dtype", choices=("float64", "float32", "both"), default="both",
                   help="dtypes to compile for (default: both)")
    p.set_defaults(func=_warmup)


def _info(args) -> int:
    import numba
    import numpy
    import pywt
    import scipy
    import skimage

    from .._version import __version__

    print(f"cs-toolkit {__version__}")
    print(f"python {platform.python_version()} on {platform.machine()} ({platform.system()})")
    for mod in (numpy, scipy, numba, pywt, skimage):
        print(f"{mod.__name__} {mod.__version__}")
    return 0


def _solvers(args) -> int:
    import inspect

    from ..solvers import get_solver, list_solvers

    for name in list_solvers():
        spec = get_solver(name)
        params = inspect.signature(spec.func).parameters
        opts = ", ".join(f"{k} (required)" if params[k].default is inspect.Parameter.empty else f"{k}={v!r}"
                         for k, v in spec.options.items())
        print(f"{name:18s} [{spec.kind}] {spec.summary}")
        print(f"{'':18s} options: {opts}")
    return 0


def _warmup(args) -> int:
    import time

    from ..solvers import list_solvers
    from ..solvers.warmup import warm_up

    known = list_solvers()
    for name in args.methods:
        if name not in known:
            raise ValueError(f"METHOD must be one of the registered solvers ({', '.join(known)}); got {name!r}")
    dtypes = ("float64", "float32") if args.dtype == "both" else (args.dtype,)
    t0 = time.perf_counter()
    warm_up(args.methods or None, dtypes,
            progress=lambda name, s: print(f"{name:16s} {s:6.2f} s", flush=True))
    if not args.methods:
        from ..signals import warm_up_image_kernels

        print(f"{'image methods':16s} {warm_up_image_kernels(dtypes):6.2f} s", flush=True)
    print(f"compiled and cached in {time.perf_counter() - t0:.1f} s")
    return 0

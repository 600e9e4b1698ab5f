"""``cs-toolkit info`` and ``cs-toolkit solvers``: versions and the solver registry."""

from __future__ import annotations

import platform


def register(sub) -> None:
    p = sub.add_parser("info", help="print versions of cs-toolkit and its dependencies")
    p.set_defaults(func=_info)
    p = sub.add_parser("solvers", help="list the registered sparse recovery solvers and their options")
    p.set_defaults(func=_solvers)


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
    from ..solvers import get_solver, list_solvers

    for name in list_solvers():
        spec = get_solver(name)
        opts = ", ".join(f"{k}={v!r}" for k, v in spec.options.items())
        print(f"{name:18s} [{spec.kind}] {spec.summary}")
        print(f"{'':18s} options: {opts}")
    return 0

"""A registry of solvers, so benchmarks, pipelines and the CLI enumerate them by name.

Each solver module registers its public function at import time with
:func:`register_solver`. :func:`solve` dispatches by name and rejects
unknown names and unknown options with messages that list the valid ones.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field

from ..exceptions import ValidationError
from ._dask import is_dask_array, solve_dask

__all__ = ["SolverSpec", "register_solver", "solve", "list_solvers", "get_solver"]


@dataclass(frozen=True)
class SolverSpec:
    """What the registry knows of one solver.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"omp"``.
    func : callable
        ``func(A, Y, **options)`` returning ``X`` (or ``(X, info)`` with ``return_info=True``).
    kind : str
        ``"greedy"``, ``"convex"`` (l1/LASSO), ``"thresholding"``, ``"exact"``, ``"quantized"``
        (recovery from one-bit signs or quantization cells: ``biht``, ``qiht``), or one of the
        structured models, whose solvers take the structure as an option: ``"group"``
        (block/group sparsity, ``groups=`` labels: ``group_lasso``, ``block_omp``, ...),
        ``"joint"`` (multiple measurement vectors sharing one support, ``Y`` of shape
        ``(n_vectors, m)``: ``somp``, ``mmv_fista``, ...) and ``"tree"`` (rooted-subtree
        supports, ``tree=`` parents or a wavelet transform: ``tree_cosamp``, ``tree_iht``).
    sparsity_param : str or None
        Name of the option that takes the sparsity level (``"n_nonzero_coefs"``) or
        ``None`` when the solver is driven by a penalty (``"lam"``).
    operator_ok : bool
        Whether ``A`` may be a matrix-free operator.
    summary : str
        One line shown by ``list_solvers`` and ``cs-toolkit solvers``.
    options : dict
        Option name -> default, read from the function signature.
    """

    name: str
    func: object
    kind: str
    sparsity_param: str | None
    operator_ok: bool
    summary: str
    options: dict = field(default_factory=dict)


_REGISTRY: dict[str, SolverSpec] = {}
#: Other names users reach for; ``solve`` and ``get_solver`` accept them.
ALIASES = {"subspace_pursuit": "sp", "bp": "basis_pursuit", "lasso": "lars"}


def register_solver(name: str, *, kind: str, sparsity_param: str | None, operator_ok: bool, summary: str):
    """Decorator that registers a public solver function under ``name``."""

    def deco(func):
        sig = inspect.signature(func)
        opts = {
            p.name: (None if p.default is inspect.Parameter.empty else p.default)
            for p in sig.parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        spec = SolverSpec(name, func, kind, sparsity_param, operator_ok, summary, opts)
        _REGISTRY[name] = spec

        @functools.wraps(func)
        def solver(A, Y, *args, **options):
            if is_dask_array(Y):  # rows chunked: solved chunk by chunk, lazily (see _dask.py)
                if args:
                    raise ValidationError(f"{name}: options must be passed by name when Y is a Dask array.")
                return solve_dask(spec, A, Y, options)
            return func(A, Y, *args, **options)

        return solver

    return deco


def list_solvers(kind: str | None = None) -> list[str]:
    """Names of the registered solvers, optionally only those of one ``kind``."""
    return sorted(n for n, s in _REGISTRY.items() if kind is None or s.kind == kind)


def get_solver(method: str) -> SolverSpec:
    """The :class:`SolverSpec` registered under ``method``."""
    method = ALIASES.get(method, method)
    if method not in _REGISTRY:
        raise ValidationError(f"method must be one of {', '.join(map(repr, list_solvers()))}; got {method!r}.")
    return _REGISTRY[method]


def solve(A, Y, method: str = "omp", **options):
    """Recover sparse codes with the solver registered as ``method``.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix or dictionary.
    Y : ndarray of shape (m,) or (n_signals, m), or a Dask array of shape (n_signals, m)
        Measurements. A Dask array (rows chunked) gives a lazy Dask array ``X`` with the same row
        chunks, each chunk solved by the kernel in one task (for batches beyond memory).
    method : str, default "omp"
        A name from :func:`list_solvers`.
    **options
        Passed to the solver; unknown names raise a ``ValidationError`` listing the valid ones.

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        (and ``info`` when ``return_info=True``).
    """
    spec = get_solver(method)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValidationError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for method {method!r}; "
            f"valid options: {', '.join(sorted(spec.options))}."
        )
    if is_dask_array(Y):
        return solve_dask(spec, A, Y, options)
    return spec.func(A, Y, **options)

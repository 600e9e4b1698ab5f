"""Batches beyond one machine's memory: every row-wise solver accepts a Dask array of signals.

``solve(A, Y)`` (and every registered solver called directly) with ``Y`` a 2-D Dask array of
shape ``(n_signals, m)``, chunked along the rows, returns the Dask array ``X`` of shape
``(n_signals, n)`` with the same row chunks: nothing is computed until the caller asks
(``X.compute()``, ``X.to_zarr(...)``, ``da.store``). Each chunk is solved by the numba kernel in
one task. The sensing matrix is one node of the task graph that every chunk's task depends on,
so a distributed scheduler sends it once to each worker, not once per chunk.

Options that hold one row per signal (a 2-D array with ``n_signals`` rows, such as a warm start
``x0`` or ``qiht``'s cell bounds, or a 1-D ``lam`` / ``n_nonzero_coefs`` with one entry per
signal) are cut into the same row chunks; every other option goes to every chunk as given. Solvers whose rows are not independent problems (the joint-sparsity solvers:
the rows of ``Y`` share one support) refuse a Dask array.
"""

from __future__ import annotations

import numpy as np

from .._validation import result_dtype
from ..exceptions import ValidationError

__all__ = ["is_dask_array", "solve_dask"]


#: Options that may hold one number per signal (1-D, ``n_signals`` entries).
_PER_SIGNAL_1D = ("lam", "n_nonzero_coefs")


def is_dask_array(Y) -> bool:
    """Whether ``Y`` is a Dask array (checked without importing Dask)."""
    return type(Y).__module__.split(".")[0] == "dask" and hasattr(Y, "chunks") and hasattr(Y, "to_delayed")


def _solve_chunk(func, A, Yb, opts):
    return func(A, np.asarray(Yb), **opts)


def solve_dask(spec, A, Y, options: dict):
    """Solve the rows of the Dask array ``Y`` chunk by chunk with the solver of ``spec``
    (a :class:`~cs_toolkit.solvers.SolverSpec`); returns a lazy Dask array."""
    import dask
    import dask.array as da

    if spec.kind == "joint":
        raise ValidationError(f"Y must be a NumPy array for {spec.name!r}: its rows share one support and form "
                              "one problem, so they cannot be cut into chunks; got a Dask array.")
    if options.get("return_info"):
        raise ValidationError("return_info must be False when Y is a Dask array (the chunks are solved lazily; "
                              "there is no single info to return); got True.")
    if Y.ndim != 2:
        raise ValidationError(f"Y must be a 2-D Dask array (n_signals, m) with rows as signals, got {Y.ndim}-D "
                              f"of shape {Y.shape}.")
    m, n = (int(v) for v in A.shape)
    if Y.shape[1] != m:
        raise ValidationError(f"Y must have {m} columns (the rows of A), got shape {Y.shape}.")
    if not (np.issubdtype(Y.dtype, np.floating) or np.issubdtype(Y.dtype, np.integer)):
        raise ValidationError(f"Y must hold real numbers, got dtype {Y.dtype}.")
    Y = Y.rechunk({1: -1})  # a chunk holds whole signals
    rows = Y.chunks[0]
    bounds = np.concatenate([[0], np.cumsum(rows)])
    per_signal, shared = {}, {}
    for key, v in options.items():
        array = is_dask_array(v) or isinstance(v, np.ndarray)
        if array and v.shape[:1] == Y.shape[:1] and (v.ndim == 2 or key in _PER_SIGNAL_1D):
            # a Dask option becomes its list of row chunks (one delayed block each), once
            per_signal[key] = (list(v.rechunk({0: rows, **{a: -1 for a in range(1, v.ndim)}}).to_delayed().ravel())
                               if is_dask_array(v) else v)
        else:
            shared[key] = v
    dtype = result_dtype(np.dtype(getattr(A, "dtype", np.float64)), Y.dtype)
    A_node = dask.delayed(A, pure=True)  # one node: each worker receives A once
    func = dask.delayed(_solve_chunk, pure=True)
    parts = []
    for i, Yb in enumerate(Y.to_delayed().ravel()):
        opts = dict(shared)
        for key, v in per_signal.items():
            opts[key] = v[bounds[i]:bounds[i + 1]] if isinstance(v, np.ndarray) else v[i]
        parts.append(da.from_delayed(func(spec.func, A_node, Yb, opts), shape=(rows[i], n), dtype=dtype))
    return da.concatenate(parts, axis=0)

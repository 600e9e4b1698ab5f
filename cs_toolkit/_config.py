"""Numba flags and numeric defaults, kept in one place.

Every ``@njit`` kernel in the package is decorated with ``njit(**JIT)`` or
``njit(**JIT_PARALLEL)`` so that the caching and fast-math policy is set here
and nowhere else (stumpy keeps its ``config.py`` for the same reason).
Kernels compile lazily on first call and are cached on disk, so a second
process pays only the cache load.
"""

from __future__ import annotations

import numpy as np

#: Flags for serial kernels.
JIT = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")
#: Flags for kernels that ``prange`` over signals.
JIT_PARALLEL = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", parallel=True)
#: Flags for the few small kernels that only sum, whose additions may be reordered: a strict
#: left-to-right float sum is one dependent addition per entry (latency-bound, not vectorised);
#: reordering changes the sum by rounding only.
JIT_SUMS = dict(JIT, fastmath={"reassoc"})

#: dtypes the numeric code keeps; anything else becomes float64.
FLOAT_DTYPES = (np.float32, np.float64)

#: Default relative tolerances per dtype, for tests and for stopping rules.
RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
#: Machine epsilon per dtype.
EPS = {np.dtype(np.float32): float(np.finfo(np.float32).eps),
       np.dtype(np.float64): float(np.finfo(np.float64).eps)}

#: Relative-error threshold below which a recovery counts as a success
#: (noiseless experiments), see :func:`cs_toolkit.metrics.recovery_success`.
SUCCESS_THRESHOLD = 1e-3

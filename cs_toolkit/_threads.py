"""BLAS thread control around products that feed a parallel numba kernel.

OpenBLAS worker threads spin for a while after a product returns. When a
``prange`` kernel starts right after a multi-threaded product, those spinning
threads take the cores the kernel's threads need: on 2 cores, Batch-OMP on
10,000 signals ran 36 ms instead of 25 ms. Running that one product on a
single BLAS thread (it is a small share of the work) avoids the fight.
"""

from __future__ import annotations

import contextlib
import functools


@functools.lru_cache(maxsize=1)
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; kept optional for vendored installs
        return None
    return ThreadpoolController()  # inspects the loaded libraries once (a few ms)


def blas_single_thread(enabled: bool = True):
    """Context manager limiting BLAS to one thread (a no-op when ``enabled`` is false)."""
    ctl = _controller() if enabled else None
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")

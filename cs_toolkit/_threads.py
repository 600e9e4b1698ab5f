"""Thread control: BLAS around products that feed a parallel numba kernel, the pipelines,
training and benchmark workers (the package's one place for it).

OpenBLAS worker threads spin for a while after a product returns. When a
``prange`` kernel starts right after a multi-threaded product, those spinning
threads take the cores the kernel's threads need: on 2 cores, Batch-OMP on
10,000 signals ran 36 ms instead of 25 ms. Running that one product on a
single BLAS thread (it is a small share of the work) avoids the fight. Kernels that call BLAS
themselves (``np.dot`` in numba, from every thread) run under one BLAS thread too.
"""

from __future__ import annotations

import contextlib
import functools
import os


@functools.lru_cache(maxsize=1)
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; kept optional for vendored installs
        return None
    # numba's np.dot calls SciPy's BLAS (another OpenBLAS than NumPy's in the wheels): load it
    # first, so the controller limits both
    import scipy.linalg.cython_blas  # noqa: F401
    return ThreadpoolController()  # inspects the loaded libraries once (a few ms)


def blas_threads(n, user_api="blas"):
    """Context manager limiting BLAS (``user_api=None``: every thread pool) to ``n`` threads.

    A no-op when ``n`` is None or threadpoolctl is missing.
    """
    ctl = _controller() if n is not None else None
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=n, user_api=user_api)


def blas_single_thread(enabled: bool = True):
    """Context manager limiting BLAS to one thread (a no-op when ``enabled`` is false)."""
    return blas_threads(1 if enabled else None)


def single_thread_blas(func):
    """Decorator: run ``func`` with one BLAS thread.

    The pipelines multiply many small matrices (blocks x block size, frames x frame
    length); threaded BLAS gains nothing there, and on a busy machine its spinning
    threads make such products (and the QR of a sensing matrix) 10-100x slower.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with blas_threads(1):
            return func(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def numba_threads(n_threads):
    """Run the calling thread's numba ``prange`` kernels on ``n_threads`` threads (at most
    numba's pool), restoring the count afterwards; a no-op for None. Cheap: a sequential
    loop may wrap each of its small kernel calls in it."""
    if n_threads is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
        yield
    finally:
        numba.set_num_threads(before)


@contextlib.contextmanager
def limit_threads(n_threads):
    """Limit numba's threads and every thread pool (BLAS, OpenMP) to ``n_threads``, restoring
    them afterwards (a no-op for None): the setting of a benchmark worker."""
    with numba_threads(n_threads), blas_threads(n_threads, user_api=None):
        yield


def map_in_threads(fn, items, n_threads) -> list:
    """``fn`` of each of ``n_threads`` strided chunks ``items[i::n]`` of a list, the chunks run in
    threads (numba kernels and BLAS release the GIL): what the training losses summed over their
    samples use. One chunk, ``[fn(items)]``, in the calling thread when ``n_threads`` is 1 or there
    is one item."""
    n = max(1, min(int(n_threads), len(items)))
    if n == 1:
        return [fn(items)]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(fn, [items[i::n] for i in range(n)]))


def worker_count(n_jobs: int, tasks: int | None = None) -> int:
    """The parallel workers for ``n_jobs`` (``<= 0``: one per core): at most one per core and, when
    ``tasks`` is given, per task; at least one."""
    cores = os.cpu_count() or 1
    n = cores if n_jobs <= 0 else min(n_jobs, cores)
    return max(1, min(n, tasks)) if tasks is not None else n

"""Solvers on Dask arrays of signals: the same results as in memory, chunk by chunk, lazily."""

import numpy as np
import pytest

from cs_toolkit.exceptions import ValidationError
from cs_toolkit.solvers import fista, get_solver, omp, solve

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    m, n, k, N = 24, 48, 3, 70
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    X = np.zeros((N, n))
    for x in X:
        x[rng.choice(n, k, replace=False)] = rng.standard_normal(k) + np.sign(rng.standard_normal(k))
    return A, X @ A.T, X, k


@pytest.mark.parametrize("method,opts", [
    ("omp", {"n_nonzero_coefs": 3}),
    ("cosamp", {"n_nonzero_coefs": 3}),
    ("iht", {"n_nonzero_coefs": 3}),
    ("fista", {"lam": 1e-3, "max_iter": 300}),
    ("lars", {"lam": 1e-3}),
    ("block_omp", {"groups": np.repeat(np.arange(24), 2), "n_nonzero_blocks": 3}),
])
def test_dask_matches_in_memory(problem, method, opts):
    A, Y, X, k = problem
    Yd = da.from_array(Y, chunks=(16, 8))  # ragged row chunks; columns are rejoined
    before = Y.copy()
    Xd = solve(A, Yd, method=method, **opts)
    assert isinstance(Xd, da.Array) and Xd.chunks[0] == Yd.chunks[0] and Xd.shape == X.shape
    ref = solve(A, Y, method=method, **opts)
    out = Xd.compute(scheduler="sync")
    assert out.dtype == ref.dtype
    np.testing.assert_allclose(out, ref, rtol=1e-7, atol=1e-9)  # GEMMs of other row counts round otherwise
    np.testing.assert_array_equal(Y, before)


def test_direct_call_float32_and_per_signal_options(problem):
    A, Y, X, k = problem
    A32, Y32 = A.astype(np.float32), Y.astype(np.float32)
    out = omp(A32, da.from_array(Y32, chunks=(20, 24)), n_nonzero_coefs=k).compute(scheduler="sync")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, omp(A32, Y32, n_nonzero_coefs=k), rtol=1e-5, atol=1e-6)
    # a warm start has one row per signal: it is cut into the same chunks as Y
    x0 = X + 0.01
    got = fista(A, da.from_array(Y, chunks=(25, 24)), lam=1e-3, x0=x0, max_iter=5).compute(scheduler="sync")
    np.testing.assert_allclose(got, fista(A, Y, lam=1e-3, x0=x0, max_iter=5), rtol=1e-7, atol=1e-9)
    # a Dask warm start with other chunks is rechunked to Y's rows
    got_d = fista(A, da.from_array(Y, chunks=(25, 24)), lam=1e-3, x0=da.from_array(x0, chunks=(7, 48)),
                  max_iter=5).compute(scheduler="sync")
    np.testing.assert_allclose(got_d, got, rtol=1e-12, atol=1e-14)
    # one sensing matrix node in the graph, whatever the number of chunks
    Xd = solve(A, da.from_array(Y, chunks=(10, 24)), method="omp", n_nonzero_coefs=k)
    graph = dict(Xd.__dask_graph__())
    assert sum(1 for v in graph.values() if isinstance(v, np.ndarray) and v.shape == A.shape) <= 1


@pytest.mark.slow
def test_on_a_local_distributed_cluster(problem):
    distributed = pytest.importorskip("distributed")
    A, Y, X, k = problem
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        Xd = solve(A, da.from_array(Y, chunks=(16, 24)), method="omp", n_nonzero_coefs=k)
        out = client.compute(Xd).result()
    np.testing.assert_allclose(out, omp(A, Y, n_nonzero_coefs=k), rtol=1e-10, atol=1e-12)
    assert np.mean(np.all((np.abs(out) > 1e-8) == (X != 0), axis=1)) > 0.9  # planted supports found


def test_dask_refusals(problem):
    A, Y, X, k = problem
    Yd = da.from_array(Y, chunks=(16, 24))
    with pytest.raises(ValidationError, match="return_info must be False"):
        solve(A, Yd, method="omp", n_nonzero_coefs=k, return_info=True)
    with pytest.raises(ValidationError, match="Y must have 24 columns"):
        solve(A, Yd[:, :10], method="omp", n_nonzero_coefs=k)
    with pytest.raises(ValidationError, match="2-D Dask array"):
        solve(A, Yd[0], method="omp", n_nonzero_coefs=k)
    for name in ("somp", "mmv_fista"):
        assert get_solver(name).kind == "joint"
        with pytest.raises(ValidationError, match="share one support"):
            solve(A, Yd, method=name, **({"lam": 1e-3} if name == "mmv_fista" else {"n_nonzero_coefs": k}))

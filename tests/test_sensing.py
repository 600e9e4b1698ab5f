"""Tests of cs_toolkit.sensing: random matrices, structured operators, diagnostics."""

import itertools

import numpy as np
import pytest
import scipy.fft as sfft
from conftest import tol
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import hadamard

from cs_toolkit.exceptions import DTypeError, ValidationError
from cs_toolkit.sensing import (
    SENSING_KINDS,
    BlockDiagonal,
    LinearOperator,
    MatrixOperator,
    PartialDCT,
    PartialFourier,
    SparseRandom,
    SubsampledRandomizedTransform,
    aslinearoperator,
    bernoulli,
    dot_test,
    gaussian,
    make_sensing,
    mutual_coherence,
    rip_estimate,
    spectral_norm,
    welch_bound,
)


def _close(dtype):
    return dict(rtol=50 * tol(dtype), atol=50 * tol(dtype))


# --------------------------------------------------------------------------- factories of every operator
def _operators(dtype):
    """One small instance of every structured operator (and composites) in ``dtype``."""
    B = gaussian(6, 10, rng=1, dtype=dtype)
    return {
        "partial_dct": PartialDCT(12, 40, rng=0, dtype=dtype),
        "partial_fourier_even": PartialFourier(13, 40, rng=0, dtype=dtype),
        "partial_fourier_odd": PartialFourier(20, 39, rng=3, dtype=dtype),
        "srht": SubsampledRandomizedTransform(10, 32, rng=0, dtype=dtype),
        "srdct": SubsampledRandomizedTransform(10, 30, transform="dct", rng=0, dtype=dtype),
        "sparse": SparseRandom(15, 40, nnz_per_column=3, rng=0, dtype=dtype),
        "block_dense": BlockDiagonal(B, 4),
        "block_op": BlockDiagonal(PartialDCT(5, 8, rng=2, dtype=dtype), 3),
        "matrix": MatrixOperator(B),
        "composed": PartialDCT(12, 40, rng=0, dtype=dtype) @ SparseRandom(40, 25, nnz_per_column=2, rng=4,
                                                                         dtype=dtype),
        "adjoint": PartialFourier(13, 40, rng=0, dtype=dtype).T,
    }


OP_NAMES = list(_operators(np.float64))
ORTHONORMAL = {
    "partial_dct": lambda dt: PartialDCT(12, 40, rng=0, dtype=dt),
    "partial_fourier_even": lambda dt: PartialFourier(13, 40, rng=0, dtype=dt),
    "partial_fourier_odd": lambda dt: PartialFourier(20, 39, rng=3, dtype=dt),
    "partial_fourier_full": lambda dt: PartialFourier(16, 16, rng=0, dtype=dt),
    "srht": lambda dt: SubsampledRandomizedTransform(10, 32, rng=0, dtype=dt),
    "srdct": lambda dt: SubsampledRandomizedTransform(10, 30, transform="dct", rng=0, dtype=dt),
    "gaussian_orth": lambda dt: gaussian(12, 40, rng=0, dtype=dt, orthonormal_rows=True),
}


# --------------------------------------------------------------------------- dense random matrices
def test_gaussian_entry_statistics():
    m, n = 200, 500
    A = gaussian(m, n, rng=0)
    N = m * n
    var = 1.0 / m
    # mean within 4 standard errors, variance within 4 standard errors (var of s^2 is 2 var^2)
    assert abs(A.mean()) < 4 * np.sqrt(var / N)
    assert abs(A.var() - var) < 4 * var * np.sqrt(2.0 / N)
    norms = np.linalg.norm(A, axis=0)
    # squared column norm ~ chi2_m / m: mean 1, std sqrt(2/m)
    assert abs(np.mean(norms**2) - 1.0) < 4 * np.sqrt(2.0 / m / n)
    assert np.all(np.abs(norms - 1.0) < 0.5)


def test_gaussian_normalize_gives_unit_columns(dtype):
    A = gaussian(20, 50, rng=0, dtype=dtype, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(A.astype(np.float64), axis=0), 1.0, **_close(dtype))


def test_bernoulli_values_and_balance():
    m, n = 100, 400
    A = bernoulli(m, n, rng=0)
    assert set(np.unique(A)) == {-1 / np.sqrt(m), 1 / np.sqrt(m)}
    frac = np.mean(A > 0)
    assert abs(frac - 0.5) < 4 * np.sqrt(0.25 / (m * n))
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0, rtol=1e-12)
    An = bernoulli(m, n, rng=0, normalize=True)
    np.testing.assert_allclose(An, A, rtol=1e-12)


def test_bernoulli_float32_values_exact():
    A = bernoulli(16, 30, rng=1, dtype=np.float32)
    assert A.dtype == np.float32
    assert set(np.unique(A)) == {np.float32(-0.25), np.float32(0.25)}


@pytest.mark.parametrize("kind", SENSING_KINDS)
def test_make_sensing_reproducible_and_dtype(kind, dtype):
    a1 = np.asarray(make_sensing(kind, 16, 32, rng=7, dtype=dtype))
    a2 = np.asarray(make_sensing(kind, 16, 32, rng=7, dtype=dtype))
    a3 = np.asarray(make_sensing(kind, 16, 32, rng=8, dtype=dtype))
    assert a1.shape == (16, 32)
    assert a1.dtype == dtype
    np.testing.assert_array_equal(a1, a2)
    assert not np.array_equal(a1, a3)


def test_make_sensing_kinds_and_types():
    assert isinstance(make_sensing("gaussian", 4, 8, rng=0), np.ndarray)
    assert isinstance(make_sensing("bernoulli", 4, 8, rng=0), np.ndarray)
    np.testing.assert_array_equal(make_sensing("rademacher", 4, 8, rng=0), bernoulli(4, 8, rng=0))
    assert isinstance(make_sensing("partial_dct", 4, 8, rng=0), PartialDCT)
    assert isinstance(make_sensing("partial_fourier", 4, 8, rng=0), PartialFourier)
    assert make_sensing("srht", 4, 8, rng=0).transform == "hadamard"
    assert make_sensing("srdct", 4, 9, rng=0).transform == "dct"
    assert make_sensing("sparse", 4, 8, rng=0, nnz_per_column=2).nnz_per_column == 2
    np.testing.assert_array_equal(make_sensing("gaussian", 4, 8, rng=3, normalize=True),
                                  gaussian(4, 8, rng=3, normalize=True))


def test_generator_rng_advances():
    g = np.random.default_rng(0)
    assert not np.array_equal(gaussian(5, 6, rng=g), gaussian(5, 6, rng=g))


def test_float32_and_float64_same_draw():
    np.testing.assert_allclose(gaussian(8, 9, rng=2, dtype=np.float32), gaussian(8, 9, rng=2), rtol=1e-6)


# --------------------------------------------------------------------------- structured operators
def test_partial_dct_matches_dct_rows(rng):
    rows = [5, 0, 17, 3]
    op = PartialDCT(4, 20, rows=rows)
    x = rng.standard_normal(20)
    np.testing.assert_allclose(op.forward(x), sfft.dct(x, norm="ortho")[rows], rtol=1e-12)
    D = sfft.dct(np.eye(20), norm="ortho", axis=0)  # column j = DCT of e_j
    np.testing.assert_allclose(op.to_dense(), D[rows], atol=1e-13)


def test_partial_fourier_matches_naive_construction():
    n = 12
    op = PartialFourier(n, n, rng=0)
    j = np.arange(n)
    naive = []
    for f, part in zip(op.row_frequency, op.row_part, strict=True):
        if f == 0 or f == n // 2:
            naive.append(np.cos(2 * np.pi * f * j / n) / np.sqrt(n))
        elif part == 0:
            naive.append(np.sqrt(2.0 / n) * np.cos(2 * np.pi * f * j / n))
        else:
            naive.append(-np.sqrt(2.0 / n) * np.sin(2 * np.pi * f * j / n))
    np.testing.assert_allclose(op.to_dense(), np.array(naive), atol=1e-12)
    # a full selection is an orthogonal basis: every frequency appears, cosine before sine
    assert list(op.frequencies) == list(range(n // 2 + 1))


def test_partial_fourier_odd_m_uses_cosine_only_once():
    for seed in range(10):
        op = PartialFourier(7, 64, rng=seed)
        assert op.shape == (7, 64)
        pairs = list(zip(op.row_frequency.tolist(), op.row_part.tolist(), strict=True))
        assert len(set(pairs)) == 7
        assert np.all(np.diff(op.row_frequency) >= 0)


def test_srht_matches_hadamard_construction():
    n = 32
    op = SubsampledRandomizedTransform(12, n, rng=3)
    H = hadamard(n) / np.sqrt(n)
    np.testing.assert_allclose(op.to_dense(), H[op.rows] * op.signs, atol=1e-12)
    assert set(np.unique(op.signs)) <= {-1.0, 1.0}


def test_srdct_matches_dct_construction():
    n = 30
    op = SubsampledRandomizedTransform(12, n, transform="dct", rng=3)
    D = sfft.dct(np.eye(n), norm="ortho", axis=0)
    np.testing.assert_allclose(op.to_dense(), D[op.rows] * op.signs, atol=1e-12)


def test_sparse_random_structure():
    m, n, d = 30, 200, 5
    op = SparseRandom(m, n, nnz_per_column=d, rng=0)
    A = op.to_dense()
    np.testing.assert_array_equal(np.count_nonzero(A, axis=0), d)
    np.testing.assert_allclose(np.abs(A[A != 0]), 1 / np.sqrt(d))
    np.testing.assert_allclose(np.linalg.norm(A, axis=0), 1.0)
    # dense regime (2 d > m) also gives distinct rows
    A2 = SparseRandom(6, 50, nnz_per_column=5, rng=1).to_dense()
    np.testing.assert_array_equal(np.count_nonzero(A2, axis=0), 5)


def test_block_diagonal_equals_kron(rng, dtype):
    B = gaussian(3, 5, rng=0, dtype=dtype)
    op = BlockDiagonal(B, 4)
    assert op.shape == (12, 20) and op.dtype == dtype
    np.testing.assert_allclose(op.to_dense(), np.kron(np.eye(4), B), **_close(dtype))
    X = rng.standard_normal((3, 20)).astype(dtype)
    np.testing.assert_allclose(op.forward(X), X @ np.kron(np.eye(4), B).T, **_close(dtype))
    assert op.norm() == pytest.approx(np.linalg.norm(B.astype(np.float64), 2), rel=1e-5)


@pytest.mark.parametrize("name", OP_NAMES)
def test_dot_test_every_operator(name, dtype):
    op = _operators(dtype)[name]
    assert op.dtype == dtype
    assert dot_test(op, rng=0, n_trials=3)


@pytest.mark.parametrize("name", OP_NAMES)
def test_to_dense_forward_adjoint_and_batch(name, dtype, rng):
    op = _operators(dtype)[name]
    m, n = op.shape
    A = op.to_dense().astype(np.float64)
    assert A.shape == (m, n)
    X = rng.standard_normal((4, n)).astype(dtype)
    Y = rng.standard_normal((4, m)).astype(dtype)
    FX, AY = op.forward(X), op.adjoint(Y)
    assert FX.dtype == dtype and AY.dtype == dtype
    assert FX.shape == (4, m) and AY.shape == (4, n)
    np.testing.assert_allclose(FX, X @ A.T, **_close(dtype))
    np.testing.assert_allclose(AY, Y @ A, **_close(dtype))
    # batch equals a loop of single signals, and the rank is kept
    single = np.stack([op.forward(x) for x in X])
    assert op.forward(X[0]).shape == (m,)
    np.testing.assert_allclose(FX, single, **_close(dtype))
    np.testing.assert_allclose(AY, np.stack([op.adjoint(y) for y in Y]), **_close(dtype))


@pytest.mark.parametrize("name", OP_NAMES)
def test_inputs_not_modified(name, rng):
    op = _operators(np.float64)[name]
    X = rng.standard_normal((2, op.shape[1]))
    Y = rng.standard_normal((2, op.shape[0]))
    X0, Y0 = X.copy(), Y.copy()
    X.flags.writeable = False
    Y.flags.writeable = False
    op.forward(X)
    op.adjoint(Y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)


@pytest.mark.parametrize("name", sorted(ORTHONORMAL))
def test_orthonormal_rows(name, dtype):
    A = np.asarray(ORTHONORMAL[name](dtype)).astype(np.float64)
    np.testing.assert_allclose(A @ A.T, np.eye(A.shape[0]), atol=50 * tol(dtype))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), frac=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
       kind=st.sampled_from(["partial_dct", "partial_fourier", "srdct", "srht"]))
def test_property_orthonormal_rows_any_size(n, frac, seed, kind):
    if kind == "srht":
        n = 1 << (n % 7)
    m = max(1, int(round(frac * n)))
    A = make_sensing(kind, m, n, rng=seed)
    D = A.to_dense()
    assert D.shape == (m, n)
    np.testing.assert_allclose(D @ D.T, np.eye(m), atol=1e-12)
    assert dot_test(A, rng=seed, n_trials=1)


def test_orthonormal_operators_norm_is_one():
    for name in ("partial_dct", "partial_fourier_even", "srht", "srdct"):
        op = ORTHONORMAL[name](np.float64)
        assert op.norm() == 1.0
        assert np.linalg.norm(op.to_dense(), 2) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("name", ["partial_fourier_even", "srht", "sparse", "block_op"])
def test_aslinearoperator_agrees_with_dense(name, rng):
    op = _operators(np.float64)[name]
    A = op.to_dense()
    L = op.aslinearoperator()
    m, n = op.shape
    x, y = rng.standard_normal(n), rng.standard_normal(m)
    M, N = rng.standard_normal((n, 3)), rng.standard_normal((m, 3))
    np.testing.assert_allclose(L.matvec(x), A @ x, atol=1e-12)
    np.testing.assert_allclose(L.rmatvec(y), A.T @ y, atol=1e-12)
    np.testing.assert_allclose(L.matmat(M), A @ M, atol=1e-12)
    np.testing.assert_allclose(L.rmatmat(N), A.T @ N, atol=1e-12)


def test_composition_equals_dense_product(rng):
    Psi = PartialDCT(40, 40, rows=np.arange(40))  # full orthonormal DCT as a synthesis transform
    Psi_T = Psi.T
    for A in (PartialFourier(10, 40, rng=0), SubsampledRandomizedTransform(10, 40, transform="dct", rng=0),
              SparseRandom(10, 40, rng=0, nnz_per_column=2)):
        comp = A @ Psi_T
        assert isinstance(comp, LinearOperator) and comp.shape == (10, 40)
        np.testing.assert_allclose(comp.to_dense(), A.to_dense() @ Psi_T.to_dense(), atol=1e-12)
        assert dot_test(comp, rng=1)
    G = gaussian(10, 40, rng=0)
    comp = aslinearoperator(G) @ Psi_T
    x = rng.standard_normal(40)
    np.testing.assert_allclose(comp.forward(x), G @ sfft.idct(x, norm="ortho"), atol=1e-12)
    comp2 = MatrixOperator(G) @ BlockDiagonal(np.eye(8), 5)
    np.testing.assert_allclose(comp2.to_dense(), G, atol=1e-14)


def test_large_srht_fast_path_matches_scipy_hadamard(rng):
    n = 256
    op = SubsampledRandomizedTransform(n, n, rng=0)
    X = rng.standard_normal((3, n))
    H = hadamard(n) / np.sqrt(n)
    np.testing.assert_allclose(op.forward(X), (X * op.signs) @ H.T[:, op.rows], atol=1e-12)


# --------------------------------------------------------------------------- diagnostics
def _naive_coherence(A):
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[1]
    best = 0.0
    for i, j in itertools.combinations(range(n), 2):
        c = abs(A[:, i] @ A[:, j]) / (np.linalg.norm(A[:, i]) * np.linalg.norm(A[:, j]))
        best = max(best, c)
    return best


def test_mutual_coherence_matches_naive_loop():
    A = gaussian(10, 30, rng=0)
    assert mutual_coherence(A) == pytest.approx(_naive_coherence(A), rel=1e-12)
    op = PartialFourier(8, 24, rng=0)
    assert mutual_coherence(op) == pytest.approx(_naive_coherence(op.to_dense()), rel=1e-12)
    assert mutual_coherence(np.eye(5)) == 0.0
    assert mutual_coherence(np.array([[1.0, 2.0], [1.0, 2.0]])) == pytest.approx(1.0)


def test_welch_bound_values_and_below_coherence():
    assert welch_bound(64, 256) == pytest.approx(np.sqrt(192 / (64 * 255)))
    assert welch_bound(10, 10) == 0.0
    for kind in ("gaussian", "bernoulli", "partial_dct", "srht", "sparse"):
        A = make_sensing(kind, 16, 64, rng=0)
        assert welch_bound(16, 64) <= mutual_coherence(A) <= 1.0


def test_spectral_norm_exact_and_power(dtype):
    A = gaussian(20, 50, rng=0, dtype=dtype)
    s = np.linalg.svd(A.astype(np.float64), compute_uv=False)[0]
    assert spectral_norm(A) == pytest.approx(s, rel=1e-5)
    assert spectral_norm(A, method="power", rng=0, max_iter=2000) == pytest.approx(s, rel=1e-3)
    op = SparseRandom(20, 50, rng=0, nnz_per_column=4, dtype=dtype)
    s_op = np.linalg.svd(op.to_dense().astype(np.float64), compute_uv=False)[0]
    assert spectral_norm(op) == pytest.approx(s_op, rel=1e-3)
    assert spectral_norm(op, method="exact") == pytest.approx(s_op, rel=1e-5)
    assert spectral_norm(op, method="power", rng=1, max_iter=2000) == pytest.approx(s_op, rel=1e-3)
    assert spectral_norm(PartialDCT(5, 20, rng=0)) == 1.0


def test_rip_estimate_orthonormal_columns_is_zero():
    Q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((30, 12)))
    res = rip_estimate(Q, 5, n_trials=50, rng=0)
    assert res.delta == pytest.approx(0.0, abs=1e-12)
    assert res.lower_trials.shape == (50,) and res.upper_trials.shape == (50,)
    assert res.as_dict()["k"] == 5


def test_rip_estimate_matches_svd_and_increases_with_k():
    A = gaussian(40, 120, rng=0)
    res = rip_estimate(A, 6, n_trials=30, rng=5)
    # recompute the first trials' values with an SVD from the same supports
    gen = np.random.default_rng(5)
    S = np.argpartition(gen.random((30, 120)), 5, axis=1)[:, :6]
    sv = [np.linalg.svd(A[:, s], compute_uv=False) for s in S]
    np.testing.assert_allclose(res.upper_trials, [v[0] ** 2 - 1 for v in sv], atol=1e-10)
    np.testing.assert_allclose(res.lower_trials, [1 - v[-1] ** 2 for v in sv], atol=1e-10)
    assert res.delta == max(res.lower, res.upper)
    deltas = [rip_estimate(A, k, n_trials=200, rng=1).delta for k in (1, 4, 16, 40)]
    assert all(a < b for a, b in zip(deltas[:-1], deltas[1:], strict=True))
    # k = n: the single support is all columns; k > m gives sigma_min = 0
    assert rip_estimate(A, 120, n_trials=2, rng=0).lower == pytest.approx(1.0)


def test_dot_test_detects_a_wrong_adjoint():
    class Broken(LinearOperator):
        def __init__(self):
            super().__init__((5, 7))
            self.A = gaussian(5, 7, rng=0)

        def _forward(self, X):
            return X @ self.A.T

        def _adjoint(self, Y):
            return 1.01 * (Y @ self.A)

    with pytest.raises(AssertionError, match="dot test failed"):
        dot_test(Broken(), rng=0)
    assert dot_test(gaussian(5, 7, rng=0), rng=0)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("func", [gaussian, bernoulli, PartialDCT, PartialFourier, SparseRandom])
@pytest.mark.parametrize("m, n, bad", [(0, 8, "m"), (4, -1, "n"), (2.0, 8, "m"), (4, "8", "n")])
def test_bad_sizes(func, m, n, bad):
    with pytest.raises(ValidationError, match=f"^{bad} must be"):
        func(m, n)


@pytest.mark.parametrize("cls", [PartialDCT, PartialFourier, SubsampledRandomizedTransform])
def test_m_greater_than_n(cls):
    with pytest.raises(ValidationError, match="m <= n.*m=9 and n=8"):
        cls(9, 8)


def test_bad_options():
    with pytest.raises(ValidationError, match="n must be a power of two.*n=100"):
        SubsampledRandomizedTransform(10, 100)
    with pytest.raises(ValidationError, match="transform must be one of 'hadamard', 'dct'"):
        SubsampledRandomizedTransform(10, 64, transform="fft")
    with pytest.raises(ValidationError, match="kind must be one of 'gaussian', 'bernoulli'.*'sparse'; got 'foo'"):
        make_sensing("foo", 4, 8)
    with pytest.raises(DTypeError, match="dtype must be np.float32 or np.float64, got int32"):
        gaussian(4, 8, dtype=np.int32)
    with pytest.raises(DTypeError, match="dtype must be np.float32 or np.float64"):
        PartialDCT(4, 8, dtype=np.complex128)
    with pytest.raises(ValidationError, match="orthonormal_rows=True requires m <= n"):
        gaussian(9, 8, orthonormal_rows=True)
    with pytest.raises(ValidationError, match="normalize and orthonormal_rows"):
        gaussian(4, 8, normalize=True, orthonormal_rows=True)
    with pytest.raises(ValidationError, match="nnz_per_column must be <= m"):
        SparseRandom(4, 8, nnz_per_column=5)
    with pytest.raises(ValidationError, match="n_blocks must be >= 1"):
        BlockDiagonal(np.eye(3), 0)


@pytest.mark.parametrize("rows, msg", [
    ([0, 1, 1], "rows must be unique"),
    ([0, 1, 8], r"rows must lie in \[0, n\)"),
    ([0, -1, 2], r"rows must lie in \[0, n\)"),
    ([0, 1], "rows must hold m=3"),
    ([0.0, 1.0, 2.0], "rows must be a 1-D array of integers"),
])
def test_bad_rows(rows, msg):
    with pytest.raises(ValidationError, match=msg):
        PartialDCT(3, 8, rows=rows)


def test_wrong_signal_length():
    op = PartialDCT(4, 16, rng=0)
    with pytest.raises(ValidationError, match=r"Dimension mismatch for x: expected 16 features.*\(15,\)"):
        op.forward(np.zeros(15))
    with pytest.raises(ValidationError, match=r"Dimension mismatch for y: expected 4 features"):
        op.adjoint(np.zeros((2, 5)))
    with pytest.raises(ValidationError, match="x must contain only finite values"):
        op.forward(np.full(16, np.nan))


def test_diagnostics_bad_input():
    A = gaussian(5, 8, rng=0)
    A[1, 2] = np.nan
    with pytest.raises(ValidationError, match="A must contain only finite values"):
        mutual_coherence(A)
    with pytest.raises(ValidationError, match="A must contain only finite values"):
        spectral_norm(A)
    with pytest.raises(ValidationError, match="A must contain only finite values"):
        rip_estimate(A, 2)
    B = gaussian(5, 8, rng=0)
    with pytest.raises(ValidationError, match="k must be <= 8, got 9"):
        rip_estimate(B, 9)
    with pytest.raises(ValidationError, match="k must be >= 1, got 0"):
        rip_estimate(B, 0)
    with pytest.raises(ValidationError, match="method must be one of 'auto', 'exact', 'power'"):
        spectral_norm(B, method="svd")
    with pytest.raises(ValidationError, match="A must have at least 2 columns"):
        mutual_coherence(np.ones((3, 1)))
    B[:, 3] = 0.0
    with pytest.raises(ValidationError, match="zero column"):
        mutual_coherence(B)
    with pytest.raises(ValidationError, match="more than max_size=100"):
        mutual_coherence(PartialDCT(10, 20, rng=0), max_size=100)
    with pytest.raises(ValidationError, match="n must be >= 2"):
        welch_bound(1, 1)
    with pytest.raises(ValidationError, match="op must be a LinearOperator or a 2-D array"):
        dot_test("A")


def test_make_sensing_names_options_its_kind_does_not_take():
    from cs_toolkit.sensing import make_sensing

    with pytest.raises(ValidationError, match=r"unknown option\(s\) rows; its options: normalize, orthonormal_rows"):
        make_sensing("gaussian", 8, 16, rng=0, rows=[0, 1])
    with pytest.raises(ValidationError, match=r"unknown option\(s\) normalize; its options: rows"):
        make_sensing("partial_dct", 8, 16, rng=0, normalize=True)
    with pytest.raises(ValidationError, match="sets transform itself"):
        make_sensing("srht", 8, 16, rng=0, transform="dct")
    # the options each kind does take still pass through
    A = make_sensing("gaussian", 4, 8, rng=0, orthonormal_rows=True)
    np.testing.assert_allclose(A @ A.T, np.eye(4), atol=1e-12)
    assert make_sensing("sparse", 4, 8, rng=0, nnz_per_column=2).to_dense().astype(bool).sum(axis=0).tolist() == [2] * 8

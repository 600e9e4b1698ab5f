"""Audit of cs_toolkit.sensing: naive references, memory of the dense paths, quantizer cells, bad inputs."""

import tracemalloc

import numpy as np
import pytest

from cs_toolkit.exceptions import DTypeError, ValidationError
from cs_toolkit.sensing import (
    BlockDiagonal,
    LinearOperator,
    PartialDCT,
    PartialFourier,
    SparseRandom,
    SubsampledRandomizedTransform,
    UniformQuantizer,
    bernoulli,
    gaussian,
    mutual_coherence,
    optimize_sensing,
)


def _naive_dct(n):
    """The orthonormal DCT-II matrix from its formula, row k = frequency k."""
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    C = np.sqrt(2.0 / n) * np.cos(np.pi * k * (2 * j + 1) / (2 * n))
    C[0] = np.sqrt(1.0 / n)
    return C


def _naive_fourier_rows(op):
    n = op.shape[1]
    j = np.arange(n)
    rows = []
    for f, part in zip(op.row_frequency, op.row_part, strict=True):
        if f == 0 or 2 * f == n:
            rows.append(np.cos(2 * np.pi * f * j / n) / np.sqrt(n))
        elif part == 0:
            rows.append(np.sqrt(2.0 / n) * np.cos(2 * np.pi * f * j / n))
        else:
            rows.append(-np.sqrt(2.0 / n) * np.sin(2 * np.pi * f * j / n))
    return np.array(rows)


def _peak_bytes(func):
    tracemalloc.start()
    try:
        out = func()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --------------------------------------------------------------------------- operators against formulas
@pytest.mark.parametrize("n", [7, 8, 13, 16])
def test_partial_operators_match_their_formulas_for_m_below_n(n, dtype):
    rng = np.random.default_rng(n)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for m in range(1, n + 1):
        pf = PartialFourier(m, n, rng=m, dtype=dtype)
        dct = PartialDCT(m, n, rng=m, dtype=dtype)
        for op, M in ((pf, _naive_fourier_rows(pf)), (dct, _naive_dct(n)[dct.rows])):
            x, y = rng.standard_normal((2, n)), rng.standard_normal((2, m))
            np.testing.assert_allclose(op.to_dense(), M, atol=tol)
            np.testing.assert_allclose(op.forward(x), x @ M.T, atol=10 * tol)
            np.testing.assert_allclose(op.adjoint(y), y @ M, atol=10 * tol)


# --------------------------------------------------------------------------- no hidden densification
class _NoDense(PartialDCT):
    def to_dense(self):
        raise AssertionError("the operator was densified")


def test_array_at_operator_is_matrix_free_adjoint(dtype):
    # before: NumPy's ndarray.__matmul__ converted the operator with __array__ (an n x n identity
    # pushed through it) instead of calling __rmatmul__, the documented adjoint path
    op = _NoDense(5, 64, rng=0, dtype=dtype)
    M = _naive_dct(64)[op.rows]
    rng = np.random.default_rng(0)
    Y, y = rng.standard_normal((3, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    out = Y @ op
    assert out.shape == (3, 64) and out.dtype == dtype
    np.testing.assert_allclose(out, Y @ M, atol=tol)
    np.testing.assert_allclose(y @ op, y @ M, atol=tol)
    np.testing.assert_allclose(Y @ op.T.T, Y @ M, atol=tol)
    np.testing.assert_allclose(np.asarray(PartialDCT(5, 64, rng=0, dtype=dtype)), M, atol=tol)  # explicit still works


def test_to_dense_of_a_wide_operator_needs_o_mn_memory():
    # before: to_dense pushed an n x n identity through the operator: 32 MiB here for a 128 KiB
    # result, 32 GiB for PartialDCT(64, 2**16), which mutual_coherence's max_size let through
    m, n = 8, 2**11
    op = PartialDCT(m, n, rng=0)
    A, peak = _peak_bytes(op.to_dense)
    np.testing.assert_allclose(A, _naive_dct(n)[op.rows], atol=1e-12)
    assert peak < 20 * m * n * 8, f"to_dense of a {op.shape} operator peaked at {peak} bytes"
    assert mutual_coherence(op) == pytest.approx(mutual_coherence(_naive_dct(n)[op.rows]), rel=1e-12)


@pytest.mark.parametrize("op", [
    PartialDCT(6, 40, rng=0),
    PartialDCT(6, 40, rng=0).T,
    SparseRandom(30, 12, nnz_per_column=3, rng=1),
    SubsampledRandomizedTransform(5, 16, rng=2).T,
    BlockDiagonal(PartialFourier(3, 7, rng=3), 2),
    PartialFourier(9, 20, rng=4) @ PartialDCT(20, 20, rows=np.arange(20)).T,
], ids=["dct", "dct_T", "sparse_tall", "srht_T", "block", "composed"])
def test_to_dense_columns_are_forward_of_unit_vectors(op):
    m, n = op.shape
    naive = np.column_stack([op.forward(np.eye(n)[j]) for j in range(n)])
    np.testing.assert_allclose(op.to_dense(), naive, atol=1e-12)
    rows = np.vstack([op.adjoint(np.eye(m)[i]) for i in range(m)])
    np.testing.assert_allclose(op.to_dense(), rows, atol=1e-12)


# --------------------------------------------------------------------------- quantizer cells
@pytest.mark.parametrize("seed", range(6))
def test_every_measurement_lies_in_its_quantization_cell_even_on_edges(seed, dtype):
    # before: a measurement on a cell edge got floor()'s code, whose upper bound (computed as
    # lower + Delta) could be one ulp below it: qm.consistent(Y) was False for the true Y
    rng = np.random.default_rng(seed)
    for _ in range(40):
        bits = int(rng.integers(1, 9))
        low = rng.uniform(-3.0, 0.0)
        high = low + rng.uniform(0.1, 5.0)
        q = UniformQuantizer(bits, (low, high))
        delta = (high - low) / 2**bits
        edges = low + np.arange(2**bits + 1) * delta
        Y = np.concatenate([edges, rng.uniform(low - 1, high + 1, 20)]).astype(dtype)
        qm = q.quantize(Y)
        assert np.all(qm.consistent(Y))
        # naive reference: the code's cell, from the edge formula, holds y (saturation cells unbounded)
        y = Y.astype(np.float64)
        lo = np.where(qm.codes == 0, -np.inf, low + qm.codes * delta)
        up = np.where(qm.codes == 2**bits - 1, np.inf, low + (qm.codes + 1) * delta)
        assert np.all((lo <= y) & (y <= up))
        np.testing.assert_allclose(qm.values, low + (qm.codes + 0.5) * delta, rtol=1e-6)


def test_dithered_cells_hold_the_measurement_and_tile(rng):
    q = UniformQuantizer(3, 1.0, dither=True, rng=0)
    Y = rng.uniform(-1.5, 1.5, 500)
    qm = q.quantize(Y)
    assert np.all(qm.consistent(Y))
    np.testing.assert_allclose(q.dequantize(qm.codes, qm.dither), qm.values, rtol=1e-12)
    again = UniformQuantizer(3, 1.0, dither=True, rng=0).quantize(Y)
    np.testing.assert_array_equal(again.codes, qm.codes)


def test_dequantize_rejects_a_dither_of_another_shape():
    # before: a length-1 dither broadcast silently, a length-2 one raised NumPy's broadcast error
    q = UniformQuantizer(2, 1.0)
    codes = np.array([0, 1, 2, 3])
    for bad in (np.array([0.1]), np.array([0.1, 0.2])):
        with pytest.raises(ValidationError, match=r"dither.*shape.*\(4,\)"):
            q.dequantize(codes, dither=bad)


def test_quantizer_rejects_a_range_of_infinite_width():
    # before: (-1e308, 1e308) gave bin_width = inf and every measurement code 0
    with pytest.raises(ValidationError, match="y_range"):
        UniformQuantizer(2, (-1e308, 1e308))


def test_consistent_rejects_a_bad_atol():
    qm = UniformQuantizer(2, 1.0).quantize(np.array([0.1, -0.3]))
    for bad in (-1.0, np.nan, "0"):
        with pytest.raises(ValidationError, match="atol"):
            qm.consistent([0.1, -0.3], atol=bad)


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("call", [
    lambda: gaussian(3, 4, normalize="no"),
    lambda: gaussian(3, 4, orthonormal_rows="no"),
    lambda: gaussian(3, 4, normalize=1),
    lambda: bernoulli(3, 4, normalize="yes"),
], ids=["gaussian_normalize_str", "gaussian_orth_str", "gaussian_normalize_int", "bernoulli_normalize_str"])
def test_flags_must_be_bools(call):
    # before: any truthy object switched the option on
    with pytest.raises(ValidationError, match="normalize|orthonormal_rows"):
        call()


def test_optimize_sensing_flags_must_be_bools():
    D = np.random.default_rng(0).standard_normal((8, 12))
    with pytest.raises(ValidationError, match="return_info"):
        optimize_sensing(D, 4, rng=0, max_iter=1, return_info="no")
    with pytest.raises(ValidationError, match="progress"):
        optimize_sensing(D, 4, rng=0, max_iter=1, progress="no")


def test_linear_operator_rejects_bad_shape_and_dtype():
    # before: NumPy's TypeError for a dtype name, a bare unpacking ValueError for a bad shape
    with pytest.raises(ValidationError, match="shape"):
        LinearOperator((1, 2, 3))
    with pytest.raises(ValidationError, match="shape"):
        LinearOperator(5)
    with pytest.raises(ValidationError, match="dtype"):
        LinearOperator((2, 3), dtype="not-a-dtype")
    with pytest.raises(ValidationError, match="dtype"):
        LinearOperator((2, 3), dtype=np.int64)


def test_block_diagonal_validates_dtype_for_an_operator_block_too():
    # before: ignored (even an invalid dtype) when the block was an operator
    with pytest.raises(DTypeError, match="dtype"):
        BlockDiagonal(PartialDCT(2, 4, rng=0), 2, dtype="not-a-dtype")
    assert BlockDiagonal(PartialDCT(2, 4, rng=0), 2, dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("kwargs, match", [({"max_iter": 0}, "max_iter"), ({"tol": -1.0}, "tol"),
                                           ({"max_iter": 2.5}, "max_iter")])
def test_operator_norm_validates_and_caches_nothing_on_error(kwargs, match):
    # before: max_iter=0 returned (and cached) a norm of 0.0, so 1/||A||^2 step sizes became inf
    op = SparseRandom(20, 40, nnz_per_column=3, rng=0)
    with pytest.raises(ValidationError, match=match):
        op.norm(**kwargs)
    assert op.norm() == pytest.approx(np.linalg.norm(op.to_dense(), 2), rel=1e-2)

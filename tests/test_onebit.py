"""Tests of quantized measurements (cs_toolkit.sensing.quantize), BIHT and QIHT, and the 1-bit metrics."""

import re
import warnings

import naive
import numpy as np
import pytest

from cs_toolkit.exceptions import ConvergenceWarning, ValidationError
from cs_toolkit.metrics import bit_rate, normalized_error
from cs_toolkit.sensing import QuantizedMeasurements, UniformQuantizer, one_bit, quantize
from cs_toolkit.solvers import biht, get_solver, iht, list_solvers, qiht, solve


def _planted(n, k, N, seed=0):
    rng = np.random.default_rng(seed)
    X = np.zeros((N, n))
    for x in X:
        x[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
    return X


def _unit(X):
    return X / np.linalg.norm(X, axis=-1, keepdims=True)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return func(*args, **kwargs)


# --------------------------------------------------------------------------- quantizer
@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("dither", [False, True])
def test_quantizer_round_trip(bits, dither, rng):
    Y = rng.standard_normal((7, 50))
    q = UniformQuantizer(bits, (-2.0, 2.5), dither=dither, rng=0)
    qm = q.quantize(Y)
    assert isinstance(qm, QuantizedMeasurements) and qm.codes.shape == Y.shape
    assert qm.codes.min() >= 0 and qm.codes.max() <= 2**bits - 1
    assert qm.bin_width == pytest.approx(4.5 / 2**bits) and qm.total_bits == Y.size * bits
    # every measurement lies in its cell, and cells of in-range values have the bin width
    assert np.all(qm.consistent(Y))
    inner = (qm.codes > 0) & (qm.codes < 2**bits - 1)
    np.testing.assert_allclose((qm.upper - qm.lower)[inner], qm.bin_width)
    assert np.all(np.abs(qm.values - Y)[inner] <= qm.bin_width / 2 + 1e-12)
    # decoding the codes gives the values; re-quantizing the values (same dither) gives the codes
    np.testing.assert_allclose(q.dequantize(qm.codes, qm.dither), qm.values)
    redo = np.clip(np.floor((qm.values + (0 if qm.dither is None else qm.dither) - q.low) / q.bin_width),
                   0, 2**bits - 1)
    np.testing.assert_array_equal(redo, qm.codes)
    assert (qm.dither is not None) == dither
    if dither:
        assert np.all(np.abs(qm.dither) <= qm.bin_width / 2)


def test_quantizer_saturation_cells_are_unbounded():
    qm = UniformQuantizer(2, 1.0).quantize(np.array([-5.0, -0.2, 0.2, 5.0]))
    np.testing.assert_array_equal(qm.codes, [0, 1, 2, 3])
    assert qm.lower[0] == -np.inf and qm.upper[3] == np.inf
    np.testing.assert_allclose(qm.upper[:3], [-0.5, 0.0, 0.5])


def test_one_bit_is_the_one_bit_quantizer_and_keeps_dtype(rng):
    Y = rng.standard_normal((4, 30)).astype(np.float32)
    Y[0, 0] = 0.0
    s = one_bit(Y)
    assert s.dtype == np.float32 and s[0, 0] == 1.0
    np.testing.assert_array_equal(s, np.where(Y >= 0, 1, -1))
    qm = quantize(Y, 1, y_range=1.0)
    np.testing.assert_array_equal(np.where(qm.codes > 0, 1, -1), s)
    assert qm.values.dtype == np.float32


def test_quantize_default_range_has_no_saturation(rng):
    Y = 3 * rng.standard_normal(100)
    qm = quantize(Y, 4)
    assert np.max(np.abs(qm.values - Y)) <= qm.bin_width / 2 + 1e-12


@pytest.mark.parametrize("args,kwargs,match", [
    ((0, 1.0), {}, "bits must be >= 1"),
    ((-2, 1.0), {}, "bits must be >= 1"),
    ((1.5, 1.0), {}, "bits must be an integer"),
    ((40, 1.0), {}, "bits must be <= 32"),
    ((3, 0.0), {}, "y_range must be >"),
    ((3, (1.0, 1.0)), {}, "y_range must be finite with low < high"),
    ((3, "wide"), {}, "y_range must be a positive float"),
    ((3, 1.0), {"dither": "yes"}, "dither must be True or False"),
])
def test_quantizer_rejects_bad_parameters(args, kwargs, match):
    with pytest.raises(ValidationError, match=match):
        UniformQuantizer(*args, **kwargs)


def test_quantize_rejects_bad_measurements_and_codes():
    with pytest.raises(ValidationError, match="bits must be >= 1"):
        quantize(np.ones(3), 0)
    with pytest.raises(ValidationError, match="Y must contain only finite values"):
        quantize(np.array([1.0, np.nan]), 3)
    with pytest.raises(ValidationError, match=r"codes must lie in \[0, 3\]"):
        UniformQuantizer(2, 1.0).dequantize(np.array([0, 4]))


# --------------------------------------------------------------------------- BIHT
def test_biht_matches_loop_reference(rng):
    A = rng.standard_normal((60, 40))
    X = _planted(40, 3, 5, seed=1)
    Y = one_bit(X @ A.T)
    Xh = _quiet(biht, A, Y, n_nonzero_coefs=3, step=0.01, max_iter=25, tol=0.0)
    for y, xh in zip(Y, Xh):
        np.testing.assert_allclose(xh, naive.biht_naive(A, y, 3, 0.01, 25), atol=1e-10)


def test_biht_recovers_support_at_generous_m():
    n, k = 128, 4
    X = _planted(n, k, 50, seed=2)
    A = np.random.default_rng(3).standard_normal((1024, n))
    Xh, info = _quiet(biht, A, one_bit(X @ A.T), n_nonzero_coefs=k, return_info=True)
    np.testing.assert_allclose(np.linalg.norm(Xh, axis=1), 1.0)
    same = [set(np.flatnonzero(a)) == set(np.flatnonzero(b)) for a, b in zip(X, Xh)]
    assert np.mean(same) >= 0.95
    assert np.median(normalized_error(X, Xh)) < 0.05
    assert info.resid_norm.shape == (50,)


@pytest.mark.slow
def test_biht_error_falls_with_m():
    n, k = 100, 5
    X = _planted(n, k, 40, seed=4)
    errs = []
    for m in (50, 200, 800):
        A = np.random.default_rng(m).standard_normal((m, n))
        errs.append(np.mean(normalized_error(X, _quiet(biht, A, X @ A.T, n_nonzero_coefs=k))))
    assert errs[0] > errs[1] > errs[2]


def test_biht_one_signal_float32_and_quantized_input(rng):
    A = rng.standard_normal((200, 50)).astype(np.float32)
    x = _planted(50, 2, 1, seed=5)[0].astype(np.float32)
    xh = _quiet(biht, A, one_bit(A @ x), n_nonzero_coefs=2)
    assert xh.shape == (50,) and xh.dtype == np.float32
    xq = _quiet(biht, A, quantize(A @ x, 1, y_range=1.0), n_nonzero_coefs=2)
    np.testing.assert_allclose(xq, xh)
    xs = _quiet(solve, A, one_bit(A @ x), method="biht", n_nonzero_coefs=2)
    np.testing.assert_allclose(xs, xh)


def test_biht_rejects_bad_inputs(rng):
    A = rng.standard_normal((20, 10))
    y = np.sign(rng.standard_normal(20))
    with pytest.raises(ValidationError, match="n_nonzero_coefs is required"):
        biht(A, y, n_nonzero_coefs=None)
    with pytest.raises(ValidationError, match="step must be >"):
        biht(A, y, n_nonzero_coefs=2, step=0.0)
    with pytest.raises(ValidationError, match="Dimension mismatch for Y"):
        biht(A, y[:5], n_nonzero_coefs=2)
    with pytest.raises(ValidationError, match="one-bit measurements for biht, got 3 bits"):
        biht(A, quantize(A @ rng.standard_normal(10), 3), n_nonzero_coefs=2)
    with pytest.raises(ValidationError, match="normalize must be True or False"):
        biht(A, y, n_nonzero_coefs=2, normalize=1)


# --------------------------------------------------------------------------- QIHT
def test_qiht_is_more_consistent_and_more_accurate_than_iht_on_cell_centres():
    n, k, m = 128, 6, 64
    X = _planted(n, k, 60, seed=6)
    A = np.random.default_rng(7).standard_normal((m, n)) / np.sqrt(m)
    Y = X @ A.T
    qm = quantize(Y, 3, y_range=3 * Y.std())
    X_mid = _quiet(iht, A, qm.values, n_nonzero_coefs=k)
    X_q, info = _quiet(qiht, A, qm, n_nonzero_coefs=k, return_info=True)

    def dist(Z):
        P = Z @ A.T
        return np.linalg.norm(np.clip(P, qm.lower, qm.upper) - P, axis=1)

    np.testing.assert_allclose(info.resid_norm, dist(X_q), atol=1e-10)
    assert np.mean(dist(X_q)) < 0.5 * np.mean(dist(X_mid))
    e_mid = np.sum((X_mid - X) ** 2) / np.sum(X**2)
    e_q = np.sum((X_q - X) ** 2) / np.sum(X**2)
    assert e_q < e_mid < 0.1


def test_qiht_cell_inputs_agree(rng):
    A = rng.standard_normal((40, 60)) / np.sqrt(40)
    X = _planted(60, 3, 4, seed=8)
    qm = quantize(X @ A.T, 4, y_range=2.0)
    a = _quiet(qiht, A, qm, n_nonzero_coefs=3)
    b = _quiet(qiht, A, qm.values, n_nonzero_coefs=3, lower=qm.lower, upper=qm.upper)
    np.testing.assert_allclose(a, b)
    c = _quiet(solve, A, qm, method="qiht", n_nonzero_coefs=3)
    np.testing.assert_allclose(a, c)
    d = _quiet(qiht, A, qm.values[0], n_nonzero_coefs=3, bin_width=qm.bin_width)
    assert d.shape == (60,)


def test_qiht_rejects_bad_inputs(rng):
    A = rng.standard_normal((20, 30))
    y = rng.standard_normal(20)
    with pytest.raises(ValidationError, match="qiht needs the quantization cells"):
        qiht(A, y, n_nonzero_coefs=2)
    with pytest.raises(ValidationError, match="lower must be <= upper"):
        qiht(A, y, n_nonzero_coefs=2, lower=y + 1, upper=y)
    with pytest.raises(ValidationError, match=r"lower must have the shape of Y \(20,\)"):
        qiht(A, y, n_nonzero_coefs=2, lower=y[:3], upper=y)
    with pytest.raises(ValidationError, match="bin_width must be >"):
        qiht(A, y, n_nonzero_coefs=2, bin_width=-1.0)
    with pytest.raises(ValidationError, match="lower, upper and bin_width must be None"):
        qiht(A, quantize(y, 3), n_nonzero_coefs=2, bin_width=0.1)


def test_quantized_solvers_are_registered_with_documented_options():
    assert set(list_solvers(kind="quantized")) == {"biht", "qiht"}
    assert {"step", "normalize", "max_iter", "tol"} <= set(get_solver("biht").options)
    assert {"lower", "upper", "bin_width", "init_iter"} <= set(get_solver("qiht").options)
    for name in ("biht", "qiht"):
        doc = get_solver(name).func.__doc__
        for opt in get_solver(name).options:
            assert re.search(rf"^ +(\w+, )*{opt}(, \w+)* :", doc, re.M), (name, opt)


# --------------------------------------------------------------------------- metrics
def test_normalized_error_ignores_amplitude(rng):
    X = rng.standard_normal((5, 20))
    np.testing.assert_allclose(normalized_error(X, 3.7 * X), 0.0, atol=1e-12)
    np.testing.assert_allclose(normalized_error(X, -X), 2.0)
    loop = [np.linalg.norm(_unit(a) - _unit(b)) for a, b in zip(X, X[::-1])]
    np.testing.assert_allclose(normalized_error(X, X[::-1]), loop)
    assert normalized_error(X[0], np.zeros(20)) == pytest.approx(1.0)
    assert normalized_error(np.zeros(3), np.zeros(3)) == 0.0
    assert normalized_error(X[0], 2 * X[0] + 1e-3 * X[1], db=True) < -40
    with pytest.raises(ValidationError, match="same shape"):
        normalized_error(X, X[:, :3])


def test_bit_rate():
    assert bit_rate(128, 3, 256) == 1.5
    with pytest.raises(ValidationError, match="bits must be >= 1"):
        bit_rate(128, 0, 256)

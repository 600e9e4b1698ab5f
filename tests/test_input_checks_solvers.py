"""Input checks of the dictionary updates, the threshold operators, the proximal-gradient
solvers' flags and scale, and the coders' options: each bad input raises a ``ValidationError``
(or ``DTypeError`` for complex data, the package's convention) naming the argument before any
kernel runs, and valid input gives the same result as before."""

import warnings

import numpy as np
import pytest

from cs_toolkit import solvers
from cs_toolkit.dictionary import (
    DictionaryLearner,
    approx_ksvd,
    ksvd,
    ksvd_update,
    mod,
    mod_update,
    online_dictionary_learning,
    overcomplete_dct,
    sparse_encode,
)
from cs_toolkit.exceptions import DTypeError, ValidationError

# --------------------------------------------------------------------------- fixtures


def _update_problem(dtype=np.float64, n_signals=30, n_features=8, n_atoms=12):
    X = np.random.default_rng(0).standard_normal((n_signals, n_features)).astype(dtype)
    D = np.ascontiguousarray(overcomplete_dct(n_features, n_atoms), dtype=dtype)
    C = np.ascontiguousarray(sparse_encode(X, D, n_nonzero_coefs=2), dtype=dtype)
    R = np.ascontiguousarray(X - C @ D.T, dtype=dtype)
    return X, D, C, R


@pytest.fixture
def problem():
    return _update_problem()


@pytest.fixture
def AY():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((20, 40)) / np.sqrt(20)
    X = np.zeros((3, 40))
    X[:, :3] = rng.standard_normal((3, 3))
    return A, X @ A.T


# --------------------------------------------------------------------------- 1. ksvd_update / mod_update


def _readonly(a):
    a = a.copy()
    a.setflags(write=False)
    return a


KSVD_BAD = [
    ("fewer atoms in C", lambda X, D, C, R: (D, C[:, :6].copy(), R), r"C must have shape \(n_signals, 12\).*got \(30, 6\)"),
    ("more atoms in C", lambda X, D, C, R: (D[:, :6].copy(), C, R), r"C must have shape \(n_signals, 6\).*got \(30, 12\)"),
    ("R too few rows", lambda X, D, C, R: (D, C, R[:5].copy()), r"R must have shape \(n_signals, n_features\) = \(30, 8\).*got \(5, 8\)"),
    ("R too few features", lambda X, D, C, R: (D, C, R[:, :5].copy()), r"R must have shape .*got \(30, 5\)"),
    ("read-only D", lambda X, D, C, R: (_readonly(D), C, R), r"D must be writeable"),
    ("read-only C", lambda X, D, C, R: (D, _readonly(C), R), r"C must be writeable"),
    ("read-only R", lambda X, D, C, R: (D, C, _readonly(R)), r"R must be writeable"),
    ("1-D D", lambda X, D, C, R: (D[:, 0].copy(), C, R), r"D must be 2-D"),
    ("list D", lambda X, D, C, R: (D.tolist(), C, R), r"D must be a NumPy array.*got list"),
    ("list R", lambda X, D, C, R: (D, C, R.tolist()), r"R must be a NumPy array.*got list"),
    ("Fortran D", lambda X, D, C, R: (np.asfortranarray(D), C, R), r"D must be C-contiguous"),
    ("strided C", lambda X, D, C, R: (D, np.zeros((30, 24))[:, ::2], R), r"C must be C-contiguous"),
    ("int D", lambda X, D, C, R: (D.astype(np.int64), C, R), r"D\.dtype must be float32 or float64.*got int64"),
    ("complex C", lambda X, D, C, R: (D, C.astype(complex), R), r"C\.dtype must be float32 or float64"),
    ("NaN R", lambda X, D, C, R: (D, C, np.full_like(R, np.nan)), r"R must contain only finite values"),
    ("inf D", lambda X, D, C, R: (np.where(D > 0.5, np.inf, D), C, R), r"D must contain only finite values"),
    ("mixed dtypes", lambda X, D, C, R: (D, C, R.astype(np.float32)), r"D, C and R must have the same dtype"),
    ("empty C", lambda X, D, C, R: (D, np.zeros((0, 12)), np.zeros((0, 8))), r"C must not be empty"),
]


@pytest.mark.parametrize("make,match", [c[1:] for c in KSVD_BAD], ids=[c[0] for c in KSVD_BAD])
def test_ksvd_update_rejects(problem, make, match):
    X, D, C, R = problem
    args = make(X, D.copy(), C.copy(), R.copy())
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(ValidationError, match=match):
        ksvd_update(*args)
    for a, b in zip(args, before, strict=True):  # nothing was written before the error
        np.testing.assert_array_equal(np.asarray(a), b)


def test_ksvd_update_exact_must_be_bool(problem):
    X, D, C, R = problem
    with pytest.raises(ValidationError, match="exact must be True or False"):
        ksvd_update(D.copy(), C.copy(), R.copy(), exact=1)


MOD_BAD = [
    ("X too few rows", lambda X, D, C: (D, C, X[:5].copy()), r"X must have shape \(n_signals, n_features\) = \(30, 8\).*got \(5, 8\)"),
    ("fewer atoms in C", lambda X, D, C: (D, C[:, :6].copy(), X), r"C must have shape \(n_signals, 12\)"),
    ("more atoms in C", lambda X, D, C: (D[:, :6].copy(), C, X), r"C must have shape \(n_signals, 6\)"),
    ("all-NaN X", lambda X, D, C: (D, C, np.full_like(X, np.nan)), r"X must contain only finite values, got 240"),
    ("read-only D", lambda X, D, C: (_readonly(D), C, X), r"D must be writeable"),
    ("read-only C", lambda X, D, C: (D, _readonly(C), X), r"C must be writeable"),
    ("1-D D", lambda X, D, C: (D[:, 0].copy(), C, X), r"D must be 2-D"),
    ("list D", lambda X, D, C: (D.tolist(), C, X), r"D must be a NumPy array.*got list"),
    ("list C", lambda X, D, C: (D, C.tolist(), X), r"C must be a NumPy array.*got list"),
    ("1-D X", lambda X, D, C: (D, C, X[0].copy()), r"X must be 2-D"),
    ("mixed dtypes", lambda X, D, C: (D, C.astype(np.float32), X), r"D and C must have the same dtype"),
]


@pytest.mark.parametrize("make,match", [c[1:] for c in MOD_BAD], ids=[c[0] for c in MOD_BAD])
def test_mod_update_rejects(problem, make, match):
    X, D, C, _ = problem
    args = make(X.copy(), D.copy(), C.copy())
    before = [np.array(a, copy=True) for a in args]
    with pytest.raises(ValidationError, match=match):
        mod_update(*args)
    for a, b in zip(args, before, strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_mod_update_complex_x_is_a_dtype_error(problem):
    X, D, C, _ = problem
    with pytest.raises(DTypeError, match="X must be real-valued"):
        mod_update(D.copy(), C.copy(), X.astype(complex))


@pytest.mark.parametrize("exact", [True, False])
def test_ksvd_update_valid_same_as_unchecked(dtype, exact):
    from cs_toolkit.dictionary.ksvd import _ksvd_update

    X, D, C, R = _update_problem(dtype)
    D1, C1, R1 = D.copy(), C.copy(), R.copy()
    D2, C2, R2 = D.copy(), C.copy(), R.copy()
    counts = ksvd_update(D1, C1, R1, exact=exact)
    counts2 = _ksvd_update(D2, C2, R2, exact)
    np.testing.assert_array_equal(counts, counts2)
    np.testing.assert_array_equal(counts, np.count_nonzero(C, axis=0))
    for a, b in ((D1, D2), (C1, C2), (R1, R2)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.dtype(dtype)
    # the residual is kept up to date, the error never increases and the support never grows
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(R1, X - C1 @ D1.T, atol=rtol * np.abs(X).max())
    assert np.linalg.norm(R1) <= np.linalg.norm(R) * (1 + rtol)
    assert not np.any((C1 != 0) & (C == 0))


def test_mod_update_valid_matches_numpy_reference(dtype):
    X, D, C, _ = _update_problem(dtype)
    D1, C1 = D.copy(), C.copy()
    counts = mod_update(D1, C1, X)
    np.testing.assert_array_equal(counts, np.count_nonzero(C, axis=0))
    # reference: least-squares D on the used atoms, unit columns, codes rescaled
    used = np.flatnonzero(counts)
    C64, X64 = C.astype(np.float64), X.astype(np.float64)
    Dt = np.linalg.lstsq(C64[:, used], X64, rcond=None)[0]
    norms = np.linalg.norm(Dt, axis=1)
    D_ref = D.astype(np.float64)
    D_ref[:, used] = (Dt / norms[:, None]).T
    C_ref = C64.copy()
    C_ref[:, used] *= norms
    rtol = 2e-3 if dtype == np.float32 else 1e-8
    np.testing.assert_allclose(D1, D_ref, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(C1, C_ref, rtol=rtol, atol=rtol)
    assert D1.dtype == C1.dtype == np.dtype(dtype)


def test_mod_update_accepts_list_and_readonly_x(problem):
    X, D, C, _ = problem
    D1, C1 = D.copy(), C.copy()
    mod_update(D1, C1, X)
    D2, C2 = D.copy(), C.copy()
    mod_update(D2, C2, _readonly(X))
    D3, C3 = D.copy(), C.copy()
    mod_update(D3, C3, X.tolist())
    np.testing.assert_array_equal(D1, D2)
    np.testing.assert_array_equal(D1, D3)
    np.testing.assert_array_equal(C1, C3)


def test_training_loops_use_the_unchecked_updates(monkeypatch):
    """The learners call the unchecked private updates: the public checks cost them nothing."""
    import importlib

    ksvd_mod = importlib.import_module("cs_toolkit.dictionary.ksvd")
    mod_mod = importlib.import_module("cs_toolkit.dictionary.mod")

    X = np.random.default_rng(2).standard_normal((80, 8))
    ref = [f(X, 12, n_nonzero_coefs=2, max_iter=2, rng=0) for f in (ksvd, approx_ksvd, mod)]

    def boom(*args, **kwargs):
        raise AssertionError("the training loop validated its own arrays")

    monkeypatch.setattr(ksvd_mod, "check_update_arrays", boom)
    monkeypatch.setattr(mod_mod, "check_update_arrays", boom)
    for f, r in zip((ksvd, approx_ksvd, mod), ref, strict=True):
        res = f(X, 12, n_nonzero_coefs=2, max_iter=2, rng=0)
        np.testing.assert_array_equal(res.dictionary, r.dictionary)
        np.testing.assert_array_equal(res.codes, r.codes)


# --------------------------------------------------------------------------- 2. threshold operators

X3 = np.array([-2.0, 0.5, 3.0])
THRESH_FUNCS = [solvers.soft_threshold, solvers.nonneg_soft_threshold, solvers.hard_threshold]
THRESH_IDS = ["soft", "nonneg_soft", "hard"]


@pytest.mark.parametrize("f", THRESH_FUNCS, ids=THRESH_IDS)
@pytest.mark.parametrize(
    "thresh,match",
    [
        (-1.0, r"thresh must be >= 0"),
        (np.nan, r"thresh must be finite"),
        (np.inf, r"thresh must be finite"),
        (np.float32(-0.5), r"thresh must be >= 0"),
        (np.array([1.0, -1.0, 0.0]), r"thresh must be >= 0 everywhere, got a minimum of -1"),
        (np.array([1.0, np.nan, 0.0]), r"thresh must contain only finite values"),
        ([0.5, 1.0], r"thresh of shape \(2,\) does not broadcast to the shape \(3,\) of x"),
        (np.ones((2, 3)), r"thresh of shape \(2, 3\) does not broadcast to the shape \(3,\) of x"),
        (True, r"thresh must be a real number"),
        (1 + 1j, r"thresh must be a real number"),
        ("1", r"thresh must be a real number"),
    ],
    ids=["negative", "nan", "inf", "negative-f32", "array-negative", "array-nan", "array-short",
         "array-larger-than-x", "bool", "complex", "str"],
)
def test_thresholds_reject_bad_thresh(f, thresh, match):
    with pytest.raises(ValidationError, match=match):
        f(X3, thresh)


@pytest.mark.parametrize("f", [*THRESH_FUNCS, lambda x, t: solvers.keep_largest(x, 1)], ids=[*THRESH_IDS, "keep_largest"])
def test_thresholds_reject_complex_input(f):
    # complex data raise the package's DTypeError (a TypeError, as check_array and
    # group_soft_threshold do), never a ComplexWarning with the imaginary part dropped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DTypeError, match=r"x must be real-valued, got complex"):
            f(X3 + 1j, 1.0)
    with pytest.raises(DTypeError, match=r"x must be a real numeric array"):
        f(np.array(["a", "b"]), 1.0)


@pytest.mark.parametrize(
    "x,k,match",
    [
        (X3, -1, r"k must be >= 0, got -1"),
        (X3, 1.5, r"k must be an integer, got 1\.5"),
        (X3, 2.0, r"k must be an integer"),
        (X3, True, r"k must be an integer"),
        (X3, None, r"k must be an integer"),
        (np.float64(3.0), 1, r"x must be an array of at least 1 dimension"),
        (3.0, 1, r"x must be an array of at least 1 dimension"),
    ],
    ids=["k-negative", "k-1.5", "k-2.0", "k-bool", "k-None", "x-numpy-scalar", "x-float"],
)
def test_keep_largest_rejects(x, k, match):
    with pytest.raises(ValidationError, match=match):
        solvers.keep_largest(x, k)


def _naive_keep_largest(x, k):
    x = np.atleast_2d(np.asarray(x, dtype=float))
    out = np.zeros_like(x)
    for i, row in enumerate(x):
        idx = np.argsort(-np.abs(row), kind="stable")[:k]
        out[i, idx] = row[idx]
    return out


def test_thresholds_valid_match_numpy_reference(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 7)).astype(dtype)
    for t in (0.0, 0.7, np.float32(0.3), 2, rng.uniform(0, 1, (5, 1)), rng.uniform(0, 1, 7), rng.uniform(0, 1, (5, 7))):
        tt = np.asarray(t, dtype=dtype)
        soft = np.sign(x) * np.maximum(np.abs(x) - tt, 0)
        for got, ref in (
            (solvers.soft_threshold(x, t), soft),
            (solvers.nonneg_soft_threshold(x, t), np.maximum(x - tt, 0)),
            (solvers.hard_threshold(x, t), np.where(np.abs(x) > tt, x, 0)),
        ):
            assert got.dtype == np.dtype(dtype) and got.shape == x.shape
            np.testing.assert_array_equal(got, ref.astype(dtype))
    # lists and integers become float64; a 0-d x is fine for the elementwise operators
    np.testing.assert_array_equal(solvers.soft_threshold([-2.0, 0.5, 3.0], 1.0), [-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(solvers.hard_threshold([1, -3, 2], 1), [0.0, -3.0, 2.0])
    assert float(solvers.soft_threshold(np.float64(3.0), 1.0)) == 2.0


def test_keep_largest_valid_matches_numpy_reference(dtype):
    x = np.random.default_rng(4).standard_normal((6, 9)).astype(dtype)
    for k in (0, 1, 3, np.int64(4), 9, 20):
        got = solvers.keep_largest(x, k)
        assert got.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(got, _naive_keep_largest(x, min(int(k), 9)).astype(dtype))
    np.testing.assert_array_equal(solvers.keep_largest([1, -3, 2], 1), [0.0, -3.0, 0.0])


def test_internal_prox_paths_are_unchecked_and_unchanged():
    """prox_l1 and shrink (solver and learned-layer loops) keep their unchecked fast path and
    give the same values as the validated operators."""
    from cs_toolkit.solvers._prox import prox_l1

    v = np.random.default_rng(5).standard_normal((4, 6))
    t = np.full((4, 1), 0.4)
    np.testing.assert_array_equal(prox_l1(v, t), solvers.soft_threshold(v, t))
    np.testing.assert_array_equal(prox_l1(v, t, True), solvers.nonneg_soft_threshold(v, t))
    x, active, shrunk = solvers.shrink(v, 0.4, k=2)
    ref = solvers.soft_threshold(v, 0.4)
    np.testing.assert_array_equal(x[~active | shrunk], ref[~active | shrunk])
    # a learned threshold may leave [0, inf) during training: shrink does not refuse it
    x_neg, _, _ = solvers.shrink(v, -0.1)
    np.testing.assert_array_equal(x_neg, np.sign(v) * np.maximum(np.abs(v) + 0.1, 0))


# --------------------------------------------------------------------------- 3. overflowing scale


@pytest.mark.parametrize(
    "solve",
    [
        lambda A, Y: solvers.fista(A, Y, lam=0.01),
        lambda A, Y: solvers.ista(A, Y, lam=0.01),
        lambda A, Y: solvers.fista(A, Y, lam=0.01, backtracking=True),
        lambda A, Y: solvers.solve(A, Y, "fista", lam=0.01),
    ],
    ids=["fista", "ista", "fista-backtracking", "solve-fista"],
)
def test_overflowing_scale_is_a_validation_error(AY, solve):
    A, Y = AY
    with pytest.raises(ValidationError, match=r"A's scale overflows: its norm is not finite"):
        solve(A * 1e200, Y)


@pytest.mark.parametrize(
    "solve",
    [
        lambda A, Y: solvers.group_lasso(A, Y, groups=np.arange(40) // 4, lam=0.01),
        lambda A, Y: solvers.mmv_fista(A, Y, lam=0.01),
    ],
    ids=["group_lasso", "mmv_fista"],
)
def test_overflowing_scale_group_solvers(AY, solve):
    A, Y = AY
    with pytest.raises(ValidationError, match=r"A's scale overflows"):
        solve(A * 1e200, Y)


def test_spectral_norm2_valid_unchanged(AY):
    from cs_toolkit.sensing import PartialDCT
    from cs_toolkit.solvers._common import _spectral_norm2

    A, _ = AY
    assert _spectral_norm2(A) == float(np.linalg.norm(A, 2)) ** 2
    assert _spectral_norm2(A * 1e150) == pytest.approx(float(np.linalg.norm(A, 2)) ** 2 * 1e300, rel=1e-12)
    op = PartialDCT(8, 32, rng=0)
    assert _spectral_norm2(op) == float(op.norm()) ** 2
    with pytest.raises(ValidationError, match=r"A's scale overflows"):
        _spectral_norm2(A * 1e160)


def test_fista_valid_unchanged(AY):
    A, Y = AY
    X = solvers.fista(A, Y, lam=0.01, tol=1e-10, max_iter=5000)
    Xl = solvers.lars(A, Y, lam=0.01)
    np.testing.assert_allclose(X, Xl, atol=1e-6)


# --------------------------------------------------------------------------- 4. boolean flags


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda A, y: solvers.lars(A, y, lam=0.01, nonneg=1), "nonneg"),
        (lambda A, y: solvers.lars(A, y, lam=0.01, nonneg="yes"), "nonneg"),
        (lambda A, y: solvers.lars(A, y, lam=0.01, return_path=1), "return_path"),
        (lambda A, y: solvers.lars(A, y, lam=0.01, return_info="yes"), "return_info"),
        (lambda A, y: solvers.fista(A, y, lam=0.01, return_info="yes"), "return_info"),
        (lambda A, y: solvers.ista(A, y, lam=0.01, return_info=2), "return_info"),
        (lambda A, y: solvers.fista(A, y, lam=0.01, nonneg="yes"), "nonneg"),
        (lambda A, y: solvers.ista(A, y, lam=0.01, nonneg=0), "nonneg"),
        (lambda A, y: solvers.fista(A, y, lam=0.01, backtracking=1), "backtracking"),
        (lambda A, y: solvers.ista(A, y, lam=0.01, history="no"), "history"),
        (lambda A, y: solvers.fista(A, y, lam=0.01, history=None), "history"),
    ],
)
def test_bool_flags_rejected(AY, call, name):
    A, Y = AY
    with pytest.raises(ValidationError, match=rf"{name} must be True or False, got"):
        call(A, Y[0])


def test_bool_flags_valid_unchanged(AY):
    A, Y = AY
    for flag in (True, False):
        nb = np.bool_(flag)
        np.testing.assert_array_equal(solvers.lars(A, Y, lam=0.01, nonneg=nb), solvers.lars(A, Y, lam=0.01, nonneg=flag))
        np.testing.assert_array_equal(solvers.fista(A, Y, lam=0.01, nonneg=nb, backtracking=nb),
                                      solvers.fista(A, Y, lam=0.01, nonneg=flag, backtracking=flag))
    x, path = solvers.lars(A, Y[0], lam=0.01, return_path=np.bool_(True))
    np.testing.assert_array_equal(path.coefs[-1], x)
    _, info = solvers.ista(A, Y, lam=0.01, history=True, return_info=True, max_iter=20, tol=0.0)
    assert info.objective.shape == (21, Y.shape[0])


# --------------------------------------------------------------------------- 5. coder_options


@pytest.mark.parametrize(
    "learn",
    [
        lambda X, o: ksvd(X, 12, n_nonzero_coefs=2, max_iter=1, coder_options=o),
        lambda X, o: approx_ksvd(X, 12, n_nonzero_coefs=2, max_iter=1, coder_options=o),
        lambda X, o: mod(X, 12, n_nonzero_coefs=2, max_iter=1, coder_options=o),
        lambda X, o: online_dictionary_learning(X, 12, n_nonzero_coefs=2, max_iter=1, coder_options=o),
        lambda X, o: sparse_encode(X, overcomplete_dct(8, 12), n_nonzero_coefs=2, coder_options=o),
        lambda X, o: DictionaryLearner(12, n_nonzero_coefs=2, max_iter=1, coder_options=o).fit(X),
    ],
    ids=["ksvd", "approx_ksvd", "mod", "online", "sparse_encode", "estimator"],
)
def test_unknown_coder_option_omp(learn):
    X = np.random.default_rng(6).standard_normal((40, 8))
    with pytest.raises(ValidationError, match=r"unknown coder_options key\(s\) 'zzz' for coder 'omp'; "
                                              r"valid options: history, precompute"):
        learn(X, {"zzz": 1})


def test_coder_options_other_errors():
    X = np.random.default_rng(7).standard_normal((40, 8))
    D = overcomplete_dct(8, 12)
    with pytest.raises(ValidationError, match=r"unknown coder_options key\(s\) 'zzz' for coder 'fista'; "
                                              r"valid options: backtracking, .*max_iter, nonneg"):
        mod(X, 12, coder="fista", lam=0.1, max_iter=1, coder_options={"zzz": 1})
    # options the coder sets from its own arguments
    with pytest.raises(ValidationError, match=r"'n_nonzero_coefs', 'tol' for coder 'omp'.*set by the coder"):
        sparse_encode(X, D, n_nonzero_coefs=2, coder_options={"tol": 1e-3, "n_nonzero_coefs": 3})
    with pytest.raises(ValidationError, match=r"'lam', 'return_info' for coder 'fista'"):
        sparse_encode(X, D, coder="fista", lam=0.1, coder_options={"lam": 1.0, "return_info": True})
    with pytest.raises(ValidationError, match=r"'zzz' for coder 'threshold'; valid options: none"):
        sparse_encode(X, D, coder="threshold", n_nonzero_coefs=2, coder_options={"zzz": 1})
    with pytest.raises(ValidationError, match=r"'zzz' for a callable coder; valid options: none"):
        sparse_encode(X, D, coder=lambda D, X: X @ D, coder_options={"zzz": 1})
    with pytest.raises(ValidationError, match=r"coder_options must be a dict or None, got list"):
        sparse_encode(X, D, n_nonzero_coefs=2, coder_options=[("precompute", False)])
    with pytest.raises(ValidationError, match=r"coder must be one of"):  # the coder name first
        sparse_encode(X, D, coder="zzz", coder_options={"zzz": 1})


def test_coder_options_valid_unchanged():
    X = np.random.default_rng(8).standard_normal((40, 8))
    D = overcomplete_dct(8, 12)
    np.testing.assert_array_equal(sparse_encode(X, D, n_nonzero_coefs=2, coder_options={}),
                                  sparse_encode(X, D, n_nonzero_coefs=2))
    np.testing.assert_allclose(sparse_encode(X, D, n_nonzero_coefs=2, coder_options={"precompute": False}),
                               solvers.omp(D, X, n_nonzero_coefs=2, precompute=False))
    np.testing.assert_array_equal(
        sparse_encode(X, D, coder="fista", lam=0.1, coder_options={"max_iter": 50, "tol": 0.0}),
        solvers.fista(D, X, lam=0.1, max_iter=50, tol=0.0))
    a = ksvd(X, 12, n_nonzero_coefs=2, max_iter=2, rng=0, coder_options={"precompute": True})
    b = ksvd(X, 12, n_nonzero_coefs=2, max_iter=2, rng=0)
    np.testing.assert_array_equal(a.dictionary, b.dictionary)


def test_every_solver_documents_only_parameters_it_takes():
    """The numpydoc ``Parameters`` of every registered solver name only arguments of its signature
    (the block solvers' shared text once listed ``n_nonzero_coefs``, which they do not take)."""
    import inspect
    import re

    from cs_toolkit.solvers import get_solver, list_solvers

    for name in list_solvers():
        if name.startswith("_"):  # registered by other tests
            continue
        func = getattr(solvers, get_solver(name).func.__name__)  # the public function, its doc expanded
        doc = inspect.getdoc(func) or ""
        assert "{params_top}" not in doc and "{common}" not in doc, name
        section = doc.split("Parameters\n----------\n", 1)[-1].split("\n\n", 1)[0] if "Parameters" in doc else ""
        section = re.split(r"\n(?:Returns|Raises|Notes|Examples)\n-+", section)[0]
        documented = re.findall(r"^([A-Za-z_][A-Za-z_0-9]*(?:, [A-Za-z_][A-Za-z_0-9]*)*) :", section, flags=re.M)
        params = set(inspect.signature(func).parameters)
        for entry in documented:
            for arg in entry.split(", "):
                assert arg in params, f"{name}: documents {arg!r}, which its signature does not take"

"""Tests of cs_toolkit.dictionary: K-SVD, approximate K-SVD, MOD, online learning,
the estimator, save/load, denoising and plotting."""

import json
import warnings

import numpy as np
import pytest

from cs_toolkit.dictionary import (
    DictionaryLearner,
    approx_ksvd,
    denoise_image,
    dictionary_tiles,
    ksvd,
    ksvd_update,
    mod,
    mod_update,
    online_dictionary_learning,
    overcomplete_dct,
    overcomplete_dct2,
    plot_dictionary,
    sparse_encode,
)
from cs_toolkit.exceptions import (
    ConvergenceWarning,
    DeadAtomWarning,
    DependentAtomsWarning,
    ModelFileError,
    SparsityClippedWarning,
    ValidationError,
)
from cs_toolkit.metrics import psnr

# --------------------------------------------------------------------------- helpers


def _omp_naive(D, X, k):
    """Loop-level OMP (reference coder, independent of the library's)."""
    C = np.zeros((X.shape[0], D.shape[1]), dtype=X.dtype)
    for i, x in enumerate(X):
        r, S = x.astype(np.float64), []
        for _ in range(k):
            corr = np.abs(D.T @ r)
            corr[S] = -1.0
            S.append(int(np.argmax(corr)))
            c = np.linalg.lstsq(D[:, S].astype(np.float64), x.astype(np.float64), rcond=None)[0]
            r = x - D[:, S] @ c
        C[i, S] = c
    return C


def _planted(rng, n_features=20, n_atoms=30, n_signals=1500, k=3, noise=0.0):
    D = rng.standard_normal((n_features, n_atoms))
    D /= np.linalg.norm(D, axis=0)
    C = np.zeros((n_signals, n_atoms))
    for i in range(n_signals):
        C[i, rng.choice(n_atoms, k, replace=False)] = rng.standard_normal(k)
    X = C @ D.T + noise * rng.standard_normal((n_signals, n_features))
    return X, D


def _recovery_rate(D_true, D_learned, thresh=0.01):
    G = np.abs(D_true.T @ D_learned)
    return float(np.mean(1.0 - G.max(axis=1) < thresh))


def _ksvd_update_naive(D, C, X, exact):
    """Atom-by-atom K-SVD update with full residuals and numpy's SVD."""
    D, C = D.astype(np.float64).copy(), C.astype(np.float64).copy()
    for j in range(D.shape[1]):
        I = np.flatnonzero(C[:, j])
        if I.size == 0:
            continue
        E = X[I] - C[I] @ D.T + np.outer(C[I, j], D[:, j])
        if exact:
            _, s, Vt = np.linalg.svd(E, full_matrices=False)
            d = Vt[0] * np.sign(Vt[0] @ D[:, j] or 1.0)
        else:
            d = E.T @ C[I, j]
            d /= np.linalg.norm(d)
        D[:, j] = d
        C[I, j] = E @ d
    return D, C


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(7)
    X, D_true = _planted(rng, n_features=12, n_atoms=18, n_signals=300, k=3, noise=0.01)
    return X, D_true


# --------------------------------------------------------------------------- DCT


def test_overcomplete_dct_is_orthonormal_when_square():
    D = overcomplete_dct(8, 8)
    np.testing.assert_allclose(D.T @ D, np.eye(8), atol=1e-12)
    D2 = overcomplete_dct2(4, 16)
    np.testing.assert_allclose(D2.T @ D2, np.eye(16), atol=1e-12)


def test_overcomplete_dct2_shapes_and_norms():
    for n_atoms in (256, 100, 50):
        D = overcomplete_dct2(8, n_atoms)
        assert D.shape == (64, n_atoms)
        np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1.0, atol=1e-12)
    D = overcomplete_dct2(8, 256)
    # atom 0 is constant, the others have zero mean (the classic K-SVD DCT)
    np.testing.assert_allclose(D[:, 0], 1 / 8, atol=1e-12)
    np.testing.assert_allclose(D[:, 1:].mean(axis=0), 0, atol=1e-12)
    # separable: atom (a, b) is the outer product of 1-D atoms a and b
    D1 = overcomplete_dct(8, 16)
    np.testing.assert_allclose(D[:, 3 * 16 + 5].reshape(8, 8), np.outer(D1[:, 3], D1[:, 5]), atol=1e-12)


# --------------------------------------------------------------------------- update steps


@pytest.mark.parametrize("exact", [True, False], ids=["ksvd", "approx"])
def test_ksvd_update_matches_naive_reference(small_problem, exact):
    X, _ = small_problem
    rng = np.random.default_rng(1)
    D = X[rng.choice(X.shape[0], 18, replace=False)].T.copy()
    D /= np.linalg.norm(D, axis=0)
    C = _omp_naive(D, X, 3)
    C[:, 4] = 0.0  # an unused atom stays unchanged
    D_ref, C_ref = _ksvd_update_naive(D, C, X, exact)
    D1, C1 = np.ascontiguousarray(D), C.copy()
    R = X - C1 @ D1.T
    counts = ksvd_update(D1, C1, R, exact=exact)
    assert counts[4] == 0
    np.testing.assert_allclose(D1, D_ref, atol=1e-9)
    np.testing.assert_allclose(C1, C_ref, atol=1e-9)
    np.testing.assert_allclose(R, X - C1 @ D1.T, atol=1e-10)  # residual kept up to date
    np.testing.assert_array_equal(D1[:, 4], D[:, 4])
    assert np.array_equal(C1 != 0, C != 0) or np.all((C1 != 0) <= (C != 0))  # support never grows


def _psd(rng, eigenvalues):
    Q, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    return (Q * np.asarray(eigenvalues)) @ Q.T, Q


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_top_eigvec_power_converges_to_the_top_eigenvector(dtype):
    from cs_toolkit.dictionary._ksvd_numba import _top_eigvec_power

    rng = np.random.default_rng(5)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    lam = np.concatenate([[10.0, 4.0], rng.uniform(0.0, 1.0, 14)])
    M, Q = _psd(rng, lam)
    M = M.astype(dtype)
    d, v = np.empty(16, dtype), np.empty(16, dtype)
    start = (Q[:, 0] + 0.5 * rng.standard_normal(16)).astype(dtype)
    assert _top_eigvec_power(M, start, d, v, tol, 64)
    top = np.linalg.eigh(M.astype(np.float64))[1][:, -1]
    np.testing.assert_allclose(abs(d.astype(np.float64) @ top), 1.0, atol=1e-12 if dtype == np.float64 else 1e-5)


def test_top_eigvec_power_refuses_what_it_cannot_certify():
    from cs_toolkit.dictionary._ksvd_numba import _top_eigvec_power

    rng = np.random.default_rng(6)
    d, v = np.empty(8), np.empty(8)
    M, Q = _psd(rng, [5.0, 4.9, 1, 1, 1, 0.5, 0.2, 0.1])
    # a start exactly on the second eigenvector converges there: the certificate fails
    assert not _top_eigvec_power(M, Q[:, 1].copy(), d, v, 1e-12, 64)
    assert not _top_eigvec_power(M, Q[:, 0] + Q[:, 1], d, v, 1e-12, 64)  # gap 2 %: too slow
    assert not _top_eigvec_power(np.zeros((8, 8)), Q[:, 0].copy(), d, v, 1e-12, 64)  # M = 0
    assert not _top_eigvec_power(M, np.zeros(8), d, v, 1e-12, 64)  # no start
    M2, Q2 = _psd(rng, [1.0, 0.99, 0.98, 0.97, 0.0, 0.0, 0.0, 0.0])
    e1 = Q2[:, 0].copy()
    # converged (an eigenvector as start) but the spread spectrum gives no certificate
    assert not _top_eigvec_power(M2, e1, d, v, 1e-12, 64)


@pytest.mark.parametrize("method", ["ksvd", "approx", "mod"])
def test_dictionary_update_with_fixed_codes_never_increases_error(small_problem, method, dtype):
    X, _ = small_problem
    X = X.astype(dtype)
    rng = np.random.default_rng(3)
    for trial in range(3):
        D = rng.standard_normal((12, 18)).astype(dtype)
        D /= np.linalg.norm(D, axis=0)
        C = _omp_naive(D, X, 2 + trial).astype(dtype)
        before = np.linalg.norm(X - C @ D.T)
        if method == "mod":
            mod_update(D, C, X)
        else:
            R = X - C @ D.T
            ksvd_update(D, C, R, exact=method == "ksvd")
        after = np.linalg.norm(X - C @ D.T)
        assert D.dtype == dtype and C.dtype == dtype
        assert after <= before * (1 + 50 * np.finfo(dtype).eps)
        assert after < before  # and it does improve from a random dictionary
        np.testing.assert_allclose(np.linalg.norm(D, axis=0), 1.0, rtol=1e-4 if dtype == np.float32 else 1e-12)


def test_mod_update_is_the_least_squares_fit(small_problem):
    X, _ = small_problem
    rng = np.random.default_rng(4)
    D = rng.standard_normal((12, 18))
    D /= np.linalg.norm(D, axis=0)
    C = _omp_naive(D, X, 3)
    fit = C @ np.linalg.lstsq(C, X, rcond=None)[0]  # best C @ D.T over all D
    mod_update(D, C, X)
    np.testing.assert_allclose(C @ D.T, fit, atol=1e-9)


# --------------------------------------------------------------------------- planted dictionary


@pytest.mark.slow
@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_planted_dictionary_is_recovered(noise):
    rng = np.random.default_rng(2024)
    X, D_true = _planted(rng, noise=noise)
    rates = {}
    for name, func in (("ksvd", ksvd), ("approx_ksvd", approx_ksvd), ("mod", mod)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DependentAtomsWarning)
            res = func(X, 30, n_nonzero_coefs=3, max_iter=40, rng=1)
        rates[name] = _recovery_rate(D_true, res.dictionary)
        assert res.dictionary.shape == (20, 30) and res.codes.shape == (1500, 30)
        np.testing.assert_allclose(np.linalg.norm(res.dictionary, axis=0), 1.0, atol=1e-10)
        assert np.all(np.count_nonzero(res.codes, axis=1) <= 3)
        assert res.history["error"][-1] < 0.4 * res.history["error"][0]
    print(f"planted recovery noise={noise}: {rates}")
    # alternate minimisation can leave an atom or two in a local minimum (a blend of
    # two true atoms); over seeds 2020-2025 the rates are 0.83-1.0
    for name, rate in rates.items():
        assert rate >= 0.8, (name, rate)
    assert np.mean(list(rates.values())) >= 0.9


def test_history_with_omp_coder_is_nearly_non_increasing():
    rng = np.random.default_rng(5)
    X, _ = _planted(rng, n_signals=600, noise=0.01)
    for func in (ksvd, mod):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadAtomWarning)
            res = func(X, 30, n_nonzero_coefs=3, max_iter=15, rng=0, replace_dead=False)
        err = np.asarray(res.history["error"])
        assert len(err) == res.n_iter + 1 == 16
        # OMP is not an exact minimiser, so allow a small slack; the update step itself is
        # exactly monotone (test above)
        assert np.all(np.diff(err) <= 0.02 * err[:-1]), err
        assert np.all(np.diff(res.history["time"]) >= 0)


# --------------------------------------------------------------------------- reproducibility, dtypes


@pytest.mark.parametrize("method", ["ksvd", "approx_ksvd", "mod", "online"])
def test_same_rng_gives_identical_results(small_problem, method):
    X, _ = small_problem
    func = {"ksvd": ksvd, "approx_ksvd": approx_ksvd, "mod": mod}.get(method)
    if func is None:
        run = lambda: online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=64, n_epochs=2, rng=3)  # noqa: E731
    else:
        run = lambda: func(X, 18, n_nonzero_coefs=3, max_iter=4, rng=3)  # noqa: E731
    a, b = run(), run()
    np.testing.assert_array_equal(a.dictionary, b.dictionary)
    np.testing.assert_array_equal(a.codes, b.codes)
    assert a.history["error"] == b.history["error"]
    c = (online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=64, n_epochs=2, rng=4) if func is None
         else func(X, 18, n_nonzero_coefs=3, max_iter=4, rng=4))
    assert not np.array_equal(a.dictionary, c.dictionary)


@pytest.mark.parametrize("method", ["ksvd", "approx_ksvd", "mod", "online"])
def test_float32_is_kept_and_learns(small_problem, method):
    X, _ = small_problem
    X32 = X.astype(np.float32)
    if method == "online":
        res = online_dictionary_learning(X32, 18, n_nonzero_coefs=3, batch_size=64, n_epochs=3, rng=0)
    else:
        res = {"ksvd": ksvd, "approx_ksvd": approx_ksvd, "mod": mod}[method](
            X32, 18, n_nonzero_coefs=3, max_iter=5, rng=0)
    assert res.dictionary.dtype == np.float32 and res.codes.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(res.dictionary, axis=0), 1.0, rtol=1e-5)
    err = np.linalg.norm(X32 - res.codes @ res.dictionary.T) / np.linalg.norm(X32)
    assert err == pytest.approx(res.error, rel=1e-4)
    assert res.error < 0.7 * np.linalg.norm(X32 - 0) / np.linalg.norm(X32)


def test_user_arrays_are_not_modified(small_problem):
    X, _ = small_problem
    X0 = X.copy()
    D0 = overcomplete_dct(12, 18) * 2.0
    D_copy = D0.copy()
    res = ksvd(X, 18, n_nonzero_coefs=3, max_iter=2, init=D0)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(D0, D_copy)
    assert not np.shares_memory(res.dictionary, D0)


# --------------------------------------------------------------------------- dead atoms, coders, callbacks


def test_duplicate_atoms_are_replaced(small_problem):
    X, _ = small_problem
    D0 = X[:18].T.copy()
    D0[:, 5] = D0[:, 2]  # twin atoms: one of them is dead
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DependentAtomsWarning)
        res = ksvd(X, 18, n_nonzero_coefs=3, max_iter=3, init=D0, rng=0)
    assert res.replaced_atoms >= 1 and res.history["replaced"][1] >= 1
    G = np.abs(res.dictionary.T @ res.dictionary)
    np.fill_diagonal(G, 0)
    assert G.max() < 0.99
    assert np.all(np.count_nonzero(res.codes, axis=0) > 0)


def test_dead_atom_warns_when_not_replaced(small_problem):
    X, _ = small_problem
    D0 = X[:18].T.copy()
    D0[:, 5] = D0[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DependentAtomsWarning)
        with pytest.warns(DeadAtomWarning, match="unused"):
            res = mod(X, 18, n_nonzero_coefs=3, max_iter=2, init=D0, rng=0, replace_dead=False)
    assert res.replaced_atoms == 0


def test_coders_threshold_fista_and_callable(small_problem):
    X, _ = small_problem
    res_t = ksvd(X, 18, n_nonzero_coefs=3, coder="threshold", max_iter=3, rng=0)
    assert np.all(np.count_nonzero(res_t.codes, axis=1) <= 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res_f = mod(X, 18, coder="fista", lam=0.05, max_iter=3, rng=0)
    assert res_f.error < res_f.history["error"][0] + 1e-12
    calls = []

    def my_coder(D, Y):
        calls.append(Y.shape)
        return _omp_naive(D, Y, 2)

    res_c = approx_ksvd(X, 18, coder=my_coder, max_iter=2, rng=0)
    assert len(calls) == 3 and np.all(np.count_nonzero(res_c.codes, axis=1) <= 2)
    with pytest.raises(ValidationError, match=r"coder returned codes of shape"):
        ksvd(X, 18, coder=lambda D, Y: np.zeros((2, 2)), max_iter=1)


def test_callback_and_progress_and_rel_tol(small_problem):
    X, _ = small_problem
    seen = []

    def cb(it, info):
        seen.append((it, info["error"], info["dictionary"].shape))
        return it == 2  # stop after two updates

    res = ksvd(X, 18, n_nonzero_coefs=3, max_iter=10, rng=0, callback=cb, progress=True)
    assert res.n_iter == 2 and [s[0] for s in seen] == [1, 2] and seen[0][2] == (12, 18)
    res = ksvd(X, 18, n_nonzero_coefs=3, max_iter=50, rng=0, rel_tol=0.5)
    assert res.n_iter < 50


def test_sparse_encode_matches_reference(small_problem):
    X, _ = small_problem
    D = overcomplete_dct(12, 18)
    C = sparse_encode(X[:20], D, n_nonzero_coefs=3)
    np.testing.assert_allclose(C, _omp_naive(D, X[:20], 3), atol=1e-8)
    c1 = sparse_encode(X[0], D, n_nonzero_coefs=3)
    assert c1.shape == (18,)
    np.testing.assert_allclose(c1, C[0])


# --------------------------------------------------------------------------- online


def test_online_eval_every_adds_points_without_changing_the_learning(small_problem):
    X, _ = small_problem  # 300 signals: 10 mini-batches of 32 per epoch
    plain = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=32, n_epochs=2, rng=0)
    curve = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=32, n_epochs=2, rng=0, eval_every=4)
    np.testing.assert_array_equal(curve.dictionary, plain.dictionary)
    assert curve.history["iteration"] == [4, 8, 10, 12, 16, 20]
    assert [curve.history["error"][i] for i in (2, 5)] == plain.history["error"]
    assert np.all(np.diff(curve.history["time"]) >= 0)
    with pytest.raises(ValidationError, match="eval_every"):
        online_dictionary_learning(X, 18, n_nonzero_coefs=3, eval_every=0)


def test_online_learning_improves_and_keeps_unit_atoms(small_problem):
    X, D_true = small_problem
    res = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=32, n_epochs=8, rng=0)
    err = res.history["error"]
    assert len(err) == 8 and res.n_iter == 8 * 10
    assert err[-1] < err[0]
    np.testing.assert_allclose(np.linalg.norm(res.dictionary, axis=0), 1.0, atol=1e-10)
    res2 = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=32, max_iter=5, rng=0)
    assert res2.n_iter == 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res3 = online_dictionary_learning(X, 18, coder="fista", lam=0.05, batch_size=64, n_epochs=1, rng=0)
    assert res3.codes.shape == (300, 18)


# --------------------------------------------------------------------------- estimator, save/load


def test_estimator_api(small_problem):
    X, _ = small_problem
    for method in ("ksvd", "approx_ksvd", "mod", "online"):
        dl = DictionaryLearner(18, n_nonzero_coefs=3, method=method, max_iter=3, rng=0, batch_size=64)
        codes = dl.fit_transform(X)
        assert dl.dictionary_.shape == (12, 18) and codes.shape == (300, 18)
        assert dl.error_ == pytest.approx(np.linalg.norm(X - dl.inverse_transform(codes)) / np.linalg.norm(X))
        np.testing.assert_allclose(dl.transform(X), codes, atol=1e-10)
        assert dl.transform(X[0]).shape == (18,) and dl.inverse_transform(codes[0]).shape == (12,)
        assert dl.n_iter_ == 3 and dl.history_["error"][-1] == dl.error_
    assert dl.get_params()["method"] == "online"
    dl.set_params(method="mod")
    assert dl.method == "mod"
    with pytest.raises(ValidationError, match="Unknown parameter 'bogus'"):
        dl.set_params(bogus=1)
    with pytest.raises(ValidationError, match="not fitted"):
        DictionaryLearner(4).transform(X)
    with pytest.raises(ValidationError, match="Dimension mismatch for X"):
        dl.transform(np.ones((3, 5)))


def test_save_load_round_trip(small_problem, tmp_path):
    X, _ = small_problem
    dl = DictionaryLearner(18, n_nonzero_coefs=3, max_iter=2, rng=0).fit(X.astype(np.float32))
    path = tmp_path / "dl.npz"
    dl.save(path)
    dl2 = DictionaryLearner.load(path)
    np.testing.assert_array_equal(dl2.dictionary_, dl.dictionary_)
    assert dl2.dictionary_.dtype == np.float32
    assert dl2.get_params() == dl.get_params() and dl2.error_ == dl.error_ and dl2.n_iter_ == 2
    assert dl2.history_["error"] == pytest.approx(dl.history_["error"])
    np.testing.assert_array_equal(dl2.transform(X[:5]), dl.transform(X[:5]))


def test_load_refuses_corrupt_files(small_problem, tmp_path):
    X, _ = small_problem
    dl = DictionaryLearner(18, n_nonzero_coefs=3, max_iter=1, rng=0).fit(X)
    good = tmp_path / "good.npz"
    dl.save(good)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(ModelFileError, match="not a readable"):
        DictionaryLearner.load(junk)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelFileError):
        DictionaryLearner.load(truncated)
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))

    def write(name, **changes):
        p = tmp_path / name
        a = dict(arrays, **changes)
        np.savez(p, **a)
        return p

    with pytest.raises(ModelFileError, match="shape"):
        DictionaryLearner.load(write("shape.npz", dictionary=np.ones((12, 17))))
    with pytest.raises(ModelFileError, match="JSON"):
        DictionaryLearner.load(write("json.npz", metadata=np.array("{not json")))
    with pytest.raises(ModelFileError, match="format"):
        DictionaryLearner.load(write("fmt.npz", metadata=np.array(json.dumps(dict(meta, format="other")))))
    bad_params = dict(meta, params=dict(meta["params"], method="nope"))
    with pytest.raises(ModelFileError, match="invalid parameters"):
        DictionaryLearner.load(write("params.npz", metadata=np.array(json.dumps(bad_params))))
    with pytest.raises(ModelFileError, match="non-finite"):
        D = arrays["dictionary"].copy()
        D[0, 0] = np.nan
        DictionaryLearner.load(write("nan.npz", dictionary=D))
    with pytest.raises(ModelFileError, match="lacks"):
        DictionaryLearner.load(_without_metadata(tmp_path, arrays))
    obj = np.empty(1, dtype=object)
    p = tmp_path / "pickled.npz"
    np.savez(p, dictionary=obj, metadata=arrays["metadata"])
    with pytest.raises(ModelFileError):
        DictionaryLearner.load(p)


def _without_metadata(tmp_path, arrays):
    p = tmp_path / "nometa.npz"
    np.savez(p, dictionary=arrays["dictionary"])
    return p


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_are_rejected_with_clear_messages(small_problem):
    X, _ = small_problem
    with pytest.raises(ValidationError, match="n_atoms must be >= 1, got 0"):
        ksvd(X, 0, n_nonzero_coefs=3)
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValidationError, match="X must contain only finite values"):
        mod(Xn, 10, n_nonzero_coefs=3)
    with pytest.raises(ValidationError, match=r"init: expected shape .* \(12, 18\), got \(12, 17\)"):
        ksvd(X, 18, n_nonzero_coefs=3, init=np.ones((12, 17)))
    with pytest.raises(ValidationError, match="init must be one of 'data', 'dct'"):
        ksvd(X, 18, n_nonzero_coefs=3, init="random")
    with pytest.raises(ValidationError, match="coder must be one of 'omp', 'fista', 'threshold'; got 'lasso'"):
        ksvd(X, 18, n_nonzero_coefs=3, coder="lasso")
    with pytest.raises(ValidationError, match="method must be one of 'ksvd', 'approx_ksvd', 'mod', 'online'"):
        DictionaryLearner(18, n_nonzero_coefs=3, method="sgd").fit(X)
    with pytest.raises(ValidationError, match="needs lam"):
        ksvd(X, 18, coder="fista")
    with pytest.raises(ValidationError, match="needs n_nonzero_coefs or tol"):
        ksvd(X, 18)
    with pytest.raises(ValidationError, match="X must be 2-D"):
        ksvd(X[0], 18, n_nonzero_coefs=3)
    with pytest.raises(ValidationError, match="non-zero signal"):
        ksvd(np.zeros((10, 4)), 3, n_nonzero_coefs=1)
    with pytest.raises(ValidationError, match="init must have non-zero columns"):
        ksvd(X, 18, n_nonzero_coefs=3, init=np.zeros((12, 18)))
    with pytest.raises(ValidationError, match="batch_size must be >= 1"):
        online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=0)
    with pytest.warns(SparsityClippedWarning, match="n_nonzero_coefs=40 exceeds"):
        res = ksvd(X, 18, n_nonzero_coefs=40, max_iter=1, rng=0)
    assert np.all(np.count_nonzero(res.codes, axis=1) <= 12)


# --------------------------------------------------------------------------- denoising, plotting


@pytest.mark.slow
def test_denoising_learned_beats_dct_beats_noisy():
    from skimage import data

    clean = data.camera()[200:328, 200:328].astype(np.float64) / 255.0
    sigma = 25.0 / 255.0
    noisy = clean + sigma * np.random.default_rng(0).standard_normal(clean.shape)
    out_dct = denoise_image(noisy, sigma, dictionary="dct", n_atoms=144, step=2)
    out_learn = denoise_image(noisy, sigma, dictionary="learn", n_atoms=144, step=2, max_iter=5, rng=0)
    p_noisy = psnr(clean, noisy, data_range=1.0)
    p_dct, p_learn = psnr(clean, out_dct, data_range=1.0), psnr(clean, out_learn, data_range=1.0)
    print(f"denoise sigma=25 (128x128 crop): noisy {p_noisy:.2f} dB, DCT {p_dct:.2f} dB, learned {p_learn:.2f} dB")
    assert p_dct > p_noisy + 5
    assert p_learn > p_dct
    assert out_learn.shape == clean.shape and out_learn.dtype == np.float64
    with pytest.raises(ValidationError, match="sigma must be > 0"):
        denoise_image(noisy, 0.0)
    with pytest.raises(ValidationError, match="patch_size=200 exceeds"):
        denoise_image(noisy, sigma, patch_size=200)


def test_plot_dictionary_and_tiles():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    D = np.zeros((4, 3))
    D[:, 0] = [0, 1, 2, 3]
    t = dictionary_tiles(D, (2, 2), n_cols=2, pad=1)
    assert t.shape == (5, 5)
    np.testing.assert_allclose(t[:2, :2], [[0, 1 / 3], [2 / 3, 1]])
    assert np.isnan(t[2, 0]) and np.isnan(t[0, 2])
    np.testing.assert_allclose(t[:2, 3:], 0.5)  # constant atom
    ax = plot_dictionary(overcomplete_dct2(8, 64))
    assert ax.get_title() == "64 atoms"
    ax = plot_dictionary(overcomplete_dct(10, 12))
    assert len(ax.lines) == 12
    plt.close("all")
    with pytest.raises(ValidationError, match="patch_shape"):
        dictionary_tiles(D, (3, 3))


def test_online_learner_same_dictionary_at_one_and_two_threads(small_problem):
    """The loop codes its mini-batches on one numba thread and one BLAS thread whatever the
    caller's setting: the dictionaries agree bit for bit, and the caller's thread count is back."""
    import numba

    from cs_toolkit._threads import limit_threads

    X, _ = small_problem
    two = min(2, numba.config.NUMBA_NUM_THREADS)
    with limit_threads(1):
        r1 = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=64, n_epochs=2, rng=0)
    with limit_threads(two):
        r2 = online_dictionary_learning(X, 18, n_nonzero_coefs=3, batch_size=64, n_epochs=2, rng=0)
        assert numba.get_num_threads() == two
    np.testing.assert_array_equal(r1.dictionary, r2.dictionary)
    np.testing.assert_allclose(r1.codes, r2.codes, rtol=1e-10, atol=1e-12)


def test_ksvd_same_result_at_one_and_two_threads(small_problem):
    import numba

    from cs_toolkit._threads import limit_threads

    X, _ = small_problem
    with limit_threads(1):
        r1 = ksvd(X, 18, n_nonzero_coefs=3, max_iter=3, rng=0)
    with limit_threads(min(2, numba.config.NUMBA_NUM_THREADS)):
        r2 = ksvd(X, 18, n_nonzero_coefs=3, max_iter=3, rng=0)
    np.testing.assert_array_equal(r1.codes != 0, r2.codes != 0)
    np.testing.assert_allclose(r1.dictionary, r2.dictionary, rtol=1e-9, atol=1e-11)

"""Tests of the least-squares debiasing layer and of the ALISTA initialisation of LISTA / LISTA-CP."""

import json
import zipfile

import numpy as np
import pytest

from cs_toolkit.exceptions import ModelFileError, ValidationError
from cs_toolkit.learned import (
    LISTA,
    LISTA_CP,
    LISTA_CPSS,
    SyntheticSource,
    UnrolledFISTA,
    alista_weights,
    load_model,
    ls_debias,
    make_model,
)
from cs_toolkit.metrics import nmse


def _matrix(seed=0, m=20, n=40):
    A = np.random.default_rng(seed).standard_normal((m, n)) / np.sqrt(m)
    return A / np.linalg.norm(A, axis=0)


def _naive_debias(A, Y, X, threshold, max_support):
    """Per signal: support |x| > threshold * max|x|, the max_support largest, then np.linalg.lstsq."""
    out = np.zeros(X.shape)
    for i in range(X.shape[0]):
        S = _naive_support(X[i], threshold, max_support)
        if S is not None:
            out[i, S] = np.linalg.lstsq(A[:, S], Y[i], rcond=None)[0]
    return out


def _naive_support(x, threshold, max_support):
    """Entries with |x| > threshold * max|x|, the max_support largest first (None for x = 0)."""
    a = np.abs(x)
    if a.max() == 0:
        return None
    S = np.flatnonzero(a > threshold * a.max())
    return S[np.argsort(-a[S], kind="stable")][:max_support]


@pytest.mark.parametrize("threshold, max_support", [(0.0, 10), (0.2, 15), (0.5, 3)])
def test_ls_debias_matches_per_signal_lstsq(threshold, max_support):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 60))
    X = rng.standard_normal((25, 60)) * (rng.random((25, 60)) < 0.2)
    Y = X @ A.T + 0.1 * rng.standard_normal((25, 30))
    X_hat = X + 0.05 * rng.standard_normal(X.shape) * (rng.random(X.shape) < 0.5)
    X_hat[4] = 0.0  # an all-zero row stays zero
    before = X_hat.copy()
    out, sizes = ls_debias(A, Y, X_hat, threshold=threshold, max_support=max_support, return_support_size=True)
    ref = _naive_debias(A, Y, X_hat, threshold, max_support)
    np.testing.assert_allclose(out, ref, atol=1e-9)
    np.testing.assert_array_equal(sizes, np.count_nonzero(ref, axis=1))
    np.testing.assert_array_equal(X_hat, before)  # input untouched


def test_ls_debias_recovers_the_exact_signal_from_a_shrunk_estimate_and_keeps_dtype_and_rank():
    A = _matrix()
    x = np.zeros(40)
    x[[2, 9, 31]] = [1.5, -1.0, 0.7]
    x_hat = 0.6 * x
    x_hat[17] = 0.02  # a small false alarm below the threshold
    np.testing.assert_allclose(ls_debias(A, A @ x, x_hat, threshold=0.1), x, atol=1e-10)
    out32 = ls_debias(A, (A @ x).astype(np.float32)[None], x_hat.astype(np.float32)[None], threshold=0.1)
    assert out32.dtype == np.float32 and out32.shape == (1, 40)
    np.testing.assert_allclose(out32[0], x, atol=1e-5)


def test_ls_debias_skips_a_column_dependent_on_the_support():
    A = _matrix()
    A[:, 5] = A[:, 3]  # duplicated column
    x = np.zeros(40)
    x[[3, 11]] = [2.0, -1.0]
    x_hat = x.copy()
    x_hat[5] = 1.0  # smaller than x_hat[3], so column 5 comes second and is skipped
    out, size = ls_debias(A, A @ x, x_hat, threshold=0.0, return_support_size=True)
    assert size[0] == 2 and out[5] == 0.0
    np.testing.assert_allclose(out, x, atol=1e-10)


def test_ls_debias_rejects_bad_arguments():
    A = _matrix()
    Y, X = np.zeros((3, 20)), np.zeros((3, 40))
    with pytest.raises(ValidationError, match="threshold"):
        ls_debias(A, Y, X, threshold=1.0)
    with pytest.raises(ValidationError, match="max_support"):
        ls_debias(A, Y, X, max_support=21)
    with pytest.raises(ValidationError, match="same number of signals"):
        ls_debias(A, Y[:2], X)
    with pytest.raises(ValidationError, match="Dimension mismatch"):
        ls_debias(A, Y, X[:, :30])


def test_network_debias_layer_refits_the_last_output_and_calibration_helps_on_noisy_data():
    A = _matrix(m=30, n=60)
    src = SyntheticSource(A, p=0.1, snr_db=25.0, dtype=np.float64)
    Yv, Xv = src.sample(200, rng=1)
    net = UnrolledFISTA(A, 8, lam=0.05, dtype=np.float64)
    plain = net.forward(Yv)
    np.testing.assert_array_equal(net.forward(Yv, debias=True), ls_debias(A, Yv, plain, threshold=0.1))
    outs = net.forward(Yv, return_all=True, debias=True)
    np.testing.assert_array_equal(outs[-2], net.forward(Yv, n_layers=7))  # only the last entry is refit
    scores = net.calibrate_debias(Yv, Xv)
    assert net.debias_threshold is not None
    chosen = (net.debias_threshold, net.debias_refit_threshold)
    assert scores[chosen] == min(v for k, v in scores.items() if k is not None)
    assert scores[chosen] < scores[None] - 1.0  # debiasing removes the shrinkage bias
    Yt, Xt = src.sample(200, rng=2)
    assert nmse(Xt, net.forward(Yt), db=True) < nmse(Xt, net.forward(Yt, debias=False), db=True)
    np.testing.assert_array_equal(net.reconstruct(Yt[0]), net.forward(Yt[:1])[0])


def test_debias_setting_survives_save_and_load(tmp_path):
    A = _matrix()
    net = LISTA_CPSS(A, 3, debias=0.07, debias_max_support=8)
    net.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz", A=A)
    assert back.debias_threshold == pytest.approx(0.07) and back.debias_max_support == 8
    Y = np.random.default_rng(0).standard_normal((5, 20)).astype(np.float32)
    np.testing.assert_array_equal(back.forward(Y), net.forward(Y))
    off = LISTA_CPSS(A, 3)
    off.save(tmp_path / "off.npz")
    assert load_model(tmp_path / "off.npz").debias_threshold is None


@pytest.mark.parametrize("debias", [{"threshold": 1.5, "max_support": None}, {"threshold": 0.1},
                                    {"threshold": 0.1, "max_support": 999}, "yes"])
def test_malformed_debias_metadata_is_refused(debias, tmp_path):
    A = _matrix()
    LISTA_CP(A, 2, debias=True).save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["__metadata__"].tobytes().decode())
    meta["debias"] = debias
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    assert zipfile.is_zipfile(tmp_path / "bad.npz")
    with pytest.raises(ModelFileError, match="debias"):
        load_model(tmp_path / "bad.npz")


def test_bad_debias_and_init_options_raise():
    A = _matrix()
    with pytest.raises(ValidationError, match="threshold"):
        LISTA(A, 2, debias=2.0)
    with pytest.raises(ValidationError, match="init"):
        make_model("alista", A, 2, init="alista")
    with pytest.raises(ValidationError, match="debias"):
        LISTA(A, 2).forward(np.zeros(20), debias="yes")


def test_alista_init_gives_the_analytic_coupled_layer_in_both_lista_forms():
    A = _matrix()
    W = alista_weights(A)
    g = min(1.0, 1.0 / np.linalg.norm(W.T @ A, 2))
    cp = LISTA_CP(A, 4, lam=0.05, init="alista", dtype=np.float64)
    full = LISTA(A, 4, lam=0.05, init="alista", dtype=np.float64)
    Y = np.random.default_rng(2).standard_normal((6, 20))
    x = np.zeros((6, 40))
    for _ in range(4):  # naive iteration x+ = soft(x + g W^T (y - A x), g lam)
        v = x + g * (Y - x @ A.T) @ W
        x = np.sign(v) * np.maximum(np.abs(v) - g * 0.05, 0.0)
    np.testing.assert_allclose(cp.forward(Y), x, atol=1e-10)
    np.testing.assert_allclose(full.forward(Y), x, atol=1e-10)


def _naive_refit(A, Y, X, threshold, refit_threshold, max_support):
    """Two passes written out: lstsq on the support of X, then lstsq on the large entries of that refit."""
    out = np.zeros(X.shape)
    for i in range(X.shape[0]):
        S = _naive_support(X[i], threshold, max_support)
        if S is None:
            continue
        z = np.linalg.lstsq(A[:, S], Y[i], rcond=None)[0]
        S, z = S[np.abs(z) > refit_threshold * np.abs(z).max()], None
        out[i, S] = np.linalg.lstsq(A[:, S], Y[i], rcond=None)[0]
    return out


@pytest.mark.parametrize("threshold, refit, max_support", [(0.0, 0.1, 15), (0.02, 0.3, 12), (0.1, 0.0, 5)])
def test_ls_debias_second_pass_matches_two_lstsq(threshold, refit, max_support):
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 60))
    X = rng.standard_normal((20, 60)) * (rng.random((20, 60)) < 0.15)
    Y = X @ A.T + 0.1 * rng.standard_normal((20, 30))
    X_hat = 0.7 * X + 0.05 * rng.standard_normal(X.shape) * (rng.random(X.shape) < 0.3)
    out = ls_debias(A, Y, X_hat, threshold=threshold, refit_threshold=refit, max_support=max_support)
    np.testing.assert_allclose(out, _naive_refit(A, Y, X_hat, threshold, refit, max_support), atol=1e-9)
    with pytest.raises(ValidationError, match="refit_threshold"):
        ls_debias(A, Y, X_hat, refit_threshold=1.0)


def test_calibration_tries_every_pair_and_the_refit_survives_save_and_load(tmp_path):
    A = _matrix(m=30, n=60)
    src = SyntheticSource(A, p=0.1, snr_db=20.0, dtype=np.float64)
    Yv, Xv = src.sample(150, rng=1)
    net = LISTA_CP(A, 6, lam=0.05)
    scores = net.calibrate_debias(Yv, Xv, thresholds=(0.0, 0.05), refit_thresholds=(None, 0.1, 0.3))
    assert set(scores) == {None} | {(t, r) for t in (0.0, 0.05) for r in (None, 0.1, 0.3)}
    net.set_debias(0.05, refit_threshold=0.1)
    net.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert (back.debias_threshold, back.debias_refit_threshold) == (0.05, 0.1)
    np.testing.assert_array_equal(back.forward(Yv), net.forward(Yv))
    with np.load(tmp_path / "m.npz") as f:  # a file written before the field existed loads with it off
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["__metadata__"].tobytes().decode())
    del meta["debias"]
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "old.npz", **arrays)
    assert load_model(tmp_path / "old.npz").debias_threshold is None


def test_training_ignores_the_debias_layer():
    from cs_toolkit.learned import train

    A = _matrix()
    src = SyntheticSource(A, p=0.1, snr_db=30)
    nets = [LISTA_CP(A, 3, dtype=np.float64, debias=d) for d in (False, 0.05)]
    hists = [train(n, src, max_steps=20, patience=10, eval_every=5, n_val=50, rng=0) for n in nets]
    for k, v in nets[0].parameters().items():
        np.testing.assert_array_equal(nets[1].parameters()[k], v)
    np.testing.assert_array_equal(hists[0].val_nmse_db, hists[1].val_nmse_db)

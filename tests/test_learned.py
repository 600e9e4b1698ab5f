"""Tests of cs_toolkit.learned: unrolled networks, gradients, training, model files, CLI."""

import io
import json
import os
import zipfile

import numpy as np
import pytest

from cs_toolkit import solvers
from cs_toolkit.exceptions import DTypeError, ModelFileError, ModelMismatchError, ValidationError
from cs_toolkit.learned import (
    ALISTA,
    LAMP,
    LISTA,
    LISTA_CP,
    LISTA_CPSS,
    MODEL_KINDS,
    Adam,
    ArraySource,
    SyntheticSource,
    UnrolledFISTA,
    alista_weights,
    fine_tune,
    fista_momentum,
    load_model,
    make_model,
    make_schedule,
    nmse_per_layer,
    pretrain_alista,
    pretrain_and_fine_tune,
    train,
    train_reconstructor,
)
from cs_toolkit.learned.train import PRETRAIN_KINDS
from cs_toolkit.metrics import nmse
from cs_toolkit.solvers import shrink as _shrink

M, N = 20, 40


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _matrix(seed=0, m=M, n=N):
    A = np.random.default_rng(seed).standard_normal((m, n)) / np.sqrt(m)
    return A / np.linalg.norm(A, axis=0)


def _problem(seed=1, n_signals=30, A=None, p=0.1, dtype=np.float64):
    A = _matrix() if A is None else A
    return SyntheticSource(A, p=p, dtype=dtype).sample(n_signals, rng=seed)


def _naive_ista(A, Y, lam, step, K):
    """Loop-level ISTA from zero, one signal at a time; returns every iterate."""
    out = np.zeros((K,) + (Y.shape[0], A.shape[1]))
    for i, y in enumerate(Y):
        x = np.zeros(A.shape[1])
        for k in range(K):
            v = x + step * (A.T @ (y - A @ x))
            x = np.array([np.sign(a) * max(abs(a) - step * lam, 0.0) for a in v])
            out[k, i] = x
    return out


def _naive_fista(A, Y, lam, step, K):
    out = np.zeros((K,) + (Y.shape[0], A.shape[1]))
    for i, y in enumerate(Y):
        x = z = np.zeros(A.shape[1])
        s = 1.0
        for k in range(K):
            v = z + step * (A.T @ (y - A @ z))
            xn = np.sign(v) * np.maximum(np.abs(v) - step * lam, 0.0)
            sn = (1 + np.sqrt(1 + 4 * s * s)) / 2
            z = xn + (s - 1) / sn * (xn - x)
            x, s = xn, sn
            out[k, i] = x
    return out


# ----------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize("cls", [LISTA, LISTA_CP])
def test_untrained_network_from_ista_reproduces_ista_iterations(cls):
    A = _matrix()
    Y, _ = _problem()
    lam, K = 0.05, 6
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    net = LISTA.from_ista(A, lam=lam, n_layers=K, dtype=np.float64) if cls is LISTA else cls(
        A, K, lam=lam, dtype=np.float64)
    outs = net.forward(Y, return_all=True)
    ref = _naive_ista(A, Y, lam, step, K)
    for k in range(K):
        np.testing.assert_allclose(outs[k], ref[k], rtol=1e-10, atol=1e-12)


def test_untrained_lista_matches_the_solvers_ista():
    A = _matrix()
    Y, _ = _problem()
    step = 1.0 / np.linalg.norm(A, 2) ** 2
    net = LISTA.from_ista(A, lam=0.05, n_layers=7, step=step, dtype=np.float64)
    X = solvers.ista(A, Y, lam=0.05, step=step, max_iter=7, tol=0)
    X = X[0] if isinstance(X, tuple) else X
    np.testing.assert_allclose(net.forward(Y), X, rtol=1e-9, atol=1e-11)


def test_untrained_unrolled_fista_reproduces_fista_iterations():
    A = _matrix()
    Y, _ = _problem()
    net = UnrolledFISTA(A, 8, lam=0.05, dtype=np.float64)
    outs = net.forward(Y, return_all=True)
    ref = _naive_fista(A, Y, 0.05, net.step, 8)
    for k in range(8):
        np.testing.assert_allclose(outs[k], ref[k], rtol=1e-10, atol=1e-12)
    assert fista_momentum(3)[0] == 0.0


def test_untrained_lamp_reproduces_amp_iterations():
    A = _matrix()
    Y, _ = _problem(p=0.15)
    alpha, K = 1.3, 6
    net = LAMP(A, K, lam=alpha, dtype=np.float64)
    outs = net.forward(Y, return_all=True)
    for i, y in enumerate(Y):  # loop-level AMP (Donoho, Maleki & Montanari 2009)
        x, z = np.zeros(N), y.copy()
        for k in range(K):
            r = x + A.T @ z
            tau = alpha * np.linalg.norm(z) / np.sqrt(M)
            x = np.sign(r) * np.maximum(np.abs(r) - tau, 0)
            z = y - A @ x + np.count_nonzero(x) / M * z
            np.testing.assert_allclose(outs[k][i], x, rtol=1e-10, atol=1e-12)


def test_alista_weights_solve_the_constrained_problem():
    A = _matrix(3)
    W = alista_weights(A)
    np.testing.assert_allclose(np.diag(W.T @ A), 1.0, atol=1e-10)
    for i in (0, 7, N - 1):  # KKT system of min ||A^T w||^2 s.t. a_i^T w = 1
        a = A[:, i]
        K = np.block([[2 * A @ A.T, a[:, None]], [a[None, :], np.zeros((1, 1))]])
        rhs = np.zeros(M + 1)
        rhs[-1] = 1.0
        np.testing.assert_allclose(W[:, i], np.linalg.solve(K, rhs)[:M], rtol=1e-7, atol=1e-10)


def test_support_selection_passes_the_largest_entries_unshrunk():
    V = np.array([[5.0, -4.0, 0.5, -0.2, 3.0], [0.1, 0.2, -0.3, 0.05, 0.0]])
    X, active, shrunk = _shrink(V, 0.25, k=2)
    np.testing.assert_allclose(X[0], [5.0, -4.0, 0.25, 0.0, 2.75])
    np.testing.assert_allclose(X[1], [0.0, 0.0, -0.3, 0.0, 0.0])  # -0.3 selected and above theta
    assert active.sum() == 5 and shrunk.sum() == 2
    X0, _, _ = _shrink(V, 0.25, k=0)
    np.testing.assert_allclose(X0[0], [4.75, -3.75, 0.25, 0.0, 2.75])


def test_cpss_selects_an_increasing_percentage():
    net = LISTA_CPSS(_matrix(n=200, m=50), 16)
    ks = [net._k(t) for t in range(16)]
    assert ks[0] == round(1.2 * 2) and ks[-1] == 26 and ks == sorted(ks)
    assert LISTA_CP(_matrix(), 3)._k(2) == 0


# ----------------------------------------------------------------------------- gradients
def _perturbed(kind, rng, T=4):
    net = make_model(kind, _matrix(), T, dtype=np.float64, lam=0.1)
    for v in net.parameters().values():
        v += 0.05 * rng.standard_normal(v.shape) * np.abs(v).mean()
    return net


@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_gradients_match_central_differences(kind, rng):
    net = _perturbed(kind, rng)
    Y, X = _problem(seed=2, n_signals=25, p=0.2)
    for first, depth in ((0, 4), (2, 3)):
        loss, grads = net.loss_and_grad(Y, X, n_layers=depth, first_layer=first)
        for name, P in net.parameters().items():
            assert grads[name].shape == P.shape
            assert not np.any(grads[name][depth:]) and not np.any(grads[name][:first])
            for _ in range(2):
                d = np.zeros_like(P)
                d[first:depth] = rng.standard_normal(d[first:depth].shape)
                orig, eps = P.copy(), 1e-6
                P[:] = orig + eps * d
                lp, _ = net.loss_and_grad(Y, X, n_layers=depth)
                P[:] = orig - eps * d
                lm, _ = net.loss_and_grad(Y, X, n_layers=depth)
                P[:] = orig
                fd = (lp - lm) / (2 * eps)
                an = float(np.sum(grads[name] * d))
                assert abs(fd - an) <= 1e-5 * max(abs(fd), 1e-3), (kind, name, fd, an)


def test_loss_is_half_mean_squared_error():
    net = make_model("alista", _matrix(), 3, dtype=np.float64)
    Y, X = _problem()
    loss, _ = net.loss_and_grad(Y, X)
    assert loss == pytest.approx(0.5 * np.sum((net.forward(Y) - X) ** 2) / len(Y), rel=1e-12)


# ----------------------------------------------------------------------------- training
def _short_train(net, seed=0, **kw):
    src = SyntheticSource(_matrix(), p=0.1, dtype=net.dtype)
    opts = dict(lr=5e-3, max_steps=60, patience=30, eval_every=10, n_val=300, rng=seed)
    opts.update(kw)
    return train(net, src, **opts)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["alista", "lista_cpss"])
def test_training_beats_the_untrained_network_and_ista(kind):
    A, T = _matrix(), 4
    net = make_model(kind, A, T)
    Yv, Xv = SyntheticSource(A, p=0.1).sample(300, rng=99)
    before = nmse(Xv, net.forward(Yv), db=True)
    ista_net = LISTA.from_ista(A, lam=0.1, n_layers=T)
    hist = _short_train(net, validation=(Yv, Xv))
    after = nmse(Xv, net.forward(Yv), db=True)
    assert after < before - 1.0
    assert after < nmse(Xv, ista_net.forward(Yv), db=True) - 1.0
    assert len(hist.stages) == 3 * T and hist.total_time_s > 0
    np.testing.assert_allclose(hist.val_nmse_db, nmse_per_layer(net, Yv, Xv))
    assert hist.val_nmse_db[-1] < hist.val_nmse_db[0]


def test_layerwise_schedule_structure():
    st = make_schedule(2, lr=1e-3)
    assert [(s.depth, s.first) for s in st] == [(1, 0), (1, 0), (1, 0), (2, 1), (2, 0), (2, 0)]
    np.testing.assert_allclose([s.lr for s in st], [1e-3, 2e-4, 2e-5, 1e-3, 2e-4, 2e-5])
    joint = make_schedule(3, schedule="joint")
    assert [(s.depth, s.first) for s in joint] == [(3, 0)] * 3


def test_layer_alone_stage_leaves_other_layers_untouched():
    net = make_model("lista_cp", _matrix(), 3)
    W0 = net.parameters()["W"].copy()
    _short_train(net, refine=(), max_steps=10)  # only the "layer t alone" stages
    W1 = net.parameters()["W"]
    assert not np.array_equal(W0[2], W1[2])


def test_training_is_reproducible_from_rng_and_calls_back(capsys):
    calls = []
    a, b = make_model("fista", _matrix(), 2), make_model("fista", _matrix(), 2)
    _short_train(a, seed=5, max_steps=20, callback=lambda st, step, met: calls.append((st.depth, step, met)))
    _short_train(b, seed=5, max_steps=20, verbose=True)
    for k in a.parameters():
        np.testing.assert_array_equal(a.parameters()[k], b.parameters()[k])
    assert calls and set(calls[0][2]) == {"stage", "step", "loss", "val_nmse_db", "lr"}
    out = capsys.readouterr().out
    assert "validation NMSE per layer" in out and "total training time" in out


def test_array_source_and_train_reconstructor_with_a_dct_basis():
    from scipy.fft import dct

    rng = np.random.default_rng(3)
    n = 16
    Psi = dct(np.eye(n), norm="ortho", axis=0).T  # synthesis: s = Psi c
    C = rng.standard_normal((200, n)) * (rng.random((200, n)) < 0.2)
    S = C @ Psi.T
    A = rng.standard_normal((10, n)) / np.sqrt(10)
    src = ArraySource(S, A, Psi, val_fraction=0.2, rng=0)
    Yv, Cv = src.validation_set()
    assert Cv.shape == (40, n) and src.n_train == 160
    np.testing.assert_allclose(Yv, (Cv @ Psi.T) @ A.T.astype(np.float32), rtol=1e-4, atol=1e-5)
    model, hist = train_reconstructor(S, A, Psi, kind="alista", n_layers=3, rng=0, lr=5e-3, max_steps=20,
                                      patience=10, eval_every=5)
    Sr = model.reconstruct(S[:5] @ A.T)
    assert Sr.shape == (5, n)
    np.testing.assert_allclose(Sr, model.forward(S[:5] @ A.T) @ Psi.T, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValidationError, match="not square: pass codes"):
        ArraySource(S, A, np.hstack([Psi, Psi]))


# ----------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("kind", list(MODEL_KINDS))
def test_save_load_round_trip_gives_identical_outputs(kind, tmp_path, rng):
    net = _perturbed(kind, rng, T=3)
    path = tmp_path / "m.npz"
    net.save(path)
    back = load_model(path, A=_matrix())
    assert type(back) is type(net) and back.dtype == net.dtype and back.n_layers == 3
    Y, _ = _problem()
    np.testing.assert_array_equal(back.forward(Y), net.forward(Y))


def test_round_trip_with_a_dictionary_float32(tmp_path):
    rng = np.random.default_rng(0)
    A, D = rng.standard_normal((10, 30)), rng.standard_normal((30, 50))
    net = ALISTA(A, 2, dictionary=D)
    net.save(tmp_path / "d.npz")
    back = load_model(tmp_path / "d.npz", A=A, dictionary=D)
    Y = rng.standard_normal((4, 10)).astype(np.float32)
    np.testing.assert_array_equal(back.reconstruct(Y), net.reconstruct(Y))
    with pytest.raises(ModelMismatchError, match="another dictionary"):
        load_model(tmp_path / "d.npz", dictionary=D + 1e-9)


def test_load_refuses_a_model_for_another_matrix(tmp_path):
    make_model("lista", _matrix(), 2).save(tmp_path / "m.npz")
    with pytest.raises(ModelMismatchError, match="SHA-256 mismatch"):
        load_model(tmp_path / "m.npz", A=_matrix(seed=9))
    with pytest.raises(ModelMismatchError, match=r"shape \(20, 40\), got shape \(20, 41\)"):
        load_model(tmp_path / "m.npz", A=_matrix(n=41))


def _rewrite(src, dst, edit):
    """Copy an npz, letting ``edit(dict)`` change its arrays."""
    with np.load(src, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    edit(arrays)
    np.savez(dst, **arrays)


def _set_meta(arrays, **changes):
    meta = json.loads(arrays["__metadata__"].tobytes())
    meta.update(changes)
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize("case,match", [
    ("truncated", "cannot be opened|Bad|Error"),
    ("random_bytes", "another kind of file, not an .npz archive"),
    ("single_npy", "a single .npy array"),
    ("missing_metadata", "'__metadata__' is missing"),
    ("bad_json", "not valid JSON"),
    ("unknown_kind", "unknown model kind 'resnet'"),
    ("object_array", "Object arrays cannot be loaded"),
    ("extra_key", "unexpected \\['evil'\\]"),
    ("wrong_shape", "must have shape"),
    ("nan_weights", "NaN or Inf"),
    ("huge_dims", "n_layers"),
    ("tampered_matrix", "does not match its SHA-256"),
])
def test_load_refuses_corrupted_or_hostile_files(case, match, tmp_path):
    good = tmp_path / "good.npz"
    make_model("lista_cp", _matrix(), 2).save(good)
    bad = tmp_path / "bad.npz"
    raw = good.read_bytes()
    if case == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif case == "random_bytes":
        bad.write_bytes(np.random.default_rng(0).bytes(500))
    elif case == "single_npy":
        np.save(tmp_path / "bad.npy", np.zeros(3))
        bad = tmp_path / "bad.npy"
    elif case == "missing_metadata":
        _rewrite(good, bad, lambda a: a.pop("__metadata__"))
    elif case == "bad_json":
        _rewrite(good, bad, lambda a: a.update(__metadata__=np.frombuffer(b"{not json", dtype=np.uint8)))
    elif case == "unknown_kind":
        _rewrite(good, bad, lambda a: _set_meta(a, kind="resnet"))
    elif case == "object_array":
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.infolist():
                if item.filename != "param.theta.npy":
                    zout.writestr(item, zin.read(item.filename))
            buf = io.BytesIO()
            np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
            zout.writestr("param.theta.npy", buf.getvalue())  # a pickled object array
    elif case == "extra_key":
        _rewrite(good, bad, lambda a: a.update(evil=np.zeros(2)))
    elif case == "wrong_shape":
        _rewrite(good, bad, lambda a: a.update({"param.theta": np.zeros(3, np.float32)}))
    elif case == "nan_weights":
        _rewrite(good, bad, lambda a: a.update({"param.theta": np.array([np.nan, 1], np.float32)}))
    elif case == "huge_dims":
        _rewrite(good, bad, lambda a: _set_meta(a, n_layers=10**9))
    elif case == "tampered_matrix":
        _rewrite(good, bad, lambda a: a.update(sensing_matrix=a["sensing_matrix"] * 2))
    with pytest.raises(ModelFileError, match=match):
        load_model(bad)


def test_flipped_bytes_give_only_clean_errors(tmp_path):
    good = tmp_path / "good.npz"
    make_model("alista", _matrix(), 2).save(good)
    raw = bytearray(good.read_bytes())
    ref = load_model(good)
    Y, _ = _problem()
    for pos in np.linspace(0, len(raw) - 1, 40).astype(int):
        data = bytearray(raw)
        data[pos] ^= 0xFF
        (tmp_path / "flip.npz").write_bytes(bytes(data))
        try:
            m = load_model(tmp_path / "flip.npz")
        except ModelFileError:
            continue
        np.testing.assert_array_equal(m.forward(Y), ref.forward(Y))  # a harmless byte (zip padding)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.npz")


# ----------------------------------------------------------------------------- bad inputs
def test_bad_inputs_raise_clear_errors():
    A = _matrix()
    net = make_model("alista", A, 2)
    with pytest.raises(ValidationError, match=r"Dimension mismatch for Y: expected 20 features"):
        net.forward(np.zeros((3, 21)))
    with pytest.raises(ValidationError, match="finite"):
        net.forward(np.full((2, M), np.nan))
    with pytest.raises(ValidationError, match="n_layers must be >= 1, got 0"):
        make_model("lista", A, 0)
    with pytest.raises(ValidationError, match="n_layers must be <= 2, got 3"):
        net.forward(np.zeros(M), n_layers=3)
    with pytest.raises(ValidationError, match="kind must be one of 'lista'"):
        make_model("resnet", A, 2)
    with pytest.raises(ValidationError, match="dtype must be float32 or float64"):
        make_model("lista", A, 2, dtype=np.int32)
    with pytest.raises(DTypeError, match="complex"):
        net.forward(np.zeros(M, dtype=complex))
    with pytest.raises(ValidationError, match="same number of signals"):
        net.loss_and_grad(np.zeros((3, M)), np.zeros((2, N)))
    with pytest.raises(ValidationError, match=r"source produces \(m, n\) = \(20, 41\)"):
        train(net, SyntheticSource(_matrix(n=41)))
    with pytest.raises(ValidationError, match="patience must be >= 1"):
        train(net, SyntheticSource(A), patience=0)
    with pytest.raises(ValidationError, match="p must be > 0.0"):
        SyntheticSource(A, p=0)
    Y = np.ones((2, M))
    Y.flags.writeable = False  # read-only input is fine and untouched
    assert net.forward(Y).shape == (2, N)
    assert net.forward(np.ones(M)).shape == (N,)


def test_float32_is_kept():
    net = make_model("lista_cpss", _matrix(), 2)
    assert net.forward(np.ones((2, M))).dtype == np.float32
    assert make_model("lista_cpss", _matrix(), 2, dtype=np.float64).forward(np.ones(M, np.float32)).dtype == np.float64


# ----------------------------------------------------------------------------- CLI
def test_cli_train_writes_a_loadable_model(tmp_path, capsys):
    from cs_toolkit.cli import main

    out = tmp_path / "cli.npz"
    assert main(["train", "--model", "lista_cpss", "--m", "10", "--n", "20", "--layers", "2", "--quick",
                 "--snr", "30", "--out", str(out)]) == 0
    assert "total training time" in capsys.readouterr().out
    assert load_model(out).n_layers == 2
    assert main(["train", "--model", "nope", "--out", str(out)]) == 2
    assert "--model must be one of" in capsys.readouterr().err
    assert main(["train", "--layers", "0", "--out", str(out)]) == 2
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(out)]) == 2


def test_cli_train_on_images(tmp_path):
    from skimage import io as skio

    from cs_toolkit.cli import main

    img = (np.add.outer(np.arange(32), np.arange(48)) % 17 * 15).astype(np.uint8)
    d = tmp_path / "imgs"
    os.makedirs(d)
    skio.imsave(d / "a.png", img, check_contrast=False)
    out = tmp_path / "img.npz"
    assert main(["train", "--data", str(d), "--block", "4", "--ratio", "0.5", "--layers", "2", "--quick",
                 "--quiet", "--out", str(out)]) == 0
    model = load_model(out)
    assert model.dictionary is not None and model.n_measurements == 8


# ---------------------------------------------------------------------------- faster schedule options


def test_schedule_with_refinement_at_the_last_layer_only():
    st = make_schedule(3, lr=1e-3, refine=(0.2,), refine_last=(0.02,))
    assert [(s.depth, s.first) for s in st] == [(1, 0), (1, 0), (2, 1), (2, 0), (3, 2), (3, 0), (3, 0)]
    np.testing.assert_allclose([s.lr for s in st], [1e-3, 2e-4, 1e-3, 2e-4, 1e-3, 2e-4, 2e-5])


def test_adam_scales_multiply_the_learning_rate_per_layer():
    p = {"theta": np.array([1.0, 1.0])}
    opt = Adam(p, lr=0.1, scales={"theta": np.array([1.0, 0.01])})
    opt.step(p, {"theta": np.array([3.0, 3.0])})
    # first Adam step moves by lr * scale (bias-corrected m / sqrt(v) = 1)
    np.testing.assert_allclose(p["theta"], [0.9, 0.999], rtol=1e-6)


@pytest.mark.slow
def test_relative_scalar_lr_and_warm_start_train_alista():
    A, T = _matrix(), 4
    Yv, Xv = SyntheticSource(A, p=0.1).sample(300, rng=99)
    net = make_model("alista", A, T)
    before = nmse(Xv, net.forward(Yv), db=True)
    _short_train(net, validation=(Yv, Xv), lr_scalar=0.05, refine=(0.3,), refine_last=(0.03,))
    assert nmse(Xv, net.forward(Yv), db=True) < before - 3.0
    assert np.all(np.isfinite(net.parameters()["theta"]))


def test_warm_start_never_scores_worse_than_the_initialisation():
    from cs_toolkit.learned.train import _warm_start

    A = _matrix()
    Yv, Xv = SyntheticSource(A, p=0.1).sample(200, rng=4)
    net = make_model("alista", A, 3)
    net.parameters()["theta"][0] *= 0.5  # a "trained" first layer different from the init
    before = nmse(Xv, net.forward(Yv, n_layers=2), db=True)
    _warm_start(net, 2, Yv.astype(np.float32), Xv)
    assert nmse(Xv, net.forward(Yv, n_layers=2), db=True) <= before + 1e-9


# ---------------------------------------------------------------------------- checkpoints


class _Interrupt:
    """Callback raising KeyboardInterrupt once, at evaluation number ``at``."""

    def __init__(self, at):
        self.at, self.n = at, 0

    def __call__(self, stage, step, metrics):
        self.n += 1
        if self.n == self.at:
            raise KeyboardInterrupt


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lista_cp", "alista"])
def test_interrupted_training_resumes_to_the_same_weights(kind, tmp_path):
    A = _matrix()
    opts = dict(lr=5e-3, lr_scalar=0.05, refine=(0.2,), refine_last=(0.02,), max_steps=40, patience=20,
                eval_every=5, n_val=100)
    ref = make_model(kind, A, 3)
    h_ref = train(ref, SyntheticSource(A, p=0.1), rng=7, **opts)

    path = tmp_path / "ck.npz"
    net = make_model(kind, A, 3)
    with pytest.raises(KeyboardInterrupt):
        train(net, SyntheticSource(A, p=0.1), rng=7, checkpoint=path, checkpoint_every=10,
              callback=_Interrupt(at=13), **opts)
    assert path.exists() and not [f for f in os.listdir(tmp_path) if f.startswith(".tmp")]
    fresh = make_model(kind, A, 3)  # a new process: fresh model and generator
    h = train(fresh, SyntheticSource(A, p=0.1), rng=7, checkpoint=path, checkpoint_every=10, **opts)
    assert h.resumed_from is not None and h.resumed_from["stage"] > 0 and h.resumed_from["step"] > 0
    for k in ref.parameters():
        np.testing.assert_array_equal(fresh.parameters()[k], ref.parameters()[k])
    assert [s["steps"] for s in h.stages] == [s["steps"] for s in h_ref.stages]
    assert [r["val_nmse_db"] for r in h.records] == [r["val_nmse_db"] for r in h_ref.records]
    # a finished checkpoint resumes to the end at once
    again = make_model(kind, A, 3)
    train(again, SyntheticSource(A, p=0.1), rng=7, checkpoint=path, **opts)
    np.testing.assert_array_equal(again.parameters()["theta"], ref.parameters()["theta"])


def test_checkpoint_with_other_settings_is_refused(tmp_path):
    A = _matrix()
    path = tmp_path / "ck.npz"
    opts = dict(lr=5e-3, max_steps=10, patience=5, eval_every=5, n_val=50)
    train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, checkpoint=path, **opts)
    with pytest.raises(ValidationError, match=r"checkpoint .*other settings.*lr"):
        train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, checkpoint=path,
              **dict(opts, lr=1e-3))
    with pytest.raises(ValidationError, match=r"checkpoint .*other settings"):
        train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=2, checkpoint=path, **opts)
    with pytest.raises(ValidationError, match=r"checkpoint .*other settings.*kind"):
        train(make_model("fista", A, 2), SyntheticSource(A, p=0.1), rng=1, checkpoint=path, **opts)


def test_corrupted_checkpoint_gives_a_clean_error(tmp_path):
    A = _matrix()
    path = tmp_path / "ck.npz"
    opts = dict(lr=5e-3, max_steps=10, patience=5, eval_every=5, n_val=50, checkpoint=path, checkpoint_every=5)
    train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, **opts)
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param.theta"] = np.array([1.0, np.nan], dtype=np.float32)
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checkpoint .*NaN"):
        train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, **opts)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ModelFileError, match="checkpoint"):
        train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, **opts)
    obj = tmp_path / "obj.npz"
    np.savez(obj, __checkpoint__=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ModelFileError, match="checkpoint"):
        train(make_model("alista", A, 2), SyntheticSource(A, p=0.1), rng=1, **dict(opts, checkpoint=obj))


def test_model_save_is_atomic(tmp_path, monkeypatch):
    import cs_toolkit._atomic as atomic

    net = make_model("alista", _matrix(), 2)
    path = tmp_path / "m.npz"
    net.save(path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", boom)
    net.parameters()["theta"][:] = 0.5
    with pytest.raises(KeyboardInterrupt):
        net.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.slow
def test_cli_train_resumes_from_its_checkpoint(tmp_path, capsys):
    from cs_toolkit.cli import main

    ck, out, ref = tmp_path / "ck.npz", tmp_path / "m.npz", tmp_path / "ref.npz"
    argv = ["train", "--model", "alista", "--m", "10", "--n", "20", "--layers", "2", "--quick", "--quiet"]
    assert main(argv + ["--out", str(ref)]) == 0
    assert main(argv + ["--out", str(out), "--checkpoint", str(ck), "--checkpoint-every", "7"]) == 0
    assert ck.exists()
    assert main(argv + ["--out", str(out), "--checkpoint", str(ck)]) == 0  # finished: resumes at the end
    np.testing.assert_array_equal(load_model(out).parameters()["theta"], load_model(ref).parameters()["theta"])
    assert main(argv + ["--lr", "0.01", "--out", str(out), "--checkpoint", str(ck)]) == 2
    assert "checkpoint" in capsys.readouterr().err


# ----------------------------------------------------------------------------- pretraining the tied form
def _trained_looking_alista(p_max, seed=3, T=4):
    """An ALISTA network with per-layer steps and thresholds that are not all equal (as after training)."""
    net = ALISTA(_matrix(), T, p_max=p_max, dtype=np.float64)
    r = np.random.default_rng(seed)
    net.set_parameters({"gamma": net.parameters()["gamma"] * r.uniform(0.7, 1.3, T),
                        "theta": net.parameters()["theta"] * r.uniform(0.2, 1.5, T)})
    return net


@pytest.mark.parametrize("cls, p_max", [(LISTA, 0.0), (LISTA_CP, 0.0), (LISTA_CPSS, 13.0), (LISTA_CPSS, 30.0)])
def test_from_alista_gives_the_same_network_layer_by_layer(cls, p_max):
    al = _trained_looking_alista(p_max)
    al.set_debias(0.05)
    net = cls.from_alista(al)
    assert type(net) is cls and net.dtype == al.dtype and net.debias_threshold == 0.05
    Y, _ = _problem(seed=4)
    for a, b in zip(al.forward(Y, return_all=True, debias=False), net.forward(Y, return_all=True, debias=False)):
        np.testing.assert_allclose(b, a, atol=1e-10)
    np.testing.assert_allclose(net.forward(Y), al.forward(Y), atol=1e-10)
    if cls is LISTA_CPSS:
        assert [net._k(t) for t in range(4)] == [al._k(t) for t in range(4)]
    # the weights are free parameters afterwards: every W_t gets its own gradient
    _, g = net.loss_and_grad(*_problem(seed=5))
    assert np.any(g["W"] != 0)


def test_from_alista_refuses_mismatched_support_selection_and_other_models():
    with pytest.raises(ValidationError, match="p_max=0"):
        LISTA_CP.from_alista(ALISTA(_matrix(), 3))
    with pytest.raises(ValidationError, match="p_max=0"):
        LISTA.from_alista(ALISTA(_matrix(), 3))
    with pytest.raises(ValidationError, match="LISTA_CP instead"):
        LISTA_CPSS.from_alista(ALISTA(_matrix(), 3, p_max=0))
    with pytest.raises(ValidationError, match="alista must be an ALISTA network, got LISTA_CP"):
        LISTA.from_alista(LISTA_CP(_matrix(), 3))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["lista", "lista_cp", "lista_cpss"])
def test_pretrain_alista_trains_the_tied_network_and_copies_it(kind):
    A, T = _matrix(), 4
    net = make_model(kind, A, T, dtype=np.float64)
    Yv, Xv = SyntheticSource(A, p=0.1).sample(300, rng=99)
    before = nmse(Xv, net.forward(Yv), db=True)
    opts = dict(lr=5e-3, lr_scalar=0.05, max_steps=60, patience=30, eval_every=10, validation=(Yv, Xv), rng=7)
    hist = pretrain_alista(net, SyntheticSource(A, p=0.1), **opts)
    after = nmse(Xv, net.forward(Yv), db=True)
    assert after < before - 1.0
    # the same as training ALISTA by hand with the same settings and converting it
    tied = ALISTA(A, T, p_max=13.0 if kind == "lista_cpss" else 0.0, dtype=np.float64)
    hist2 = train(tied, SyntheticSource(A, p=0.1), **opts)
    np.testing.assert_allclose(net.forward(Yv, return_all=True)[-1], tied.forward(Yv), atol=1e-10)
    np.testing.assert_allclose(hist.val_nmse_db, hist2.val_nmse_db)
    # fine-tuning the free weights starts from there and its best-weights restore never loses it
    train(net, SyntheticSource(A, p=0.1), schedule="joint", refine=(), lr=1e-4, max_steps=20, patience=10,
          eval_every=5, validation=(Yv, Xv), rng=8)
    assert nmse(Xv, net.forward(Yv), db=True) <= after + 1e-9


def test_pretrain_alista_refuses_other_models():
    with pytest.raises(ValidationError, match="model must be a LISTA, LISTA_CP or LISTA_CPSS network, got ALISTA"):
        pretrain_alista(ALISTA(_matrix(), 2), SyntheticSource(_matrix(), p=0.1))
    with pytest.raises(ValidationError, match="finetune must be a dict of fine_tune options, got list"):
        pretrain_and_fine_tune(LISTA_CP(_matrix(), 2), SyntheticSource(_matrix(), p=0.1), finetune=[1])
    assert PRETRAIN_KINDS == ("lista", "lista_cp", "lista_cpss")


def test_fine_tune_is_one_joint_stage_and_refuses_schedule_options():
    A = _matrix()
    net = LISTA_CP(A, 3, dtype=np.float64)
    hist = fine_tune(net, SyntheticSource(A, p=0.1), lr=1e-3, max_steps=10, patience=5, eval_every=5, n_val=50,
                     rng=0)
    assert len(hist.stages) == 1 and hist.stages[0]["depth"] == 3 and hist.stages[0]["lr"] == 1e-3
    with pytest.raises(ValidationError, match="fine_tune sets \\['schedule'\\]"):
        fine_tune(net, SyntheticSource(A, p=0.1), schedule="layerwise")


def test_train_reconstructor_pretrain_on_a_dct_basis_and_bad_kinds():
    from scipy.fft import dct

    rng = np.random.default_rng(0)
    n, m = 16, 8
    Psi = dct(np.eye(n), norm="ortho", axis=0).T
    C = rng.standard_normal((400, n)) * (rng.random((400, n)) < 0.15)
    S = C @ Psi.T
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    opts = dict(lr=5e-3, lr_scalar=0.05, max_steps=40, patience=20, eval_every=10, rng=1)
    model, hist = train_reconstructor(S, A, Psi, kind="lista_cp", n_layers=3, pretrain=True,
                                      finetune=dict(max_steps=10, eval_every=5, batch_size=32), **opts)
    assert type(model) is LISTA_CP and len(hist.stages) == 1 and hist.stages[0]["steps"] <= 10
    untrained = make_model("lista_cp", A, 3, dictionary=Psi)
    Y = (S[:100] @ A.T).astype(np.float32)
    err = np.mean((model.reconstruct(Y) - S[:100]) ** 2)
    assert err < 0.8 * np.mean((untrained.reconstruct(Y) - S[:100]) ** 2)
    with pytest.raises(ValidationError, match="pretrain=True needs kind"):
        train_reconstructor(S, A, Psi, kind="alista", pretrain=True)
    with pytest.raises(ValidationError, match="pretrain must be True or False"):
        train_reconstructor(S, A, Psi, kind="lista", pretrain="yes")


def test_cli_train_pretrain_writes_both_checkpoints_and_a_loadable_model(tmp_path, capsys):
    from cs_toolkit.cli import main

    ck, out = tmp_path / "ck.npz", tmp_path / "m.npz"
    argv = ["train", "--model", "lista", "--m", "10", "--n", "20", "--layers", "2", "--quick", "--pretrain"]
    assert main(argv + ["--out", str(out), "--checkpoint", str(ck)]) == 0
    assert "as its tied form, ALISTA without support selection" in capsys.readouterr().out
    assert ck.exists() and (tmp_path / "ck-finetune.npz").exists()
    model = load_model(out)
    assert type(model) is LISTA and model.n_layers == 2
    again = tmp_path / "again.npz"  # both checkpoints are complete: the rerun resumes at their ends
    assert main(argv + ["--quiet", "--out", str(again), "--checkpoint", str(ck)]) == 0
    for k, v in model.parameters().items():
        np.testing.assert_array_equal(load_model(again).parameters()[k], v)
    assert main(["train", "--model", "alista", "--pretrain", "--out", str(out)]) == 2
    assert "--pretrain needs --model" in capsys.readouterr().err


def test_cli_train_data_reads_files_with_the_data_module(tmp_path, capsys):
    from scipy.io import wavfile

    from cs_toolkit.cli import main
    from cs_toolkit.cli.learned import _load_dir

    d = tmp_path / "wavs"
    os.makedirs(d)
    t = np.arange(4000)
    wavfile.write(d / "a.wav", 8000, (128 + 100 * np.sin(t / 7.0)).astype(np.uint8))  # 8-bit: offset 128
    clips, kind = _load_dir(str(d), 8)
    assert kind == "audio" and len(clips) == 1 and clips[0].shape[1] == 64  # windowed frames of one clip
    F = clips[0]
    assert abs(F.mean()) < 0.05 and np.abs(F).max() == pytest.approx(100 / 128, rel=0.02)  # centred, [-1, 1)
    bad = tmp_path / "imgs"
    os.makedirs(bad)
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert main(["train", "--data", str(bad), "--quick", "--quiet", "--out", str(tmp_path / "m.npz")]) == 2
    assert "broken.png" in capsys.readouterr().err

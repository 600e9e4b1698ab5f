"""The deep-unrolled speech reconstructor (JointAudioNet, method "joint_learned")."""

from __future__ import annotations

import numpy as np
import pytest

from cs_toolkit.exceptions import ModelFileError, ValidationError
from cs_toolkit.learned import JointAudioNet, load_joint_audio, train_joint_audio
from cs_toolkit.learned.joint_audio import _clip_batch, _Frames
from cs_toolkit.signals.audio import _FramesOperator, measure_audio, reconstruct_audio
from cs_toolkit.signals.image import pipeline_matrix
from cs_toolkit.transforms import get_window

N = 16


def _clips(rng, lengths=(70, 50)):
    t = [np.arange(n) for n in lengths]
    return [np.sin(0.3 * s) * np.exp(-s / 50) + 0.1 * rng.standard_normal(s.size) for s in t]


def test_operator_matches_the_pipeline_joint_operator_and_its_adjoint():
    rng = np.random.default_rng(0)
    A, _ = pipeline_matrix("gaussian", 6, N, 0)
    op = _Frames(A, N)
    nf = 7
    C = rng.standard_normal((1, nf, N))
    ref = _FramesOperator(A, op.D, get_window("sine", N), N // 2, nf)  # the classical method's operator
    np.testing.assert_allclose(op.forward(C).ravel(), ref.forward(C.ravel()), atol=1e-12)
    np.testing.assert_allclose(op.signal(C)[0], ref.ola(C[0] @ op.D.T), atol=1e-12)
    R = rng.standard_normal((1, nf, 6))
    np.testing.assert_allclose(op.adjoint(R).ravel(), ref.adjoint(R.ravel()), atol=1e-12)
    g = rng.standard_normal((1, (nf + 1) * N // 2))
    assert np.sum(op.signal(C) * g) == pytest.approx(np.sum(C * op.signal_adjoint(g)), rel=1e-12)


def test_untrained_network_is_fista_on_the_weighted_lasso():
    """T layers with theta_t = gamma lam and FISTA's momenta are T FISTA iterations (naive loop on
    the pipeline's own operator)."""
    rng = np.random.default_rng(1)
    A, _ = pipeline_matrix("gaussian", 8, N, 2)
    Y, _ = _clip_batch(_clips(rng)[:1], A, N)
    lam = rng.uniform(0.01, 0.05, N)
    T = 12
    net = JointAudioNet(T, frame_length=N, ratios=(0.5,), lam=lam[None])
    op, C, _ = net._run(Y, A, net.stages_for(0.5))
    ref = _FramesOperator(A, _Frames(A, N).D, get_window("sine", N), N // 2, Y.shape[1])
    y = Y[0].ravel()
    x = x_prev = np.zeros(ref.shape[1])
    t = 1.0
    for _ in range(T):  # FISTA (Beck & Teboulle), step 1, threshold lam per frequency
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        z = x + ((t - 1) / t_next) * (x - x_prev) if _ else x
        v = z - ref.adjoint(ref.forward(z) - y)
        x_prev, x = x, np.sign(v) * np.maximum(np.abs(v) - np.tile(lam, Y.shape[1]), 0)
        t = t_next
    np.testing.assert_allclose(C.ravel(), x, atol=1e-10)


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    A, _ = pipeline_matrix("gaussian", 6, N, 0)
    Y, X = _clip_batch(_clips(rng), A, N)
    net = JointAudioNet(5, frame_length=N, ratios=(0.375,), lam=0.05)
    net.gamma[:] = rng.uniform(0.5, 1.0, net.gamma.shape)
    net.beta[:] = rng.uniform(0.0, 0.8, net.beta.shape)
    net.log_theta += rng.normal(0, 0.3, net.log_theta.shape)
    _, G = net.loss_and_grad(Y, X, A, 0)
    h = 1e-6
    checked = 0
    for name in ("log_theta", "gamma", "beta"):
        p = getattr(net, name)
        for flat in rng.choice(p[0].size, size=min(6, p[0].size), replace=False):
            idx = (0,) + np.unravel_index(flat, p[0].shape)
            old = p[idx]
            p[idx] = old + h
            lp, _ = net.loss_and_grad(Y, X, A, 0)
            p[idx] = old - h
            lm, _ = net.loss_and_grad(Y, X, A, 0)
            p[idx] = old
            assert G[name][idx[1:]] == pytest.approx((lp - lm) / (2 * h), rel=1e-4, abs=1e-7)
            checked += abs(G[name][idx[1:]]) > 1e-6
    assert checked >= 6  # most of the checked entries are not trivially zero


def test_training_improves_validation_and_keeps_the_best(tmp_path):
    rng = np.random.default_rng(3)
    clips = _clips(rng, (90, 120, 80, 100, 110, 70))
    net, hist = train_joint_audio(clips[:4], validation=clips[4:], ratios=(0.25, 0.5), n_layers=6, frame_length=N,
                                  max_steps=30, batch_size=2, eval_every=5, lr=0.05, rng=0)
    assert all(b >= s for b, s in zip(hist["best_val_snr_db"], hist["start_val_snr_db"], strict=True))
    assert max(np.subtract(hist["best_val_snr_db"], hist["start_val_snr_db"])) > 0.1
    path = net.save(tmp_path / "ja.npz")
    back = load_joint_audio(path)
    for k, v in net.parameters().items():
        np.testing.assert_array_equal(getattr(back, k), v)
    assert back.training_record["ratios"] == [0.25, 0.5]


def test_ratio_interpolation_and_range():
    net = JointAudioNet(3, frame_length=N, ratios=(0.25, 0.5))
    net.gamma[1] = 0.5
    lt, g, b = net.stages_for(0.375)
    np.testing.assert_allclose(g, 0.75)
    np.testing.assert_allclose(net.stages_for(0.5)[1], 0.5)
    with pytest.raises(ValidationError, match="ratios 0.25 to 0.5"):
        net.stages_for(0.75)


def test_pipeline_method_is_scale_equivariant_and_checks_the_framing(tmp_path):
    rng = np.random.default_rng(4)
    x = _clips(rng, (400,))[0]
    net = JointAudioNet(8, frame_length=N, ratios=(0.25, 0.5))
    meas = measure_audio(x, 0.5, frame_length=N, hop=N // 2, rng=0)
    r1 = reconstruct_audio(meas, method="joint_learned", model=net)
    r2 = reconstruct_audio(measure_audio(300 * x, 0.5, frame_length=N, hop=N // 2, rng=0),
                           method="joint_learned", model=net)
    assert r1.shape == x.shape and np.linalg.norm(r1) > 0.1 * np.linalg.norm(x)
    np.testing.assert_allclose(r2, 300 * r1, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValidationError, match="hop"):
        reconstruct_audio(measure_audio(x, 0.5, frame_length=N, hop=4, rng=0), method="joint_learned", model=net)
    with pytest.raises(ValidationError, match="ratios"):
        reconstruct_audio(measure_audio(x, 0.75, frame_length=N, hop=N // 2, rng=0), method="joint_learned",
                          model=net)
    with pytest.raises(ValidationError, match="orthonormal rows"):
        reconstruct_audio(measure_audio(x, 0.5, frame_length=N, hop=N // 2, matrix="bernoulli", rng=0),
                          method="joint_learned", model=net)


@pytest.mark.parametrize("damage", ["truncate", "extra", "meta", "nan"])
def test_damaged_files_are_refused(tmp_path, damage):
    import json

    net = JointAudioNet(2, frame_length=N, ratios=(0.5,))
    path = net.save(tmp_path / "ja.npz")
    if damage == "truncate":
        data = open(path, "rb").read()
        open(path, "wb").write(data[: len(data) // 2])
    else:
        with np.load(path) as z:
            arrays = dict(z)
        if damage == "extra":
            arrays["x"] = np.zeros(2)
        elif damage == "meta":
            meta = json.loads(arrays["__metadata__"].tobytes())
            meta["n_layers"] = 10**9
            arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        else:
            arrays["gamma"] = arrays["gamma"].copy()
            arrays["gamma"][0, 0] = np.nan
        np.savez(path, **arrays)
    with pytest.raises(ModelFileError):
        load_joint_audio(path)


def test_method_registry_and_default(tmp_path, monkeypatch):
    from cs_toolkit.signals import methods

    assert methods.list_methods("image")[:3] == ["pnp_lr", "pnp_nl", "pnp_dct"] and "tnrd" in methods.list_methods("image")
    assert "pnp_nl_learned" in methods.list_methods("image") and methods.get_method("image", "pnp_nl_learned").learned
    assert methods.list_methods("audio")[:2] == ["joint", "joint_learned"]
    assert "omp" in methods.list_methods("audio", solvers=True)
    with pytest.raises(ValidationError, match="'joint', 'joint_learned'"):
        methods.get_method("audio", "magic")
    with pytest.raises(ValidationError, match="signal"):
        methods.list_methods("video")
    # the bundled image stages serve their own settings only
    assert methods.default_method("image", ratio=0.25) == (
        "pnp_nl_learned", "the learned method, whose bundled model serves these settings")
    classical = ("pnp_lr", "the best classical method (no bundled learned model serves these settings)")
    assert methods.default_method("image", ratio=0.6) == classical  # outside the model's ratios
    from cs_toolkit.signals._image_nlstages import DEFAULT_NL_MODEL, load_nlstages

    top = load_nlstages(DEFAULT_NL_MODEL).training_record["default_max_ratio"]  # beat pnp_lr on validation up to it
    learned = ("pnp_nl_learned", "the learned method, whose bundled model serves these settings")
    assert methods.default_method("image", ratio=0.5) == (learned if top >= 0.5 else classical)
    assert methods.default_method("image", ratio=0.25, block_size=16) == classical
    assert methods.default_method("image", ratio=0.25, matrix="bernoulli") == classical
    # a bundled network is the default only at the ratios its record names, for its framing
    net = JointAudioNet(2, frame_length=256, ratios=(0.25, 0.5))
    net.training_record = {"default_ratios": [0.25]}
    net.save(tmp_path / "joint_audio.npz")
    monkeypatch.setattr(methods, "MODELS_DIR", tmp_path)
    assert methods.default_method("audio", ratio=0.25)[0] == "joint_learned"
    assert methods.default_method("audio", ratio=0.5)[0] == "joint"  # it did not beat joint there
    assert methods.default_method("audio", ratio=0.25, matrix="bernoulli")[0] == "joint"
    assert methods.default_method("audio", ratio=0.25, frame_length=512, hop=256)[0] == "joint"
    assert methods.default_method("audio", ratio=0.25, basis="dict.npz")[0] == "joint"
    monkeypatch.setattr(methods, "MODELS_DIR", tmp_path / "none")
    assert methods.default_method("audio", ratio=0.25)[0] == "joint"
    assert methods.default_method("image", ratio=0.25) == classical


def test_tail_is_tuned_on_validation_and_saved(tmp_path):
    from cs_toolkit.learned.joint_audio import tune_tail

    rng = np.random.default_rng(5)
    clips = _clips(rng, (120, 90, 100))
    net = JointAudioNet(4, frame_length=N, ratios=(0.25, 0.5), lam=0.02)
    out = tune_tail(net, clips, n_tail=30, scales=(1.0, 0.1))
    for j, r in enumerate((0.25, 0.5)):
        rec = out[r]
        assert rec["scale"] in (1.0, 0.1) and net.tail_scale[j] == rec["scale"]
        assert np.isfinite(rec["snr_db"]) and np.isfinite(rec["no_tail_snr_db"])
    assert net.n_tail == 30 and net.training_record["tail"]["n_tail"] == 30
    back = load_joint_audio(net.save(tmp_path / "t.npz"))
    assert back.n_tail == 30
    np.testing.assert_array_equal(back.tail_scale, net.tail_scale)
    # the tail changes the result, and is what reconstruct runs (at 0.25: at 0.5 the measurements
    # determine the clip, and every method ends on it)
    x = _clips(rng, (300,))[0]
    meas = measure_audio(x, 0.25, frame_length=N, hop=N // 2, rng=0)
    with_tail = reconstruct_audio(meas, method="joint_learned", model=net)
    net.n_tail = 0
    assert not np.allclose(with_tail, reconstruct_audio(meas, method="joint_learned", model=net))


def test_joint_penalty_follows_the_measurements_per_sample():
    from cs_toolkit.signals.audio import joint_penalty

    assert joint_penalty(64, 256, 128) == pytest.approx(1e-3)   # ratio 0.25: 0.5 measurement per sample
    assert joint_penalty(128, 256, 128) == pytest.approx(1e-5)  # ratio 0.5: determined
    assert joint_penalty(96, 256, 128) == pytest.approx(10**-3.5)  # in between, through validation
    assert joint_penalty(115, 256, 128) == pytest.approx(10 ** np.interp(115 / 128, (0.75, 0.9), (-3.5, -4)))
    assert joint_penalty(16, 256, 128) == pytest.approx(1e-3)
    assert joint_penalty(200, 256, 128) == pytest.approx(1e-5)


def _dense_clip_operator(A, w, hop, n_frames, front, length):
    """The naive ``M`` (measurements of all frames from the clip's samples), column by column."""
    N = A.shape[1]
    total = (n_frames - 1) * hop + N
    cols = []
    for j in range(length):
        s = np.zeros(total)
        s[front + j] = 1.0
        F = np.stack([s[f * hop: f * hop + N] * w for f in range(n_frames)])
        cols.append((F @ A.T).ravel())
    return np.stack(cols, axis=1)


@pytest.mark.parametrize("N, hop, m", [(16, 8, 8), (12, 5, 6), (16, 8, 5)])
def test_normal_band_is_the_naive_normal_matrix(N, hop, m):
    from cs_toolkit.signals.audio import _normal_band

    rng = np.random.default_rng(N + hop + m)
    A, w = rng.standard_normal((m, N)), get_window("sine", N)
    length, front = 47, N - hop
    n_frames = -(-(length + front) // hop)
    M = _dense_clip_operator(A, w, hop, n_frames, front, length)
    T = M.T @ M
    ab = _normal_band(A, w, hop, n_frames, front, length)
    for d in range(N):  # upper storage: row N - 1 - d holds the d-th super-diagonal
        np.testing.assert_allclose(ab[N - 1 - d, d:], np.diagonal(T, d), atol=1e-12)
    assert np.count_nonzero(np.abs(np.triu(T, N)) > 1e-12) == 0  # nothing outside the band


def test_determined_measurements_give_the_clip_exactly(monkeypatch):
    # a random, not at all sparse clip: at ratio 0.5 with a half-frame hop every sample has one
    # measurement, the clip is determined, and "joint" and "joint_learned" end on it
    x = np.random.default_rng(5).standard_normal(1500) * 0.1
    meas = measure_audio(x, 0.5, rng=1)
    for method in ("joint", "joint_learned"):
        rec = reconstruct_audio(meas, method=method)
        assert np.linalg.norm(rec - x) <= 1e-8 * np.linalg.norm(x), method
    # at ratio 0.25 the clip is not determined: no least-squares step (the l1 estimate stays)
    from cs_toolkit.signals import audio

    meas = measure_audio(x, 0.25, rng=1)
    est = np.random.default_rng(6).standard_normal(x.size)
    assert audio._least_squares_finish(est, meas.Y[0], meas.A, meas.window, meas.hop,
                                       meas.frame_length - meas.hop) is est
    # nor for a clip whose banded system would exceed the memory bound
    meas = measure_audio(x, 0.5, rng=1)
    args = (meas.Y[0], meas.A, meas.window, meas.hop, meas.frame_length - meas.hop)
    assert audio._least_squares_finish(est, *args) is not est
    monkeypatch.setattr(audio, "LS_MAX_BAND", meas.frame_length * x.size - 1)
    assert audio._least_squares_finish(est, *args) is est


class _Stop(Exception):
    pass


def test_training_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    """A run stopped after its second evaluation and run again with the same checkpoint ends with the
    network and history of a run never stopped (the last evaluation's mean loss needs the losses saved
    before the stop: max_steps is not a multiple of eval_every); other settings and a damaged file are
    refused; without validation clips the checkpoint is written too."""
    rng = np.random.default_rng(3)
    train, val = _clips(rng, (70, 60, 50)), _clips(rng, (64,))
    kw = dict(validation=val, ratios=(0.25, 0.5), n_layers=3, frame_length=N, max_steps=10, batch_size=2,
              eval_every=4, rng=0)
    ref, ref_hist = train_joint_audio(train, **kw)
    ck = tmp_path / "ck.npz"

    def stop(step, net, hist):
        if step == 8:
            raise _Stop

    with pytest.raises(_Stop):
        train_joint_audio(train, checkpoint=ck, callback=stop, **kw)
    assert ck.exists()
    net, hist = train_joint_audio(train, checkpoint=ck, **kw)
    for k, v in ref.parameters().items():
        np.testing.assert_array_equal(net.parameters()[k], v)
    bare = tmp_path / "bare"  # a name without .npz: written as bare.npz and found there on the rerun
    with pytest.raises(_Stop):
        train_joint_audio(train, checkpoint=bare, callback=stop, **kw)
    steps_seen = []
    resumed, _ = train_joint_audio(train, checkpoint=bare, callback=lambda s, n, h: steps_seen.append(s), **kw)
    assert (tmp_path / "bare.npz").exists() and steps_seen == [10]  # went on after step 8
    for k, v in ref.parameters().items():
        np.testing.assert_array_equal(resumed.parameters()[k], v)
    assert hist["step"] == ref_hist["step"] == [4, 8, 10]
    assert hist["train_loss"] == ref_hist["train_loss"] and hist["val_snr_db"] == ref_hist["val_snr_db"]
    assert net.training_record["best_val_snr_db"] == ref.training_record["best_val_snr_db"]
    with pytest.raises(ValidationError, match=r"other settings \(lr\)"):
        train_joint_audio(train, checkpoint=ck, **{**kw, "lr": 0.02})
    with pytest.raises(ValidationError, match="start_sha256"):  # another seed: another starting network
        train_joint_audio(train, checkpoint=ck, **{**kw, "rng": 1})
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a valid joint-audio training checkpoint"):
        train_joint_audio(train, checkpoint=bad, **kw)
    ck2 = tmp_path / "noval.npz"
    net2, _ = train_joint_audio(train, checkpoint=ck2, **{**kw, "validation": ()})
    assert ck2.exists()
    again, _ = train_joint_audio(train, checkpoint=ck2, **{**kw, "validation": ()})  # resumes after the last step
    for k, v in net2.parameters().items():
        np.testing.assert_array_equal(again.parameters()[k], v)


def test_record_default_ratios_keeps_the_ratios_where_the_network_beat_joint():
    """Planted validation scores: far above `joint` at 0.25, far below at 0.5 -> only 0.25 is recorded;
    the measured `joint` SNRs are recorded per ratio; bad arguments are refused."""
    from cs_toolkit.learned.joint_audio import record_default_ratios

    rng = np.random.default_rng(4)
    clips = _clips(rng, (64, 48))
    net = JointAudioNet(2, frame_length=N, ratios=(0.25, 0.5))
    net.training_record = {"best_val_snr_db": [1e9, -1e9]}
    assert record_default_ratios(net, clips) == [0.25]
    rec = net.training_record
    assert rec["default_ratios"] == [0.25] and len(rec["joint_val_snr_db"]) == 2
    assert all(np.isfinite(v) for v in rec["joint_val_snr_db"])
    with pytest.raises(ValidationError, match="clips must be a non-empty list"):
        record_default_ratios(net, [])
    with pytest.raises(ValidationError, match="net must be a JointAudioNet"):
        record_default_ratios(object(), clips)

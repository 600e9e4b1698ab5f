"""Metrics, bundled data and file I/O, synthetic problem generators."""

import math

import numpy as np
import pytest

from cs_toolkit import data
from cs_toolkit._config import SUCCESS_THRESHOLD
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.metrics import (
    nmse,
    nmse_per_signal,
    psnr,
    recovery_success,
    relative_error,
    segmental_snr,
    snr,
    ssim,
    support_recovery,
)
from cs_toolkit.signals import add_noise, bernoulli_gaussian, make_problem, sparse_signals


# ------------------------------------------------------------------ metrics
def test_nmse_is_ratio_of_sums_over_the_batch():
    x = np.array([[1.0, 0.0], [0.0, 3.0]])
    xh = np.array([[1.0, 1.0], [0.0, 3.0]])
    assert nmse(x, xh) == pytest.approx(1.0 / 10.0)
    assert nmse(x, xh, db=True) == pytest.approx(-10.0)
    assert np.allclose(nmse_per_signal(x, xh), [1.0, 0.0])
    assert nmse_per_signal(x[0], xh[0]) == pytest.approx(1.0)
    assert snr(x, xh) == pytest.approx(10.0)
    assert np.allclose(snr(x[:1], xh[:1], per_signal=True), [0.0])


def test_zero_reference_convention():
    z = np.zeros(4)
    assert nmse(z, z) == 0.0
    assert nmse(z, np.ones(4)) == math.inf
    assert snr(z, z) == math.inf
    assert relative_error(z, z) == 0.0
    assert relative_error(z, np.ones(4)) == math.inf
    assert recovery_success(z, z)
    assert snr(np.ones(3), np.ones(3)) == math.inf


def test_relative_error_and_success_threshold():
    x = np.array([[3.0, 4.0], [3.0, 4.0], [3.0, 4.0]])
    xh = x + np.array(
        [[0.0, 0.5 * SUCCESS_THRESHOLD * 5], [0.0, 2 * SUCCESS_THRESHOLD * 5], [0.5, 0.0]]
    )
    assert np.allclose(relative_error(x, xh), [0.5e-3, 2e-3, 0.1])
    assert recovery_success(x, xh).tolist() == [True, False, False]
    assert recovery_success(x, xh, threshold=0.2).tolist() == [True, True, True]
    assert recovery_success(x[0], xh[0]) is True
    with pytest.raises(ValidationError, match=r"threshold must be > 0.0"):
        recovery_success(x, xh, threshold=0)


def test_support_recovery_constructed_example():
    x = np.array([[0.0, 2.0, 0.0, -1.0, 0.0], [5.0, 0.0, 0.0, 0.0, 1.0]])
    xh = np.array([[0.9, 2.1, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.1, 0.9]])
    # row 0: true {1, 3}, top-2 of |xh| {1, 0} -> 1/2; row 1: true {0, 4}, top-2 {0, 4} -> 1
    assert np.allclose(support_recovery(x, xh, per_signal=True), [0.5, 1.0])
    assert support_recovery(x, xh) == pytest.approx(0.75)
    # threshold mode: row 1 estimated support {0, 4} (0.1 is not above 0.5)
    assert np.allclose(support_recovery(x, xh, tol=0.5, per_signal=True), [0.5, 1.0])
    assert support_recovery(np.zeros(3), np.ones(3)) == 1.0
    assert support_recovery(x[0], xh[0], per_signal=True) == 0.5


def test_psnr_known_values():
    a = np.zeros((8, 8))
    b = a.copy()
    b[0, 0] = 0.8  # MSE = 0.64 / 64 = 0.01 -> 20 dB with range 1
    assert psnr(a, b) == pytest.approx(20.0)
    assert psnr(a, b, data_range=2.0) == pytest.approx(20.0 + 20 * math.log10(2))
    u = np.full((8, 8), 100, dtype=np.uint8)
    v = u.copy()
    v[:, :] = 110  # MSE 100, range 255
    assert psnr(u, v) == pytest.approx(10 * math.log10(255**2 / 100))
    assert psnr(a, a) == math.inf


def test_ssim_bounds_and_identity(rng):
    img = data.load_image("coins")[:64, :64]
    assert ssim(img, img) == pytest.approx(1.0)
    noisy = np.clip(img + 0.2 * rng.standard_normal(img.shape), 0, 1)
    s = ssim(img, noisy)
    assert 0.0 < s < 0.9
    with pytest.raises(ValidationError, match=r"at least 7x7"):
        ssim(np.ones((5, 5)), np.ones((5, 5)))


def test_segmental_snr_known_values():
    t = np.arange(1024)
    x = np.sin(t / 5.0)
    val = segmental_snr(x, x + 0.1 * x)  # per frame exactly 20 dB
    assert val == pytest.approx(20.0)
    assert segmental_snr(x, x) == 35.0
    assert segmental_snr(x, np.zeros_like(x)) == pytest.approx(0.0)
    assert segmental_snr(x, -10 * x) == -10.0  # clamped
    # silent frames are excluded: a silent half with a bad estimate does not count
    y = np.concatenate([np.zeros(512), x[:512]])
    yh = np.concatenate([np.full(512, 1e-3), 1.1 * x[:512]])
    assert segmental_snr(y, yh) == pytest.approx(20.0)
    batch = segmental_snr(np.stack([x, x]), np.stack([1.1 * x, x]))
    assert batch.shape == (2,) and batch[0] == pytest.approx(20.0) and batch[1] == 35.0


def test_metric_shape_validation():
    with pytest.raises(ValidationError, match=r"x_true of shape \(3,\) and x_est of shape \(4,\)"):
        nmse(np.ones(3), np.ones(4))
    with pytest.raises(ValidationError, match=r"img_true and img_est must have the same shape"):
        psnr(np.ones((8, 8)), np.ones((8, 9)))
    with pytest.raises(ValidationError, match=r"x_est must contain only finite"):
        relative_error(np.ones(3), np.array([1.0, np.nan, 0.0]))
    with pytest.raises(ValidationError, match=r"clamp must be a pair"):
        segmental_snr(np.ones(10), np.ones(10), clamp=3)


# ------------------------------------------------------------------ data
def test_list_and_load_samples():
    s = data.list_samples()
    assert {"camera", "coins", "astronaut_gray", "brick"} <= set(data.list_samples("image"))
    audio = data.list_samples("audio")
    assert len(audio) >= 6 and all(v == "audio" for v in audio.values())
    assert s["camera"] == "image"
    img = data.load_image("camera")
    assert img.shape == (512, 512) and img.dtype == np.float64
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.max() > 0.9
    for name in ("coins", "brick.png"):
        assert data.load_image(name).shape == (256, 256)
    x, rate = data.load_audio(sorted(audio)[0])
    assert rate == 8000 and x.dtype == np.float64 and x.ndim == 1
    assert np.abs(x).max() <= 1.0 and np.abs(x).max() > 0.01


def test_unknown_sample_lists_available():
    with pytest.raises(
        ValidationError, match=r"unknown image sample 'lena'; available image samples: .*camera"
    ):
        data.load_image("lena")
    with pytest.raises(ValidationError, match=r"available audio samples: .*0_jackson_0"):
        data.load_audio("camera")
    with pytest.raises(ValidationError, match=r"kind must be one of 'image', 'audio'"):
        data.list_samples("video")


def test_data_dir_env_override(tmp_path, monkeypatch):
    data.write_image(tmp_path / "tiny.png", np.eye(8))
    monkeypatch.setenv("CS_TOOLKIT_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert data.list_samples() == {"tiny": "image"}
    assert np.array_equal(data.load_image("tiny"), np.eye(8))
    monkeypatch.setenv("CS_TOOLKIT_DATA", str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=r"CS_TOOLKIT_DATA"):
        data.data_dir()


@pytest.mark.parametrize("fmt,atol", [("int16", 1 / 32768), ("int32", 1e-9), ("float32", 1e-7)])
def test_wav_roundtrip(tmp_path, rng, fmt, atol):
    x = np.clip(0.5 * rng.standard_normal(400), -1, 1)
    p = tmp_path / "x.wav"
    data.write_wav(p, x, 8000, sample_format=fmt)
    y, rate = data.read_wav(p)
    assert rate == 8000 and y.dtype == np.float64
    assert np.allclose(y, x, atol=atol)
    stereo = np.stack([x, -x], axis=1)
    data.write_wav(p, stereo, 16000)
    y2, rate2 = data.read_wav(p)
    assert rate2 == 16000 and y2.shape == (400, 2)
    assert np.allclose(y2[:, 1], -x, atol=1 / 16384)


def test_wav_uint8_and_clipping(tmp_path):
    from scipy.io import wavfile

    p = tmp_path / "u8.wav"
    wavfile.write(p, 8000, np.array([0, 128, 255], dtype=np.uint8))
    y, _ = data.read_wav(p)
    assert np.allclose(y, [-1.0, 0.0, 127 / 128])
    data.write_wav(p, np.array([2.0, -2.0]), 8000)
    assert np.allclose(data.read_wav(p)[0], [32767 / 32768, -1.0])


def test_truncated_or_bogus_wav_raises_naming_path(tmp_path):
    good = tmp_path / "good.wav"
    data.write_wav(good, np.linspace(-0.5, 0.5, 1000), 8000)
    raw = good.read_bytes()
    bad = tmp_path / "truncated.wav"
    bad.write_bytes(raw[:600])
    with pytest.raises(ValidationError, match=r"truncated\.wav.*truncated"):
        data.read_wav(bad)
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"this is not a wav file at all")
    with pytest.raises(ValidationError, match=r"cannot read WAV file .*bogus\.wav"):
        data.read_wav(bogus)
    with pytest.raises(FileNotFoundError, match=r"nothere\.wav"):
        data.read_wav(tmp_path / "nothere.wav")


def test_image_roundtrip_and_bad_files(tmp_path, rng):
    img = rng.random((20, 30))
    p = tmp_path / "img.png"
    data.write_image(p, img)
    back = data.read_image(p)
    assert back.shape == (20, 30) and back.dtype == np.float64
    assert np.abs(back - img).max() <= 0.5 / 255 + 1e-12
    bad = tmp_path / "notimage.png"
    bad.write_bytes(b"hello, I am text")
    with pytest.raises(ValidationError, match=r"cannot read image file .*notimage\.png"):
        data.read_image(bad)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes((data.data_dir() / "coins.png").read_bytes()[:2000])
    with pytest.raises(ValidationError, match=r"trunc\.png"):
        data.read_image(trunc)
    with pytest.raises(ValidationError, match=r"unsupported extension '\.xyz'"):
        data.write_image(tmp_path / "a.xyz", img)


# ------------------------------------------------------------------ synthetic
@pytest.mark.parametrize("distribution", ["gaussian", "rademacher", "uniform"])
def test_sparse_signals_exactly_k_and_reproducible(distribution, dtype):
    X = sparse_signals(50, 30, 7, rng=1, distribution=distribution, dtype=dtype)
    assert X.shape == (50, 30) and X.dtype == dtype
    assert np.all((X != 0).sum(axis=1) == 7)
    assert np.array_equal(
        X, sparse_signals(50, 30, 7, rng=1, distribution=distribution, dtype=dtype)
    )
    assert not np.array_equal(
        X, sparse_signals(50, 30, 7, rng=2, distribution=distribution, dtype=dtype)
    )
    if distribution == "rademacher":
        assert set(np.unique(X[X != 0])) == {-1.0, 1.0}
    if distribution == "uniform":
        assert np.abs(X[X != 0]).min() >= 0.1 and np.abs(X).max() <= 1.0
    assert np.all((sparse_signals(3, 5, 5, rng=0) != 0).sum(axis=1) == 5)
    assert not np.any(sparse_signals(3, 5, 0, rng=0))


def test_sparse_signals_positions_are_spread():
    X = sparse_signals(2000, 10, 2, rng=0)
    freq = (X != 0).mean(axis=0)
    assert np.allclose(freq, 0.2, atol=0.03)


def test_bernoulli_gaussian(rng):
    X = bernoulli_gaussian(400, 50, 0.1, rng=rng)
    assert abs((X != 0).mean() - 0.1) < 0.01
    assert bernoulli_gaussian(2, 3, 1.0, rng=0, dtype=np.float32).dtype == np.float32
    with pytest.raises(ValidationError, match=r"p must be <= 1.0, got 1.5"):
        bernoulli_gaussian(2, 3, 1.5)


def test_add_noise_reaches_requested_snr(rng):
    Y = rng.standard_normal((200, 100)) * 3.0
    keep = Y.copy()
    noisy, sigma = add_noise(Y, 20.0, rng=0, return_std=True)
    assert np.array_equal(Y, keep)
    assert sigma == pytest.approx(np.std(Y) * 0.1)
    measured = 10 * np.log10(np.var(Y) / np.var(noisy - Y))
    assert measured == pytest.approx(20.0, abs=0.1)
    assert np.array_equal(noisy, add_noise(Y, 20.0, rng=0))
    assert add_noise(Y.astype(np.float32), 10.0, rng=0).dtype == np.float32
    with pytest.raises(ValidationError, match=r"snr_db must be finite"):
        add_noise(Y, np.inf)


def test_make_problem(dtype):
    P = make_problem(20, 60, 4, n_signals=5, rng=0, dtype=dtype)
    A = np.asarray(P.A)
    assert A.shape == (20, 60) and P.X.shape == (5, 60) and P.Y.shape == (5, 20)
    assert P.X.dtype == dtype and P.Y.dtype == dtype
    assert P.noise_std == 0.0 and np.array_equal(P.Y, P.Y_clean)
    from conftest import tol

    assert np.allclose(P.Y_clean, P.X @ A.T, atol=100 * tol(dtype))
    Q = make_problem(20, 60, 4, n_signals=5, rng=0, dtype=dtype)
    assert np.array_equal(Q.Y, P.Y)
    N = make_problem(40, 80, 5, n_signals=50, snr_db=10, rng=1)
    assert N.noise_std > 0
    assert 10 * np.log10(np.var(N.Y_clean) / np.var(N.Y - N.Y_clean)) == pytest.approx(
        10.0, abs=0.3
    )
    with pytest.raises(ValidationError, match=r"k must be <= 10, got 11"):
        make_problem(5, 10, 11)
    with pytest.raises(ValidationError, match=r"distribution must be one of"):
        make_problem(5, 10, 2, distribution="cauchy")
    with pytest.raises(ValidationError, match=r"dtype must be float32 or float64"):
        make_problem(5, 10, 2, dtype=np.int32)


def test_make_problem_with_operator_matrix():
    P = make_problem(16, 64, 3, matrix="partial_dct", n_signals=2, rng=0)
    assert np.allclose(P.Y_clean, P.X @ P.A.to_dense().T)


def test_write_image_keeps_uint8_images(tmp_path):
    from cs_toolkit.data import read_image, write_image

    img = (np.arange(64 * 64).reshape(64, 64) % 256).astype(np.uint8)
    write_image(tmp_path / "u8.png", img)
    back = read_image(tmp_path / "u8.png")
    np.testing.assert_allclose(back * 255.0, img, atol=0.5)

"""Audit of metrics, plotting and data: the metrics against independent references (scikit-image,
naive formulas, brute force), their edge cases, and the input checks of the plots and loaders."""

import os
import stat
import subprocess
import sys
import warnings
import wave

import numpy as np
import pytest

from cs_toolkit import data, metrics
from cs_toolkit.exceptions import ValidationError

skm = pytest.importorskip("skimage.metrics")


# ------------------------------------------------------------------ references
def _naive_segmental_snr(x, y, frame, hop, lo=-10.0, hi=35.0, silence_db=-40.0):
    """Frame by frame in a Python loop: full frames only, silence relative to the loudest frame."""
    frame = min(frame, len(x))
    sig, err = [], []
    for j in range(0, len(x) - frame + 1, hop):
        sig.append(sum(float(v) ** 2 for v in x[j:j + frame]))
        err.append(sum((float(u) - float(v)) ** 2 for u, v in zip(y[j:j + frame], x[j:j + frame], strict=True)))
    top = max(sig)
    vals = []
    for s, e in zip(sig, err, strict=True):
        if s > 0 and 10 * np.log10(s / top) >= silence_db:
            vals.append(min(max(np.inf if e == 0 else 10 * np.log10(s / e), lo), hi))
    return float(np.mean(vals))


def _brute_support(x, e, tol):
    if tol is None:
        true = set(np.flatnonzero(x))
        est = set(sorted(range(len(e)), key=lambda i: (-abs(e[i]), i))[: len(true)])
    else:
        true, est = set(np.flatnonzero(np.abs(x) > tol)), set(np.flatnonzero(np.abs(e) > tol))
    return 1.0 if not true else len(true & est) / len(true)


# ------------------------------------------------------------------ metrics: references
def test_psnr_and_ssim_match_scikit_image(rng):
    a = rng.random((24, 20))
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1)
    for x, y in [(a, b), (a.astype(np.float32), b.astype(np.float32))]:
        ref_p = skm.peak_signal_noise_ratio(x.astype(np.float64), y.astype(np.float64), data_range=1.0)
        ref_s = skm.structural_similarity(x.astype(np.float64), y.astype(np.float64), data_range=1.0)
        assert metrics.psnr(x, y) == pytest.approx(ref_p, rel=1e-12)
        assert metrics.ssim(x, y) == pytest.approx(ref_s, rel=1e-12)
    u, v = (a * 255).astype(np.uint8), (b * 255).astype(np.uint8)
    assert metrics.psnr(u, v) == pytest.approx(skm.peak_signal_noise_ratio(u, v), rel=1e-12)
    assert metrics.ssim(u, v) == pytest.approx(skm.structural_similarity(u, v), rel=1e-12)
    i, j = (a * 2000 - 1000).astype(np.int16), (b * 2000 - 1000).astype(np.int16)  # negative: full range
    assert metrics.psnr(i, j) == pytest.approx(skm.peak_signal_noise_ratio(i, j), rel=1e-12)
    assert metrics.ssim(i, j) == pytest.approx(skm.structural_similarity(i, j, data_range=65535), rel=1e-12)
    s, t = 3.0 * a - 1.0, 3.0 * b - 1.0  # outside [0, 1]: the reference's max - min
    assert metrics.psnr(s, t) == pytest.approx(skm.peak_signal_noise_ratio(s, t, data_range=np.ptp(s)), rel=1e-12)


def test_constant_reference_outside_unit_range_asks_for_data_range():
    c, d = np.full((8, 8), 5.0), np.full((8, 8), 5.1)
    for f in (metrics.psnr, metrics.ssim):
        with pytest.raises(ValidationError, match=r"img_true is constant.*pass data_range"):
            f(c, d)
    assert metrics.psnr(c, d, data_range=2.0) == pytest.approx(skm.peak_signal_noise_ratio(c, d, data_range=2.0))
    assert metrics.ssim(c, d, data_range=2.0) == pytest.approx(skm.structural_similarity(c, d, data_range=2.0))
    half = np.full((8, 8), 0.5)  # in [0, 1]: range 1, as documented
    assert metrics.psnr(half, d - 4.7) == pytest.approx(skm.peak_signal_noise_ratio(half, d - 4.7, data_range=1.0))
    assert metrics.psnr(c, c, data_range=1.0) == np.inf and metrics.ssim(half, half) == 1.0


@pytest.mark.parametrize("scale", [1e-170, 1e-60, 1.0, 1e60, 1e160])
def test_segmental_snr_is_scale_invariant_like_snr(scale):
    x = np.sin(np.arange(1000) / 5.0) * np.repeat([1.0, 0.3, 1e-3, 1.0], 250)
    y = x + 0.05 * np.cos(np.arange(1000) / 3.0)
    ref = _naive_segmental_snr(x, y, 128, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.segmental_snr(scale * x, scale * y, 128, 100) == pytest.approx(ref, rel=1e-9)
        assert metrics.snr(scale * x, scale * y) == pytest.approx(metrics.snr(x, y), rel=1e-9)


def test_segmental_snr_matches_naive_frames(rng):
    for _ in range(25):
        n, frame, hop = int(rng.integers(5, 200)), int(rng.integers(1, 60)), int(rng.integers(1, 60))
        x = rng.standard_normal(n) * np.repeat(10.0 ** rng.integers(-4, 1, n // 5 + 1), 5)[:n]
        y = x + 0.1 * rng.standard_normal(n)
        sil = float(rng.choice([-60.0, -40.0, -10.0, 0.0]))
        got = metrics.segmental_snr(x, y, frame, hop, silence_db=sil)
        assert got == pytest.approx(_naive_segmental_snr(x, y, frame, hop, silence_db=sil), rel=1e-9)


def test_segmental_snr_silence_db_zero_keeps_the_loudest_frame():
    x = np.concatenate([np.ones(100), 0.5 * np.ones(100)])
    y = x.copy()
    y[:100] *= 1.1  # loudest frame at exactly 20 dB; the quieter one is silent at 0 dB
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice"
        got = metrics.segmental_snr(x, y, 100, silence_db=0.0)
    assert got == pytest.approx(_naive_segmental_snr(x, y, 100, 100, silence_db=0.0))
    assert got == pytest.approx(20.0)
    assert np.isnan(metrics.segmental_snr(np.zeros(50), np.ones(50), 10))  # documented: all-zero reference


def test_support_recovery_matches_brute_force(rng):
    for _ in range(200):
        n, s = int(rng.integers(1, 7)), int(rng.integers(1, 4))
        X = rng.integers(-2, 3, (s, n)) * (rng.random((s, n)) < 0.5)
        E = rng.integers(-2, 3, (s, n)).astype(float)
        for tol in (None, float(rng.integers(0, 3))):
            want = [_brute_support(x, e, tol) for x, e in zip(X, E, strict=True)]
            np.testing.assert_allclose(metrics.support_recovery(X, E, tol=tol, per_signal=True), want)
            assert metrics.support_recovery(X, E, tol=tol) == pytest.approx(np.mean(want))


def test_ratio_metrics_against_naive_formulas(rng):
    x, y = rng.standard_normal((4, 9)), rng.standard_normal((4, 9))
    num, den = np.sum((y - x) ** 2, axis=1), np.sum(x**2, axis=1)
    assert metrics.nmse(x, y) == pytest.approx(num.sum() / den.sum(), rel=1e-12)
    assert metrics.snr(x, y) == pytest.approx(10 * np.log10(den.sum() / num.sum()), rel=1e-12)
    np.testing.assert_allclose(metrics.snr(x, y, per_signal=True), 10 * np.log10(den / num), rtol=1e-12)
    np.testing.assert_allclose(metrics.relative_error(x, y), np.sqrt(num / den), rtol=1e-12)
    ux, uy = x / np.linalg.norm(x, axis=1)[:, None], y / np.linalg.norm(y, axis=1)[:, None]
    np.testing.assert_allclose(metrics.normalized_error(x, y), np.linalg.norm(ux - uy, axis=1), rtol=1e-12)


# ------------------------------------------------------------------ metrics: bad input
@pytest.mark.parametrize(
    "call,arg",
    [
        (lambda x: metrics.nmse(x, x, db="yes"), "db"),
        (lambda x: metrics.nmse(x, x, finite=1), "finite"),
        (lambda x: metrics.nmse_per_signal(x, x, db="no"), "db"),
        (lambda x: metrics.snr(x, x, per_signal="True"), "per_signal"),
        (lambda x: metrics.support_recovery(x, x, per_signal=[0]), "per_signal"),
        (lambda x: metrics.normalized_error(x, x, db=None), "db"),
    ],
)
def test_metric_flags_must_be_bools(call, arg):
    with pytest.raises(ValidationError, match=rf"{arg} must be True or False"):
        call(np.ones((2, 3)))


def test_image_metrics_refuse_ragged_input_naming_it():
    for f in (metrics.psnr, metrics.ssim):
        with pytest.raises(ValidationError, match=r"img_true could not be converted"):
            f([[1.0, 2.0], [3.0]], np.ones((2, 2)))


def test_metrics_leave_their_inputs_alone(rng):
    x = rng.random((8, 8)).astype(np.float32)
    y = rng.random((8, 8)).astype(np.float32)
    keep = (x.copy(), y.copy())
    for f in (metrics.nmse, metrics.snr, metrics.relative_error, metrics.psnr, metrics.ssim,
              metrics.support_recovery, metrics.normalized_error, metrics.segmental_snr):
        f(x, y)
    assert np.array_equal(x, keep[0]) and np.array_equal(y, keep[1])


# ------------------------------------------------------------------ plotting
@pytest.fixture
def axes():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    return Figure().add_subplot()


def test_plot_nmse_checks_every_history_before_drawing(axes):
    from cs_toolkit.exceptions import DTypeError
    from cs_toolkit.plotting import plot_nmse_per_iteration

    for bad, err in [([[[1.0]]], ValidationError), (["x"], DTypeError), ([], ValidationError),
                     ([-1.0], ValidationError), (np.array([1 + 1j]), DTypeError)]:
        with pytest.raises(err, match=r"histories\['b'\]"):
            plot_nmse_per_iteration({"a": np.ones(3), "b": bad}, ax=axes)
        assert len(axes.lines) == 0 and axes.get_title() == ""
    with pytest.raises(ValidationError, match=r"db must be True or False"):
        plot_nmse_per_iteration(np.ones(3), ax=axes, db="no")
    with pytest.raises(ValidationError, match=r"ax must be a matplotlib Axes or None, got str"):
        plot_nmse_per_iteration(np.ones(3), ax="axes")
    ax = plot_nmse_per_iteration({"a": [1.0, 0.1], "b": [[1.0, 0.01], [1.0, 0.1]]}, ax=axes)
    assert ax is axes
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.0, -10.0])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.0, 10 * np.log10(0.055)])


def test_plots_open_no_pyplot_figure():
    pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from cs_toolkit.plotting import plot_nmse_per_iteration

    before = plt.get_fignums()
    for _ in range(3):
        ax = plot_nmse_per_iteration(np.logspace(0, -3, 10))
    assert plt.get_fignums() == before
    assert type(ax.figure).__name__ == "Figure"
    code = ("import sys, cs_toolkit.plotting, cs_toolkit.metrics, cs_toolkit.data; "
            "print('matplotlib.pyplot' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


def test_save_figure_refuses_bad_formats_and_paths(tmp_path, axes):
    from cs_toolkit.plotting import save_figure

    for bad in (None, 123, ["png", 3], [], "gif", [["png"]]):
        with pytest.raises(ValidationError, match=r"formats must be a non-empty list"):
            save_figure(axes, tmp_path / "f", bad)
    with pytest.raises(ValidationError, match=r"path_without_ext must be a str or path-like, got NoneType"):
        save_figure(axes, None, "png")
    for folder in (str(tmp_path) + os.sep, ""):
        with pytest.raises(ValidationError, match=r"path_without_ext must name a file, got the folder"):
            save_figure(axes, folder, "png")
    assert list(tmp_path.iterdir()) == []
    assert save_figure(axes, tmp_path / "f", ["png", "png", "svg"]) == [str(tmp_path / "f.png"),
                                                                      str(tmp_path / "f.svg")]
    assert save_figure(axes, tmp_path / "g", (f for f in ["svg"])) == [str(tmp_path / "g.svg")]
    for named in ("h.png", "h.PDF"):  # would be written as h.png.png: refused, with what to pass
        with pytest.raises(ValidationError, match=r"must not end with a format's extension.*pass '.*h' with formats"):
            save_figure(axes, tmp_path / named, "png")
    assert save_figure(axes, tmp_path / "v1.5", "svg") == [str(tmp_path / "v1.5.svg")]  # not a format: kept


def test_save_figure_writes_files_with_the_umask_mode(tmp_path, axes):
    from cs_toolkit.plotting import save_figure

    old = os.umask(0o022)
    try:
        paths = save_figure(axes, tmp_path / "f", ("png", "pdf"), dpi=20)
    finally:
        os.umask(old)
    assert sorted(os.listdir(tmp_path)) == ["f.pdf", "f.png"]  # no temporary file left
    assert all(stat.S_IMODE(os.stat(p).st_mode) == 0o644 for p in paths)


# ------------------------------------------------------------------ data
def test_sample_names_with_another_kinds_extension_are_refused():
    with pytest.raises(ValidationError, match=r"unknown image sample 'camera\.wav'; available image samples:"):
        data.load_image("camera.wav")
    assert np.array_equal(data.load_image("camera.png"), data.load_image("camera"))


def test_samples_with_upper_case_extensions_load(tmp_path, monkeypatch):
    data.write_image(tmp_path / "SHOUT.PNG", np.eye(8))
    data.write_image(tmp_path / "both.png", np.eye(8)[::-1])
    data.write_wav(tmp_path / "both.wav", np.linspace(-0.5, 0.5, 16), 8000)
    monkeypatch.setenv("CS_TOOLKIT_DATA", str(tmp_path))
    assert data.list_samples("image") == {"SHOUT": "image", "both": "image"}
    assert data.list_samples("audio") == {"both": "audio"}
    assert np.array_equal(data.load_image("SHOUT"), np.eye(8))
    assert np.array_equal(data.load_image("both"), np.eye(8)[::-1])
    np.testing.assert_allclose(data.load_audio("both.wav")[0], np.linspace(-0.5, 0.5, 16), atol=1 / 32768)


def test_loaded_samples_are_fresh_arrays():
    img = data.load_image("camera")
    ref = img.copy()
    img[:] = -1.0
    assert np.array_equal(data.load_image("camera"), ref)
    name = sorted(data.list_samples("audio"))[0]
    x, _ = data.load_audio(name)
    ref = x.copy()
    x[:] = 7.0
    assert np.array_equal(data.load_audio(name)[0], ref)


def test_image_io_bad_flags_and_ragged_input(tmp_path):
    data.write_image(tmp_path / "a.png", np.eye(8))
    with pytest.raises(ValidationError, match=r"as_gray must be True or False"):
        data.read_image(tmp_path / "a.png", as_gray="no")
    with pytest.raises(ValidationError, match=r"img could not be converted"):
        data.write_image(tmp_path / "b.png", [[0.1, 0.2], [0.3]])
    assert sorted(os.listdir(tmp_path)) == ["a.png"]


def test_wav_24_bit_and_stereo_int16_scale(tmp_path):
    vals = np.array([0, 2**23 - 1, -(2**23), 4096, -5])
    with wave.open(str(tmp_path / "x24.wav"), "wb") as w:  # written without SciPy
        w.setnchannels(1)
        w.setsampwidth(3)
        w.setframerate(8000)
        w.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in vals))
    x, rate = data.read_wav(tmp_path / "x24.wav")
    assert rate == 8000 and data.wav_format(tmp_path / "x24.wav") == "int32"
    np.testing.assert_array_equal(x, vals / 2.0**23)
    ints = np.array([[0, -32768], [32767, 5], [-1, 100]], dtype=np.int16)
    with wave.open(str(tmp_path / "s16.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(ints.astype("<i2").tobytes())
    y, rate = data.read_wav(tmp_path / "s16.wav")
    assert rate == 16000 and y.shape == (3, 2)
    np.testing.assert_array_equal(y, ints / 32768.0)
    data.write_wav(tmp_path / "back.wav", y, 16000)
    with wave.open(str(tmp_path / "back.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        np.testing.assert_array_equal(np.frombuffer(w.readframes(3), "<i2").reshape(3, 2), ints)

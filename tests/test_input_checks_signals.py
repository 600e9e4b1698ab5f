"""Input checks of the image and audio pipelines, the WAV helpers and the tile reshuffles.

Each bad input raises a ``ValidationError`` naming the argument (or the measurement field); each
group also checks that valid input gives the results it gave before the checks were added.
"""

from __future__ import annotations

import dataclasses
import struct
import warnings

import numpy as np
import pytest

from cs_toolkit import data
from cs_toolkit.exceptions import ConvergenceWarning, ValidationError
from cs_toolkit.sensing import MatrixOperator, make_sensing
from cs_toolkit.signals import (
    AudioMeasurements,
    BlockMeasurements,
    compressive_audio,
    image_quality,
    measure_audio,
    measure_image,
    reconstruct_audio,
    reconstruct_image,
    whole_image_cs,
)
from cs_toolkit.solvers import fista
from cs_toolkit.transforms import Wavelet2, frames, image_to_blocks, image_to_tiles, tiles_to_image


def _smooth_image(n=32):
    """A compressible grey image on [0, 1]: a gradient with a soft blob."""
    t = np.linspace(0.0, 1.0, n)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    return 0.2 + 0.5 * xx * (1 - yy) + 0.3 * np.exp(-((xx - 0.6) ** 2 + (yy - 0.4) ** 2) / 0.02)


def _tone(n=2048, dtype=np.float64):
    t = np.arange(n)
    return (0.5 * np.sin(2 * np.pi * 0.03 * t) + 0.2 * np.sin(2 * np.pi * 0.11 * t)).astype(dtype)


# ------------------------------------------------------------------------------------------
# 1. whole_image_cs with the dense kinds
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("operator", ["gaussian", "bernoulli"])
def test_whole_image_dense_kinds_recover_better_than_back_projection(operator):
    img = _smooth_image()
    rec, q = whole_image_cs(img, 0.4, operator=operator, rng=0)
    assert rec.shape == img.shape and rec.dtype == np.float64
    assert q["method"] == f"whole_{operator}" and q["n_measurements"] == round(0.4 * img.size)
    Phi = make_sensing(operator, q["n_measurements"], img.size, rng=np.random.default_rng(0))
    back = np.clip(Phi.T @ (Phi @ (255.0 * img.ravel())), 0, 255).reshape(img.shape) / 255.0
    psnr_back = image_quality(img, back)["psnr"]
    assert q["psnr"] > psnr_back + 5.0, (q["psnr"], psnr_back)
    assert q["psnr"] > 25.0


@pytest.mark.parametrize("operator", ["gaussian", "srdct"])
def test_whole_image_matches_the_explicit_pipeline(operator):
    img = _smooth_image()
    rec, q = whole_image_cs(img, 0.3, operator=operator, level=2, max_iter=30, rng=3)
    H, W = img.shape
    Phi = make_sensing(operator, q["n_measurements"], H * W, rng=np.random.default_rng(3))
    if isinstance(Phi, np.ndarray):
        Phi = MatrixOperator(Phi)
    Psi = Wavelet2((H, W), wavelet="db4", level=2)
    y = Phi.forward(255.0 * img.ravel())
    M = Phi @ Psi
    corr = float(np.abs(M.adjoint(y)).max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c = fista(M, y, lam=1e-3 * corr, max_iter=30)
    expect = np.clip(Psi.forward(c).reshape(H, W), 0, 255) / 255.0
    np.testing.assert_allclose(rec, expect, rtol=0, atol=1e-12)


def test_whole_image_dense_float32_and_uint8_outputs():
    img = _smooth_image()
    rec32, _ = whole_image_cs(img.astype(np.float32), 0.3, operator="bernoulli", max_iter=5, rng=0)
    assert rec32.dtype == np.float32
    rec8, _ = whole_image_cs(np.round(255 * img).astype(np.uint8), 0.3, operator="gaussian", max_iter=5, rng=0)
    assert rec8.dtype == np.uint8


def test_whole_image_dense_too_large_is_refused_before_drawing():
    with pytest.raises(ValidationError, match=r"operator='gaussian'.*dense.*srdct"):
        whole_image_cs(np.zeros((512, 512)), 0.5, operator="gaussian")


def test_whole_image_unknown_operator_still_names_operator():
    with pytest.raises(ValidationError, match=r"operator must be one of"):
        whole_image_cs(np.zeros((32, 32)), 0.5, operator="nope")


# ------------------------------------------------------------------------------------------
# 2. tol of reconstruct_image
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def meas_img():
    return measure_image(_smooth_image(), 0.3, block_size=16, rng=0)


@pytest.mark.parametrize("tol, match", [(-5.0, r"tol must be >= 0"), (float("nan"), r"tol must be finite"),
                                        (float("inf"), r"tol must be finite"), ("1e-4", r"tol must be a real number"),
                                        (None, r"tol must be a real number")])
def test_reconstruct_image_bad_tol(meas_img, tol, match):
    with pytest.raises(ValidationError, match=match):
        reconstruct_image(meas_img, method="bcs_spl", tol=tol, max_iter=3)


def test_reconstruct_image_valid_tol_unchanged(meas_img):
    default = reconstruct_image(meas_img, method="bcs_spl", max_iter=20)
    np.testing.assert_array_equal(default, reconstruct_image(meas_img, method="bcs_spl", max_iter=20, tol=1e-4))
    np.testing.assert_array_equal(default, reconstruct_image(meas_img, method="bcs_spl", max_iter=20,
                                                             tol=np.float32(1e-4)))
    zero = reconstruct_image(meas_img, method="bcs_spl", max_iter=20, tol=0)  # runs every iteration
    assert zero.shape == default.shape and np.all(np.isfinite(zero))


# ------------------------------------------------------------------------------------------
# 3. audio dtype
# ------------------------------------------------------------------------------------------
def test_audio_float32_in_float32_out():
    s32 = _tone(dtype=np.float32)
    m = measure_audio(s32, 0.4, rng=0)
    assert m.input_dtype == np.float32
    rec = reconstruct_audio(m)
    assert rec.dtype == np.float32 and rec.shape == s32.shape
    # the same numbers as the float64 pipeline on the same samples, rounded once at the end
    rec64 = reconstruct_audio(measure_audio(s32.astype(np.float64), 0.4, rng=0))
    assert rec64.dtype == np.float64
    np.testing.assert_array_equal(rec, rec64.astype(np.float32))
    out, q = compressive_audio(s32, 0.4, rng=0)
    assert out.dtype == np.float32 and q["snr"] > 10
    np.testing.assert_array_equal(out, rec)


@pytest.mark.parametrize("method", ["omp", "joint"])
def test_audio_dtype_per_input(method):
    stereo = np.stack([_tone(1024), _tone(1024)[::-1]], axis=1)
    r32 = reconstruct_audio(measure_audio(stereo.astype(np.float32), 0.5, rng=1), method=method, max_iter=20)
    assert r32.dtype == np.float32 and r32.shape == stereo.shape
    pcm = np.round(stereo * 2**14).astype(np.int16)
    assert reconstruct_audio(measure_audio(pcm, 0.5, rng=1), method=method, max_iter=20).dtype == np.float64


def test_audio_input_not_modified():
    s32 = _tone(dtype=np.float32)
    before = s32.copy()
    m = measure_audio(s32, 0.4, rng=0)
    Y, A = m.Y.copy(), m.A.copy()
    reconstruct_audio(m)
    np.testing.assert_array_equal(s32, before)
    np.testing.assert_array_equal(m.Y, Y)
    np.testing.assert_array_equal(m.A, A)


# ------------------------------------------------------------------------------------------
# 4. measurement dataclasses
# ------------------------------------------------------------------------------------------
def _nan_at_first(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


@pytest.mark.parametrize("change, match", [
    (lambda m: {"Y": m.Y[:, :-1]}, r"meas\.Y must have shape \(1, 4, 77\)"),
    (lambda m: {"Y": m.Y[..., :-1]}, r"meas\.Y must have shape"),
    (lambda m: {"Y": m.Y[0]}, r"meas\.Y must be 3-D"),
    (lambda m: {"Y": np.concatenate([m.Y, m.Y])}, r"meas\.Y must have shape \(1,"),
    (lambda m: {"A": m.A[:, :-1]}, r"meas\.A must have shape \(n_measurements, 256\)"),
    (lambda m: {"A": m.A[:-1]}, r"meas\.Y must have shape \(1, 4, 76\)"),
    (lambda m: {"Y": _nan_at_first(m.Y)}, r"meas\.Y must contain only finite values"),
    (lambda m: {"A": _nan_at_first(m.A)}, r"meas\.A must contain only finite values"),
    (lambda m: {"block_size": 8}, r"meas\.A must have shape \(n_measurements, 64\)"),
    (lambda m: {"block_size": 24}, r"meas\.padded_shape must be \(48, 48\)"),
    (lambda m: {"block_size": 0}, r"meas\.block_size must be >= 1"),
    (lambda m: {"padded_shape": (48, 32)}, r"meas\.padded_shape must be \(32, 32\)"),
    (lambda m: {"image_shape": (32, 32, 3)}, r"meas\.Y must have shape \(3, 4, 77\)"),
    (lambda m: {"image_shape": (32,)}, r"meas\.image_shape must be a tuple of 2 integers or 3"),
    (lambda m: {"input_dtype": "nonsense"}, r"meas\.input_dtype must be a NumPy dtype"),
])
def test_block_measurements_checked(meas_img, change, match):
    with pytest.raises(ValidationError, match=match):
        dataclasses.replace(meas_img, **change(meas_img))
    bad = dataclasses.replace(meas_img)  # fields set after construction: reconstruct_image checks
    for k, v in change(meas_img).items():
        setattr(bad, k, v)
    with pytest.raises(ValidationError, match=match):
        reconstruct_image(bad, method="bcs_spl", max_iter=2)


def test_block_measurements_valid_construction(meas_img):
    for img, B in [(np.zeros((40, 50)), 16), (np.zeros((33, 32, 3)), 16), (np.zeros((32, 32, 4)), 32),
                   (np.zeros((20, 20, 1)), 8)]:
        m = measure_image(img, 0.25, block_size=B, rng=0)
        assert dataclasses.replace(m).Y.shape == m.Y.shape
    same = dataclasses.replace(meas_img)
    np.testing.assert_array_equal(reconstruct_image(same, method="bcs_spl", max_iter=5),
                                  reconstruct_image(meas_img, method="bcs_spl", max_iter=5))
    built = BlockMeasurements(meas_img.Y, meas_img.A, 16, (32, 32), (32, 32), np.dtype(np.float64), 0.3, "gaussian")
    np.testing.assert_array_equal(reconstruct_image(built, method="bcs_spl", max_iter=5),
                                  reconstruct_image(meas_img, method="bcs_spl", max_iter=5))


def test_block_measurements_replace_recomputes_pinv(meas_img):
    _ = meas_img.pinv  # cached on the original
    B = make_sensing("bernoulli", 77, 256, rng=np.random.default_rng(5))
    x = 255.0 * _smooth_image()
    m2 = dataclasses.replace(meas_img, A=B, Y=(image_to_tiles(x, 16) @ B.T)[None])
    np.testing.assert_allclose(m2.pinv, np.linalg.pinv(B), atol=1e-10)


@pytest.fixture(scope="module")
def meas_audio():
    return measure_audio(_tone(), 0.4, rng=0)


@pytest.mark.parametrize("change, match", [
    (lambda m: {"Y": m.Y[:-1]}, r"meas\.Y must have shape \(1, 17, 102\)"),
    (lambda m: {"Y": m.Y[:, :-1]}, r"meas\.Y must have shape \(1, 17, 102\)"),
    (lambda m: {"Y": m.Y[0]}, r"meas\.Y must be 3-D"),
    (lambda m: {"A": m.A[:, :-1]}, r"meas\.A must have shape \(n_measurements, 256\)"),
    (lambda m: {"Y": _nan_at_first(m.Y)}, r"meas\.Y must contain only finite values"),
    (lambda m: {"A": _nan_at_first(m.A)}, r"meas\.A must contain only finite values"),
    (lambda m: {"n_channels": 2}, r"meas\.Y must have shape \(2, 17, 102\)"),
    (lambda m: {"length": 4096}, r"meas\.Y must have shape \(1, 33, 102\)"),
    (lambda m: {"hop": 64}, r"meas\.Y must have shape \(1, 35, 102\)"),
    (lambda m: {"hop": 512}, r"meas\.hop must be <= 256"),
    (lambda m: {"window": m.window[:-1]}, r"meas\.window must have shape \(256,\)"),
    (lambda m: {"frame_length": 128}, r"meas\.window must have shape \(128,\)"),
    (lambda m: {"input_dtype": "nonsense"}, r"meas\.input_dtype must be a NumPy dtype"),
])
def test_audio_measurements_checked(meas_audio, change, match):
    with pytest.raises(ValidationError, match=match):
        dataclasses.replace(meas_audio, **change(meas_audio))
    bad = dataclasses.replace(meas_audio)
    for k, v in change(meas_audio).items():
        setattr(bad, k, v)
    with pytest.raises(ValidationError, match=match):
        reconstruct_audio(bad, max_iter=2)


@pytest.mark.parametrize("length", [16, 17, 40, 63, 64, 65, 100])
@pytest.mark.parametrize("hop", [1, 3, 8, 16])
def test_audio_measurements_frame_count_matches_frames(length, hop):
    x = np.sin(np.arange(length) * 0.3)
    m = measure_audio(x, 0.5, frame_length=16, hop=hop, rng=0)
    assert m.Y.shape[1] == frames(x, 16, hop).shape[0]
    assert dataclasses.replace(m).Y.shape == m.Y.shape
    stereo = measure_audio(np.stack([x, -x], axis=1), 0.5, frame_length=16, hop=hop, rng=0)
    assert stereo.Y.shape[0] == stereo.n_channels == 2


def test_audio_measurements_valid_unchanged(meas_audio):
    np.testing.assert_array_equal(reconstruct_audio(dataclasses.replace(meas_audio), max_iter=30),
                                  reconstruct_audio(meas_audio, max_iter=30))
    built = AudioMeasurements(meas_audio.Y, meas_audio.A, 256, 128, meas_audio.window, 2048, 1, 0.4,
                              "gaussian", np.dtype(np.float64))
    assert reconstruct_audio(built, max_iter=30).shape == (2048,)


# ------------------------------------------------------------------------------------------
# 5. WAV files
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape, match", [((2, 1000), r"signal must have shape \(n_samples, n_channels\).*signal\.T"),
                                          ((3, 70000), r"more channels than samples.*signal\.T"),
                                          ((1, 2), r"got shape \(1, 2\)")])
def test_write_wav_transposed_signal(tmp_path, shape, match):
    path = tmp_path / "x.wav"
    with pytest.raises(ValidationError, match=match):
        data.write_wav(path, np.zeros(shape), 8000)
    assert not path.exists()


def test_write_wav_too_many_channels(tmp_path):
    with pytest.raises(ValidationError, match=r"signal must .*at most 65535 channels"):
        wide = np.broadcast_to(np.float32(0), (65537, 65536))  # a view: no memory
        data.write_wav(tmp_path / "x.wav", wide, 8000)


def test_write_wav_rate_too_large(tmp_path):
    with pytest.raises(ValidationError, match=r"rate must be <= 4294967295"):
        data.write_wav(tmp_path / "x.wav", np.zeros(10), 2**32)


def test_write_wav_valid_shapes_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    for shape in [(1000,), (1000, 2), (3, 3), (5, 1), (1, 1)]:
        x = rng.uniform(-0.9, 0.9, shape)
        path = tmp_path / f"x{len(shape)}_{shape[-1]}.wav"
        data.write_wav(path, x, 8000, sample_format="float32")
        y, rate = data.read_wav(path)
        assert rate == 8000 and y.shape == (shape if shape != (5, 1) and shape != (1, 1) else (shape[0],))
        np.testing.assert_allclose(y.reshape(x.shape), x.astype(np.float32), rtol=0, atol=0)


def _riff(*chunks):
    body = b"WAVE" + b"".join(cid + struct.pack("<I", len(payload)) + payload for cid, payload in chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("raw", [
    _riff((b"junk", b"abcd")),  # no fmt, no data chunk: SciPy's "local variable 'fs'"
    _riff(),  # no chunk at all
    b"RIFF",  # the header cut short: struct.error inside SciPy
    _riff((b"fmt ", struct.pack("<HHIIHH", 1, 0, 8000, 16000, 2, 16)), (b"data", b"\x00" * 8)),  # 0 channels
], ids=["no_fmt_no_data", "no_chunks", "cut_header", "zero_channels"])
def test_read_wav_malformed_riff(tmp_path, raw):
    path = tmp_path / "bad.wav"
    path.write_bytes(raw)
    for read in (data.read_wav, data.wav_format):
        with pytest.raises(ValidationError, match=r"not a valid WAV file: .*bad\.wav") as info:
            read(path)
        assert "local variable" not in str(info.value) and "fs" not in str(info.value).split("(")[-1]


def test_read_wav_scipy_messages_and_valid_files_unchanged(tmp_path):
    bogus = tmp_path / "bogus.wav"
    bogus.write_bytes(b"this is not a wav file at all")
    with pytest.raises(ValidationError, match=r"cannot read WAV file .*bogus\.wav.*not understood"):
        data.read_wav(bogus)
    good = tmp_path / "good.wav"
    x = np.linspace(-0.5, 0.5, 1000)
    data.write_wav(good, x, 8000)
    y, rate = data.read_wav(good)
    assert rate == 8000 and y.dtype == np.float64 and data.wav_format(good) == "int16"
    np.testing.assert_allclose(y, np.round(x * 2**15) / 2**15)


# ------------------------------------------------------------------------------------------
# 6. image_to_tiles / tiles_to_image
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("image, B, match", [
    (np.zeros((20, 18)), 8, r"image must be 2-D with sides that are multiples of block_size=8, got shape \(20, 18\)"),
    (np.zeros((16, 16)), 0, r"block_size must be >= 1, got 0"),
    (np.zeros((16, 16)), -8, r"block_size must be >= 1"),
    (np.zeros((16, 16)), 8.0, r"block_size must be an integer"),
    (np.zeros((16, 16)), True, r"block_size must be an integer"),
    (np.zeros((16, 16, 1)), 8, r"image must be 2-D .* got shape \(16, 16, 1\)"),
    (np.zeros(64), 8, r"image must be 2-D"),
])
def test_image_to_tiles_bad_input(image, B, match):
    with pytest.raises(ValidationError, match=match):
        image_to_tiles(image, B)


@pytest.mark.parametrize("rows, shape, B, match", [
    (np.zeros((3, 64)), (16, 16), 8, r"rows must have shape \(4, 64\) .*got \(3, 64\)"),
    (np.zeros((4, 63)), (16, 16), 8, r"rows must have shape \(4, 64\)"),
    (np.zeros(256), (16, 16), 8, r"rows must have shape \(4, 64\)"),
    (np.zeros((4, 64)), (16, 12), 8, r"shape must have sides that are multiples of block_size=8, got \(16, 12\)"),
    (np.zeros((4, 64)), (16, 16, 1), 8, r"shape must be \(height, width\)"),
    (np.zeros((4, 64)), 16, 8, r"shape must be \(height, width\)"),
    (np.zeros((4, 64)), (16, 16), 0, r"block_size must be >= 1"),
])
def test_tiles_to_image_bad_input(rows, shape, B, match):
    with pytest.raises(ValidationError, match=match):
        tiles_to_image(rows, shape, B)


def test_tiles_valid_input_unchanged():
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        img = rng.random((24, 40)).astype(dtype)
        before = img.copy()
        for B in (1, 4, 8, np.int64(8)):
            rows = image_to_tiles(img, B)
            expect = np.array([img[i:i + B, j:j + B].ravel() for i in range(0, 24, B) for j in range(0, 40, B)])
            np.testing.assert_array_equal(rows, expect)
            assert rows.dtype == dtype and rows.flags.c_contiguous
            np.testing.assert_array_equal(rows, image_to_blocks(img, int(B))[0])
            back = tiles_to_image(rows, (24, 40), B)
            np.testing.assert_array_equal(back, img)
            assert back.dtype == dtype
        np.testing.assert_array_equal(img, before)
    assert image_to_tiles(np.zeros((0, 8)), 8).shape == (0, 64)

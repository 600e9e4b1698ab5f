"""A table-driven catalogue of the bad inputs users actually produce (issue: hardening).

Every case feeds one public function (or CLI subcommand) one mistake and asserts a
clear error of the expected class whose message names the argument, or a documented
warning. The count is printed in the test summary (see ``conftest.py``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from cs_toolkit import data, metrics, sensing, transforms
from cs_toolkit.exceptions import DTypeError, SparsityClippedWarning, ValidationError
from cs_toolkit.signals import synthetic

RNG = np.random.default_rng(0)
A = sensing.gaussian(16, 32, rng=0)
Y = RNG.standard_normal((5, 16))
X = RNG.standard_normal((5, 32))
NAN_Y = Y.copy()
NAN_Y[1, 2] = np.nan
INF_A = A.copy()
INF_A[0, 0] = np.inf
IMG = RNG.random((64, 64))

# (case id, callable, expected exception (or warning) class, regex the message must match)
CASES: list[tuple[str, object, type, str]] = [
    # sensing
    ("gaussian m=0", lambda: sensing.gaussian(0, 10), ValueError, r"\bm\b.*>= 1"),
    ("gaussian m float", lambda: sensing.gaussian(2.5, 10), ValueError, r"\bm\b.*integer"),
    ("gaussian n negative", lambda: sensing.gaussian(4, -3), ValueError, r"\bn\b"),
    ("gaussian int dtype", lambda: sensing.gaussian(4, 8, dtype=np.int32), TypeError, r"dtype"),
    ("bernoulli bad rng", lambda: sensing.bernoulli(4, 8, rng="seed"), ValueError, r"rng"),
    ("partial dct m > n", lambda: sensing.PartialDCT(10, 8), ValueError, r"m.*n|n.*m"),
    ("partial fourier m > n", lambda: sensing.PartialFourier(10, 8), ValueError, r"m.*n|n.*m"),
    ("srht n not power of 2", lambda: sensing.SubsampledRandomizedTransform(4, 12), ValueError, r"power of"),
    ("srht unknown transform", lambda: sensing.SubsampledRandomizedTransform(4, 16, transform="fft"), ValueError, r"transform.*'hadamard'"),
    ("sparse nnz > m", lambda: sensing.SparseRandom(4, 16, nnz_per_column=9), ValueError, r"nnz_per_column"),
    ("make_sensing unknown kind", lambda: sensing.make_sensing("gauss", 4, 8), ValueError, r"kind.*'gaussian'"),
    ("operator forward wrong length", lambda: sensing.PartialDCT(4, 16, rng=0).forward(np.ones(15)), ValueError, r"x.*16.*\(15,\)"),
    ("operator forward transposed batch", lambda: sensing.PartialDCT(4, 16, rng=0).forward(np.ones((16, 3))), ValueError, r"x"),
    ("operator adjoint NaN", lambda: sensing.PartialDCT(4, 16, rng=0).adjoint(np.array([1.0, np.nan, 0, 0])), ValueError, r"y.*finite"),
    ("operator forward complex", lambda: sensing.PartialDCT(4, 16, rng=0).forward(np.ones(16, complex)), TypeError, r"complex"),
    ("coherence Inf", lambda: sensing.mutual_coherence(INF_A), ValueError, r"A.*finite"),
    ("coherence 1-D", lambda: sensing.mutual_coherence(np.ones(5)), ValueError, r"A.*2-D"),
    ("rip k > n", lambda: sensing.rip_estimate(A, 40), ValueError, r"\bk\b"),
    ("rip k = 0", lambda: sensing.rip_estimate(A, 0), ValueError, r"\bk\b"),
    ("spectral norm unknown method", lambda: sensing.spectral_norm(A, method="svd"), ValueError, r"method.*'exact'"),
    ("welch m = 0", lambda: sensing.welch_bound(0, 4), ValueError, r"\bm\b"),
    # transforms
    ("dct n = 0", lambda: transforms.DCT(0), ValueError, r"\bn\b"),
    ("wavelet unknown name", lambda: transforms.Wavelet(64, wavelet="db99"), ValueError, r"wavelet"),
    ("wavelet level too high", lambda: transforms.Wavelet(64, level=12), ValueError, r"level"),
    ("make_transform unknown", lambda: transforms.make_transform("fourier", 8), ValueError, r"kind.*'dct'"),
    ("blocks block_size 0", lambda: transforms.image_to_blocks(IMG, 0), ValueError, r"block_size"),
    ("blocks 1-D image", lambda: transforms.image_to_blocks(np.ones(64), 8), ValueError, r"image"),
    ("blocks NaN image", lambda: transforms.image_to_blocks(np.full((8, 8), np.nan), 4), ValueError, r"image.*finite"),
    ("frames hop 0", lambda: transforms.frames(np.ones(1000), 256, 0), ValueError, r"hop"),
    ("frames unknown window", lambda: transforms.frames(np.ones(1000), 256, 128, window="kaiser9"), ValueError, r"window"),
    ("frames 2-D signal", lambda: transforms.frames(np.ones((2, 1000)), 256, 128), ValueError, r"signal"),
    ("overlap_add uncovered", lambda: transforms.overlap_add(np.ones((4, 256)), 256, window="hann"), ValueError, r"window|hop"),
    ("patches size > image", lambda: transforms.patches_from_images([np.ones((4, 4))], 8), ValueError, r"patch"),
    # metrics
    ("nmse shape mismatch", lambda: metrics.nmse(np.ones(4), np.ones(5)), ValueError, r"x_true.*x_est|x_est.*x_true"),
    ("snr NaN", lambda: metrics.snr(np.ones(4), np.array([1, np.nan, 1, 1.0])), ValueError, r"x_est.*finite"),
    ("psnr shape mismatch", lambda: metrics.psnr(np.ones((8, 8)), np.ones((8, 9))), ValueError, r"shape"),
    ("psnr complex", lambda: metrics.psnr(np.ones((8, 8), complex), np.ones((8, 8))), TypeError, r"complex"),
    ("success threshold negative", lambda: metrics.recovery_success(X, X, threshold=-1.0), ValueError, r"threshold"),
    ("segmental snr frame 0", lambda: metrics.segmental_snr(np.ones(512), np.ones(512), frame_length=0), ValueError, r"frame_length"),
    # data
    ("load_image unknown", lambda: data.load_image("lenna"), ValueError, r"lenna.*camera|camera.*lenna"),
    ("load_audio unknown", lambda: data.load_audio("nope"), ValueError, r"nope"),
    ("read_wav missing file", lambda: data.read_wav("no/such/file.wav"), (OSError, ValueError), r"file\.wav"),
    ("read_image missing file", lambda: data.read_image("no/such/img.png"), (OSError, ValueError), r"img\.png"),
    # synthetic
    ("sparse_signals k > n", lambda: synthetic.sparse_signals(3, 10, 11), ValueError, r"\bk\b"),
    ("sparse_signals unknown distribution", lambda: synthetic.sparse_signals(3, 10, 2, distribution="cauchy"), ValueError, r"distribution.*'gaussian'"),
    ("bernoulli_gaussian p > 1", lambda: synthetic.bernoulli_gaussian(3, 10, 1.5), ValueError, r"\bp\b"),
    ("add_noise NaN", lambda: synthetic.add_noise(NAN_Y, 20), ValueError, r"Y.*finite"),
    ("make_problem m = 0", lambda: synthetic.make_problem(0, 10, 2), ValueError, r"\bm\b"),
]


def _file_cases(tmp_path):
    """Cases that need files on disk: truncated WAV and PNG, a text file posing as an image."""
    wav = tmp_path / "clip.wav"
    data.write_wav(wav, np.sin(np.linspace(0, 100, 4000)), 8000)
    trunc_wav = tmp_path / "trunc.wav"
    trunc_wav.write_bytes(wav.read_bytes()[:30])
    png = tmp_path / "img.png"
    data.write_image(png, IMG)
    trunc_png = tmp_path / "trunc.png"
    trunc_png.write_bytes(png.read_bytes()[:60])
    fake = tmp_path / "fake.png"
    fake.write_text("not an image")
    return [
        ("read_wav truncated", lambda: data.read_wav(trunc_wav), ValueError, r"trunc\.wav"),
        ("read_image truncated", lambda: data.read_image(trunc_png), ValueError, r"trunc\.png"),
        ("read_image text file", lambda: data.read_image(fake), ValueError, r"fake\.png"),
        ("write_image unknown extension", lambda: data.write_image(tmp_path / "x.xyz", IMG), ValueError, r"x\.xyz|extension|format"),
    ]


def _check(func, exc, pattern):
    if isinstance(exc, type) and issubclass(exc, Warning):
        with pytest.warns(exc, match=pattern):
            func()
        return
    with pytest.raises(exc, match=pattern) as info:
        func()
    # A clear, single-purpose message: not an internal numpy/numba error leaking out.
    msg = str(info.value)
    assert msg and "Traceback" not in msg


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(case):
    _, func, exc, pattern = case
    _check(func, exc, pattern)


def test_file_bad_inputs(tmp_path):
    for name, func, exc, pattern in _file_cases(tmp_path):
        try:
            _check(func, exc, pattern)
        except AssertionError as err:  # pragma: no cover - reported with the case name
            raise AssertionError(f"case {name!r}: {err}") from err


def test_user_arrays_not_modified():
    A0, Y0 = A.copy(), Y.copy()
    sensing.mutual_coherence(A)
    transforms.DCT(16).forward(Y)
    synthetic.add_noise(Y, 20, rng=0)
    assert np.array_equal(A, A0) and np.array_equal(Y, Y0)


def n_cases() -> int:
    """Number of catalogue cases (printed in the pytest summary)."""
    return len(CASES) + 4

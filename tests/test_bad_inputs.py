"""A table-driven catalogue of the bad inputs users actually produce (issue: hardening).

Every case feeds one public function (or CLI subcommand) one mistake and asserts a
clear error of the expected class whose message names the argument, or a documented
warning. The count is printed in the test summary (see ``conftest.py``).
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from cs_toolkit import bench, data, dictionary, metrics, sensing, solvers, transforms
from cs_toolkit.exceptions import SparsityClippedWarning
from cs_toolkit.signals import synthetic
from cs_toolkit.signals.audio import audio_quality, measure_audio
from cs_toolkit.signals.image import measure_image

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
    # solvers
    ("omp shape mismatch", lambda: solvers.omp(A, np.ones((5, 15)), n_nonzero_coefs=2), ValueError, r"Y.*16.*\(5, 15\)"),
    ("omp transposed batch", lambda: solvers.omp(A, Y.T.copy(), n_nonzero_coefs=2), ValueError, r"Y"),
    ("omp NaN", lambda: solvers.omp(A, NAN_Y, n_nonzero_coefs=2), ValueError, r"Y.*finite"),
    ("omp Inf in A", lambda: solvers.omp(INF_A, Y, n_nonzero_coefs=2), ValueError, r"A.*finite"),
    ("omp k = 0", lambda: solvers.omp(A, Y, n_nonzero_coefs=0), ValueError, r"n_nonzero_coefs"),
    ("omp k > m clipped", lambda: solvers.omp(A, Y, n_nonzero_coefs=40), SparsityClippedWarning, r"n_nonzero_coefs"),
    ("omp complex Y", lambda: solvers.omp(A, Y.astype(complex), n_nonzero_coefs=2), TypeError, r"complex"),
    ("omp negative tol", lambda: solvers.omp(A, Y, tol=-1.0), ValueError, r"tol"),
    ("omp empty batch", lambda: solvers.omp(A, np.ones((0, 16)), n_nonzero_coefs=2), ValueError, r"Y"),
    ("omp 3-D Y", lambda: solvers.omp(A, np.ones((2, 2, 16)), n_nonzero_coefs=2), ValueError, r"Y.*1-D or 2-D"),
    ("fista negative lam", lambda: solvers.fista(A, Y, lam=-0.1), ValueError, r"lam"),
    ("fista NaN lam", lambda: solvers.fista(A, Y, lam=float("nan")), ValueError, r"lam"),
    ("fista max_iter 0", lambda: solvers.fista(A, Y, lam=0.1, max_iter=0), ValueError, r"max_iter"),
    ("fista unknown restart", lambda: solvers.fista(A, Y, lam=0.1, restart="always"), ValueError, r"restart"),
    ("ista zero step", lambda: solvers.ista(A, Y, lam=0.1, step=0.0), ValueError, r"step"),
    ("lars int matrix ok but object Y", lambda: solvers.lars(A, np.array([[None] * 16]), lam=0.1), TypeError, r"Y"),
    ("cosamp k missing", lambda: solvers.cosamp(A, Y, n_nonzero_coefs=-2), ValueError, r"n_nonzero_coefs"),
    ("iht unknown step", lambda: solvers.iht(A, Y, n_nonzero_coefs=2, step="adaptive"), ValueError, r"step"),
    ("solve unknown method", lambda: solvers.solve(A, Y, method="omp2"), ValueError, r"method must be one of.*'omp'"),
    ("solve unknown option", lambda: solvers.solve(A, Y, method="omp", k=3), ValueError, r"unknown option.*'k'.*n_nonzero_coefs"),
    # dictionary learning
    ("ksvd n_atoms 0", lambda: dictionary.ksvd(X, 0, n_nonzero_coefs=2), ValueError, r"n_atoms"),
    ("ksvd NaN data", lambda: dictionary.ksvd(np.where(X > 2, np.nan, X), 8, n_nonzero_coefs=2), ValueError, r"X.*finite"),
    ("mod unknown coder", lambda: dictionary.mod(X, 8, n_nonzero_coefs=2, coder="lasso_lars"), ValueError, r"coder"),
    ("learner unknown method", lambda: dictionary.DictionaryLearner(8, n_nonzero_coefs=2, method="svd").fit(X), ValueError, r"method"),
    ("ksvd bad init shape", lambda: dictionary.ksvd(X, 8, n_nonzero_coefs=2, init=np.ones((5, 8))), ValueError, r"init"),
    ("ksvd checkpoint_every 0", lambda: dictionary.ksvd(X, 8, n_nonzero_coefs=2, checkpoint_every=0), ValueError, r"checkpoint_every.*>= 1"),
    ("online checkpoint_every float", lambda: dictionary.online_dictionary_learning(X, 8, n_nonzero_coefs=2, checkpoint_every=2.5), ValueError, r"checkpoint_every.*integer"),
    ("mod checkpoint not a path", lambda: dictionary.mod(X, 8, n_nonzero_coefs=2, checkpoint=3), ValueError, r"checkpoint.*path"),
    ("run_benchmark n_trials 0", lambda: bench.run_benchmark(bench.ProblemFamily(n=20, m=10, k=2), ["omp"], n_trials=0, progress=False), ValueError, r"n_trials"),
    # bench
    ("phase unknown solver", lambda: bench.phase_transition(["omp_x"], n=20, n_trials=1, progress=False), ValueError, r"omp_x"),
    ("l1 threshold delta > 1", lambda: bench.l1_weak_threshold(1.5), ValueError, r"delta"),
    ("problem family k > n", lambda: bench.ProblemFamily(n=20, m=10, k=21).generate(0), ValueError, r"\bk\b"),
    # signal pipelines: sizes that cannot work are refused before any frame or matrix is made
    ("measure_audio frame longer than the signal", lambda: measure_audio(np.ones(100), 0.5, frame_length=100_000), ValueError, r"frame_length=100000.*100 samples"),
    ("measure_audio ratio below one measurement", lambda: measure_audio(np.ones(1000), 1e-9), ValueError, r"ratio=1e-09.*smallest usable ratio for frame_length=256 is 0\.00391"),
    ("measure_image ratio below one measurement", lambda: measure_image(IMG, 1e-9, block_size=32), ValueError, r"ratio=1e-09.*smallest usable ratio for block_size=32 is 0\.000977"),
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
    junk_ckpt = tmp_path / "junk_ckpt.npz"
    junk_ckpt.write_bytes(b"PK\x03\x04 not really a zip")
    other_ckpt = tmp_path / "other_ckpt.npz"

    def stop(it, info):
        if it == 2:  # after the first checkpoint
            raise KeyboardInterrupt

    try:  # a checkpoint left by an interrupted run with n_nonzero_coefs=2
        dictionary.ksvd(X, 8, n_nonzero_coefs=2, max_iter=3, rng=0, checkpoint=other_ckpt, callback=stop)
    except KeyboardInterrupt:
        pass
    assert other_ckpt.exists()
    return [
        ("checkpoint under a regular file", lambda: dictionary.ksvd(X, 8, n_nonzero_coefs=2, checkpoint=fake / "c.npz"), ValueError, r"checkpoint.*fake\.png.*directory"),
        ("checkpoint is a directory", lambda: dictionary.mod(X, 8, n_nonzero_coefs=2, checkpoint=tmp_path), ValueError, r"checkpoint.*is a directory"),
        ("corrupt checkpoint", lambda: dictionary.ksvd(X, 8, n_nonzero_coefs=2, max_iter=3, rng=0, checkpoint=junk_ckpt), ValueError, r"checkpoint.*junk_ckpt\.npz.*not a readable"),
        ("checkpoint from other settings", lambda: dictionary.ksvd(X, 8, n_nonzero_coefs=3, max_iter=3, rng=0, checkpoint=other_ckpt), ValueError, r"checkpoint.*other settings.*n_nonzero_coefs"),
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


N_FILE_CASES = 8  # entries of _file_cases (they need files on disk, so they are built per test)


def test_file_bad_inputs(tmp_path):
    cases = _file_cases(tmp_path)
    assert len(cases) == N_FILE_CASES
    for name, func, exc, pattern in cases:
        try:
            _check(func, exc, pattern)
        except AssertionError as err:  # pragma: no cover - reported with the case name
            raise AssertionError(f"case {name!r}: {err}") from err


def test_audio_quality_of_a_clip_shorter_than_a_frame_warns_nothing():
    import warnings

    ref = np.sin(np.arange(10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning fails the test
        q = audio_quality(ref, 0.9 * ref)
    assert q["snr"] == pytest.approx(20.0) and q["seg_snr"] == pytest.approx(20.0)  # the clip is one frame


def test_user_arrays_not_modified():
    A0, Y0 = A.copy(), Y.copy()
    sensing.mutual_coherence(A)
    transforms.DCT(16).forward(Y)
    synthetic.add_noise(Y, 20, rng=0)
    assert np.array_equal(A, A0) and np.array_equal(Y, Y0)


CLI_CASES = [
    (["reconstruct", "no/such/file.png", "--ratio", "0.25"], r"file\.png"),
    (["reconstruct", "{img}", "--ratio", "0"], r"ratio"),
    (["reconstruct", "{img}", "--ratio", "1.5"], r"ratio"),
    (["reconstruct", "{img}", "--ratio", "0.3", "--method", "magic"], r"method"),
    (["reconstruct", "{txt}", "--ratio", "0.3"], r"\.txt|format|unsupported"),
    (["phase", "--solvers", "omp,nope", "--n", "20", "--trials", "1"], r"nope"),
    (["bench", "missing_config.toml"], r"missing_config\.toml"),
    (["train", "--model", "resnet", "--out", "m.npz"], r"resnet|model"),
    (["train-dict", "{img}", "--kind", "image", "--checkpoint-every", "2"], r"--checkpoint-every needs --checkpoint"),
    (["bench", "--solvers", "omp", "--n", "20", "--m", "10", "--k", "2", "--trials", "0"], r"--trials must be >= 1"),
    (["nonsense-command"], r"invalid choice|nonsense"),
    # sizes that cannot work: refused up front, naming the option and the usable range
    (["reconstruct", "{wav}", "--frame-length", "100000"], r"clip\.wav has 4000 samples.*--frame-length 100000"),
    (["reconstruct", "{tiny}"], r"tiny\.wav has 10 samples.*--frame-length 256"),
    (["reconstruct", "{wav}", "--ratio", "1e-9"], r"--ratio 1e-09 gives no measurement.*smallest usable --ratio.*0\.00391"),
    (["reconstruct", "{img}", "--ratio", "1e-9"], r"--ratio 1e-09 gives no measurement per 32x32 block.*0\.000977"),
    (["train-dict", "{wav}", "--kind", "audio", "--frame-length", "5000"], r"--frame-length 5000 is longer than every training clip"),
    (["train-dict", "{img}", "--kind", "image", "--patch-size", "100"], r"--patch-size 100 is larger than the image.*img\.png \(64x64\)"),
    (["train-dict", "{img}", "--kind", "image", "--max-iter", "0"], r"--max-iter must be >= 1, got 0"),
    (["reconstruct", "{wav}", "--out", "{txt}/x.wav"], r"--out '.*notes\.txt/x\.wav': '.*notes\.txt' is a file, not a folder"),
    (["reconstruct", "{wav}", "--out", "a.png"], r"--out 'a\.png': an audio reconstruction is written as \.wav"),
    (["train", "--quick", "--out", "t.txt"], r"--out 't\.txt': a model is written as \.npz, got '\.txt'"),
    (["train", "--model", "joint_learned", "--out", "m.npz"], r"--model joint_learned trains on speech: give --data"),
    (["train", "--model", "joint_learned", "--data", "{txt}", "--out", "m.npz"], r"--data must be a directory of \.wav"),
    (["train", "--model", "joint_learned", "--data", ".", "--layers", "0", "--out", "m.npz"], r"--layers must be >= 1"),
    # a --basis the method would ignore; text files named .npz (no allow_pickle hint)
    (["reconstruct", "{img}", "--method", "pnp_dct", "--basis", "wavelet"], r"method pnp_dct .*ignore --basis 'wavelet'"),
    (["reconstruct", "{img}", "--model", "{fake}"], r"fake\.npz.*another kind of file, not an \.npz archive"),
    (["train-dict", "{img}", "--kind", "image", "--checkpoint", "{fake}", "--out", "d.npz"], r"fake\.npz.*not an \.npz archive"),
]


@pytest.mark.slow
@pytest.mark.parametrize("argv,pattern", CLI_CASES, ids=[" ".join(c[0][:2]) for c in CLI_CASES])
def test_cli_user_mistakes_exit_2_without_traceback(argv, pattern, tmp_path):
    img = tmp_path / "img.png"
    data.write_image(img, IMG)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    wav, tiny = tmp_path / "clip.wav", tmp_path / "tiny.wav"
    data.write_wav(wav, 0.5 * np.sin(np.arange(4000) * 0.05), 8000)
    data.write_wav(tiny, np.linspace(-0.5, 0.5, 10), 8000)
    fake = tmp_path / "fake.npz"
    fake.write_text("not an archive\n")
    argv = [a.format(img=img, txt=txt, wav=wav, tiny=tiny, fake=fake) for a in argv]
    out = subprocess.run(
        [sys.executable, "-m", "cs_toolkit.cli", *argv], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) <= 2  # one-line message (+ a --help hint)
    assert re.search(pattern, out.stderr, re.IGNORECASE), out.stderr


# --------------------------------------------------------------------------- --basis dictionary files
def _npz_bytes(**arrays):
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _npy_bytes(a):
    import io

    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _object_npz(path):
    import zipfile

    with zipfile.ZipFile(path, "w") as z, z.open("dictionary.npy", "w") as fh:
        np.lib.format.write_array(fh, np.array([None, 1.0], dtype=object), allow_pickle=True)


def _crc_damaged(path):
    raw = bytearray(_npz_bytes(dictionary=np.random.default_rng(0).standard_normal((64, 16))))
    raw[300:340] = bytes(40)  # inside the stored array: the zip is whole, the member's CRC is wrong
    path.write_bytes(bytes(raw))


D64 = np.random.default_rng(1).standard_normal((64, 16))  # atoms of 8x8 patches

# (case id, writes the --basis file, regex the one-line refusal must match)
BASIS_CASES = [
    ("truncated", lambda p: p.write_bytes(_npz_bytes(dictionary=D64)[:500]), r"damaged or truncated"),
    ("random bytes", lambda p: p.write_bytes(bytes(range(256))), r"not an \.npz archive"),
    ("text file named .npz", lambda p: p.write_text("a text file\n"), r"another kind of file, not an \.npz archive"),
    ("empty file", lambda p: p.write_bytes(b""), r"the file is empty"),
    ("a .npy named .npz", lambda p: p.write_bytes(_npy_bytes(D64)), r"single \.npy array"),
    ("object array", _object_npz, r"Python objects, which are never unpickled"),
    ("no array", lambda p: p.write_bytes(_npz_bytes()), r"holds no array"),
    ("1-D array", lambda p: p.write_bytes(_npz_bytes(dictionary=np.ones(64))), r"shape \(64,\).*2-D"),
    ("3-D array", lambda p: p.write_bytes(_npz_bytes(dictionary=np.ones((8, 8, 4)))), r"shape \(8, 8, 4\).*2-D"),
    ("no atoms", lambda p: p.write_bytes(_npz_bytes(dictionary=np.ones((64, 0)))), r"shape \(64, 0\).*non-empty"),
    ("NaN", lambda p: p.write_bytes(_npz_bytes(dictionary=np.where(D64 > 2, np.nan, D64))), r"NaN or Inf"),
    ("strings", lambda p: p.write_bytes(_npz_bytes(dictionary=np.array([["a"]]))), r"dtype <U1.*real numbers"),
    ("several arrays, none 'dictionary'", lambda p: p.write_bytes(_npz_bytes(a=D64, b=D64)), r"the arrays 'a', 'b' and none is named 'dictionary'"),
    ("damaged member", _crc_damaged, r"array 'dictionary' is damaged"),
    ("8x8 atoms, 32x32 blocks", lambda p: p.write_bytes(_npz_bytes(dictionary=D64)), r"atoms of 64 values, but --block-size 32 needs 1024; use --block-size 8"),
    ("atoms not a square", lambda p: p.write_bytes(_npz_bytes(dictionary=np.ones((60, 4)))), r"atoms of 60 values.*not a square"),
]


@pytest.mark.parametrize("case", BASIS_CASES, ids=[c[0] for c in BASIS_CASES])
def test_bad_basis_files_are_refused_in_one_line(case, tmp_path, capsys):
    from cs_toolkit.cli import main

    _, write, pattern = case
    img = tmp_path / "img.png"
    data.write_image(img, IMG)
    basis = tmp_path / "basis.npz"
    write(basis)
    out = tmp_path / "out.png"
    assert main(["reconstruct", str(img), "--method", "omp", "--basis", str(basis), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "basis" in err, err
    assert re.search(pattern, err), err
    assert "allow_pickle" not in err and "Traceback" not in err and not out.exists()


def test_basis_file_key_choice(tmp_path, capsys):
    """The array named 'dictionary' is taken among several (train-dict writes kind, method, ...); a file with
    one array is taken whatever its name."""
    from cs_toolkit.cli import main

    img = tmp_path / "img.png"
    data.write_image(img, IMG[:32, :32])
    (tmp_path / "trained.npz").write_bytes(_npz_bytes(kind=np.array("image"), dictionary=D64, sparsity=np.array(3)))
    (tmp_path / "single.npz").write_bytes(_npz_bytes(atoms=D64))
    for name in ("trained.npz", "single.npz"):
        argv = ["reconstruct", str(img), "--method", "omp", "--block-size", "8", "--basis", str(tmp_path / name),
                "--out", str(tmp_path / f"{name}.png")]
        assert main(argv) == 0, capsys.readouterr().err
        assert (tmp_path / f"{name}.png").is_file()


def n_cases() -> int:
    """Number of catalogue cases (printed in the pytest summary)."""
    return len(CASES) + N_FILE_CASES + len(CLI_CASES) + len(BASIS_CASES)

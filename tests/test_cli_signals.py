"""End-to-end tests of ``cs-toolkit reconstruct`` / ``demo`` / ``train-dict`` through the real command."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from cs_toolkit.data import load_audio, load_image, read_image, read_wav, write_image, write_wav


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "cs_toolkit.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_image(d / "crop.png", load_image("camera")[192:256, 192:256])
    x, rate = load_audio("0_jackson_0")
    write_wav(d / "clip.wav", x[:2048], rate)
    (d / "notimage.png").write_text("this is not a PNG file\n")
    return d


@pytest.mark.slow
def test_reconstruct_image_json(files):
    out = files / "rec.png"
    r = _run("reconstruct", files / "crop.png", "--ratio", "0.5", "--method", "bcs_spl", "--block-size", "16",
             "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["method"] == "bcs_spl" and res["kind"] == "image" and res["ratio"] == 0.5
    assert res["psnr"] > 30.0  # documented floor for this crop at ratio 0.5
    rec = read_image(out)
    assert rec.shape == (64, 64)
    ref = read_image(files / "crop.png")
    assert 10 * np.log10(1 / np.mean((rec - ref) ** 2)) == pytest.approx(res["psnr"], abs=0.05)


def test_reconstruct_image_whole_in_process(files, capsys):
    from cs_toolkit.cli import main

    assert main(["reconstruct", str(files / "crop.png"), "--ratio", "0.5", "--method", "whole", "--json",
                 "--out", str(files / "whole.png")]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["method"] == "whole_srdct" and res["psnr"] > 30.0


@pytest.mark.slow
def test_reconstruct_audio_text_output_default_name(files):
    r = _run("reconstruct", files / "clip.wav", "--ratio", "0.5", "--method", "omp")
    assert r.returncode == 0, r.stderr
    assert "SNR" in r.stdout and "method omp" in r.stdout
    x, _ = read_wav(files / "clip_cs.wav")
    assert x.shape == (2048,)
    # without --method the text output names the method chosen and why, in a sentence
    r = _run("reconstruct", files / "clip.wav", "--ratio", "0.25", "--out", files / "t.wav")
    from cs_toolkit.signals import default_method

    best, why = default_method("audio", ratio=0.25)
    assert r.returncode == 0 and f"(no --method given: {best} is {why})" in r.stdout, r.stdout
    assert why in ("the learned method, whose bundled model serves these settings",
                   "the best classical method (no bundled learned model serves these settings)")


@pytest.mark.slow
def test_reconstruct_audio_default_method_json(files):
    r = _run("reconstruct", files / "clip.wav", "--ratio", "0.5", "--out", files / "j.wav", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    from cs_toolkit.signals import default_method

    best, why = default_method("audio", ratio=0.5)  # joint_learned where its bundled model serves, else joint
    assert best in ("joint", "joint_learned")
    assert res["method"] == best and res["method_chosen_because"] == why
    # at ratio 0.5 (half-frame hop) the measurements determine the clip: the written samples are the
    # input's, the SNR is infinite, and JSON, which has no infinity, carries null
    np.testing.assert_array_equal(read_wav(files / "j.wav")[0], read_wav(files / "clip.wav")[0])
    assert res["snr"] is None
    r = _run("reconstruct", files / "clip.wav", "--ratio", "0.25", "--out", files / "q.wav", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["snr"] > 10.0


@pytest.mark.slow
def test_reconstruct_image_in_float32(files):
    res = {}
    for flag in ((), ("--float32",)):
        r = _run("reconstruct", files / "crop.png", "--ratio", "0.25", "--method", "pnp_dct", "--out",
                 files / f"f{len(flag)}.png", "--json", *flag)
        assert r.returncode == 0, r.stderr
        res[flag] = json.loads(r.stdout.strip().splitlines()[-1])["psnr"]
    assert abs(res[("--float32",)] - res[()]) < 0.05
    for args in (("clip.wav", "--ratio", "0.25"), ("crop.png", "--method", "tnrd")):
        r = _run("reconstruct", files / args[0], *args[1:], "--float32")
        assert r.returncode == 2 and "--float32 is for the image methods" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["crop.png", "--ratio", "0"], "ratio"),
        (["crop.png", "--method", "magic"], "method must be one of"),
        (["missing.png"], "does not exist"),
        (["notimage.png"], "notimage.png"),
    ],
)
def test_reconstruct_rejects_bad_arguments_via_the_command(files, args, match):
    r = _run("reconstruct", files / args[0], *args[1:])
    assert r.returncode == 2, r.stderr
    assert match in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["crop.png", "--ratio", "1.5"], "ratio must be in (0, 1]"),
        (["crop.png", "--block-size", "128"], "smaller than one block"),
        (["crop.png", "--basis", "nothere.npz"], "does not exist"),
        (["crop.png", "--basis", "curvelet"], "--basis must be"),
        (["crop.xyz"], "unsupported file type"),
        (["clip.wav", "--basis", "wavelet"], "for images"),
    ],
)
def test_reconstruct_rejects_bad_arguments_in_process(files, args, match, capsys):
    from cs_toolkit.cli import main

    assert main(["reconstruct", str(files / args[0]), *args[1:]]) == 2
    err = capsys.readouterr().err
    assert match in err and len(err.strip().splitlines()) == 1


def _run_capped(*args, cwd, cap=3 * 2**30):
    """The command with its address space capped (RLIMIT_AS): an allocation that does not fit kills
    nothing, it raises MemoryError, which must never be reached."""
    import os
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "cs_toolkit.cli", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, timeout=300, preexec_fn=limit, env=env)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["reconstruct", "clip.wav", "--frame-length", "100000"], "clip.wav has 2048 samples, fewer than one frame"),
        (["reconstruct", "long.wav", "--frame-length", "150000", "--hop", "75000"], "GiB of memory"),
        (["reconstruct", "big.png", "--block-size", "256", "--ratio", "1"], "GiB of memory"),
        # the default (learned, patch-based) method holds ~1,500 bytes per pixel: 6 GiB here
        (["reconstruct", "huge.png", "--ratio", "0.25"], "GiB of memory"),
        (["reconstruct", "huge.png", "--ratio", "0.25", "--method", "pnp_dct"], "GiB of memory"),
        # training keeps every stage's patch spectra of a picture: 25 GiB for this one
        (["train", "--model", "pnp_nl_learned", "--data", "huge", "--out", "m.npz"], "GiB of memory"),
        (["train", "--model", "tnrd", "--data", "huge", "--out", "m.npz"], "GiB of memory"),
        # the speech network keeps every layer's frames of every clip of a batch: 6 GiB for one clip of 2e6 samples
        (["train", "--model", "joint_learned", "--data", "longclips", "--out", "m.npz"], "GiB of memory"),
        # a LISTA network's per-layer matrices and their optimiser state: 190 GiB here, 32 GiB for 64x64 blocks
        (["train", "--model", "lista", "--m", "20000", "--n", "40000", "--out", "m.npz"], "GiB of memory"),
        (["train", "--model", "lista", "--data", "huge", "--block", "64", "--ratio", "1", "--out", "m.npz"],
         "GiB of memory"),
        # a benchmark's sensing matrices (149 GiB and 37 GiB here) are checked before they are drawn
        (["bench", "--n", "200000", "--m", "100000", "--solvers", "omp", "--trials", "1"], "GiB of memory"),
        (["phase", "--solvers", "omp", "--n", "100000", "--trials", "1", "--deltas", "0.5", "--rhos", "0.1"],
         "GiB of memory"),
        (["train-dict", "long.wav", "--kind", "audio", "--frame-length", "100000", "--atoms", "5000"], "GiB of memory"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_up_front_under_a_memory_cap(files, args, match):
    if not (files / "long.wav").exists():
        write_wav(files / "long.wav", 0.5 * np.sin(np.arange(200_000) * 0.05), 8000)
        write_image(files / "big.png", np.random.default_rng(0).random((256, 256)))
    if not (files / "huge.png").exists():
        write_image(files / "huge.png", np.random.default_rng(1).random((2048, 2048)))
        (files / "huge").mkdir()
        shutil.copy(files / "huge.png", files / "huge" / "huge.png")
        (files / "longclips").mkdir()
        write_wav(files / "longclips" / "long.wav", 0.5 * np.sin(np.arange(2_000_000) * 0.05), 8000)
    r = _run_capped(*args, cwd=files)
    assert r.returncode == 2, r.stderr  # not 137 (killed) nor 1 (MemoryError)
    assert match in r.stderr and "MemoryError" not in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_audio_output_keeps_the_input_sample_format_and_reports_what_was_written(tmp_path, capsys):
    from cs_toolkit.cli import main
    from cs_toolkit.data import wav_format
    from cs_toolkit.signals.audio import audio_quality

    t = np.arange(4000)
    loud = 7.4 * np.sin(2 * np.pi * t / 80) * np.hanning(t.size)  # a float WAV far beyond [-1, 1]
    write_wav(tmp_path / "loud.wav", loud, 8000, sample_format="float32")
    square = 0.999 * np.sign(np.sin(2 * np.pi * t / 80))  # full-scale 16-bit: the reconstruction overshoots
    write_wav(tmp_path / "square.wav", square, 8000)
    for name, fmt, clipped in [("loud", "float32", False), ("square", "int16", True)]:
        out = tmp_path / f"{name}_cs.wav"
        assert main(["reconstruct", str(tmp_path / f"{name}.wav"), "--method", "omp", "--ratio", "0.25",
                     "--json", "--out", str(out)]) == 0
        cap = capsys.readouterr()
        res = json.loads(cap.out)
        assert wav_format(out) == fmt and res["sample_format"] == fmt
        x, _ = read_wav(tmp_path / f"{name}.wav")
        written, _ = read_wav(out)
        q = audio_quality(x, written)  # the figures printed are those of the file written
        assert res["snr"] == pytest.approx(q["snr"], abs=1e-9) and res["seg_snr"] == pytest.approx(q["seg_snr"], abs=1e-9)
        assert ("clipped to [-1, 1]" in cap.err) == clipped
        if name == "loud":
            assert np.max(np.abs(written)) > 6.0 and res["snr"] > 15.0  # nothing clipped away
        else:
            assert np.max(np.abs(written)) <= 1.0


@pytest.mark.slow
def test_colour_images_are_reconstructed_in_grey_with_a_notice(tmp_path, capsys):
    import skimage.io

    from cs_toolkit.cli import main

    rgba = (np.random.default_rng(0).random((32, 32, 4)) * 255).astype(np.uint8)
    skimage.io.imsave(tmp_path / "rgba.png", rgba, check_contrast=False)
    argv = ["reconstruct", str(tmp_path / "rgba.png"), "--method", "bcs_spl", "--block-size", "16"]
    assert main([*argv, "--out", str(tmp_path / "a.png")]) == 0
    out = capsys.readouterr().out
    assert "converted to grey: rgba.png (colour with alpha (RGBA))" in out.splitlines()[0]
    assert read_image(tmp_path / "a.png", as_gray=False).shape == (32, 32)
    assert main([*argv, "--json", "--out", str(tmp_path / "b.png")]) == 0
    cap = capsys.readouterr()
    assert json.loads(cap.out)["kind"] == "image" and "converted to grey" in cap.err  # stdout stays JSON
    write_image(tmp_path / "grey.png", rgba[:, :, 0])
    assert main(["reconstruct", str(tmp_path / "grey.png"), "--method", "bcs_spl", "--block-size", "16",
                 "--out", str(tmp_path / "c.png")]) == 0
    assert "grey" not in capsys.readouterr().out  # no notice for a grey image


@pytest.mark.slow
def test_train_tnrd_without_validation_set_says_so_instead_of_nan(tmp_path, capsys):
    from cs_toolkit.cli import main

    d = tmp_path / "pics"
    d.mkdir()
    for k in range(2):
        write_image(d / f"p{k}.png", load_image("camera")[64 * k: 64 * k + 32, 192:224])
    assert main(["train", "--model", "tnrd", "--data", str(d), "--ratios", "0.25", "--stages", "1", "--quick",
                 "--out", str(tmp_path / "t.npz")]) == 0
    out = capsys.readouterr().out
    assert "no validation set (fewer than 5 images)" in out and "nan" not in out.lower()
    assert (tmp_path / "t.npz").is_file()


def test_train_dict_rejects_bad_inputs(tmp_path, capsys):
    from cs_toolkit.cli import main

    assert main(["train-dict", str(tmp_path), "--kind", "image"]) == 2
    assert "no training files" in capsys.readouterr().err
    assert main(["train-dict", str(tmp_path / "nothere"), "--kind", "audio"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_train_dict_audio_then_use_it(files, tmp_path):
    out = tmp_path / "d.npz"
    r = _run("train-dict", files / "clip.wav", "--kind", "audio", "--atoms", "8", "--sparsity", "2",
             "--method", "mod", "--max-iter", "2", "--frame-length", "32", "--out", out)
    assert r.returncode == 0, r.stderr
    with np.load(out, allow_pickle=False) as z:
        assert z["dictionary"].shape == (32, 8)
    r = _run("reconstruct", files / "clip.wav", "--ratio", "0.5", "--method", "omp", "--frame-length", "32",
             "--hop", "16", "--basis", out, "--json", "--out", tmp_path / "o.wav")
    assert r.returncode == 0, r.stderr
    assert np.isfinite(json.loads(r.stdout)["snr"])


def test_training_commands_say_which_pictures_they_convert_to_grey(tmp_path, capsys):
    """train-dict and train --data read pictures in grey too, and say which were colour."""
    import skimage.io

    from cs_toolkit.cli import main

    rgb = (np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)
    d = tmp_path / "pics"
    d.mkdir()
    skimage.io.imsave(d / "colour.png", rgb, check_contrast=False)
    write_image(d / "grey.png", rgb[:, :, 0])
    assert main(["train-dict", str(d), "--kind", "image", "--atoms", "8", "--sparsity", "2", "--patch-size", "4",
                 "--max-iter", "1", "--out", str(tmp_path / "dict.npz")]) == 0
    out = capsys.readouterr().out
    assert "converted to grey: colour.png (colour (RGB))" in out and "grey.png" not in out.split("converted")[1]
    assert main(["train", "--model", "alista", "--data", str(d), "--block", "4", "--ratio", "0.5", "--layers", "1",
                 "--quick", "--quiet", "--out", str(tmp_path / "m.npz")]) == 0
    assert "converted to grey: colour.png (colour (RGB))" in capsys.readouterr().out

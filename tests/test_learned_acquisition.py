"""A learned per-block / per-frame model carries its acquisition settings and scale, and the image
and audio pipelines (Python and CLI) measure and rescale the way it was trained."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cs_toolkit.data import data_dir
from cs_toolkit.exceptions import ModelFileError, ValidationError
from cs_toolkit.learned import ALISTA, LISTA_CP, load_model
from cs_toolkit.learned.acquisition import (
    acquisition_mismatch,
    check_acquisition,
    make_acquisition,
    measurement_scale,
)
from cs_toolkit.signals.audio import measure_audio, reconstruct_audio
from cs_toolkit.signals.image import pipeline_matrix


def _audio_net(N=64, ratio=0.5, seed=0):
    m = int(round(ratio * N))
    A, _ = pipeline_matrix("gaussian", m, N, seed)
    from scipy.fft import dct

    Psi = dct(np.eye(N), norm="ortho", axis=0).T
    net = ALISTA(A, n_layers=4, dictionary=Psi, dtype=np.float64)
    net.acquisition = make_acquisition("audio", block_size=N, ratio=ratio, seed=seed)
    return net


def test_record_round_trips_through_the_model_file(tmp_path):
    net = _audio_net()
    net.save(tmp_path / "m.npz")
    back = load_model(tmp_path / "m.npz")
    assert back.acquisition == net.acquisition
    assert back.acquisition == {"signal": "audio", "block_size": 64, "ratio": 0.5, "matrix": "gaussian",
                                "seed": 0, "scale": "loudest_frame", "hop": 32, "window": "sine"}


def test_a_model_without_a_record_still_loads(tmp_path):
    net = LISTA_CP(np.random.default_rng(0).standard_normal((8, 16)), n_layers=2)
    net.save(tmp_path / "old.npz")
    assert load_model(tmp_path / "old.npz").acquisition is None


@pytest.mark.parametrize("change, pattern", [
    ({"signal": "video"}, "signal"),
    ({"ratio": 1.5}, "ratio"),
    ({"seed": -1}, "seed"),
    ({"scale": "pixel"}, "scale"),
    ({"hop": 0}, "hop"),
    ({"window": "kaiser"}, "window"),
    ({"extra": 1}, "keys"),
])
def test_a_malformed_record_is_refused(change, pattern):
    rec = dict(make_acquisition("audio", block_size=64, ratio=0.5), **change)
    with pytest.raises(ValidationError, match=pattern):
        check_acquisition(rec)


def test_a_file_with_a_malformed_record_is_refused(tmp_path):
    # save_model refuses such a record itself (tests/test_input_checks_learned.py): write the file by hand
    net = _audio_net()
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = dict(f)
    meta = json.loads(arrays["__metadata__"].tobytes())
    meta["acquisition"] = dict(meta["acquisition"], block_size=128, hop=64)
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match="acquisition.*128 samples.*the model for signals of 64"):
        load_model(tmp_path / "bad.npz")


def test_mismatch_lists_every_setting_that_differs():
    rec = make_acquisition("image", block_size=16, ratio=0.25, seed=3)
    assert acquisition_mismatch(rec, ratio=0.25, block_size=16, seed=3) == []
    assert acquisition_mismatch(rec, ratio=0.5, block_size=16, seed=0) == [("ratio", 0.25, 0.5), ("seed", 3, 0)]


def test_audio_scale_makes_the_learned_path_scale_equivariant():
    """The network is non-linear; the loudest-frame scale makes the pipeline's result follow the
    signal's level exactly (a clip 1000x louder comes back 1000x louder)."""
    rng = np.random.default_rng(1)
    t = np.arange(4000)
    x = np.sin(2 * np.pi * 0.031 * t) * np.exp(-t / 3000) + 0.01 * rng.standard_normal(t.size)
    net = _audio_net()
    r1 = reconstruct_audio(measure_audio(x, 0.5, frame_length=64, hop=32, rng=0), method="lista", model=net)
    r2 = reconstruct_audio(measure_audio(1000 * x, 0.5, frame_length=64, hop=32, rng=0), method="lista", model=net)
    assert np.abs(r1).max() > 0.1  # not silence (the old pixel-scale bug returned zeros)
    np.testing.assert_allclose(r2, 1000 * r1, rtol=1e-9, atol=1e-9)
    Y = rng.standard_normal((5, 32))
    assert measurement_scale(Y, net.acquisition) == pytest.approx(np.linalg.norm(Y, axis=1).max() / np.sqrt(0.5))


def test_audio_model_without_record_or_for_images_is_refused():
    net = _audio_net()
    meas = measure_audio(np.sin(np.arange(2000) * 0.1), 0.5, frame_length=64, hop=32, rng=0)
    net.acquisition = None
    with pytest.raises(ValidationError, match="records no acquisition"):
        reconstruct_audio(meas, method="lista", model=net)
    net.acquisition = make_acquisition("image", block_size=8, ratio=0.5)
    with pytest.raises(ValidationError, match="trained for image"):
        reconstruct_audio(meas, method="lista", model=net)
    other = measure_audio(np.sin(np.arange(2000) * 0.1), 0.5, frame_length=64, hop=32, rng=1)
    net.acquisition = make_acquisition("audio", block_size=64, ratio=0.5)
    with pytest.raises(ValidationError, match="another sensing matrix"):
        reconstruct_audio(other, method="lista", model=net)


#: SNR floor (dB) of the quick CLI speech model on the held-out speaker's clip (measured: 13.3 dB)
SPEECH_SNR_FLOOR = 10.0


@pytest.mark.slow
def test_cli_trains_a_speech_model_and_reconstructs_a_held_out_speaker(tmp_path, capsys):
    """Train on one speaker's clips with `cs-toolkit train`, reconstruct another speaker's clip with
    `cs-toolkit reconstruct --model` (no sensing option given: the model's are used)."""
    from cs_toolkit.cli import main

    train = tmp_path / "train"
    train.mkdir()
    for f in sorted(data_dir().glob("*_nicolas_0.wav")):
        shutil.copy(f, train / f.name)
    model = tmp_path / "speech.npz"
    assert main(["train", "--model", "lista_cp", "--data", str(train), "--ratio", "0.5", "--block", "16",
                 "--quick", "--quiet", "--out", str(model)]) == 0
    assert load_model(model).acquisition["signal"] == "audio"
    capsys.readouterr()
    held_out = data_dir() / "0_jackson_0.wav"
    assert main(["reconstruct", str(held_out), "--model", str(model), "--json",
                 "--out", str(tmp_path / "rec.wav")]) == 0
    captured = capsys.readouterr()
    q = json.loads(captured.out.strip().splitlines()[-1])
    assert "--ratio 0.5" in captured.err  # the notice says which settings came from the model
    assert q["method"] == "lista" and q["ratio"] == 0.5
    assert q["snr"] > SPEECH_SNR_FLOOR
    # a setting typed by the user that the model was not trained for is refused, naming it
    assert main(["reconstruct", str(held_out), "--model", str(model), "--ratio", "0.25",
                 "--out", str(tmp_path / "rec2.wav")]) == 2
    err = capsys.readouterr().err
    assert "--ratio 0.5 (got 0.25)" in err and len(err.strip().splitlines()) == 1
    # the speech model cannot serve an image
    assert main(["reconstruct", str(data_dir() / "camera.png"), "--model", str(model),
                 "--out", str(tmp_path / "c.png")]) == 2
    assert "trained for audio" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_trains_the_joint_speech_network_and_reconstructs_a_held_out_speaker(tmp_path, capsys):
    """`cs-toolkit train --model joint_learned` on one speaker's clips (the four bundled nicolas clips
    cut in halves: 8 clips, every fifth held out for validation), then `reconstruct --model` of
    jackson's clip at ratio 0.25: above the floor and above the classical `joint` on it (measured
    16.8 against 15.2 dB with 10 layers and 30 steps)."""
    from cs_toolkit.cli import main
    from cs_toolkit.data import read_wav, write_wav
    from cs_toolkit.learned import JointAudioNet, load_joint_audio
    from cs_toolkit.signals.audio import audio_quality

    train = tmp_path / "train"
    train.mkdir()
    for f in sorted(data_dir().glob("*_nicolas_0.wav")):
        x, rate = read_wav(f)
        write_wav(train / f"{f.stem}_a.wav", x[: x.size // 2], rate)
        write_wav(train / f"{f.stem}_b.wav", x[x.size // 2:], rate)
    model = tmp_path / "joint.npz"
    argv = ["train", "--model", "joint_learned", "--data", str(train), "--ratios", "0.25,0.5", "--layers", "10",
            "--max-steps", "30", "--out", str(model)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "7 training and 1 validation clips" in out and "validation SNR, network vs joint" in out
    net = load_joint_audio(model)
    assert isinstance(net, JointAudioNet) and net.n_layers == 10 and list(net.ratios) == [0.25, 0.5]
    assert net.n_tail > 0 and "default_ratios" in net.training_record  # tuned and chosen on validation
    held_out = data_dir() / "0_jackson_0.wav"
    assert main(["reconstruct", str(held_out), "--model", str(model), "--ratio", "0.25", "--json",
                 "--out", str(tmp_path / "rec.wav")]) == 0
    q = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    x = read_wav(held_out)[0]
    joint = audio_quality(x, reconstruct_audio(measure_audio(x, 0.25, rng=0), method="joint"))["snr"]
    assert q["method"] == "joint_learned" and q["snr"] > max(SPEECH_SNR_FLOOR, joint), (q["snr"], joint)
    # with --checkpoint the same command run again goes on from it (here: after the last step) and
    # writes the same network; a missing --data is refused in one line
    ck = tmp_path / "c.npz"
    for out in ("m1.npz", "m2.npz"):
        assert main(argv[:-1] + [str(tmp_path / out), "--checkpoint", str(ck), "--quiet"]) == 0
    a, b = load_joint_audio(tmp_path / "m1.npz"), load_joint_audio(tmp_path / "m2.npz")
    assert ck.exists() and all(np.array_equal(a.parameters()[k], v) for k, v in b.parameters().items())
    assert all(np.array_equal(net.parameters()[k], v) for k, v in a.parameters().items())  # = without checkpoint
    capsys.readouterr()
    assert main(["train", "--model", "joint_learned", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data" in err[0], err


@pytest.mark.slow
def test_cli_image_model_round_trip(tmp_path, capsys):
    from skimage import io as skio

    from cs_toolkit.cli import main

    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(0)
    skio.imsave(d / "a.png", (rng.random((48, 48)) * 255).astype(np.uint8), check_contrast=False)
    model = tmp_path / "img.npz"
    assert main(["train", "--model", "alista", "--data", str(d), "--block", "8", "--ratio", "0.5", "--layers", "2",
                 "--quick", "--quiet", "--seed", "4", "--out", str(model)]) == 0
    assert load_model(model).acquisition == make_acquisition("image", block_size=8, ratio=0.5, seed=4)
    img = tmp_path / "t.png"
    skio.imsave(img, (np.add.outer(np.arange(40), np.arange(40)) * 3 % 256).astype(np.uint8), check_contrast=False)
    capsys.readouterr()
    assert main(["reconstruct", str(img), "--model", str(model), "--json", "--out", str(tmp_path / "r.png")]) == 0
    q = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (q["method"], q["block_size"], q["seed"], q["n_measurements"]) == ("lista", 8, 4, 32)

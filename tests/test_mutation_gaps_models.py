"""Gaps found by mutation testing of the model-handling code: the default method (bundled joint-audio
model), the CLI's model settings, acquisition records, training checkpoints and L-BFGS logs, the
non-local stages' ratio weights and ratio range, dictionary checkpoints and learner files, and the
debiasing layer's saved thresholds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_cli_audit import _main, _refused
from test_learned_acquisition import _audio_net

from cs_toolkit.data import write_wav
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.learned.acquisition import acquisition_mismatch, check_acquisition, make_acquisition
from cs_toolkit.signals.methods import default_method


# ------------------------------------------------------------------ the default method
def _joint_record():
    from cs_toolkit.learned.joint_audio import load_joint_audio
    from cs_toolkit.signals.methods import MODELS_DIR

    net = load_joint_audio(MODELS_DIR / "joint_audio.npz")
    return net.frame_length, net.training_record["default_ratios"]


def test_joint_learned_is_the_default_only_at_its_recorded_ratios():
    N, chosen = _joint_record()
    for r in (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5):
        name, _ = default_method("audio", ratio=r, frame_length=N, hop=N // 2)
        want = "joint_learned" if any(abs(r - c) < 1e-9 for c in chosen) else "joint"
        assert name == want, r


def test_joint_learned_is_not_the_default_for_another_hop():
    N, chosen = _joint_record()
    assert default_method("audio", ratio=chosen[0], frame_length=N, hop=N // 2)[0] == "joint_learned"
    for hop in (N // 4, N):
        assert default_method("audio", ratio=chosen[0], frame_length=N, hop=hop)[0] == "joint"


# ------------------------------------------------------------------ acquisition records
def test_a_record_takes_ratio_one_and_hop_up_to_the_frame():
    rec = make_acquisition("audio", block_size=64, ratio=1.0, hop=64)
    assert rec["ratio"] == 1.0 and rec["hop"] == 64
    with pytest.raises(ValidationError, match="hop"):
        check_acquisition(dict(rec, hop=65))
    assert check_acquisition(make_acquisition("image", block_size=8, ratio=1))["ratio"] == 1.0


def test_mismatch_sees_a_small_ratio_difference():
    rec = make_acquisition("image", block_size=16, ratio=0.25)
    assert acquisition_mismatch(rec, ratio=0.25 + 1e-14) == []
    assert acquisition_mismatch(rec, ratio=0.2501) == [("ratio", 0.25, 0.2501)]


# ------------------------------------------------------------------ reconstruct --model (audio)
@pytest.fixture
def audio_model(tmp_path):
    """A per-frame audio model file (frames of 64, hop 32, ratio 0.5, seed 0) and a clip."""
    write_wav(tmp_path / "clip.wav", 0.5 * np.sin(np.arange(2000) * 0.05), 8000)
    net = _audio_net()
    net.save(tmp_path / "m.npz")
    return tmp_path


def test_a_typed_frame_length_that_differs_is_refused_by_its_flag(audio_model, capsys):
    d = audio_model
    msg = _refused(capsys, "reconstruct", d / "clip.wav", "--model", d / "m.npz", "--frame-length", "128",
                   "--out", d / "o.wav", match="--frame-length 64 (got 128)")
    assert "--block-size" not in msg


def test_a_typed_ratio_that_differs_is_refused_not_replaced(audio_model, capsys):
    d = audio_model
    _refused(capsys, "reconstruct", d / "clip.wav", "--model", d / "m.npz", "--ratio", "0.25",
             "--out", d / "o.wav", match="--ratio 0.5 (got 0.25)")
    assert not (d / "o.wav").exists()
    status, err = _main(capsys, "reconstruct", d / "clip.wav", "--model", d / "m.npz", "--ratio", "0.5",
                        "--out", d / "o.wav")
    assert status == 0, err


def test_a_model_of_frames_with_another_window_is_refused(audio_model, capsys):
    d = audio_model
    net = _audio_net()
    net.acquisition = make_acquisition("audio", block_size=64, ratio=0.5, window="hann")
    net.save(d / "hann.npz")
    _refused(capsys, "reconstruct", d / "clip.wav", "--model", d / "hann.npz", "--out", d / "o.wav",
             match="hann window")


# ------------------------------------------------------------------ training checkpoints
def _checkpointed(tmp_path, **kw):
    """A small network, a fingerprint of two stages and a checkpoint written with ``kw``."""
    from types import SimpleNamespace

    from cs_toolkit.learned import LISTA_CP
    from cs_toolkit.learned.checkpoint import save_checkpoint

    net = LISTA_CP(np.random.default_rng(0).standard_normal((6, 10)), n_layers=2, dtype=np.float64)
    params = net.parameters()
    rows = {k: v.shape[0] for k, v in params.items()}
    adam = SimpleNamespace(t=7, m={k: v + 1.0 for k, v in params.items()}, v={k: v + 2.0 for k, v in params.items()},
                           scales={k: np.linspace(0.5, 2.0, rows[k]) for k in list(params)[:1]})
    fp = {"kind": net.kind, "stages": [["a", 1, 0, 0.01], ["b", 2, 0, 0.01]]}
    args = dict(stage=1, rng=np.random.default_rng(3), stages=[{"x": 1}], records=[{"y": 2}], elapsed_s=5.0,
                started=True, step=4, since=2, best=0.125, loss=0.5,
                best_params={k: v * 3.0 for k, v in params.items()}, adam=adam, stage_elapsed_s=2.5)
    args.update(kw)
    path = save_checkpoint(tmp_path / "ck.npz", net, fp, **args)
    return net, fp, adam, path


def test_a_training_checkpoint_round_trips_its_timers_and_learning_rate_scales(tmp_path):
    from cs_toolkit.learned.checkpoint import load_checkpoint

    net, fp, adam, path = _checkpointed(tmp_path)
    st = load_checkpoint(path, net, fp)
    assert (st["elapsed_s"], st["stage_elapsed_s"], st["adam_t"], st["step"], st["since"]) == (5.0, 2.5, 7, 4, 2)
    assert set(st["scales"]) == set(adam.scales)
    for k, s in adam.scales.items():
        np.testing.assert_array_equal(st["scales"][k], s)
    for k in net.parameters():
        np.testing.assert_array_equal(st["adam_m"][k], adam.m[k])


def test_a_started_stage_past_the_last_is_refused(tmp_path):
    from cs_toolkit.exceptions import ModelFileError
    from cs_toolkit.learned.checkpoint import load_checkpoint

    net, fp, _, path = _checkpointed(tmp_path, stage=2)  # two stages: indices 0 and 1
    with pytest.raises(ModelFileError, match="out of range"):
        load_checkpoint(path, net, fp)
    net, fp, _, path = _checkpointed(tmp_path, stage=2, started=False)  # all stages done: fine
    assert load_checkpoint(path, net, fp)["stage"] == 2


# ------------------------------------------------------------------ L-BFGS evaluation logs
def _log(tmp_path, version=1):
    import json

    from cs_toolkit.learned._lbfgs_log import FORMAT, EvaluationLog

    log = EvaluationLog(tmp_path / "log.npz", {"a": 1}, 3)
    log.evaluate(np.array([0.1, 0.2, 0.3]), lambda v: (float(v @ v), 2 * v))
    log.score(lambda: 1.5)
    path = log.save(4.0)
    if version != 1:
        with np.load(path) as f:
            arrays = dict(f)
        meta = {"format": FORMAT, "format_version": version, "fingerprint": {"a": 1}, "elapsed_s": 4.0}
        arrays["__log__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        np.savez(path, **arrays)
    return path


def test_an_lbfgs_log_of_another_format_version_is_refused(tmp_path):
    from cs_toolkit.exceptions import ModelFileError
    from cs_toolkit.learned._lbfgs_log import FORMAT_VERSION, EvaluationLog

    assert EvaluationLog(_log(tmp_path), {"a": 1}, 3).replaying
    with pytest.raises(ModelFileError, match="version"):
        EvaluationLog(_log(tmp_path, FORMAT_VERSION + 1), {"a": 1}, 3)


def test_an_lbfgs_log_replays_only_the_exact_logged_point(tmp_path):
    from cs_toolkit.learned._lbfgs_log import EvaluationLog

    path = _log(tmp_path)
    log = EvaluationLog(path, {"a": 1}, 3)
    loss, g = log.evaluate(np.array([0.1, 0.2, 0.3]), lambda v: pytest.fail("replayed, not computed"))
    assert loss == pytest.approx(0.14) and log.score(lambda: pytest.fail("replayed")) == 1.5
    log = EvaluationLog(path, {"a": 1}, 3)
    near = np.nextafter(np.array([0.1, 0.2, 0.3]), 1.0)  # one unit in the last place away
    with pytest.raises(ValidationError, match="another point"):
        log.evaluate(near, lambda v: (0.0, v))


# ------------------------------------------------------------------ non-local stages
def test_ratio_weights_interpolate_linearly_in_log_ratio():
    from cs_toolkit.signals import NonLocalStages

    net = NonLocalStages(1, ratios=(0.1, 0.25, 0.5))
    for r in (0.12, 0.2, 0.3, 0.45):
        j = 0 if r < 0.25 else 1
        lo, hi = net.ratios[j], net.ratios[j + 1]
        f = (math.log(r) - math.log(lo)) / (math.log(hi) - math.log(lo))
        want = np.zeros(3)
        want[j], want[j + 1] = 1.0 - f, f
        np.testing.assert_allclose(net.ratio_weights(r), want, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(net.ratio_weights(0.05), [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(net.ratio_weights(0.9), [0.0, 0.0, 1.0])


def test_nl_settings_refuse_ratios_just_outside_the_anchors():
    from cs_toolkit.signals import NonLocalStages
    from cs_toolkit.signals._image_nlstages import check_nl_settings

    net = NonLocalStages(1, ratios=(0.1, 0.25, 0.5))
    check_nl_settings(net, ratio=0.5, block_size=32, matrix="gaussian")
    check_nl_settings(net, ratio=0.1, block_size=32, matrix="gaussian")
    for r in (0.09, 0.51, 0.55):
        with pytest.raises(ValidationError, match="ratios 0.1 to 0.5"):
            check_nl_settings(net, ratio=r, block_size=32, matrix="gaussian")


# ------------------------------------------------------------------ dictionary learning: checkpoints, learner files
def test_a_dictionary_checkpoint_integer_field_above_its_range_is_corrupt(tmp_path):
    from cs_toolkit.dictionary._checkpoint import _Reader
    from cs_toolkit.exceptions import ModelFileError

    r = _Reader(str(tmp_path / "ck.npz"), {"iteration": 10, "big": 11}, {})
    assert r.int("iteration", 0, 10) == 10
    with pytest.raises(ModelFileError, match="big=11"):
        r.int("big", 0, 10)


@pytest.fixture(scope="module")
def learner():
    from cs_toolkit.dictionary import DictionaryLearner

    X = np.random.default_rng(0).standard_normal((60, 8))
    return DictionaryLearner(10, n_nonzero_coefs=2, max_iter=3, rng=5).fit(X), X


# ------------------------------------------------------------------ more refusals
def test_an_image_model_is_refused_for_audio_input(tmp_path, capsys):
    from cs_toolkit.signals._image_tnrd import DEFAULT_TNRD_MODEL

    write_wav(tmp_path / "clip.wav", 0.5 * np.sin(np.arange(2000) * 0.05), 8000)
    _refused(capsys, "reconstruct", tmp_path / "clip.wav", "--model", DEFAULT_TNRD_MODEL, "--out",
             tmp_path / "o.wav", match="for image, not audio")


def test_a_started_training_checkpoint_without_a_best_score_is_refused(tmp_path):
    from cs_toolkit.exceptions import ModelFileError
    from cs_toolkit.learned.checkpoint import load_checkpoint

    net, fp, _, path = _checkpointed(tmp_path, best=None)
    with pytest.raises(ModelFileError, match="'best'"):
        load_checkpoint(path, net, fp)


def test_a_learner_file_whose_atom_count_disagrees_is_refused(learner, tmp_path):
    import json

    from cs_toolkit.dictionary import DictionaryLearner
    from cs_toolkit.exceptions import ModelFileError

    dl, _ = learner
    dl.save(tmp_path / "dl.npz")
    with np.load(tmp_path / "dl.npz") as f:
        arrays = dict(f)
    meta = json.loads(str(arrays["metadata"]))
    meta["params"]["n_atoms"] = 11
    arrays["metadata"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match="n_atoms=11"):
        DictionaryLearner.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("debias", [{"threshold": 1.0, "refit_threshold": None, "max_support": None},
                                    {"threshold": 0.1, "refit_threshold": 1.0, "max_support": None}])
def test_debias_thresholds_of_one_in_a_file_are_refused(debias, tmp_path):
    from test_learned_debias import (
        test_malformed_debias_metadata_is_refused as refused,  # writes and loads
    )

    refused(debias, tmp_path)  # both thresholds lie in [0, 1)


def test_a_joint_checkpoint_needs_one_best_score_per_ratio(tmp_path):
    from cs_toolkit.exceptions import ModelFileError
    from cs_toolkit.learned._joint_checkpoint import load_joint_checkpoint, save_joint_checkpoint
    from cs_toolkit.learned.joint_audio import JointAudioNet
    from cs_toolkit.learned.train import Adam

    net = JointAudioNet(2, frame_length=32, ratios=(0.25, 0.5))
    opt = Adam(net.parameters())
    fp = {"ratios": [0.25, 0.5], "max_steps": 10}
    best_params = [{k: v[j].copy() for k, v in net.parameters().items()} for j in range(2)]
    hist = {"step": [0], "val_snr_db": [[1.0, 2.0]], "train_loss": [0.5]}

    def write(best):
        return save_joint_checkpoint(tmp_path / "ck.npz", net, fp, step=3, rng=np.random.default_rng(0), opt=opt,
                                     best=best, best_params=best_params, hist=hist, recent_losses=[0.5],
                                     elapsed_s=1.0)

    assert load_joint_checkpoint(write([1.0, 2.0]), net, fp)["best"] == [1.0, 2.0]
    assert load_joint_checkpoint(write(None), net, fp)["best"] is None
    with pytest.raises(ModelFileError, match="'best'"):
        load_joint_checkpoint(write([1.0]), net, fp)

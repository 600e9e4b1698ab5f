"""Files written by earlier versions keep loading: every saved format has a committed fixture
(``tests/fixtures/``, written by ``tests/fixtures/make_fixtures.py``) and the output the code gave
when it was written. A failure here means old files no longer load or no longer give the same
results: keep the reader compatible (see "A new field in a file format" in ARCHITECTURE.md)
rather than regenerating the fixtures."""

import json
import os
import shutil
import sys
import zipfile

import numpy as np
import pytest

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
sys.path.insert(0, FIXTURES)
from make_fixtures import KSVD_OPTS, N_ATOMS, TRAIN_OPTS  # noqa: E402

sys.path.remove(FIXTURES)

TOL = dict(rtol=1e-6, atol=1e-9)


def _fixture(name):
    return os.path.join(FIXTURES, name)


def _expected(name):
    with np.load(_fixture(f"{name}.expected.npz"), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _copy(name, tmp_path):
    """A writable copy (the resumed runs write their checkpoints)."""
    dst = tmp_path / name
    shutil.copy(_fixture(name), dst)
    return dst


@pytest.mark.parametrize("name", sorted(f for f in os.listdir(FIXTURES) if not f.endswith(".py")))
def test_fixture_is_small_and_tracked_as_a_plain_file(name):
    assert os.path.getsize(_fixture(name)) < 16_000
    if name.endswith(".npz"):
        with zipfile.ZipFile(_fixture(name)) as z:
            assert z.namelist()


def test_learned_model():
    from cs_toolkit.learned import LISTA_CP, load_any_model, load_model

    e = _expected("lista_cp")
    net = load_model(_fixture("lista_cp.npz"), A=e["A"])
    assert isinstance(net, LISTA_CP) and net.n_layers == 3 and net.n_measurements == 10
    np.testing.assert_array_equal(net.parameters()["theta"], e["theta"])
    np.testing.assert_allclose(net.forward(e["Y"]), e["X_hat"], rtol=1e-5, atol=1e-6)
    assert isinstance(load_any_model(_fixture("lista_cp.npz")), LISTA_CP)


def test_training_checkpoint_resumes(tmp_path):
    from cs_toolkit.learned import SyntheticSource, make_model, train

    e = _expected("train_checkpoint")
    path = _copy("train_checkpoint.npz", tmp_path)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["__checkpoint__"]).decode("utf-8"))
        assert meta["started"] and meta["step"] == int(e["resumed_step"]) and meta["stage"] == int(e["resumed_stage"])
    net = make_model("alista", e["A"], 2)
    hist = train(net, SyntheticSource(e["A"], p=0.1), checkpoint=path, validation=(e["Yv"], e["Xv"]), rng=7,
                 **TRAIN_OPTS)
    assert hist.resumed_from == {"stage": int(e["resumed_stage"]), "step": int(e["resumed_step"])}
    np.testing.assert_allclose(net.parameters()["theta"], e["theta"], rtol=1e-5)
    np.testing.assert_allclose(net.parameters()["gamma"], e["gamma"], rtol=1e-5)


def test_diffusion_model():
    from cs_toolkit.learned import DiffusionStages, load_any_model, load_diffusion

    e = _expected("diffusion")
    m = load_diffusion(_fixture("diffusion.npz"))
    assert (m.n_stages, m.filter_size, m.n_knots) == (2, 3, 7)
    assert m.training_record == {"start": "fixture", "seed": 103}
    np.testing.assert_array_equal(m.knots, e["knots"])
    np.testing.assert_allclose(m.forward(e["x0"]), e["x"], **TOL)
    assert isinstance(load_any_model(_fixture("diffusion.npz")), DiffusionStages)


def test_nonlocal_stages():
    from cs_toolkit.signals import BlockConstraint, is_nlstages_file, load_nlstages

    e = _expected("nonlocal_stages")
    m = load_nlstages(_fixture("nonlocal_stages.npz"))
    assert (m.n_stages, m.ratios, m.patch_size, m.group_size) == (2, (0.2, 0.5), 4, 4)
    assert m.training_record == {"block_size": 8, "matrix": "gaussian", "seed": 107}
    assert m.theta.shape == (2, 2, 4, 16) and m.theta.sum() == e["theta_sum"]
    con = BlockConstraint(e["Y"], e["A"], e["A"].T, (16, 16), 8)
    np.testing.assert_allclose(m.forward(e["x0"], con), e["x"], **TOL)
    assert is_nlstages_file(_fixture("nonlocal_stages.npz")) and not is_nlstages_file(_fixture("diffusion.npz"))


def test_joint_audio_model():
    from cs_toolkit.learned import JointAudioNet, load_any_model, load_joint_audio

    e = _expected("joint_audio")
    net = load_joint_audio(_fixture("joint_audio.npz"))
    assert net.n_layers == 3 and net.frame_length == 16 and net.n_tail == 2
    np.testing.assert_array_equal(net.ratios, [0.25, 0.5])
    np.testing.assert_array_equal(net.beta, e["beta"])
    np.testing.assert_allclose(net.reconstruct(e["Y"], e["A"]), e["x"], **TOL)
    assert isinstance(load_any_model(_fixture("joint_audio.npz")), JointAudioNet)


def test_dictionary_checkpoint_resumes(tmp_path):
    from cs_toolkit.dictionary import ksvd

    e = _expected("ksvd_checkpoint")
    path = _copy("ksvd_checkpoint.npz", tmp_path)
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["metadata"]))["iteration"] == 2
    seen = []
    res = ksvd(e["X"], N_ATOMS, checkpoint=path, callback=lambda it, info: seen.append(it), **KSVD_OPTS)
    assert seen[0] == 3  # resumed after the two saved updates
    np.testing.assert_allclose(res.dictionary, e["dictionary"], **TOL)
    np.testing.assert_allclose(res.codes, e["codes"], **TOL)
    np.testing.assert_allclose(res.history["error"], e["error"], rtol=1e-9)
    assert not path.exists()  # the finished run deleted it


def test_dictionary_learner():
    from cs_toolkit.dictionary import DictionaryLearner

    e = _expected("dictionary_learner")
    est = DictionaryLearner.load(_fixture("dictionary_learner.npz"))
    assert est.n_atoms == N_ATOMS and est.n_nonzero_coefs == 3 and est.dictionary_.shape == (8, N_ATOMS)
    np.testing.assert_array_equal(est.dictionary_, e["dictionary"])
    np.testing.assert_allclose(est.transform(e["X"]), e["codes"], **TOL)


@pytest.mark.parametrize("ext", ["json", "csv"])
def test_bench_results(ext):
    from cs_toolkit.bench import Results, load_results

    res = load_results(_fixture(f"bench_results.{ext}"))
    assert isinstance(res, Results) and len(res.rows) == 2
    row = res.rows[1]
    assert (row["n"], row["m"], row["k"], row["trial"], row["solver"]) == (24, 12, 2, 1, "omp")
    assert row["nmse_db"] == -300.0 and row["success"] == 1.0 and np.isnan(row["snr_db"])
    if ext == "json":
        assert res.meta["settings"]["n_trials"] == 2

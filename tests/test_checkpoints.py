"""Interrupt-safe long work: atomic files, dictionary-learning checkpoints and resume (issue: hardening)."""

import json
import os

import numpy as np
import pytest

from cs_toolkit._atomic import atomic_path, atomic_savez, atomic_write_bytes, atomic_write_text
from cs_toolkit.data import load_image, read_image, write_image, write_wav
from cs_toolkit.dictionary import (
    DictionaryLearner,
    approx_ksvd,
    ksvd,
    mod,
    online_dictionary_learning,
)
from cs_toolkit.exceptions import ModelFileError, ValidationError


def _listing(directory):
    return sorted(p.name for p in directory.iterdir())


class _Stop(Exception):
    pass


# --------------------------------------------------------------------------- _atomic


def test_atomic_writers_write_whole_files(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "line 1\r\nline 2\n")
    assert (tmp_path / "a.txt").read_bytes() == b"line 1\r\nline 2\n"  # newlines untranslated
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    atomic_write_text(tmp_path / "sub" / "dir" / "c.txt", "x")  # missing directories are created
    assert (tmp_path / "sub" / "dir" / "c.txt").read_text() == "x"
    with atomic_path(tmp_path / "d.png") as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".png")  # same folder, same extension
        with open(tmp, "w") as fh:
            fh.write("png")
    assert (tmp_path / "d.png").read_text() == "png"
    assert _listing(tmp_path) == ["a.txt", "b.bin", "d.png", "sub"]


def test_atomic_savez_appends_suffix_and_round_trips(tmp_path):
    arrays = {"a": np.arange(5.0), "s": np.array("text")}
    path = atomic_savez(tmp_path / "arr", arrays)
    assert path == str(tmp_path / "arr.npz") and _listing(tmp_path) == ["arr.npz"]
    assert atomic_savez(tmp_path / "z.npz", arrays, compressed=True) == str(tmp_path / "z.npz")
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["a"], arrays["a"])
        assert str(z["s"]) == "text"


def test_atomic_savez_refuses_object_arrays(tmp_path):
    with pytest.raises(TypeError, match=r"'bad'.*object.*pickle"):
        atomic_savez(tmp_path / "o.npz", {"ok": np.ones(2), "bad": np.array([None, 1], dtype=object)})
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("exc", [KeyboardInterrupt, _Stop])
def test_atomic_path_cleans_up_and_keeps_old_file(tmp_path, exc):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(exc), atomic_path(target) as tmp:
        with open(tmp, "w") as fh:
            fh.write("half of the new")
        raise exc
    assert target.read_text() == "old"
    assert _listing(tmp_path) == ["out.txt"]
    with pytest.raises(exc), atomic_path(tmp_path / "new.txt"):
        raise exc
    assert _listing(tmp_path) == ["out.txt"]  # no target, no temporary file


# --------------------------------------------------------------------------- Ctrl-C while writing


def _interrupting_writer(monkeypatch, module, name):
    """Replace ``module.name`` by a writer that writes half a file at the path it gets, then raises."""
    def writer(path, *args, **kwargs):
        target = path if isinstance(path, str | os.PathLike) else None
        if target is not None:
            with open(target, "wb") as fh:
                fh.write(b"partial")
        else:
            path.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, writer)


@pytest.mark.slow
def test_interrupted_cli_reconstruct_leaves_no_output(tmp_path, monkeypatch, capsys):
    import skimage.io

    from cs_toolkit.cli import main

    write_image(tmp_path / "in.png", load_image("camera")[192:256, 192:256])
    _interrupting_writer(monkeypatch, skimage.io, "imsave")
    status = main(["reconstruct", str(tmp_path / "in.png"), "--ratio", "0.5", "--method", "whole", "--json",
                   "--out", str(tmp_path / "rec.png")])
    assert status == 130 and "interrupted" in capsys.readouterr().err
    assert _listing(tmp_path) == ["in.png"]


def test_interrupted_writers_leave_old_file_or_none(tmp_path, monkeypatch):
    import scipy.io.wavfile

    _interrupting_writer(monkeypatch, scipy.io.wavfile, "write")
    with pytest.raises(KeyboardInterrupt):
        write_wav(tmp_path / "a.wav", np.zeros(100), 8000)
    monkeypatch.undo()
    write_image(tmp_path / "img.png", np.full((8, 8), 0.5))
    before = (tmp_path / "img.png").read_bytes()
    import skimage.io

    _interrupting_writer(monkeypatch, skimage.io, "imsave")
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "img.png", np.zeros((8, 8)))
    assert (tmp_path / "img.png").read_bytes() == before
    assert _listing(tmp_path) == ["img.png"]


def test_interrupted_dictionary_save_leaves_old_file(tmp_path, monkeypatch):
    X = np.random.default_rng(0).standard_normal((100, 8))
    dl = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=1, rng=0).fit(X)
    dl.save(tmp_path / "dl.npz")
    before = (tmp_path / "dl.npz").read_bytes()
    _interrupting_writer(monkeypatch, np, "savez")
    with pytest.raises(KeyboardInterrupt):
        dl.save(tmp_path / "dl.npz")
    with pytest.raises(KeyboardInterrupt):
        dl.save(tmp_path / "other.npz")
    assert (tmp_path / "dl.npz").read_bytes() == before
    assert _listing(tmp_path) == ["dl.npz"]


# --------------------------------------------------------------------------- dictionary checkpoints


@pytest.fixture(scope="module")
def X():
    rng = np.random.default_rng(3)
    D = rng.standard_normal((12, 18))
    D /= np.linalg.norm(D, axis=0)
    C = np.zeros((300, 18))
    for i in range(300):
        C[i, rng.choice(18, 3, replace=False)] = rng.standard_normal(3)
    return C @ D.T + 0.01 * rng.standard_normal((300, 12))


BATCH = {"ksvd": ksvd, "approx_ksvd": approx_ksvd, "mod": mod}


def _run(method, X, **kw):
    if method == "online":
        args = dict(batch_size=32, n_epochs=4, checkpoint_every=7)
        args.update(kw)
        return online_dictionary_learning(X, 18, n_nonzero_coefs=3, rng=0, **args)
    return BATCH[method](X, 18, n_nonzero_coefs=3, max_iter=6, rng=0, **kw)


def _interrupt_at(j):
    def cb(it, info):
        if it == j:
            raise KeyboardInterrupt
    return cb


def _assert_same_result(res, ref):
    np.testing.assert_allclose(res.dictionary, ref.dictionary, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.codes, ref.codes, rtol=0, atol=1e-12)
    assert res.n_iter == ref.n_iter and res.replaced_atoms == ref.replaced_atoms
    assert res.history["iteration"] == ref.history["iteration"]
    np.testing.assert_allclose(res.history["error"], ref.history["error"], rtol=1e-12)
    assert res.history["replaced"] == ref.history["replaced"]


@pytest.mark.parametrize("method, stop_at", [("ksvd", 4), ("approx_ksvd", 3), ("mod", 5), ("online", 20)])
def test_interrupted_run_resumes_to_the_uninterrupted_result(X, tmp_path, method, stop_at):
    ref = _run(method, X)
    path = tmp_path / "ckpt.npz"
    with pytest.raises(KeyboardInterrupt):
        _run(method, X, checkpoint=path, callback=_interrupt_at(stop_at))
    assert _listing(tmp_path) == ["ckpt.npz"]
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["metadata"]))
        json.loads(str(z["rng_state"]))
    # batch methods: saved after every update before the interrupted one; online: mini-batch 14 of 40
    assert meta["iteration"] == (14 if method == "online" else stop_at - 1)
    seen = []
    res = _run(method, X, checkpoint=path, callback=lambda it, info: seen.append(it))
    _assert_same_result(res, ref)
    assert seen[0] == (20 if method == "online" else stop_at)  # the callback resumes where the run stopped
    assert _listing(tmp_path) == []  # a finished run deletes its checkpoint


def test_float32_and_checkpoint_every(X, tmp_path):
    X32 = X.astype(np.float32)
    ref = ksvd(X32, 18, n_nonzero_coefs=3, max_iter=7, rng=1)
    path = tmp_path / "c"  # .npz is appended
    with pytest.raises(KeyboardInterrupt):
        ksvd(X32, 18, n_nonzero_coefs=3, max_iter=7, rng=1, checkpoint=path, checkpoint_every=3,
             callback=_interrupt_at(5))
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        assert json.loads(str(z["metadata"]))["iteration"] == 3 and z["dictionary"].dtype == np.float32
    res = ksvd(X32, 18, n_nonzero_coefs=3, max_iter=7, rng=1, checkpoint=path, checkpoint_every=3)
    assert res.dictionary.dtype == np.float32
    np.testing.assert_array_equal(res.dictionary, ref.dictionary)


def test_uninterrupted_checkpointed_run_equals_plain_run(X, tmp_path):
    for method in ("mod", "online"):
        ref = _run(method, X)
        res = _run(method, X, checkpoint=tmp_path / f"{method}.npz", checkpoint_every=1)
        _assert_same_result(res, ref)
    assert _listing(tmp_path) == []


def test_generator_rng_resumes(X, tmp_path):
    ref = mod(X, 18, n_nonzero_coefs=3, max_iter=5, rng=np.random.default_rng(9))
    with pytest.raises(KeyboardInterrupt):
        mod(X, 18, n_nonzero_coefs=3, max_iter=5, rng=np.random.default_rng(9), checkpoint=tmp_path / "c.npz",
            callback=_interrupt_at(3))
    res = mod(X, 18, n_nonzero_coefs=3, max_iter=5, rng=np.random.default_rng(9), checkpoint=tmp_path / "c.npz")
    _assert_same_result(res, ref)


def test_interrupt_while_writing_a_checkpoint_keeps_the_previous_one(X, tmp_path, monkeypatch):
    ref = _run("ksvd", X)
    path = tmp_path / "ckpt.npz"
    real = np.savez
    calls = {"n": 0}

    def flaky(fh, **arrays):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint: half written, then Ctrl-C
            fh.write(b"partial")
            raise KeyboardInterrupt
        real(fh, **arrays)

    monkeypatch.setattr(np, "savez", flaky)
    with pytest.raises(KeyboardInterrupt):
        _run("ksvd", X, checkpoint=path)
    monkeypatch.undo()
    assert _listing(tmp_path) == ["ckpt.npz"]
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["metadata"]))["iteration"] == 2
    _assert_same_result(_run("ksvd", X, checkpoint=path), ref)


def _interrupted_checkpoint(X, path, method="ksvd"):
    with pytest.raises(KeyboardInterrupt):
        _run(method, X, checkpoint=path, callback=_interrupt_at(3 if method != "online" else 20))
    return path


@pytest.mark.parametrize("change, differs", [
    ({"n_nonzero_coefs": 4}, "n_nonzero_coefs"),
    ({"rng": 1}, "rng"),
    ({"replace_dead": False}, "replace_dead"),
    ({"max_iter": 9}, "max_iter"),
])
def test_checkpoint_of_other_settings_is_refused(X, tmp_path, change, differs):
    path = _interrupted_checkpoint(X, tmp_path / "ckpt.npz")
    args = dict(n_nonzero_coefs=3, max_iter=6, rng=0)
    args.update(change)
    with pytest.raises(ValidationError, match=rf"checkpoint .*ckpt\.npz.* other settings or data \(.*{differs}"):
        ksvd(X, 18, checkpoint=path, **args)
    assert _listing(tmp_path) == ["ckpt.npz"]  # left for the right settings


def test_checkpoint_of_other_data_or_method_is_refused(X, tmp_path):
    path = _interrupted_checkpoint(X, tmp_path / "ckpt.npz")
    X2 = X.copy()
    X2[0, 0] += 1e-9
    with pytest.raises(ValidationError, match=r"checkpoint .*X \(the training data\)"):
        ksvd(X2, 18, n_nonzero_coefs=3, max_iter=6, rng=0, checkpoint=path)
    with pytest.raises(ValidationError, match=r"checkpoint .*method"):
        mod(X, 18, n_nonzero_coefs=3, max_iter=6, rng=0, checkpoint=path)
    with pytest.raises(ValidationError, match=r"checkpoint .*X \(the training data\)"):
        ksvd(X.astype(np.float32), 18, n_nonzero_coefs=3, max_iter=6, rng=0, checkpoint=path)
    online = _interrupted_checkpoint(X, tmp_path / "online.npz", "online")
    with pytest.raises(ValidationError, match=r"checkpoint .*batch_size"):
        _run("online", X, batch_size=64, checkpoint=online)


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["metadata"]))
    for key, value in list(changes.items()):
        if key.startswith("meta_"):
            meta[key[5:]] = value
            del changes[key]
    arrays["metadata"] = np.array(json.dumps(meta))
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)


@pytest.mark.parametrize("method, damage, message", [
    ("ksvd", {"dictionary": np.full((12, 18), np.nan)}, "non-finite"),
    ("ksvd", {"dictionary": np.ones((12, 17))}, "shape"),
    ("ksvd", {"codes_rows": np.array([10**6, 0, 0])}, "'codes_cols'|out of range"),
    ("ksvd", {"rng_state": np.array('{"bit_generator": "MT19937"}')}, "random state"),
    ("ksvd", {"rng_state": np.array("not json")}, "JSON"),
    ("ksvd", {"metadata": np.array(5.0)}, "metadata"),
    ("ksvd", {"meta_format": "something else"}, "format"),
    ("ksvd", {"meta_version": 99}, "version"),
    ("ksvd", {"meta_iteration": 50}, "iteration"),
    ("ksvd", {"meta_history": {"error": [0.1]}}, "history"),
    ("ksvd", {"dictionary": None}, "'dictionary' entry is missing"),
    ("online", {"order": np.zeros(300, dtype=np.int64)}, "permutation"),
    ("online", {"A": np.ones((18, 18), dtype=np.float32)}, "'A' has dtype float32"),
    ("online", {"meta_batch_in_epoch": 0}, "batch_in_epoch"),
])
def test_corrupt_checkpoints_raise_clean_errors(X, tmp_path, method, damage, message):
    path = _interrupted_checkpoint(X, tmp_path / "ckpt.npz", method)
    _rewrite(path, **damage)
    with pytest.raises(ModelFileError, match=rf"checkpoint .*ckpt\.npz.*({message})"):
        _run(method, X, checkpoint=path)


def test_unreadable_checkpoint_files_raise_clean_errors(X, tmp_path):
    path = tmp_path / "ckpt.npz"
    path.write_bytes(b"not a zip file")
    with pytest.raises(ModelFileError, match=r"checkpoint .*not a readable"):
        _run("mod", X, checkpoint=path)
    good = _interrupted_checkpoint(X, tmp_path / "good.npz")
    path.write_bytes(good.read_bytes()[:300])  # truncated
    with pytest.raises(ModelFileError, match=r"checkpoint"):
        _run("ksvd", X, checkpoint=path)
    np.savez(path, metadata=np.array([{"a": 1}], dtype=object), rng_state=np.array("{}"))
    with pytest.raises(ModelFileError, match=r"checkpoint"):
        _run("ksvd", X, checkpoint=path)


def test_estimator_fit_resumes_from_checkpoint(X, tmp_path):
    path = _interrupted_checkpoint(X, tmp_path / "ckpt.npz")
    ref = _run("ksvd", X)
    dl = DictionaryLearner(18, n_nonzero_coefs=3, max_iter=6, rng=0, checkpoint=path, checkpoint_every=2).fit(X)
    np.testing.assert_allclose(dl.dictionary_, ref.dictionary, rtol=0, atol=1e-12)
    assert _listing(tmp_path) == []
    dl.save(tmp_path / "dl.npz")  # the checkpoint path is not stored in the model file
    assert DictionaryLearner.load(tmp_path / "dl.npz").get_params()["checkpoint"] is None
    with pytest.raises(ValidationError, match="checkpoint_every must be >= 1"):
        DictionaryLearner(18, n_nonzero_coefs=3, method="online", checkpoint_every=0).fit(X)


def test_cli_train_dict_checkpoint_resume(tmp_path, monkeypatch, capsys):
    from cs_toolkit import dictionary
    from cs_toolkit.cli import main

    write_image(tmp_path / "img.png", load_image("camera")[192:256, 192:256])
    common = [str(tmp_path / "img.png"), "--kind", "image", "--atoms", "16", "--sparsity", "2", "--patch-size", "4",
              "--max-iter", "4", "--max-signals", "400"]
    assert main(["train-dict", *common, "--out", str(tmp_path / "ref.npz")]) == 0
    real = dictionary.ksvd

    def interrupted(*args, **kwargs):
        return real(*args, callback=_interrupt_at(3), **kwargs)

    monkeypatch.setattr(dictionary, "ksvd", interrupted)
    ckpt = str(tmp_path / "state" / "ck.npz")
    assert main(["train-dict", *common, "--out", str(tmp_path / "d.npz"), "--checkpoint", ckpt]) == 130
    assert os.path.isfile(ckpt) and not (tmp_path / "d.npz").exists()
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["train-dict", *common, "--out", str(tmp_path / "d.npz"), "--checkpoint", ckpt]) == 0
    assert f"resuming from checkpoint {ckpt}" in capsys.readouterr().out
    assert not os.path.exists(ckpt)
    with np.load(tmp_path / "d.npz", allow_pickle=False) as a, np.load(tmp_path / "ref.npz", allow_pickle=False) as b:
        np.testing.assert_allclose(a["dictionary"], b["dictionary"], rtol=0, atol=1e-12)
    assert read_image(tmp_path / "img.png").shape == (64, 64)
    assert main(["train-dict", *common, "--checkpoint-every", "2"]) == 2
    assert "--checkpoint-every needs --checkpoint" in capsys.readouterr().err


def test_settings_derived_from_a_matrix_match_to_rounding_only():
    """A float setting (the step 1 / ||A||^2) may differ in its last bits between machines; a real
    change of setting is still told apart, and named."""
    import math

    from cs_toolkit.learned.checkpoint import _diff

    step = 1.0 / 3.0
    a = {"hyperparameters": {"step": step, "lam": 0.1}, "stages": [[1, 2.5]], "dtype": "float64"}
    b = {"hyperparameters": {"step": math.nextafter(step, 1.0), "lam": 0.1}, "stages": [[1, 2.5]],
         "dtype": "float64"}
    assert _diff(a, b) == []
    b["hyperparameters"]["step"] = step * (1 + 1e-6)
    b["stages"] = [[1, 2.6]]
    assert _diff(a, b) == ["hyperparameters.step", "stages"]
    assert _diff(a, {**a, "dtype": "float32"}) == ["dtype"]


def test_finetune_checkpoint_names_the_stem_with_finetune():
    from pathlib import Path

    from cs_toolkit.learned.checkpoint import finetune_checkpoint

    assert finetune_checkpoint("runs/a.npz") == "runs/a-finetune.npz"
    assert finetune_checkpoint("runs/a.NPZ") == "runs/a-finetune.npz"  # any case, as atomic_savez
    assert finetune_checkpoint(Path("runs") / "a") == str(Path("runs") / "a") + "-finetune.npz"
    for bad in (None, "", b"a.npz", 3):
        with pytest.raises(ValidationError, match="checkpoint must be a non-empty file path"):
            finetune_checkpoint(bad)

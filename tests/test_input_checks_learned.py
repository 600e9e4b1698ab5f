"""Input checks of cs_toolkit.learned found by an audit: every bad argument is a ValidationError
naming it, and valid input behaves as before (bit-exact model files, float32 kept, nothing the
caller passed modified)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from cs_toolkit.exceptions import ModelFileError, ValidationError
from cs_toolkit.learned import (
    ALISTA,
    LISTA,
    LISTA_CPSS,
    ArraySource,
    DiffusionStages,
    JointAudioNet,
    SyntheticSource,
    load_any_model,
    load_model,
    ls_debias,
    make_schedule,
    pretrain_alista,
    save_model,
    train,
    train_diffusion,
    train_joint_audio,
    train_reconstructor,
)
from cs_toolkit.learned.acquisition import make_acquisition
from cs_toolkit.learned.joint_audio import record_default_ratios, tune_tail
from cs_toolkit.learned.train import Stage

M, N = 10, 20
TINY = dict(max_steps=2, patience=1, eval_every=1, n_val=5, batch_size=4)


def _A(m=M, n=N, seed=0):
    return np.random.default_rng(seed).standard_normal((m, n)) / np.sqrt(m)


def _same_model(a, b):
    assert type(a) is type(b) and a.dtype == b.dtype
    assert a.get_parameters().keys() == b.get_parameters().keys()
    for k, v in a.get_parameters().items():
        w = b.get_parameters()[k]
        assert v.dtype == w.dtype and np.array_equal(v, w)
    assert a._buffers.keys() == b._buffers.keys()
    for k, v in a._buffers.items():
        assert np.array_equal(v, b._buffers[k])
    assert np.array_equal(a.sensing_matrix, b.sensing_matrix)
    assert a.acquisition == b.acquisition


# ------------------------------------------------------------------ 1. save_model / acquisition
def _image_net(n_side=7):
    A = np.random.default_rng(0).standard_normal((20, n_side * n_side))
    return ALISTA(A, 2)


def test_save_refuses_an_acquisition_record_for_another_signal_length(tmp_path):
    net = _image_net()  # 49 samples per signal
    net.acquisition = {"signal": "image", "block_size": 8, "ratio": 0.5, "matrix": "gaussian", "seed": 0,
                       "scale": "pixel"}  # 64 samples
    with pytest.raises(ValidationError, match=r"model\.acquisition.*64 samples.*the model for signals of 49"):
        net.save(tmp_path / "m")
    with pytest.raises(ValidationError, match=r"model\.acquisition"):
        save_model(net, tmp_path / "m.npz")
    assert not os.listdir(tmp_path)  # nothing written


def test_save_refuses_an_audio_record_of_another_frame_length(tmp_path):
    net = ALISTA(_A(8, 32), 2)
    net.acquisition = make_acquisition("audio", block_size=64, ratio=0.25)
    with pytest.raises(ValidationError, match=r"model\.acquisition.*64 samples.*32"):
        net.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_save_refuses_a_malformed_acquisition_record_naming_it(tmp_path):
    net = _image_net()
    net.acquisition = {"signal": "image"}
    with pytest.raises(ValidationError, match=r"model\.acquisition.*keys"):
        net.save(tmp_path / "m.npz")


def test_a_matching_acquisition_record_round_trips_bit_exact(tmp_path):
    net = _image_net(8)
    rec = {"signal": "image", "block_size": 8, "ratio": 0.5, "matrix": "gaussian", "seed": 0, "scale": "pixel"}
    net.acquisition = dict(rec)
    net.save(tmp_path / "m.npz")
    assert net.acquisition == rec  # not modified
    back = load_model(tmp_path / "m.npz")
    _same_model(net, back)
    Y = np.random.default_rng(1).standard_normal((3, 20)).astype(np.float32)
    assert np.array_equal(net(Y), back(Y))


def test_the_loader_still_refuses_a_hand_made_mismatched_record(tmp_path):
    net = _image_net(8)
    net.acquisition = make_acquisition("image", block_size=8, ratio=0.5)
    net.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:
        arrays = dict(f)
    meta = json.loads(arrays["__metadata__"].tobytes())
    meta["acquisition"]["block_size"] = 9
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ModelFileError, match=r"'acquisition'.*81 samples.*the model for signals of 64"):
        load_model(tmp_path / "bad.npz")


# ------------------------------------------------------------------ 2. source dtypes
@pytest.mark.parametrize("dtype", [int, np.int32, complex, np.complex64, bool, "foo", object])
def test_sources_refuse_a_non_float_dtype(dtype):
    A = _A()
    S = np.random.default_rng(1).standard_normal((10, N))
    with pytest.raises(ValidationError, match="dtype must be float32 or float64"):
        SyntheticSource(A, dtype=dtype)
    with pytest.raises(ValidationError, match="dtype must be float32 or float64"):
        ArraySource(S, A, dtype=dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32", "float64"])
def test_sources_keep_a_float_dtype(dtype):
    A = _A()
    S = np.random.default_rng(1).standard_normal((10, N))
    Y, C = SyntheticSource(A, dtype=dtype, rng=0).sample(4)
    assert Y.dtype == np.dtype(dtype) and C.dtype == np.dtype(dtype)
    Y, C = ArraySource(S, A, dtype=dtype, rng=0).sample(4)
    assert Y.dtype == np.dtype(dtype) and C.dtype == np.dtype(dtype)


# ------------------------------------------------------------------ 3. singular dictionary
@pytest.mark.parametrize("D", [np.zeros((N, N)), np.ones((N, N)), np.diag(np.r_[np.ones(N - 1), 0.0])])
def test_array_source_refuses_a_singular_dictionary_without_codes(D):
    S = np.random.default_rng(1).standard_normal((10, N))
    D0 = D.copy()
    with pytest.raises(ValidationError, match="dictionary must be invertible.*pass codes"):
        ArraySource(S, _A(), dictionary=D)
    assert np.array_equal(D, D0)


def test_array_source_with_an_invertible_dictionary_or_codes_still_works():
    rng = np.random.default_rng(1)
    S = rng.standard_normal((10, N))
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    src = ArraySource(S, _A(), dictionary=Q, dtype=np.float64, rng=0)
    back = np.vstack([src._val, src._train]) @ Q.T  # the codes are Q^-1 s
    order = np.argsort(back[:, 0])
    assert np.allclose(back[order], S[np.argsort(S[:, 0])], atol=1e-12)
    # a singular dictionary is fine when the codes are given
    D = np.ones((N, N))
    src = ArraySource(S, _A(), dictionary=D, codes=rng.standard_normal((10, N)), rng=0)
    assert src.n_components == N


# ------------------------------------------------------------------ 4. copy
@pytest.mark.parametrize("with_dictionary", [False, True])
def test_copy_is_deep(with_dictionary):
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    net = ALISTA(_A(), 3, dictionary=Q if with_dictionary else None, debias=True)
    net.acquisition = make_acquisition("audio", block_size=N, ratio=0.5)
    Y = rng.standard_normal((4, M)).astype(np.float32)
    out = net(Y)  # also caches the debiasing Gram matrix
    snapshot = {k: np.array(v, copy=True) for k, v in vars(net).items() if isinstance(v, np.ndarray)}
    acq = json.loads(json.dumps(net.acquisition))
    params = net.get_parameters()
    buffers = {k: v.copy() for k, v in net._buffers.items()}

    new = net.copy()
    assert np.array_equal(new(Y), out)
    new.acquisition["ratio"] = 0.9
    new.acquisition["block_size"] = 3
    for v in vars(new).values():
        if isinstance(v, np.ndarray):
            v[...] = 7
    for d in (new._params, new._buffers):
        for v in d.values():
            v[...] = 7
    for k, v in vars(net).items():
        if isinstance(v, np.ndarray):
            assert not np.shares_memory(v, getattr(new, k)), k
            assert np.array_equal(v, snapshot[k]), k
    assert net.acquisition == acq
    for k, v in net.get_parameters().items():
        assert np.array_equal(v, params[k])
    for k, v in net._buffers.items():
        assert np.array_equal(v, buffers[k])
    assert np.array_equal(net(Y), out)


def test_copy_of_a_model_without_acquisition_and_arrays_shared_inside_it():
    net = LISTA(_A(), 2)
    new = net.copy()
    assert new.acquisition is None and new is not net
    # without a dictionary the operator is the sensing matrix, in the copy too
    assert new.operator is new.sensing_matrix and new.sensing_matrix is not net.sensing_matrix


# ------------------------------------------------------------------ 5. boolean flags
@pytest.mark.parametrize("name", ["warm_start", "verbose"])
@pytest.mark.parametrize("value", ["no", "yes", 0, 1, None, 1.0])
def test_train_refuses_non_bool_flags(name, value):
    A = _A()
    net = ALISTA(A, 2)
    before = net.get_parameters()
    with pytest.raises(ValidationError, match=f"{name} must be True or False"):
        train(net, SyntheticSource(A, rng=0), rng=0, **{name: value}, **TINY)
    for k, v in net.get_parameters().items():
        assert np.array_equal(v, before[k])


def test_train_accepts_numpy_bools_and_gives_the_same_result():
    A = _A()
    nets = [ALISTA(A, 2), ALISTA(A, 2)]
    train(nets[0], SyntheticSource(A, rng=0), rng=0, warm_start=True, verbose=False, **TINY)
    train(nets[1], SyntheticSource(A, rng=0), rng=0, warm_start=np.True_, verbose=np.False_, **TINY)
    _same_model(*nets)


def test_other_learned_bool_flags_are_checked():
    A = _A()
    S = np.random.default_rng(1).standard_normal((12, N))
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        train_reconstructor(S, A, n_layers=2, verbose="no", **TINY)
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        pretrain_alista(LISTA(A, 2), SyntheticSource(A, rng=0), verbose="no", **TINY)
    net = ALISTA(A, 2)
    Y = np.zeros((2, M))
    with pytest.raises(ValidationError, match="return_all must be True or False"):
        net.forward(Y, return_all="no")
    assert len(net.forward(Y, return_all=np.True_)) == 2
    with pytest.raises(ValidationError, match="return_support_size must be True or False"):
        ls_debias(A, Y, np.zeros((2, N)), return_support_size="no")
    stages = DiffusionStages(1, filter_size=3)
    x = np.random.default_rng(0).uniform(0, 255, (8, 8))
    with pytest.raises(ValidationError, match="return_all must be True or False"):
        stages.forward(x, return_all=1)
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        train_diffusion(stages, [(x, x, None)], max_iter=1, verbose="no")
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        train_joint_audio([np.zeros(64)], verbose="no")
    ja = JointAudioNet(2, frame_length=8, ratios=(0.5,))
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        tune_tail(ja, [np.zeros(64)], verbose="no")
    with pytest.raises(ValidationError, match="verbose must be True or False"):
        record_default_ratios(ja, [np.zeros(64)], verbose="no")


# ------------------------------------------------------------------ 6. small validation gaps
@pytest.mark.parametrize("dtype", ["foo", int, complex, object])
def test_model_dtype_is_checked(dtype):
    with pytest.raises(ValidationError, match="dtype must be float32 or float64"):
        LISTA(_A(), 2, dtype=dtype)


@pytest.mark.parametrize("lr", [-1, 0, 0.0, "a", None, float("nan"), float("inf"), True])
def test_make_schedule_checks_lr(lr):
    with pytest.raises(ValidationError, match="lr must be"):
        make_schedule(2, lr=lr)


def test_make_schedule_is_unchanged_for_valid_input():
    assert make_schedule(2, lr=1e-3) == [
        Stage("layer 1/2 alone, lr=0.001", 1, 0, 1e-3, 1.0),
        Stage("layers 1..1, lr=0.0002", 1, 0, 1e-3 * 0.2, 0.2),
        Stage("layers 1..1, lr=2e-05", 1, 0, 1e-3 * 0.02, 0.02),
        Stage("layer 2/2 alone, lr=0.001", 2, 1, 1e-3, 1.0),
        Stage("layers 1..2, lr=0.0002", 2, 0, 1e-3 * 0.2, 0.2),
        Stage("layers 1..2, lr=2e-05", 2, 0, 1e-3 * 0.02, 0.02),
    ]
    assert make_schedule(3, lr=1, refine=[0.5], schedule="joint") == make_schedule(3, lr=1.0, refine=(0.5,),
                                                                                   schedule="joint")
    assert make_schedule(2, refine=np.array([0.2, 0.02])) == make_schedule(2)


@pytest.mark.parametrize("name", ["refine", "refine_last"])
@pytest.mark.parametrize("value", [0.2, "0.2", None, np.float64(0.2), np.zeros((1, 1)) + 0.2])
def test_refine_must_be_a_sequence(name, value):
    A = _A()
    with pytest.raises(ValidationError, match=f"{name} must be a sequence"):
        train(ALISTA(A, 2), SyntheticSource(A, rng=0), rng=0, **{name: value}, **TINY)
    with pytest.raises(ValidationError, match=f"{name} must be a sequence"):
        make_schedule(2, **{name: value})


@pytest.mark.parametrize("value", [(0.0,), (-0.2,), ("a",), (float("nan"),)])
def test_refine_factors_must_be_positive_numbers(value):
    A = _A()
    with pytest.raises(ValidationError, match="refine must be"):
        train(ALISTA(A, 2), SyntheticSource(A, rng=0), rng=0, refine=value, **TINY)


def test_refine_as_a_list_trains_as_the_tuple():
    A = _A()
    nets = [ALISTA(A, 2), ALISTA(A, 2)]
    h0 = train(nets[0], SyntheticSource(A, rng=0), rng=0, refine=(0.2,), refine_last=(0.02,), **TINY)
    h1 = train(nets[1], SyntheticSource(A, rng=0), rng=0, refine=[0.2], refine_last=[0.02], **TINY)
    _same_model(*nets)
    assert [s["name"] for s in h0.stages] == [s["name"] for s in h1.stages]


def _calibration_problem():
    A = _A()
    Y, X = SyntheticSource(A, rng=0, dtype=np.float64).sample(6)
    return LISTA_CPSS(A, 2, dtype=np.float64), Y, X


@pytest.mark.parametrize("kw", [dict(thresholds=0.1), dict(thresholds="0.1"), dict(refit_thresholds=None),
                                dict(refit_thresholds=0.05), dict(thresholds=np.zeros((2, 2)))])
def test_calibrate_debias_candidates_must_be_sequences(kw):
    net, Y, X = _calibration_problem()
    name = next(iter(kw))
    with pytest.raises(ValidationError, match=f"{name} must be a sequence"):
        net.calibrate_debias(Y, X, **kw)
    assert net.debias_threshold is None


def test_calibrate_debias_with_one_candidate_in_a_list_or_array():
    net, Y, X = _calibration_problem()
    s1 = net.copy().calibrate_debias(Y, X, thresholds=[0.1], refit_thresholds=[None])
    s2 = net.copy().calibrate_debias(Y, X, thresholds=np.array([0.1]), refit_thresholds=(None,))
    s3 = net.copy().calibrate_debias(Y, X, thresholds=(0.1,), refit_thresholds=(None,))
    assert s1 == s2 == s3 and set(s1) == {None, (0.1, None)}


def test_ls_debias_converts_a_list_gram_and_still_checks_it():
    A = _A()
    Y, X = SyntheticSource(A, rng=0, dtype=np.float64).sample(5)
    Xh = 0.8 * X
    G = A.T @ A
    ref = ls_debias(A, Y, Xh, gram=G)
    assert np.array_equal(ls_debias(A, Y, Xh, gram=G.tolist()), ref)
    assert np.array_equal(ls_debias(A, Y, Xh), ref)
    with pytest.raises(ValidationError, match="gram must be"):
        ls_debias(A, Y, Xh, gram=G[:5].tolist())
    with pytest.raises(ValidationError, match="gram must be"):
        ls_debias(A, Y, Xh, gram=G.astype(np.float32))
    with pytest.raises(ValidationError, match="gram"):
        ls_debias(A, Y, Xh, gram=[[1.0, 2.0], [3.0]])
    bad = G.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValidationError, match="gram must contain only finite"):
        ls_debias(A, Y, Xh, gram=bad)


def test_a_mismatched_validation_pair_is_named():
    A = _A()
    src = SyntheticSource(A, rng=0)
    Y5, _ = src.sample(5)
    _, C4 = src.sample(4)
    with pytest.raises(ValidationError, match=r"validation must pair.*5 rows.*4"):
        train(ALISTA(A, 2), src, validation=(Y5, C4), rng=0, **TINY)
    with pytest.raises(ValidationError, match="validation must be a pair"):
        train(ALISTA(A, 2), src, validation=(Y5,), rng=0, **TINY)
    with pytest.raises(ValidationError, match="validation must be a pair"):
        train(ALISTA(A, 2), src, validation=Y5, rng=0, **TINY)
    with pytest.raises(ValidationError, match=r"validation\[1\]"):
        train(ALISTA(A, 2), src, validation=(Y5, np.zeros((5, N + 1))), rng=0, **TINY)


def test_a_matching_validation_pair_trains_as_before():
    A = _A()
    Yv, Cv = SyntheticSource(A, rng=5).sample(6)
    nets = [ALISTA(A, 2), ALISTA(A, 2)]
    train(nets[0], SyntheticSource(A, rng=0), validation=(Yv, Cv), rng=0, **TINY)
    train(nets[1], SyntheticSource(A, rng=0), validation=[Yv.copy(), Cv.copy()], rng=0, **TINY)
    _same_model(*nets)


# ------------------------------------------------------------------ 7. load_model without .npz
def test_load_model_finds_the_file_save_wrote_without_the_suffix(tmp_path):
    net = ALISTA(_A(), 2)
    net.save(tmp_path / "m")
    assert os.listdir(tmp_path) == ["m.npz"]
    for path in (tmp_path / "m", str(tmp_path / "m"), tmp_path / "m.npz"):
        _same_model(net, load_model(path, A=_A()))
        _same_model(net, load_any_model(path))


def test_load_model_of_a_missing_file_still_fails(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nothing")
    ALISTA(_A(), 2).save(tmp_path / "m.npz")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "m.npz.npz")  # only a missing suffix is added
    with pytest.raises(ModelFileError, match="does not exist"):
        load_any_model(tmp_path / "nothing")


def test_an_existing_file_without_suffix_is_read_as_given(tmp_path):
    ALISTA(_A(), 2).save(tmp_path / "m")
    (tmp_path / "m").write_bytes(b"not a model")  # both exist: the name given wins
    with pytest.raises(ModelFileError, match="not an .npz archive"):
        load_model(tmp_path / "m")

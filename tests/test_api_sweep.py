"""Property sweep over the public API: read-only and non-contiguous inputs, no mutation of the
caller's arrays, float32/float64 preservation, one signal vs a batch of one, and ``rng`` handling.

Each case is ``(fn, arrays, signals, uses_rng)``: ``fn(d, **kw)`` calls the public callable with
the arrays of the dict ``d``; ``signals`` names the arrays whose first row is one signal (for the
1-D vs batch-of-one check); ``uses_rng`` means ``fn`` takes ``rng=``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cs_toolkit import dictionary as DI
from cs_toolkit import features as FE
from cs_toolkit import learned as L
from cs_toolkit import metrics as M
from cs_toolkit import sensing as SE
from cs_toolkit import signals as SG
from cs_toolkit import solvers as SO
from cs_toolkit import transforms as T
from cs_toolkit.exceptions import DTypeError, ValidationError

pytestmark = pytest.mark.filterwarnings("ignore::cs_toolkit.exceptions.ConvergenceWarning")

_g = np.random.default_rng(2024)
_m, _n = 16, 32
_A = _g.standard_normal((_m, _n)) / 4.0
_X = np.zeros((3, _n))
for _i in range(3):
    _X[_i, _g.choice(_n, 3, replace=False)] = 1.0 + _g.random(3)
_Y = _X @ _A.T
_V = _g.standard_normal((3, _n))
_GROUPS = np.arange(_n) // 4
_TREE = np.array([-1] + [(i - 1) // 2 for i in range(1, _n)])
_D = _g.standard_normal((_m, 24))
_D /= np.linalg.norm(_D, axis=0)
_TRAIN = _g.standard_normal((40, _m))
_yy, _xx = np.mgrid[0:32, 0:32] / 32.0
_IMG = np.clip(0.5 + 0.3 * np.sin(6 * _xx) * np.cos(4 * _yy), 0.0, 1.0)
_MEAS = SG.measure_image(_IMG, 0.3, block_size=16, rng=0)
_SIG = np.sin(0.05 * np.arange(600)) + 0.3 * np.sin(0.31 * np.arange(600))


def _block_meas(d):
    kw = {f.name: getattr(_MEAS, f.name) for f in dataclasses.fields(_MEAS) if f.init}
    kw.update(Y=d["Y"], A=d["A"])
    return SG.BlockMeasurements(**kw)


CASES = {
    # solvers
    "omp": (lambda d: SO.omp(d["A"], d["Y"], n_nonzero_coefs=3), dict(A=_A, Y=_Y), ("Y",), False),
    "fista_x0": (lambda d: SO.fista(d["A"], d["Y"], lam=0.02, max_iter=40, x0=d["x0"]),
                 dict(A=_A, Y=_Y, x0=0.1 * _V), ("Y", "x0"), False),
    "lars": (lambda d: SO.lars(d["A"], d["Y"], lam=0.05), dict(A=_A, Y=_Y), ("Y",), False),
    "iht": (lambda d: SO.iht(d["A"], d["Y"], n_nonzero_coefs=3, max_iter=40), dict(A=_A, Y=_Y), ("Y",), False),
    "cosamp": (lambda d: SO.cosamp(d["A"], d["Y"], n_nonzero_coefs=3), dict(A=_A, Y=_Y), ("Y",), False),
    "amp": (lambda d: SO.amp(d["A"], d["Y"], max_iter=15), dict(A=_A, Y=_Y), ("Y",), False),
    "qiht": (lambda d: SO.qiht(d["A"], d["Y"], n_nonzero_coefs=3, lower=d["lo"], upper=d["hi"], max_iter=20,
                               init_iter=5), dict(A=_A, Y=_Y, lo=_Y - 0.05, hi=_Y + 0.05), ("Y", "lo", "hi"), False),
    "group_lasso": (lambda d: SO.group_lasso(d["A"], d["Y"], groups=_GROUPS, lam=0.05, max_iter=50),
                    dict(A=_A, Y=_Y), ("Y",), False),
    "block_omp": (lambda d: SO.block_omp(d["A"], d["Y"], groups=_GROUPS, n_nonzero_blocks=2),
                  dict(A=_A, Y=_Y), ("Y",), False),
    "mmv_fista": (lambda d: SO.mmv_fista(d["A"], d["Y"], lam=0.05, max_iter=50), dict(A=_A, Y=_Y), (), False),
    "tree_projection": (lambda d: SO.tree_projection(d["x"], _TREE, 5), dict(x=_V), ("x",), False),
    "group_soft_threshold": (lambda d: SO.group_soft_threshold(d["x"], _GROUPS, 0.3), dict(x=_V), ("x",), False),
    "duality_gap": (lambda d: SO.duality_gap(d["A"], d["Y"], d["X"], 0.1), dict(A=_A, Y=_Y, X=_V), ("Y", "X"), False),
    # sensing
    "PartialDCT.rmatvec": (lambda d: SE.PartialDCT(_m, _n, rng=3, dtype=d["Y"].dtype).rmatvec(d["Y"]), dict(Y=_Y), ("Y",), False),
    "gaussian": (lambda d, rng: SE.gaussian(_m, _n, rng=rng), {}, (), True),
    "rip_estimate": (lambda d, rng: SE.rip_estimate(d["A"], 3, n_trials=20, rng=rng), dict(A=_A), (), True),
    "quantize_dither": (lambda d, rng: SE.quantize(d["Y"], 3, dither=True, rng=rng), dict(Y=_Y), ("Y",), True),
    "gram_entries": (lambda d: SE.gram_entries(d["A"][:8, :16], d["D"]), dict(A=_A, D=_D[:16]), (), False),
    # transforms
    "Wavelet.matvec": (lambda d: T.Wavelet(_n, "db2", dtype=d["X"].dtype).matvec(d["X"]), dict(X=_V), ("X",), False),
    "image_to_blocks": (lambda d: T.image_to_blocks(d["img"], 8, step=4), dict(img=_IMG), (), False),
    "frames": (lambda d: T.frames(d["s"], 32, 16), dict(s=_SIG), (), False),
    "patches_from_images": (lambda d, rng: T.patches_from_images(d["img"], 4, max_patches=20, rng=rng),
                            dict(img=_IMG), (), True),
    # dictionary
    "ksvd": (lambda d, rng: DI.ksvd(d["X"], 20, n_nonzero_coefs=3, max_iter=2, rng=rng), dict(X=_TRAIN), (), True),
    "online": (lambda d, rng: DI.online_dictionary_learning(d["X"], 20, n_nonzero_coefs=3, batch_size=16, rng=rng),
               dict(X=_TRAIN), (), True),
    "sparse_encode": (lambda d: DI.sparse_encode(d["X"], d["D"], n_nonzero_coefs=3), dict(X=_TRAIN[:4], D=_D),
                      ("X",), False),
    # features
    "ml_fista": (lambda d: FE.ml_fista(d["X"], [d["D1"], d["D2"]], lam=0.05, max_iter=15),
                 dict(X=_TRAIN[:4], D1=_D[:, :20], D2=_g.standard_normal((20, 12)) / 4), ("X",), False),
    "pool_codes": (lambda d: FE.pool_codes(d["C"], grid=(2, 2)), dict(C=_g.standard_normal((2, 4, 4, 6))), (), False),
    # metrics
    "nmse_per_signal": (lambda d: M.nmse_per_signal(d["a"], d["b"]), dict(a=_V, b=_V + 0.1), ("a", "b"), False),
    "ssim": (lambda d: M.ssim(d["a"], d["b"], data_range=1.0), dict(a=_IMG, b=_IMG * 0.9), (), False),
    # signals
    "add_noise": (lambda d, rng: SG.add_noise(d["Y"], 20, rng=rng), dict(Y=_Y), ("Y",), True),
    "measure_image": (lambda d, rng: SG.measure_image(d["img"], 0.3, block_size=16, rng=rng), dict(img=_IMG), (), True),
    "reconstruct_image": (lambda d: SG.reconstruct_image(_block_meas(d), method="bcs_spl", max_iter=2),
                          dict(Y=_MEAS.Y, A=_MEAS.A), (), False),
    "BlockConstraint.project": (lambda d: SG.BlockConstraint(d["Y"], d["A"], d["P"], _MEAS.padded_shape, 16)
                                .project(d["u"]), dict(Y=_MEAS.Y[0], A=_MEAS.A, P=_MEAS.pinv, u=255 * _IMG), (), False),
    "measure_audio": (lambda d, rng: SG.measure_audio(d["s"], 0.5, frame_length=64, hop=32, rng=rng), dict(s=_SIG),
                      (), True),
    # learned
    "alista.forward": (lambda d: L.make_model("alista", _A, 3, dtype=d["Y"].dtype).forward(d["Y"]), dict(Y=_Y),
                       ("Y",), False),
    "ls_debias": (lambda d: L.ls_debias(d["A"], d["Y"], d["X"]), dict(A=_A, Y=_Y, X=_X + 0.01), ("Y", "X"), False),
    "SyntheticSource.sample": (lambda d, rng: L.SyntheticSource(d["A"], p=0.1, dtype=np.float64).sample(4, rng=rng),
                               dict(A=_A), (), True),
}


def _flat(out):
    """Every array (and number) in an output, in a fixed order."""
    if isinstance(out, np.ndarray):
        return [out]
    if isinstance(out, float | int | np.number):
        return [np.asarray(out)]
    if isinstance(out, tuple | list):
        return [a for o in out for a in _flat(o)]
    if dataclasses.is_dataclass(out):
        return [a for f in dataclasses.fields(out) if f.name != "elapsed" for a in _flat(getattr(out, f.name))]
    return []


def _assert_same(o1, o2, rtol=1e-6):
    a, b = _flat(o1), _flat(o2)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.size == y.size
        fin = np.abs(x[np.isfinite(x)]) if x.dtype.kind == "f" else np.abs(x.ravel())
        scale = max(1.0, float(fin.max())) if fin.size else 1.0
        np.testing.assert_allclose(np.asarray(x, float), np.asarray(y, float).reshape(x.shape), rtol=rtol,
                                   atol=rtol * scale)


def _call(case, d, **kw):
    fn, _, _, uses_rng = case
    if uses_rng:
        kw.setdefault("rng", 0)
    return fn({k: v for k, v in d.items()}, **kw)


def _copies(arrays, f=np.array):
    return {k: f(v) for k, v in arrays.items()}


def _strided(a):
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return wide[..., ::2]


@pytest.mark.parametrize("name", list(CASES))
def test_read_only_and_non_contiguous_inputs_give_the_same_result_and_are_not_modified(name):
    case = CASES[name]
    arrays = case[1]
    ref = _call(case, _copies(arrays))
    ro = _copies(arrays)
    for v in ro.values():
        v.flags.writeable = False
    _assert_same(ref, _call(case, ro))
    for f in (np.asfortranarray, _strided):
        inp = _copies(arrays, f)
        before = _copies(inp)
        _assert_same(ref, _call(case, inp))
        for k in inp:
            np.testing.assert_array_equal(inp[k], before[k], err_msg=f"{name} modified {k}")


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[1]])  # the cases with array inputs
def test_float32_stays_float32_and_float64_stays_float64(name):
    case = CASES[name]
    for dt in (np.float32, np.float64):
        out = _flat(_call(case, {k: v.astype(dt) if v.dtype.kind == "f" else v for k, v in case[1].items()}))
        main = [a for a in out if a.ndim >= 1 and a.dtype.kind == "f"]
        if main and (dt == np.float64 or name not in _FLOAT64_OUT):  # scalar results are Python floats
            assert main[0].dtype == dt, (name, dt, [a.dtype for a in main])


# documented float64 results (measurements of a picture or clip, float64 statistics)
_FLOAT64_OUT = {"rip_estimate", "duality_gap", "gram_entries", "nmse_per_signal", "measure_image", "measure_audio",
                "reconstruct_image", "SyntheticSource.sample", "gaussian"}


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2]])
def test_one_signal_equals_a_batch_of_one(name):
    case = CASES[name]
    one, batch = dict(case[1]), dict(case[1])
    for k in case[2]:
        one[k], batch[k] = case[1][k][0].copy(), case[1][k][:1].copy()
    o1, o2 = _flat(_call(case, one)), _flat(_call(case, batch))
    assert o2[0].shape[0] == 1 and o1[0].shape == o2[0].shape[1:]
    _assert_same(o1, o2)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[3]])
def test_same_seed_same_output_and_a_generator_is_advanced(name):
    case = CASES[name]
    _assert_same(_call(case, case[1], rng=5), _call(case, case[1], rng=5), rtol=0)
    gen = np.random.default_rng(5)
    state = gen.bit_generator.state
    _call(case, case[1], rng=gen)
    assert gen.bit_generator.state != state


# ------------------------------------------------------------------ defects found by the sweep
def test_block_constraint_takes_bool_arrays_and_refuses_non_finite_ones():
    # bool measurements used to fail with numpy's "boolean subtract" TypeError in project()
    Y, A, P = _MEAS.Y[0], _MEAS.A, _MEAS.pinv
    u = 255 * _IMG
    Yb, Ab, Pb = Y > 0, A > 0, P > 0
    con = SG.BlockConstraint(Yb, Ab, Pb, _MEAS.padded_shape, 16)
    ref = SG.BlockConstraint(Yb.astype(float), Ab.astype(float), Pb.astype(float), _MEAS.padded_shape, 16)
    np.testing.assert_array_equal(con.project(u), ref.project(u))
    bad = Y.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValidationError, match=r"\bY\b.*finite"):
        SG.BlockConstraint(bad, A, P, _MEAS.padded_shape, 16)
    with pytest.raises(DTypeError, match=r"\bA\b"):
        SG.BlockConstraint(Y, A.astype(complex), P, _MEAS.padded_shape, 16)


def test_adam_refuses_parameters_it_cannot_update_in_place_and_bad_constants():
    from cs_toolkit.learned import Adam

    for bad in (np.arange(3), np.ones(3, bool), [1.0, 2.0]):
        with pytest.raises(ValidationError, match=r"params\['W'\] must be a float32 or float64 ndarray"):
            Adam({"W": bad})
    for kw in ({"beta1": 1.0}, {"beta2": -0.1}, {"eps": 0.0}):
        with pytest.raises(ValidationError, match=next(iter(kw))):
            Adam({"W": np.ones(3)}, **kw)
    # a float32 parameter is updated in place and keeps its type: one step moves against the gradient by lr
    p = {"W": np.ones(3, np.float32)}
    Adam(p, lr=0.1).step(p, {"W": np.array([1.0, -1.0, 0.0], np.float32)})
    assert p["W"].dtype == np.float32
    np.testing.assert_allclose(p["W"], [0.9, 1.1, 1.0], atol=1e-6)

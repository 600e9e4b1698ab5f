"""Tests that kill the mutants a fourth hand mutation run (CLI value checks, bench grids and
tables, Cholesky kernels, validation helpers, archives, K-SVD, transforms, features, audio)
let through. Each checks a documented property against an independent reference."""

import numpy as np
import pytest
from test_cli_audit import _refused  # cs-toolkit in this process; exit 2 with one line

from cs_toolkit.data import write_image, write_wav


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("gaps_more")
    write_image(d / "img64.png", np.random.default_rng(0).random((64, 64)))
    write_wav(d / "clip.wav", 0.5 * np.sin(np.arange(4000) * 0.05), 8000)
    (d / "imgs").mkdir()
    write_image(d / "imgs" / "a.png", np.random.default_rng(1).random((40, 40)))
    return d


# ------------------------------------------------------------------ CLI value checks
def test_demo_refuses_a_ratio_above_one_before_creating_its_folder(tmp_path, capsys):
    out = tmp_path / "demo_out"
    _refused(capsys, "demo", "--quick", "--ratio", "1.5", "--out", out, match="--ratio must be in (0, 1]")
    assert not out.exists()


@pytest.mark.parametrize(("hop", "match"), [("33", "--hop must be <= 32"), ("0", "--hop must be >= 1")])
def test_reconstruct_checks_the_hop_against_the_frame(inputs, tmp_path, capsys, hop, match):
    _refused(capsys, "reconstruct", inputs / "clip.wav", "--method", "omp", "--frame-length", "32", "--hop", hop,
             "--out", tmp_path / "o.wav", match=match)
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("sparsity", ["0", "9"])
def test_train_dict_needs_the_sparsity_within_one_and_the_atoms(inputs, tmp_path, capsys, sparsity):
    _refused(capsys, "train-dict", inputs / "imgs", "--kind", "image", "--atoms", "8", "--sparsity", sparsity,
             "--patch-size", "4", "--out", tmp_path / "d.npz", match="1 <= --sparsity <= --atoms")
    assert not (tmp_path / "d.npz").exists()


@pytest.mark.parametrize("ratios", ["1.5", "0", "0.25,1.01"])
def test_train_ratios_lie_in_zero_one(inputs, tmp_path, capsys, ratios):
    _refused(capsys, "train", "--model", "tnrd", "--data", inputs / "imgs", "--ratios", ratios, "--quick",
             "--out", tmp_path / "m.npz", match="--ratios must be")


@pytest.mark.parametrize("ratio", ["1.5", "0", "-0.5"])
def test_train_with_data_checks_the_ratio_by_its_flag(inputs, tmp_path, capsys, ratio):
    _refused(capsys, "train", "--model", "lista", "--data", inputs / "imgs", "--block", "4", "--ratio", ratio,
             "--quick", "--out", tmp_path / "m.npz", match="--ratio must be")


@pytest.mark.parametrize(("k", "match"), [("17", "--k must be <= 16"), ("0", "--k must be >= 1"),
                                          ("2,17", "--k must be <= 16")])
def test_bench_checks_k_against_n_by_its_flag(tmp_path, capsys, k, match):
    _refused(capsys, "bench", "--solvers", "omp", "--n", "16", "--m", "8", "--k", k, "--trials", "1",
             "--no-progress", "--out", tmp_path / "b", match=match)


@pytest.mark.parametrize("flag", ["--deltas", "--rhos"])
@pytest.mark.parametrize("grid", ["0,0.5", "0.5,1.25"])
def test_phase_grids_lie_in_zero_one_by_their_flag(tmp_path, capsys, flag, grid):
    _refused(capsys, "phase", "--solvers", "omp", "--n", "20", "--trials", "1", flag, grid, "--no-progress",
             match=f"{flag} must lie in (0, 1]")


def test_phase_accepts_a_grid_ending_at_one(tmp_path, capsys):
    from cs_toolkit.cli import main

    out = tmp_path / "ph"
    status = main(["phase", "--solvers", "omp", "--n", "16", "--trials", "1", "--deltas", "1.0",
                   "--rhos", "0.5,1.0", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 0, err


# ------------------------------------------------------------------ bench: grids, resume, warnings
def _two_warnings_omp(A, Y, *, n_nonzero_coefs=None, return_info=False):
    """Plain least squares on the k largest correlations, warning twice per call."""
    import warnings

    warnings.warn("first", UserWarning, stacklevel=2)
    warnings.warn("second", RuntimeWarning, stacklevel=2)
    A = np.asarray(A)
    Y2 = np.atleast_2d(Y)
    X = np.zeros((Y2.shape[0], A.shape[1]))
    for i, y in enumerate(Y2):
        S = np.argsort(-np.abs(A.T @ y))[: n_nonzero_coefs or 1]
        X[i, S] = np.linalg.lstsq(A[:, S], y, rcond=None)[0]
    X = X if np.ndim(Y) == 2 else X[0]
    return (X, {"n_iter": None}) if return_info else X


def _register_two_warnings():
    from cs_toolkit.solvers import register_solver

    register_solver("_gaps_two_warnings", kind="greedy", sparsity_param="n_nonzero_coefs", operator_ok=False,
                    summary="test solver warning twice")(_two_warnings_omp)


@pytest.mark.parametrize("deltas", [[1.25], [0.5, 1.01], [0.0], [-0.5]])
def test_phase_transition_grid_lies_in_zero_one(deltas):
    from cs_toolkit.bench import phase_transition
    from cs_toolkit.exceptions import ValidationError

    for kw in ({"deltas": deltas, "rhos": [0.5]}, {"deltas": [0.5], "rhos": deltas}):
        with pytest.raises(ValidationError, match="must lie in"):
            phase_transition("omp", n=16, n_trials=1, progress=False, **kw)


def test_warnings_are_counted_per_call_and_summed_over_trials():
    from cs_toolkit.bench import ProblemFamily, phase_transition, run_benchmark

    _register_two_warnings()
    cfg = {"name": "w", "method": "_gaps_two_warnings"}
    res = run_benchmark(ProblemFamily(n=16, m=8, k=2), cfg, n_trials=2, progress=False)
    assert [r["n_warnings"] for r in res.rows] == [2, 2]
    ph = phase_transition(cfg, n=16, deltas=[0.5], rhos=[0.25], n_trials=3, progress=False)
    assert [r["n_warnings"] for r in ph.rows] == [6]  # 3 trials x 2 warnings


def test_resume_false_starts_over(tmp_path):
    from cs_toolkit.bench import ProblemFamily, phase_transition, run_benchmark

    p = ProblemFamily(n=16, m=8, k=2)
    run_benchmark(p, "omp", n_trials=2, out=str(tmp_path / "b"), progress=False)
    again = run_benchmark(p, "omp", n_trials=2, out=str(tmp_path / "b"), progress=False)
    assert again.meta["resumed_trials"] == 2
    fresh = run_benchmark(p, "omp", n_trials=2, out=str(tmp_path / "b"), resume=False, progress=False)
    assert fresh.meta["resumed_trials"] == 0
    # other settings are refused on resume but fine with resume=False
    other = run_benchmark(ProblemFamily(n=16, m=8, k=3), "omp", n_trials=1, out=str(tmp_path / "b"),
                          resume=False, progress=False)
    assert other.meta["resumed_trials"] == 0 and len(other.rows) == 1

    kw = {"n": 16, "deltas": [0.5], "rhos": [0.25], "progress": False, "out": str(tmp_path / "p")}
    phase_transition("omp", n_trials=1, **kw)
    ph = phase_transition("omp", n_trials=2, resume=False, **kw)  # other settings: started over
    assert ph.rows[0]["n_trials"] == 2


# ------------------------------------------------------------------ transforms, features, audio
def test_sine_window_is_scipys_cosine_window():
    from scipy.signal import windows

    from cs_toolkit.transforms import get_window

    for N in (4, 7, 64):
        np.testing.assert_allclose(get_window("sine", N), windows.cosine(N), atol=1e-15)


def test_mean_pooling_is_the_mean_over_each_cell():
    from cs_toolkit.features import pool_codes

    C = np.random.default_rng(0).standard_normal((2, 5, 7, 3))
    for pooling, red in (("mean", np.mean), ("max", np.max)):
        P = pool_codes(C, grid=(2, 3), pooling=pooling)
        er = [round(i * 5 / 2) for i in range(3)]
        ec = [round(j * 7 / 3) for j in range(4)]
        for a in range(2):
            for b in range(3):
                want = red(C[:, er[a]:er[a + 1], ec[b]:ec[b + 1]].reshape(2, -1, 3), axis=1)
                np.testing.assert_allclose(P[:, a, b], want)


def test_integer_pcm_is_scaled_by_two_to_the_bits_minus_one():
    from cs_toolkit.signals import measure_audio

    x = (np.random.default_rng(0).uniform(-1, 1, 1024) * 32767).astype(np.int16)
    m_int = measure_audio(x, 0.5, frame_length=64, hop=32, rng=0)
    m_flt = measure_audio(x.astype(np.float64) / 32768.0, 0.5, frame_length=64, hop=32, rng=0)
    np.testing.assert_allclose(m_int.Y, m_flt.Y, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("ratio", "N"), [(0.3, 256), (0.7, 64), (0.55, 10)])
def test_audio_measurements_per_frame_are_the_rounded_ratio(ratio, N):
    from cs_toolkit.signals import measure_audio

    x = np.random.default_rng(1).standard_normal(4 * N)
    M = measure_audio(x, ratio, frame_length=N, hop=N // 2, rng=0)
    assert M.A.shape == (int(np.floor(ratio * N + 0.5)), N)
    assert M.Y.shape[-1] == M.A.shape[0]


def _src_data(n_classes=3, per=8, dim=12, seed=0):
    rng = np.random.default_rng(seed)
    bases = rng.standard_normal((n_classes, dim, 2))
    X = np.concatenate([(b @ rng.standard_normal((2, per))).T for b in bases])
    y = np.repeat(np.arange(n_classes) * 10 + 1, per)
    T = np.stack([bases[c % n_classes] @ rng.standard_normal(2) for c in range(6)])
    T += 0.05 * rng.standard_normal(T.shape)
    return X, y, T


@pytest.mark.parametrize("robust", [False, True])
def test_src_residuals_match_a_naive_reference(robust):
    from cs_toolkit.features import SRCClassifier
    from cs_toolkit.solvers import solve

    X, y, T = _src_data()
    clf = SRCClassifier(method="omp", n_nonzero_coefs=4, robust=robust).fit(X, y)
    D = (X / np.linalg.norm(X, axis=1, keepdims=True)).T
    Yn = T / np.linalg.norm(T, axis=1, keepdims=True)
    A = np.hstack([D, np.eye(D.shape[0])]) if robust else D
    C = np.asarray(solve(A, Yn, method="omp", n_nonzero_coefs=4))
    n = D.shape[1]
    target = Yn - C[:, n:] @ np.eye(D.shape[0]) if robust else Yn
    classes = np.unique(y)
    R = np.empty((T.shape[0], classes.size))
    for c, lab in enumerate(classes):
        idx = np.flatnonzero(y == lab)
        R[:, c] = [np.linalg.norm(target[i] - D[:, idx] @ C[i, idx]) for i in range(T.shape[0])]
    np.testing.assert_allclose(clf.residuals(T), R, atol=1e-10)
    np.testing.assert_allclose(clf.residuals(3.0 * T), R, atol=1e-10)  # test samples are normalised too
    np.testing.assert_array_equal(clf.predict(T), classes[np.argmin(R, axis=1)])
    # sparsity concentration index (Wright et al., eq. 14) from the same codes
    K = classes.size
    per_class = np.stack([np.abs(C[:, np.flatnonzero(y == lab)]).sum(axis=1) for lab in classes], axis=1)
    sci = (K * per_class.max(axis=1) / per_class.sum(axis=1) - 1) / (K - 1)
    np.testing.assert_allclose(clf.concentration_index(T), sci, atol=1e-10)
    assert np.all((clf.concentration_index(T) >= -1e-12) & (clf.concentration_index(T) <= 1 + 1e-12))


def test_src_binary_decision_is_positive_for_the_second_class():
    from cs_toolkit.features import SRCClassifier

    X, y, T = _src_data(n_classes=2)
    clf = SRCClassifier(method="omp", n_nonzero_coefs=3).fit(X, y)
    dec = clf.decision_function(T)
    R = clf.residuals(T)
    assert dec.shape == (T.shape[0],)
    np.testing.assert_allclose(dec, R[:, 0] - R[:, 1])
    np.testing.assert_array_equal(clf.predict(T), clf.classes_[(dec > 0).astype(int)])


# ------------------------------------------------------------------ helpers: scalars, .npz names, archives
def test_check_scalar_exclusive_bounds_refuse_the_bound_itself():
    from cs_toolkit._validation import check_scalar
    from cs_toolkit.exceptions import ValidationError

    assert check_scalar("x", 1.0, low=0.0, high=1.0) == 1.0
    assert check_scalar("x", 0.0, low=0.0, high=1.0) == 0.0
    for kw, bad, good in (({"high_inclusive": False}, 1.0, np.nextafter(1.0, 0.0)),
                          ({"low_inclusive": False}, 0.0, np.nextafter(0.0, 1.0))):
        with pytest.raises(ValidationError, match="must be [<>] "):
            check_scalar("x", bad, low=0.0, high=1.0, **kw)
        assert check_scalar("x", good, low=0.0, high=1.0, **kw) == good


@pytest.mark.parametrize(("name", "want"), [("m.npz", "m.npz"), ("m.NPZ", "m.NPZ"), ("m.Npz", "m.Npz"),
                                            ("m", "m.npz"), ("m.npz.bak", "m.npz.bak.npz"), ("m.np", "m.np.npz")])
def test_npz_suffix_is_appended_unless_present_in_any_case(tmp_path, name, want):
    from cs_toolkit._atomic import atomic_savez, with_npz_suffix

    assert with_npz_suffix(name) == want
    written = atomic_savez(tmp_path / name, {"a": np.arange(3.0)})
    assert written == str(tmp_path / want)
    assert sorted(p.name for p in tmp_path.iterdir()) == [want]
    with np.load(written) as f:
        np.testing.assert_array_equal(f["a"], np.arange(3.0))


class _Bad(Exception):
    pass


def _member(shape, n_bytes):
    import io

    from numpy.lib import format as npy

    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
    buf.write(b"\0" * n_bytes)
    return buf.getvalue()


@pytest.mark.parametrize("missing", [8, 800, 4000])
def test_a_member_short_by_a_few_bytes_is_refused_from_its_header(tmp_path, missing):
    import zipfile

    from cs_toolkit._archive import open_archive

    n = 1000  # 8000 bytes announced
    path = tmp_path / "short.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.npy", _member((n,), 8 * n - missing))
    with pytest.raises(_Bad, match="too large"):
        open_archive(path, lambda p, why: _Bad(why))
    whole = tmp_path / "whole.npz"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr("a.npy", _member((n,), 8 * n))
    with open_archive(whole, lambda p, why: _Bad(why)) as npz:
        assert npz["a"].shape == (n,)


def test_a_record_member_larger_than_its_metadata_allows_is_refused_before_reading(tmp_path):
    import json

    from cs_toolkit._archive import read_record

    meta = np.frombuffer(json.dumps({"format": "gaps", "format_version": 1}).encode(), dtype=np.uint8)
    bad = lambda p, why: _Bad(why)  # noqa: E731
    ok = tmp_path / "ok.npz"
    np.savez(ok, __metadata__=meta, a=np.arange(10.0))
    with read_record(str(ok), bad, fmt="gaps", version=1, arrays=["a"]) as (_, read):
        np.testing.assert_array_equal(read("a", (10,)), np.arange(10.0))
    # a few hundred values where the metadata promises ten: bounded by 4096 bytes of slack + 8 per value
    for n in (510, 600, 1000):
        big = tmp_path / f"big{n}.npz"
        np.savez(big, __metadata__=meta, a=np.arange(float(n)))
        with read_record(str(big), bad, fmt="gaps", version=1, arrays=["a"]) as (_, read):
            with pytest.raises(_Bad, match="larger than its metadata allows"):
                read("a", (10,))


def test_tiles_are_the_blocks_in_row_major_order():
    from cs_toolkit.transforms import image_to_blocks, image_to_tiles
    from cs_toolkit.transforms.blocks import tiles_to_image

    img = np.arange(8.0 * 12).reshape(8, 12)
    T = image_to_tiles(img, 4)
    np.testing.assert_array_equal(T, image_to_blocks(img, 4)[0])
    naive = np.array([img[r:r + 4, c:c + 4].ravel() for r in range(0, 8, 4) for c in range(0, 12, 4)])
    np.testing.assert_array_equal(T, naive)
    np.testing.assert_array_equal(tiles_to_image(T, img.shape, 4), img)


def _unit_dictionary(n_features, n_atoms, seed=0):
    D = np.random.default_rng(seed).standard_normal((n_features, n_atoms))
    return D / np.linalg.norm(D, axis=0)


def test_split_sign_codes_are_the_positive_and_negative_parts():
    from cs_toolkit.features import SparseCodeTransformer
    from cs_toolkit.solvers import solve

    D = _unit_dictionary(10, 16)
    X = np.random.default_rng(1).standard_normal((5, 10))
    Z = SparseCodeTransformer(dictionary=D, n_nonzero_coefs=3, split_sign=True).fit(X).transform(X)
    C = np.asarray(solve(D, X, method="omp", n_nonzero_coefs=3))
    np.testing.assert_allclose(Z, np.hstack([np.maximum(C, 0), np.maximum(-C, 0)]), atol=1e-12)


def test_image_features_code_mean_removed_patches_and_max_pool():
    from cs_toolkit.features import SparseCodeTransformer
    from cs_toolkit.solvers import solve

    D = _unit_dictionary(9, 12)
    imgs = np.random.default_rng(2).random((2, 6, 6)) + np.arange(6.0)[None, None, :]
    tr = SparseCodeTransformer(dictionary=D, n_nonzero_coefs=2, image_shape=(6, 6), patch_size=3, stride=1,
                               grid=(1, 1), pooling="max", remove_mean=True)
    Z = tr.fit(imgs.reshape(2, -1)).transform(imgs.reshape(2, -1))
    for i, im in enumerate(imgs):
        P = np.array([im[r:r + 3, c:c + 3].ravel() for r in range(4) for c in range(4)])
        P = P - P.mean(axis=1, keepdims=True)
        C = np.asarray(solve(D, P, method="omp", n_nonzero_coefs=2))
        np.testing.assert_allclose(Z[i], C.max(axis=0), atol=1e-10)


def test_ml_steps_follow_their_documented_formulas():
    from cs_toolkit.features.multilayer import ml_steps

    rng = np.random.default_rng(3)
    Ds = [rng.standard_normal((8, 10)), 3.0 * rng.standard_normal((10, 12)), 0.5 * rng.standard_normal((12, 6))]
    t, mu = ml_steps(Ds)
    eff = Ds[0] @ Ds[1] @ Ds[2]
    np.testing.assert_allclose(t, 1.0 / np.linalg.svd(eff, compute_uv=False)[0] ** 2, rtol=1e-12)
    np.testing.assert_allclose(mu, 1.0 / max(np.linalg.svd(D, compute_uv=False)[0] ** 2 for D in Ds), rtol=1e-12)

"""Input checks of the dictionary plots and estimator, the benchmark tables and sweeps, the figure
saver and the features estimators: each bad input raises the package's error naming the argument,
and the valid inputs next to it behave as before."""

import json
import warnings

import numpy as np
import pytest

from cs_toolkit.exceptions import ModelFileError, ValidationError

# --- 1. dictionary plots ------------------------------------------------------------------


def test_plot_dictionary_opens_no_pyplot_figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from cs_toolkit.dictionary import plot_dictionary

    plt.close("all")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "more than 20 figures" warning included
        for _ in range(25):
            ax = plot_dictionary(np.eye(16))
        for _ in range(25):
            with pytest.raises(ValidationError, match="patch_shape"):
                plot_dictionary(np.eye(16), patch_shape=(3, 3))
    assert plt.get_fignums() == []
    assert isinstance(ax.figure, Figure) and ax.get_title() == "16 atoms"
    assert len(plot_dictionary(np.eye(10)[:, :4]).lines) == 4  # 1-D atoms drawn as curves
    ax = plot_dictionary(np.eye(16), patch_shape=(2, 8), title="t")
    assert ax.get_title() == "t" and ax.images[0].get_array().shape == (4 * 3 - 1, 4 * 9 - 1)
    fig = Figure()
    given = fig.add_subplot()
    assert plot_dictionary(np.eye(4), ax=given) is given


@pytest.mark.parametrize("shape", [(4,), (-2, -2), None, (2.5, 2), (2, 2, 1), "22", (True, 4), (0, 4), (1, 3)])
def test_dictionary_tiles_refuses_bad_patch_shape(shape):
    from cs_toolkit.dictionary import dictionary_tiles, plot_dictionary

    with pytest.raises(ValidationError, match=r"patch_shape must be a pair of positive ints .*n_features = 4"):
        dictionary_tiles(np.eye(4), shape)
    if shape is not None:  # None is plot_dictionary's "choose for me"
        with pytest.raises(ValidationError, match="patch_shape"):
            plot_dictionary(np.eye(4), patch_shape=shape)


def test_dictionary_tiles_valid_shapes_unchanged():
    from cs_toolkit.dictionary import dictionary_tiles

    D = np.arange(16.0).reshape(4, 4)
    for shape in [(2, 2), [2, 2], np.array([2, 2]), (np.int64(1), np.int64(4))]:
        t = dictionary_tiles(D, shape, n_cols=2)
        assert t.shape == ((5, 5) if tuple(int(s) for s in shape) == (2, 2) else (3, 9))
    with pytest.raises(ValidationError, match="normalize"):
        dictionary_tiles(D, (2, 2), normalize="no")


# --- 2.-4. DictionaryLearner ---------------------------------------------------------------


@pytest.fixture(scope="module")
def signals():
    return np.random.default_rng(0).standard_normal((60, 8))


def test_dictionary_learner_speaks_sklearn_tags(signals):
    sklearn = pytest.importorskip("sklearn")
    from sklearn.exceptions import NotFittedError
    from sklearn.utils import get_tags
    from sklearn.utils.validation import check_is_fitted

    from cs_toolkit.dictionary import DictionaryLearner

    with pytest.raises(NotFittedError):
        check_is_fitted(DictionaryLearner(4))
    with pytest.raises(NotFittedError, match="not fitted"):
        DictionaryLearner(4).transform(signals)
    with pytest.raises(ValidationError, match="not fitted"):  # still the package's error too
        DictionaryLearner(4).inverse_transform(np.zeros((2, 4)))
    dl = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=0).fit(signals)
    check_is_fitted(dl)
    tags = get_tags(dl)
    assert tags.estimator_type == "transformer" and tags.transformer_tags.preserves_dtype == ["float64", "float32"]
    assert sklearn.base.clone(dl).get_params() == dl.get_params()


def test_dictionary_learner_sklearn_style_input_errors(signals):
    from cs_toolkit.dictionary import DictionaryLearner
    from cs_toolkit.exceptions import DTypeError

    dl = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=0).fit(signals)
    with pytest.raises(ValidationError, match="Dimension mismatch for X: X has 7 features, but DictionaryLearner "
                                              "is expecting 8 features as input"):
        dl.transform(signals[:, :7])
    with pytest.raises(ValidationError, match="transposed"):
        dl.transform(signals[:8].T[:, :5])
    with pytest.raises(ValidationError, match=r"0 feature\(s\) \(shape=\(12, 0\)\) while a minimum of 1"):
        DictionaryLearner(4).fit(np.zeros((12, 0)))
    with pytest.raises(DTypeError, match="X must hold numbers"):
        DictionaryLearner(4).fit(np.array([[{"a": 1}, 1.0]], dtype=object))
    with pytest.raises(ValidationError, match="X must be an array, got None"):
        DictionaryLearner(4).fit(None)
    with pytest.raises(DTypeError, match="complex"):
        DictionaryLearner(4).fit(signals.astype(complex))
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(ValidationError, match="sparse input is not supported"):
        DictionaryLearner(4).fit(scipy_sparse.csr_matrix(signals))
    # object arrays of numbers are numbers; 1-D input is one signal
    obj = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=0).fit(signals.astype(object))
    np.testing.assert_array_equal(obj.dictionary_, dl.dictionary_)
    np.testing.assert_array_equal(dl.transform(signals[0]), dl.transform(signals[:1])[0])


@pytest.mark.slow
def test_dictionary_learner_sklearn_estimator_checks():
    pytest.importorskip("sklearn")
    from sklearn.utils.estimator_checks import check_estimator

    from cs_toolkit.dictionary import DictionaryLearner

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = check_estimator(DictionaryLearner(6, n_nonzero_coefs=2, max_iter=3, rng=0), on_fail=None)
    failed = sorted({r["check_name"] for r in res if r["status"] == "failed"})
    assert failed == ["check_complex_data", "check_fit2d_predict1d"]  # documented in the docstring


def test_dictionary_learner_output_dtype_follows_result_dtype(signals):
    from cs_toolkit.dictionary import DictionaryLearner

    X32 = signals.astype(np.float32)
    dl32 = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=0).fit(X32)
    assert dl32.dictionary_.dtype == np.float32
    before = dl32.dictionary_.copy()
    codes64 = dl32.transform(signals)
    assert codes64.dtype == np.float64 and dl32.transform(X32).dtype == np.float32
    assert dl32.transform(signals[0]).dtype == np.float64
    assert dl32.inverse_transform(codes64).dtype == np.float64
    assert dl32.inverse_transform(codes64.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(dl32.dictionary_, before)  # the model is not changed
    assert dl32.dictionary_.dtype == np.float32
    np.testing.assert_allclose(codes64, dl32.transform(X32), rtol=1e-3, atol=1e-4)
    dl64 = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=0).fit(signals)
    assert dl64.transform(X32).dtype == np.float64 and dl64.transform(signals).dtype == np.float64
    assert dl64.inverse_transform(np.zeros((2, 10), np.float32)).dtype == np.float64


@pytest.mark.parametrize("seed, stored", [(np.int64(3), 3), (np.uint8(7), 7), (5, 5), (None, None)])
def test_dictionary_learner_save_keeps_numpy_integer_seed(tmp_path, signals, seed, stored):
    from cs_toolkit.dictionary import DictionaryLearner

    dl = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=seed).fit(signals)
    dl.save(tmp_path / "m.npz")
    loaded = DictionaryLearner.load(tmp_path / "m.npz")
    assert loaded.rng == stored and type(loaded.rng) is type(stored)
    assert dl.rng is seed  # the learner is not changed
    np.testing.assert_array_equal(loaded.dictionary_, dl.dictionary_)


def test_dictionary_learner_save_drops_a_generator_seed(tmp_path, signals):
    from cs_toolkit.dictionary import DictionaryLearner

    dl = DictionaryLearner(10, n_nonzero_coefs=2, max_iter=2, rng=np.random.default_rng(0)).fit(signals)
    dl.save(tmp_path / "m.npz")
    assert DictionaryLearner.load(tmp_path / "m.npz").rng is None


# --- 5. result files ---------------------------------------------------------------------


def _write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@pytest.mark.parametrize("content, message", [
    ('{"kind": "benchmark", "rows": "abc"}', "'rows' must be a list of objects"),
    ('{"kind": "benchmark", "rows": [1, 2]}', "'rows' must be a list of objects.*int"),
    ('{"kind": "benchmark", "rows": [], "meta": [1]}', "'meta' must be an object"),
    (b"\xff\xfe", "not a UTF-8 text file"),
    ('[1, 2]', "not a cs-toolkit result file"),
    ('{"kind": "benchmark", "rows": [{"solver": "a"}]}', "lacks the column.*problem"),
    ('{"kind": "benchmark", "rows": [{"problem": "p", "solver": "a", "time_s": "x", "n_iter": 1, "nmse_db": 0, '
     '"success": 1}]}', "column 'time_s' must be of type float"),
])
def test_benchmark_result_files_are_checked(tmp_path, content, message):
    from cs_toolkit.bench import Results, load_results

    p = _write(tmp_path / "r.json", content)
    with pytest.raises(ModelFileError, match=message):
        load_results(p)
    with pytest.raises(ModelFileError, match=message):
        Results.from_json(p)


def _phase_row(**kw):
    row = {"solver": "a", "method": "omp", "delta_index": 0, "rho_index": 0, "delta": 0.5, "rho": 0.5, "n": 8,
           "m": 4, "k": 2, "delta_actual": 0.5, "rho_actual": 0.5, "n_trials": 2, "n_success": 1,
           "success_rate": 0.5, "mean_time_s": 0.0, "median_nmse_db": None, "mean_n_iter": None, "n_warnings": 0}
    row.update(kw)
    return row


@pytest.mark.parametrize("rows, message", [
    ([{"solver": "a"}], "lacks the column.*delta_index"),
    ([_phase_row(delta_index=1)], "'delta_index' must number the grid"),
    ([_phase_row(rho_index=-1)], "'rho_index' must number the grid"),
    ([_phase_row(delta_index=0.5)], "column 'delta_index' must be of type int"),
    ([_phase_row(n_success=3)], "n_success <= n_trials"),
])
def test_phase_result_files_are_checked(tmp_path, rows, message):
    from cs_toolkit.bench import load_results
    from cs_toolkit.bench.phase import PhaseResult

    p = _write(tmp_path / "p.json", json.dumps({"kind": "phase", "rows": rows}))
    with pytest.raises(ModelFileError, match=message):
        load_results(p)
    with pytest.raises(ModelFileError, match=message):
        PhaseResult.from_json(p)


def test_result_csv_files_are_checked(tmp_path):
    from cs_toolkit.bench import Results, load_results
    from cs_toolkit.bench.phase import PhaseResult

    p = _write(tmp_path / "r.csv", b"solver,delta,\xff\n")
    with pytest.raises(ModelFileError, match="not a UTF-8 text file"):
        load_results(p)
    p = _write(tmp_path / "p.csv", "solver,delta\na,0.5\n")
    with pytest.raises(ModelFileError, match="lacks the column.*delta_index"):
        load_results(p)
    with pytest.raises(ModelFileError, match="lacks the column.*delta_index"):
        PhaseResult.from_csv(p)
    with pytest.raises(ModelFileError, match="lacks the column.*problem"):
        Results.from_csv(_write(tmp_path / "q.csv", "solver,time_s\na,1.0\n"))


def test_valid_result_files_still_load(tmp_path):
    from cs_toolkit.bench import Results, load_results
    from cs_toolkit.bench.phase import PhaseResult

    rows = [_phase_row(), _phase_row(rho_index=1, rho=0.9, k=4, rho_actual=1.0, n_success=0, success_rate=0.0)]
    res = PhaseResult(rows, {"x": 1})
    res.to_json(tmp_path / "p.json")
    res.to_csv(tmp_path / "p.csv")
    for name in ("p.json", "p.csv"):
        loaded = load_results(tmp_path / name)
        assert isinstance(loaded, PhaseResult) and len(loaded) == 2
        assert loaded.success_grid("a").tolist() == [[0.5, 0.0]] and len(loaded.summary()) == 1
    assert load_results(tmp_path / "p.json").meta == {"x": 1}
    empty = _write(tmp_path / "e.json", '{"kind": "benchmark", "rows": []}')  # no meta, no rows: fine
    assert isinstance(load_results(empty), Results) and load_results(empty).meta == {}
    bench_row = {"problem": "p", "solver": "a", "time_s": 1, "n_iter": None, "nmse_db": -20.0, "success": 1.0}
    loaded = Results.from_json(_write(tmp_path / "b.json", json.dumps({"kind": "benchmark", "rows": [bench_row]})))
    assert loaded.summary()[0]["success_rate"] == 1.0 and np.isnan(loaded.rows[0]["n_iter"])


# --- 6. block-sparse phase diagrams --------------------------------------------------------


def test_block_phase_refuses_cells_that_cannot_hold_a_block():
    from cs_toolkit.bench import phase_transition

    with pytest.raises(ValidationError, match=r"deltas must give m = round\(delta \* n\) >= block_size = 4.*m = 2"):
        phase_transition("block_omp", n=16, deltas=[0.125], rhos=[0.5], n_trials=1, progress=False,
                         problem_options={"structure": "block", "block_size": 4})


def test_block_phase_keeps_k_at_most_m():
    from cs_toolkit.bench import phase_transition

    res = phase_transition("block_omp", n=32, deltas=[0.22, 0.5], rhos=[0.2, 0.95], n_trials=1, progress=False,
                           problem_options={"structure": "block", "block_size": 4})
    cells = {(r["m"], r["k"]) for r in res.rows}
    assert cells == {(7, 4), (16, 4), (16, 16)}  # m = 7, rho = 0.95: k = 4, not 8 > 7
    assert all(r["k"] <= r["m"] and r["k"] % 4 == 0 and r["rho_actual"] <= 1.0 for r in res.rows)


def test_plain_phase_grid_unchanged():
    from cs_toolkit.bench import phase_transition

    res = phase_transition("omp", n=16, deltas=[0.125, 0.5], rhos=[0.5, 1.0], n_trials=1, progress=False)
    assert [(r["m"], r["k"]) for r in res.rows] == [(2, 1), (2, 2), (8, 4), (8, 8)]


# --- 8. bool flags ----------------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["resume", "progress"])
@pytest.mark.parametrize("value", ["no", 1, None])
def test_bench_bool_flags(tmp_path, flag, value):
    from cs_toolkit.bench import ProblemFamily, phase_transition, run_benchmark

    with pytest.raises(ValidationError, match=f"{flag} must be True or False"):
        run_benchmark(ProblemFamily(n=16, m=8, k=2), ["omp"], n_trials=1, out=tmp_path, **{"progress": False,
                                                                                          flag: value})
    with pytest.raises(ValidationError, match=f"{flag} must be True or False"):
        phase_transition("omp", n=16, deltas=[0.5], rhos=[0.5], n_trials=1, out=tmp_path,
                         **{"progress": False, flag: value})
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_bench_bool_flags_accept_numpy_bools(tmp_path):
    from cs_toolkit.bench import ProblemFamily, phase_transition, run_benchmark

    res = run_benchmark(ProblemFamily(n=16, m=8, k=2), ["omp"], n_trials=1, resume=np.True_, progress=np.False_)
    assert len(res) == 1
    res = phase_transition("omp", n=16, deltas=[0.5], rhos=[0.5], n_trials=1, resume=False, progress=False)
    assert len(res) == 1


@pytest.mark.parametrize("make", [
    lambda v: __import__("cs_toolkit.features", fromlist=["x"]).SparseCodeTransformer(8, split_sign=v),
    lambda v: __import__("cs_toolkit.features", fromlist=["x"]).SparseCodeTransformer(8, remove_mean=v),
    lambda v: __import__("cs_toolkit.features", fromlist=["x"]).SRCClassifier(normalize=v),
    lambda v: __import__("cs_toolkit.features", fromlist=["x"]).SRCClassifier(robust=v),
], ids=["split_sign", "remove_mean", "normalize", "robust"])
def test_features_bool_flags(make, request):
    name = request.node.callspec.id.split("-")[-1]
    X = np.random.default_rng(0).standard_normal((6, 8))
    y = [0, 1, 0, 1, 0, 1]
    for bad in ("no", 0, None):
        with pytest.raises(ValidationError, match=f"{name} must be True or False, got {bad!r}"):
            make(bad).fit(X, y)
    est = make(np.True_).fit(X, y)  # NumPy bools are bools
    out = est.transform(X) if hasattr(est, "transform") else est.predict(X)
    assert out.shape[0] == 6


def test_ml_nonneg_flag_checked():
    from cs_toolkit.features import MLISTANetwork, ml_ista

    rng = np.random.default_rng(0)
    D1, D2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 10))
    with pytest.raises(ValidationError, match="nonneg must be True or False"):
        ml_ista(rng.standard_normal((2, 6)), [D1, D2], lam=0.1, nonneg="no")
    with pytest.raises(ValidationError, match="nonneg must be True or False"):
        MLISTANetwork([D1, D2], n_classes=2, nonneg="yes")


# --- 7. per-layer penalties as arrays -----------------------------------------------------------


def test_ml_penalties_accept_a_1d_array():
    from cs_toolkit.features import MLISTANetwork, ml_fista, ml_ista

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 6))
    D1, D2 = rng.standard_normal((6, 8)), rng.standard_normal((8, 10))
    lam = np.array([0.1, 0.2])
    for solve in (ml_ista, ml_fista):
        np.testing.assert_array_equal(solve(X, [D1, D2], lam=lam), solve(X, [D1, D2], lam=[0.1, 0.2]))
        np.testing.assert_array_equal(solve(X, [D1, D2], lam=np.float64(0.1)), solve(X, [D1, D2], lam=0.1))
        np.testing.assert_array_equal(solve(X, [D1, D2], lam=np.array(0.1)), solve(X, [D1, D2], lam=0.1))
    assert lam.tolist() == [0.1, 0.2]
    a = MLISTANetwork([D1, D2], lam=np.array([0.1, 0.2], np.float32), n_classes=2, random_state=0)
    b = MLISTANetwork([D1, D2], lam=(0.1, 0.2), n_classes=2, random_state=0)
    np.testing.assert_allclose(a.params["theta1"], b.params["theta1"], rtol=1e-7)
    for bad, msg in [(np.array([0.1, 0.2, 0.3]), r"sequence of 2 values.*1-D array\), got shape \(3,\)"),
                     (np.array([[0.1, 0.2]]), r"shape \(1, 2\)"),
                     (np.array([0.1, -0.2]), r"lam\[1\] must be >= 0"),
                     (np.array([0.1, np.nan]), r"lam\[1\] must be finite"),
                     ("0.1", "lam must be a real number")]:
        with pytest.raises(ValidationError, match=msg):
            ml_ista(X, [D1, D2], lam=bad)


# --- 9. small gaps ---------------------------------------------------------------------------


def test_logistic_ridge_checked():
    from cs_toolkit.bench import fit_logistic_transition

    args = ([0.1, 0.2, 0.3, 0.4, 0.5], [10, 9, 5, 1, 0], [10] * 5)
    for bad, msg in [(-1, "ridge must be >= 0"), (np.inf, "ridge must be finite"), ("x", "ridge must be a real")]:
        with pytest.raises(ValidationError, match=msg):
            fit_logistic_transition(*args, ridge=bad)
    assert round(fit_logistic_transition(*args)["rho_50"], 2) == 0.3
    assert round(fit_logistic_transition(*args, ridge=0)["rho_50"], 2) == 0.3


def test_trial_metrics_checks_shapes():
    from cs_toolkit.bench import trial_metrics

    with pytest.raises(ValidationError, match=r"Dimension mismatch for X_hat.*\(1, 4\).*\(1, 5\)"):
        trial_metrics(np.zeros((1, 4)), np.zeros((1, 5)), 0)
    x = np.array([[0.0, 1.0, 0.0, 2.0]])
    assert trial_metrics(x, x[0], 2)["success"] == 1.0  # one signal, 1-D estimate: still fine
    assert trial_metrics(x, x, 2)["nmse_db"] == -300.0


def test_save_figure_checks_dpi(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from cs_toolkit.plotting import save_figure

    ax = Figure().add_subplot()
    for bad in (0, -5, np.nan, "high", True, None):
        with pytest.raises(ValidationError, match="dpi must be a positive number"):
            save_figure(ax, tmp_path / "f", "png", dpi=bad)
    assert not any(tmp_path.iterdir())
    assert save_figure(ax, tmp_path / "f", "png", dpi=np.int64(20)) == [str(tmp_path / "f.png")]
    assert save_figure(ax.figure, tmp_path / "g", "png", dpi=12.5) == [str(tmp_path / "g.png")]


def test_src_refuses_unsortable_labels():
    from cs_toolkit.features import SRCClassifier

    X = np.random.default_rng(0).standard_normal((4, 6))
    with pytest.raises(ValidationError, match="y must hold class labels.*got None"):
        SRCClassifier().fit(X[:2], [None, 1])
    with pytest.raises(ValidationError, match="y must hold sortable class labels.*int, str"):
        SRCClassifier().fit(X[:2], np.array(["a", 1], dtype=object))
    with pytest.raises(ValidationError, match="y must hold sortable class labels.*dict"):
        SRCClassifier().fit(X[:2], np.array([{}, {}], dtype=object))
    clf = SRCClassifier().fit(X, np.array(["b", "a", "b", "a"], dtype=object))  # object strings sort
    assert clf.classes_.tolist() == ["a", "b"]
    assert SRCClassifier().fit(X, ["x", "y", "x", "y"]).classes_.tolist() == ["x", "y"]


def test_sparse_code_transformer_checks_grid_in_fit():
    from cs_toolkit.features import SparseCodeTransformer

    ims = np.random.default_rng(0).standard_normal((6, 64))
    with pytest.raises(ValidationError, match=r"grid \(3, 3\) has more cells than the \(2, 2\) patch positions"):
        SparseCodeTransformer(8, image_shape=(8, 8), patch_size=7, grid=3, max_iter=1).fit(ims)
    with pytest.raises(ValidationError, match=r"grid \(1, 3\) has more cells than the \(2, 2\)"):
        SparseCodeTransformer(8, image_shape=(8, 8), patch_size=4, stride=4, grid=(1, 3), max_iter=1).fit(ims)
    sct = SparseCodeTransformer(8, n_nonzero_coefs=2, image_shape=(8, 8), patch_size=7, grid=2, max_iter=1,
                                random_state=0).fit(ims)
    assert sct.transform(ims).shape == (6, 2 * 2 * 8)

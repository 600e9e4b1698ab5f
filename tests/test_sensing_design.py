"""Tests of cs_toolkit.sensing.design (designed sensing matrices) and the coherence diagnostics."""

import numpy as np
import pytest

from cs_toolkit.dictionary import ksvd, overcomplete_dct2
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.metrics import recovery_success
from cs_toolkit.sensing import (
    DESIGN_METHODS,
    effective_coherence,
    gram_entries,
    mutual_coherence,
    optimize_sensing,
    plot_gram_histogram,
    t_averaged_coherence,
)
from cs_toolkit.signals.image import measure_image, reconstruct_image
from cs_toolkit.solvers import omp


def _random_dictionary(n, K, seed=0):
    D = np.random.default_rng(seed).standard_normal((n, K))
    return D / np.linalg.norm(D, axis=0)


def _planted(D, k, N, seed=1):
    rng = np.random.default_rng(seed)
    C = np.zeros((N, D.shape[1]))
    for c in C:
        c[rng.choice(D.shape[1], k, replace=False)] = rng.standard_normal(k)
    return C, C @ D.T


def _t_avg_naive(M, t):
    """Loop-level reference of Elad's t-averaged coherence."""
    K = M.shape[1]
    num = den = 0.0
    for i in range(K):
        for j in range(K):
            if i == j:
                continue
            g = abs(M[:, i] @ M[:, j]) / (np.linalg.norm(M[:, i]) * np.linalg.norm(M[:, j]))
            if g >= t:
                num += g
                den += 1
    return num / den if den else 0.0


# --------------------------------------------------------------------------- diagnostics
def test_t_averaged_coherence_matches_loop_reference(rng):
    M = rng.standard_normal((6, 9))
    for t in (0.0, 0.3, 0.6, 0.99):
        assert t_averaged_coherence(M, t) == pytest.approx(_t_avg_naive(M, t), rel=1e-12)
    A = rng.standard_normal((5, 6))
    D = rng.standard_normal((6, 9))
    assert t_averaged_coherence(A, 0.2, D=D) == pytest.approx(_t_avg_naive(A @ D, 0.2), rel=1e-12)


def test_t_averaged_coherence_at_zero_is_mean_and_max_is_coherence(rng):
    M = rng.standard_normal((8, 12))
    g = gram_entries(M)
    assert g.shape == (12 * 11,)
    assert t_averaged_coherence(M, 0.0) == pytest.approx(g.mean())
    assert g.max() == pytest.approx(mutual_coherence(M))
    A = rng.standard_normal((4, 8))
    assert effective_coherence(A, M) == pytest.approx(mutual_coherence(A @ M))


def test_gram_histogram_draws_every_matrix(rng):
    import matplotlib.pyplot as plt

    D = _random_dictionary(10, 20)
    A0 = rng.standard_normal((5, 10))
    A = optimize_sensing(D, 5, rng=0, max_iter=10)
    ax = plot_gram_histogram({"Gaussian": A0, "designed": A}, D, t=0.3, title="x")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("Gaussian") and labels[1].startswith("designed") and labels[2] == "t = 0.3"
    plt.close(ax.figure)


# --------------------------------------------------------------------------- design lowers its target
@pytest.mark.parametrize("method,kw,measure", [
    ("elad", {}, "t_averaged"),
    ("elad", {"t": 0.3}, "t_averaged"),
    ("gram", {}, "gram_error"),
    ("gram", {"target": "welch"}, "coherence"),
])
def test_design_lowers_target_against_its_random_start(method, kw, measure):
    D = _random_dictionary(40, 60)
    A, info = optimize_sensing(D, 15, method=method, rng=3, max_iter=60, return_info=True, **kw)
    # recomputed from the matrices, not read from the history
    G0 = gram_entries(info.initial, D)
    G1 = gram_entries(A, D)
    if measure == "t_averaged":
        before, after = t_averaged_coherence(info.initial, info.t, D), t_averaged_coherence(A, info.t, D)
    elif measure == "coherence":
        before, after = G0.max(), G1.max()
    else:
        before, after = np.sqrt(np.mean(G0**2)), np.sqrt(np.mean(G1**2))
    assert after < 0.95 * before
    assert info.history["objective"][info.best_iteration] == min(info.history["objective"])
    assert len(info.history["coherence"]) == info.n_iter + 1 == 61


@pytest.mark.parametrize("method", DESIGN_METHODS)
def test_design_for_dct_and_learned_dictionaries(method, rng):
    # the overcomplete 2-D DCT of 4x4 patches, and a K-SVD dictionary learned on them
    D_dct = overcomplete_dct2(4, 36)
    X = rng.standard_normal((400, 16)) @ np.diag(np.linspace(2, 0.2, 16))
    D_learned = ksvd(X, 24, n_nonzero_coefs=3, max_iter=3, rng=0).dictionary
    for D in (D_dct, D_learned):
        A, info = optimize_sensing(D, 8, method=method, rng=0, max_iter=40, return_info=True)
        assert A.shape == (8, 16)
        obj = info.history["objective"]
        assert obj[info.best_iteration] < obj[0]


def test_robustness_penalty_lowers_the_frobenius_norm_before_scaling():
    # with reg the closed form shrinks A where D is weak: A D keeps more of A's energy
    D = _random_dictionary(30, 45) * np.linspace(0.2, 2.0, 30)[:, None]
    ratios = []
    for reg in (0.0, 1.0):
        A = optimize_sensing(D, 10, method="gram", rng=0, max_iter=30, reg=reg)
        ratios.append(np.linalg.norm(A @ D) / np.linalg.norm(A))
    assert ratios[1] > ratios[0]


def test_design_shapes_dtype_scale_and_reproducibility():
    D = _random_dictionary(20, 30).astype(np.float32)
    A = optimize_sensing(D, 7, rng=5, max_iter=5)
    assert A.shape == (7, 20) and A.dtype == np.float32 and A.flags.c_contiguous
    assert np.linalg.norm(A.astype(np.float64)) ** 2 == pytest.approx(20, rel=1e-5)
    np.testing.assert_array_equal(A, optimize_sensing(D, 7, rng=5, max_iter=5))
    assert not np.array_equal(A, optimize_sensing(D, 7, rng=6, max_iter=5))
    A64 = optimize_sensing(D.astype(np.float64), 7, rng=5, max_iter=5, method="gram")
    assert A64.dtype == np.float64
    D_in = D.copy()
    optimize_sensing(D, 7, rng=5, max_iter=2)
    np.testing.assert_array_equal(D, D_in)


def test_design_starts_from_init_and_zero_iterations_return_it():
    D = _random_dictionary(12, 20)
    A0 = np.random.default_rng(0).standard_normal((4, 12))
    A, info = optimize_sensing(D, 4, init=A0, max_iter=0, return_info=True)
    np.testing.assert_allclose(info.initial, A0)
    np.testing.assert_allclose(A, A0 * np.sqrt(12) / np.linalg.norm(A0))
    assert info.n_iter == 0 and info.best_iteration == 0


# --------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_designed_matrix_recovers_more_planted_signals_with_omp():
    # Elad's setting: a random 80 x 120 dictionary, k = 4
    D = _random_dictionary(80, 120, seed=2)
    C, X = _planted(D, 4, 600, seed=3)
    A, info = optimize_sensing(D, 22, rng=4, max_iter=100, return_info=True)
    ok = {}
    for name, M in (("random", info.initial), ("designed", A)):
        Ch = omp(M @ D, X @ M.T, n_nonzero_coefs=4)
        ok[name] = int(np.sum(recovery_success(C, Ch)))
    assert ok["designed"] > ok["random"] + 0.1 * len(C), ok


def test_image_pipeline_accepts_a_designed_block_matrix(rng):
    D = overcomplete_dct2(8, 100)
    A = optimize_sensing(D, 16, rng=0, max_iter=20)
    img = rng.random((32, 40))
    meas = measure_image(img, 0.25, block_size=8, matrix=A)
    assert meas.matrix == "custom" and meas.Y.shape == (1, 20, 16)
    np.testing.assert_allclose(meas.A, A)
    rec = reconstruct_image(meas, method="omp", basis=D, n_nonzero_coefs=4)
    assert rec.shape == img.shape and np.all(np.isfinite(rec))


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("kwargs,match", [
    (dict(m=31), "m must be <= 30"),
    (dict(m=0), "m must be >= 1"),
    (dict(m=2.0), "m must be an integer"),
    (dict(method="random"), "method must be one of"),
    (dict(target="etf", method="gram"), "target must be one of"),
    (dict(gamma=1.0), "gamma must be <"),
    (dict(fraction=0.0), "fraction must be >"),
    (dict(t=1.5), "t must be <"),
    (dict(step=0.0, method="gram"), "step must be >"),
    (dict(max_iter=-1), "max_iter must be >= 0"),
    (dict(reg=-0.1, method="gram"), "reg must be >= 0"),
    (dict(init=np.ones((4, 30))), r"init must have shape \(m, n_features\) = \(5, 30\)"),
    (dict(rng="seed"), "rng must be"),
])
def test_design_rejects_bad_parameters(kwargs, match):
    D = _random_dictionary(30, 40)
    args = dict(m=5)
    args.update(kwargs)
    m = args.pop("m")
    with pytest.raises(ValidationError, match=match):
        optimize_sensing(D, m, **args)


def test_design_rejects_bad_dictionaries():
    D = _random_dictionary(10, 20)
    bad = D.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValidationError, match="D must contain only finite values"):
        optimize_sensing(bad, 4)
    bad[3, 4] = np.inf
    with pytest.raises(ValidationError, match="D must contain only finite values"):
        optimize_sensing(bad, 4)
    with pytest.raises(ValidationError, match="D must have at least 2 atoms"):
        optimize_sensing(D[:, :1], 4)
    with pytest.raises(ValidationError, match="D must be 2-D"):
        optimize_sensing(D[0], 4)
    low_rank = np.outer(D[:, 0], np.ones(20)) + np.outer(D[:, 1], np.arange(20.0))
    with pytest.raises(ValidationError, match="D has rank 2, below m=4"):
        optimize_sensing(low_rank, 4)


def test_diagnostics_reject_bad_inputs(rng):
    with pytest.raises(ValidationError, match="t must be <"):
        t_averaged_coherence(rng.standard_normal((3, 5)), t=1.0)
    with pytest.raises(ValidationError, match="Dimension mismatch: A has 5 columns but D has 4 rows"):
        gram_entries(rng.standard_normal((3, 5)), rng.standard_normal((4, 6)))
    with pytest.raises(ValidationError, match="matrices must be a non-empty dict"):
        plot_gram_histogram([rng.standard_normal((3, 5))])


def test_a_design_that_returns_its_start_says_so():
    """With a large ``reg`` no iterate improves on the start's Gram distance; the start came back
    silently (``best_iteration`` 0). Now a ConvergenceWarning says so; a design that improves does not warn."""
    import warnings

    from cs_toolkit.exceptions import ConvergenceWarning

    D = np.random.default_rng(16).standard_normal((40, 60))
    with pytest.warns(ConvergenceWarning, match=r"none of the 100 iterations improved.*reg=1"):
        A, info = optimize_sensing(D, 20, method="gram", reg=1.0, rng=0, return_info=True)
    assert info.best_iteration == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _, info0 = optimize_sensing(D, 20, method="gram", reg=0.0, rng=0, return_info=True)
    assert info0.best_iteration > 0

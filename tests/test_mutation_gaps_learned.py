"""Tests written to kill mutants of the learned, dictionary, features and transforms modules that
the rest of the suite let survive (hand mutation testing).

Each test checks a documented property against an independent reference (a naive loop, a
bookkeeping replay of the documented rule, planted structure), not a stored output.
"""

import math

import numpy as np
import pytest

from cs_toolkit.learned import ALISTA, LISTA_CP, ArraySource, SyntheticSource, train
from cs_toolkit.learned.train import nmse_per_layer
from cs_toolkit.metrics import nmse


def _cp_problem(seed=0, m=10, n=20, n_val=80, p=0.15):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    src = SyntheticSource(A, p=p, dtype=np.float64)
    Yv, Cv = src.sample(n_val, rng=seed + 1)
    return A, src, Yv, Cv


# --- learned.train: the best weights of a stage are restored -------------------------------------
def test_train_ends_a_stage_on_its_best_validation_weights():
    A, src, Yv, Cv = _cp_problem(0)
    model = LISTA_CP(A, n_layers=2, dtype=np.float64)
    start = nmse_per_layer(model, Yv, Cv)[-1]
    # a learning rate far too large: the iterates wander, the last one is not the best
    hist = train(model, src, schedule="joint", refine=(), lr=0.5, max_steps=30, patience=30, eval_every=1,
                 validation=(Yv, Cv), rng=2)
    vals = [r["val_nmse_db"] for r in hist.records]
    best = min([start] + vals)
    assert vals[-1] > best + 1e-6  # the precondition that makes the restore observable
    final = nmse_per_layer(model, Yv, Cv)[-1]
    assert final == pytest.approx(best, abs=1e-9)
    assert hist.stages[-1]["best_val_nmse_db"] == pytest.approx(best, abs=1e-9)


# --- learned.train: early stopping after `patience` steps without improvement --------------------
@pytest.mark.parametrize("patience", [2, 5])
def test_stage_stops_exactly_after_patience_steps_without_improvement(patience):
    A, src, Yv, Cv = _cp_problem(1)
    model = LISTA_CP(A, n_layers=2, dtype=np.float64)
    start = nmse_per_layer(model, Yv, Cv)[-1]
    hist = train(model, src, schedule="joint", refine=(), lr=0.05, max_steps=200, patience=patience,
                 eval_every=1, validation=(Yv, Cv), rng=3)
    # replay of the documented rule on the recorded validation scores
    best, since, expected = start, 0, None
    for rec in hist.records:
        since += 1
        if rec["val_nmse_db"] < best:
            best, since = rec["val_nmse_db"], 0
        if since >= patience:
            expected = rec["step"]
            break
    assert expected is not None and expected < 200
    assert hist.stages[0]["steps"] == expected
    assert len(hist.records) == expected


# --- learned.train: thresholds are projected onto theta >= 0 after every step --------------------
def test_thresholds_are_never_negative_during_training():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((12, 16)) / np.sqrt(12)
    src = SyntheticSource(A, p=1.0, dtype=np.float64)  # dense codes: every threshold only hurts
    Yv, Cv = src.sample(50, rng=5)
    model = LISTA_CP(A, n_layers=2, dtype=np.float64)
    seen = []

    def check(stage, step, metrics):
        seen.append(float(np.min(model.parameters()["theta"])))

    train(model, src, schedule="joint", refine=(), lr=0.05, max_steps=10, patience=10, eval_every=1,
          validation=(Yv, Cv), rng=6, callback=check)
    assert len(seen) == 10
    assert min(seen) >= 0.0
    assert min(seen) == 0.0  # the projection was active: the unconstrained step went below zero


# --- learned.train: relative scalar learning rates look only at the layers being trained ----------
def test_scalar_learning_rate_floor_comes_from_the_trained_layers_only():
    from cs_toolkit.learned.train import _scalar_scales

    lr, lr_scalar, depth = 1e-3, 1e-2, 2
    theta = np.array([1e-4, 2e-3, 50.0, 70.0])
    params = {"theta": theta, "W": np.ones((4, 3, 2))}
    scales = _scalar_scales(params, depth, lr_scalar, lr)
    assert set(scales) == {"theta"}
    # documented: |theta_t| times lr_scalar / lr, floored at 1 % of the largest trained scalar
    floor = 0.01 * np.max(np.abs(theta[:depth]))
    expected = np.maximum(np.abs(theta), floor) * (lr_scalar / lr)
    np.testing.assert_allclose(scales["theta"][:depth], expected[:depth], rtol=1e-12)
    # the untrained deeper layers do not change the rates of the trained ones
    other = _scalar_scales({"theta": np.array([1e-4, 2e-3, 1e-6, 1e-6]), "W": params["W"]}, depth, lr_scalar, lr)
    np.testing.assert_allclose(other["theta"][:depth], scales["theta"][:depth], rtol=1e-12)


# --- learned.train: the warm start scales thresholds by a decay, never a growth -------------------
def test_warm_start_candidates_scale_thresholds_by_at_most_one():
    from cs_toolkit.learned.train import _warm_start

    rng = np.random.default_rng(8)
    m, n = 16, 32
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    C = np.zeros((60, n))
    C[:, 0] = 3.0 * rng.standard_normal(60)  # one strong entry, the rest is noise to be thresholded
    Y = C @ A.T + 0.8 * rng.standard_normal((60, m))
    model = ALISTA(A, n_layers=3, dtype=np.float64, p_max=0.0)
    g = float(model.parameters()["gamma"][0])
    a = 0.15
    model.set_parameters({"gamma": np.full(3, g), "theta": np.array([a, 2 * a, 1e-4])})
    before = model.get_parameters()

    def score(theta2):
        trial = model.copy()
        p = {k: v.copy() for k, v in before.items()}
        p["theta"][2] = theta2
        trial.set_parameters(p)
        return nmse(C, trial.forward(Y, debias=False), db=True, finite=False)

    # the data make a larger threshold in layer 3 better: a grown candidate would win
    assert score(4 * a) < score(2 * a) < score(1e-4)
    _warm_start(model, 3, Y, C)
    # documented candidates: the initial layer, a copy of layer 2, and the copy with its threshold
    # times the decay theta_2 / theta_1 clipped to [0.05, 1] (here 2 -> 1: the copy itself)
    assert model.parameters()["theta"][2] == pytest.approx(2 * a, rel=1e-12)


# --- learned.data: mini-batches are drawn without replacement when the training set is large enough
def test_array_source_batch_of_the_whole_training_set_is_a_permutation():
    rng = np.random.default_rng(9)
    S = rng.standard_normal((20, 8))
    A = rng.standard_normal((4, 8))
    src = ArraySource(S, A, val_fraction=0.25, dtype=np.float64, rng=0)
    n_train = src.n_train
    _, Cval = src.validation_set()
    assert n_train + Cval.shape[0] == 20
    for seed in range(5):
        _, C = src.sample(n_train, rng=seed)
        rows = {tuple(r) for r in C}
        assert len(rows) == n_train  # no signal twice
        allrows = rows | {tuple(r) for r in Cval}
        assert allrows == {tuple(r) for r in S}


# --- learned.diffusion: train_diffusion keeps the best validation iterate -------------------------
def test_train_diffusion_restores_the_best_validation_iterate():
    from cs_toolkit.learned import DiffusionStages, train_diffusion

    rng = np.random.default_rng(10)
    yy, xx = np.mgrid[0:14, 0:14]
    clean = 120.0 + 60.0 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    samples = [(clean + 25.0 * rng.standard_normal(clean.shape), clean, None) for _ in range(2)]
    # validation: the start is already the truth, so the untrained (identity) stages are the best
    xv = clean + 10.0 * rng.standard_normal(clean.shape)
    model = DiffusionStages(1, filter_size=3, n_knots=9, response_range=100.0)
    v0 = model.get_vector()
    hist = train_diffusion(model, samples, validation=[(xv, xv, None)], max_iter=3)
    assert len(hist["iterations"]) >= 1
    assert max(hist["val_psnr_db"]) < hist["start_val_psnr_db"]  # training did move the model
    np.testing.assert_array_equal(model.get_vector(), v0)
    np.testing.assert_allclose(model.forward(xv), xv, atol=1e-9)


# --- learned.joint_audio: the tail is FISTA with the standard momentum -----------------------------
def test_joint_audio_tail_follows_the_fista_recursion():
    from cs_toolkit.learned.joint_audio import JointAudioNet, _Frames

    rng = np.random.default_rng(11)
    N, m, n_frames = 16, 6, 5
    Q, _ = np.linalg.qr(rng.standard_normal((N, m)))
    A = Q.T  # orthonormal rows
    net = JointAudioNet(n_layers=2, frame_length=N, ratios=(0.5,))
    op = _Frames(A, N)
    Y = rng.standard_normal((1, n_frames, m))
    C0 = rng.standard_normal((1, n_frames, N)) * (rng.random((1, n_frames, N)) < 0.3)
    log_theta = np.log(np.full((2, N), 0.05))
    gamma = np.ones((2, N))
    n_iter, scale = 6, 0.7
    got = net._tail(op, C0, Y, log_theta, gamma, scale, n_iter)
    # reference: Beck & Teboulle, x_k = soft(z_k - M^T (M z_k - y), lam),
    # z_{k+1} = x_k + (t_k - 1) / t_{k+1} (x_k - x_{k-1}), t_1 = 1, started at x_0 = C0
    lam = scale * 0.05
    x_prev, x, tk = C0.copy(), C0.copy(), 1.0
    for _ in range(n_iter):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * tk * tk)) / 2.0
        z = x + (tk - 1.0) / t_next * (x - x_prev)
        v = z - op.adjoint(op.forward(z) - Y)
        x_prev, x = x, np.sign(v) * np.maximum(np.abs(v) - lam, 0.0)
        tk = t_next
    np.testing.assert_allclose(got, x, rtol=1e-12, atol=1e-12)


# --- dictionary.online: the whole loop against a naive Mairal et al. (2009) loop -------------------
def _mairal_beta(t, eta):
    # Mairal et al. (2009), section 3.4
    theta = t * eta if t < eta else eta * eta + t - eta
    return (theta + 1.0 - eta) / (theta + 1.0)


def _naive_online(X, D0, k, batch_size, total, replace_dead, rng):
    from cs_toolkit.dictionary import sparse_encode
    from cs_toolkit.dictionary._common import replace_dead_atoms

    n = X.shape[0]
    D = D0.copy()
    A = np.zeros((D.shape[1], D.shape[1]))
    B = np.zeros_like(D)
    n_batches = -(-n // batch_size)
    for t in range(1, total + 1):
        b = (t - 1) % n_batches
        Xb = X[b * batch_size:min((b + 1) * batch_size, n)]
        Cb = sparse_encode(Xb, D, coder="omp", n_nonzero_coefs=k)
        beta = _mairal_beta(t, batch_size)
        A = beta * A + Cb.T @ Cb
        B = beta * B + Xb.T @ Cb
        for j in range(D.shape[1]):  # one block-coordinate sweep
            if A[j, j] <= 0:
                continue
            u = D[:, j] + (B[:, j] - D @ A[:, j]) / A[j, j]
            D[:, j] = u / np.linalg.norm(u)
        if replace_dead and (t % 10 == 0 or t == total):
            diag = np.diag(A)
            unused = diag <= 1e-6 * max(float(diag.mean()), np.finfo(float).tiny)
            rep = replace_dead_atoms(D, Cb, Xb - Cb @ D.T, Xb, np.where(unused, 0, 1), rng)
            A[rep, :] = 0.0  # a new atom starts with no history
            A[:, rep] = 0.0
            B[:, rep] = 0.0
    return D


def test_online_learning_matches_a_naive_mairal_loop():
    from cs_toolkit.dictionary import online_dictionary_learning

    rng = np.random.default_rng(12)
    X = rng.standard_normal((60, 6))
    D0 = rng.standard_normal((6, 8))
    D0 /= np.linalg.norm(D0, axis=0)
    # 60 signals in batches of 16: three full batches and one of 12, over one and a half epochs
    res = online_dictionary_learning(X, 8, n_nonzero_coefs=2, batch_size=16, max_iter=6, shuffle=False,
                                     init=D0, replace_dead=False, rng=0)
    ref = _naive_online(X, D0, 2, 16, 6, False, np.random.default_rng(0))
    np.testing.assert_allclose(res.dictionary, ref, rtol=1e-9, atol=1e-9)


def test_online_replaced_atoms_start_without_history():
    from cs_toolkit.dictionary import online_dictionary_learning

    rng = np.random.default_rng(13)
    X = rng.standard_normal((40, 5))
    X[:, 4] = 0.0  # the data leave out the last feature
    D0 = rng.standard_normal((5, 7))
    D0[4, :] = 0.0
    D0[:, 3] = 0.0
    D0[4, 3] = 1.0  # an atom orthogonal to the data: never used, replaced at the tenth mini-batch
    D0 /= np.linalg.norm(D0, axis=0)
    res = online_dictionary_learning(X, 7, n_nonzero_coefs=2, batch_size=10, max_iter=14, shuffle=False,
                                     init=D0, replace_dead=True, rng=0)
    assert res.replaced_atoms >= 1
    ref = _naive_online(X, D0, 2, 10, 14, True, np.random.default_rng(0))
    np.testing.assert_allclose(res.dictionary, ref, rtol=1e-9, atol=1e-9)


# --- dictionary.denoise: the weighted average of the patch estimates ------------------------------
@pytest.mark.parametrize("step", [1, 3])
def test_denoise_average_matches_the_documented_formula(step):
    from cs_toolkit.dictionary import denoise_image, overcomplete_dct2

    rng = np.random.default_rng(14)
    img = rng.random((11, 13))
    p, lam = 4, 0.7
    # an error target above every patch's energy: every code is zero, each estimate is the mean
    out = denoise_image(img, 0.1, dictionary=overcomplete_dct2(p, 16), patch_size=p, step=step, gain=1e3,
                        lam=lam, data_range=1.0)
    rows = sorted(set(range(0, img.shape[0] - p + 1, step)) | {img.shape[0] - p})
    cols = sorted(set(range(0, img.shape[1] - p + 1, step)) | {img.shape[1] - p})
    acc, cnt = np.zeros_like(img), np.zeros_like(img)
    for r in rows:
        for c in cols:
            patch = img[r:r + p, c:c + p]
            acc[r:r + p, c:c + p] += patch.mean()
            cnt[r:r + p, c:c + p] += 1.0
    # x = (lam y + sum R^T (D a + m)) / (lam + sum R^T R 1)
    np.testing.assert_allclose(out, (lam * img + acc) / (lam + cnt), rtol=1e-12, atol=1e-12)


# --- dictionary._common: dead atoms and their replacement -----------------------------------------
def test_duplicate_atoms_mark_the_later_one_dead_and_replacement_zeroes_its_codes():
    from cs_toolkit.dictionary._common import find_dead_atoms, replace_dead_atoms

    rng = np.random.default_rng(15)
    D = np.linalg.qr(rng.standard_normal((6, 6)))[0][:, :5].copy()
    D[:, 3] = -D[:, 1]  # |<d_1, d_3>| = 1: atom 3, the later one, is the duplicate
    counts = np.full(5, 4)
    np.testing.assert_array_equal(find_dead_atoms(D, counts, min_usage=0.0), [3])
    X = rng.standard_normal((10, 6))
    C = rng.standard_normal((10, 5))
    R = X - C @ D.T
    D2, C2 = D.copy(), C.copy()
    rep = replace_dead_atoms(D2, C2, R, X, counts, rng, min_usage=0.0)
    np.testing.assert_array_equal(rep, [3])
    worst = int(np.argmax(np.sum(R * R, axis=1)))
    np.testing.assert_allclose(D2[:, 3], R[worst] / np.linalg.norm(R[worst]), rtol=1e-12)
    assert np.all(C2[:, 3] == 0.0)  # documented: the code column of a replaced atom is zeroed
    np.testing.assert_array_equal(np.delete(C2, 3, axis=1), np.delete(C, 3, axis=1))
    np.testing.assert_array_equal(np.delete(D2, 3, axis=1), np.delete(D, 3, axis=1))


# --- transforms.frames: padding covers the tail like the head -------------------------------------
@pytest.mark.parametrize("N,hop", [(8, 4), (8, 2), (12, 4), (6, 6)])
@pytest.mark.parametrize("L", [1, 7, 20, 33])
def test_padded_frames_cover_every_sample_equally_often(N, hop, L):
    from cs_toolkit.transforms import frames

    F = frames(np.ones(L), N, hop, window="rect")
    front = N - hop  # documented front pad
    cover = np.zeros(L, dtype=int)
    for f in range(F.shape[0]):
        lo, hi = f * hop - front, f * hop - front + N
        cover[max(lo, 0):max(min(hi, L), 0)] += 1
    assert np.all(cover == N // hop)
    # and no frame lies entirely in the padding
    assert (F.shape[0] - 1) * hop - front < L

"""The non-local (grouped patch) denoisers and the ``pnp_nl`` image loop, against naive references."""

import numpy as np
import pytest
from scipy.fft import dct, dctn, idctn

from cs_toolkit.data import load_image
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.signals import _denoisers as den
from cs_toolkit.signals import image_quality, measure_image, reconstruct_image
from cs_toolkit.signals._image_loops import _bcs_spl, _pnp_dct, _pnp_lr, _pnp_nl
from cs_toolkit.transforms import image_to_tiles

# the parallel matching and filtering kernels take 20-30 s to compile the first time
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def crop():
    """A 64x64 crop of the bundled camera image, float in [0, 1]."""
    return load_image("camera")[192:256, 192:256].copy()


def _match_naive(x, p, step, radius, k, feature=None):
    H, W = x.shape
    nr, nc = H - p + 1, W - p + 1
    feature = feature or (lambda patch: patch.ravel())
    refs = [r for r in range(0, nr, step)] + ([nr - 1] if (nr - 1) % step else [])
    cols = [c for c in range(0, nc, step)] + ([nc - 1] if (nc - 1) % step else [])
    out = []
    for r0 in refs:
        for c0 in cols:
            cand = []
            for r in range(max(0, r0 - radius), min(nr - 1, r0 + radius) + 1):
                for c in range(max(0, c0 - radius), min(nc - 1, c0 + radius) + 1):
                    d = np.sum((feature(x[r0:r0 + p, c0:c0 + p]) - feature(x[r:r + p, c:c + p])) ** 2)
                    cand.append((-1.0 if (r, c) == (r0, c0) else d, r * nc + c))
            out.append([pos for _, pos in sorted(cand)[:k]])
    return np.array(out)


def test_match_patches_against_brute_force(rng):
    x = rng.random((17, 14)) * 255
    before = x.copy()
    groups = den.match_patches(x, patch_size=4, step=3, radius=3, group_size=5)
    np.testing.assert_array_equal(groups, _match_naive(x, 4, 3, 3, 5))
    np.testing.assert_array_equal(x, before)
    # every pixel is covered by some group's reference patch (step <= patch size)
    cover = np.zeros(x.shape, bool)
    n_cols = x.shape[1] - 4 + 1
    for pos in groups[:, 0]:
        r, c = divmod(int(pos), n_cols)
        cover[r:r + 4, c:c + 4] = True
    assert cover.all()


def test_match_patches_on_low_frequencies_against_brute_force(rng):
    x = rng.random((15, 16)) * 255
    p, n_features = 4, 6
    # the lowest frequencies of a 4x4 patch in zigzag order: (0,0), (0,1), (1,0), (0,2), (1,1), (2,0)
    low = [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0)]

    def feature(patch):
        C = dctn(patch, norm="ortho")
        return np.array([C[i, j] for i, j in low])

    groups = den.match_patches(x, patch_size=p, step=2, radius=4, group_size=6, n_features=n_features)
    np.testing.assert_array_equal(groups, _match_naive(x, p, 2, 4, 6, feature))
    # all 16 coefficients of the orthonormal DCT give the pixel distance
    full = den.match_patches(x, patch_size=p, step=2, radius=4, group_size=6, n_features=16)
    np.testing.assert_array_equal(full, den.match_patches(x, patch_size=p, step=2, radius=4, group_size=6))


def test_match_patches_breaks_ties_in_scan_order(rng):
    # a periodic picture: every patch has exact copies (distance 0), so the group is decided by
    # the tie rule alone: nearest first, then the position met first in row-major order
    x = np.tile(rng.random((3, 4)) * 255, (6, 5))
    groups = den.match_patches(x, patch_size=4, step=3, radius=4, group_size=7)
    np.testing.assert_array_equal(groups, _match_naive(x, 4, 3, 4, 7))
    low = [(0, 0), (0, 1), (1, 0), (0, 2), (1, 1), (2, 0)]
    groups = den.match_patches(x, patch_size=4, step=3, radius=4, group_size=7, n_features=len(low))
    feature = lambda patch: np.array([dctn(patch, norm="ortho")[i, j] for i, j in low])  # noqa: E731
    np.testing.assert_array_equal(groups, _match_naive(x, 4, 3, 4, 7, feature))


def _group_naive(x, groups, p, coef_fn):
    """Loop reference: each group as a (k, p, p) stack through the 3-D DCT, then averaged back."""
    n_cols = x.shape[1] - p + 1
    acc = np.zeros_like(x)
    cnt = np.zeros_like(x)
    for g in groups:
        pos = [divmod(int(v), n_cols) for v in g]
        stack = np.stack([x[r:r + p, c:c + p] for r, c in pos])
        Z, w = coef_fn(dctn(stack, norm="ortho"), pos)
        est = idctn(Z, norm="ortho")
        for (r, c), e in zip(pos, est, strict=True):
            acc[r:r + p, c:c + p] += w * e
            cnt[r:r + p, c:c + p] += w
    return acc / cnt


@pytest.mark.parametrize("k", [4, 5])  # even groups use the DCT's symmetry, odd ones the plain product
def test_group_threshold_and_wiener_against_naive(rng, k):
    x = rng.random((14, 13)) * 255
    p, sigma, thr = 4, 12.0, 2.7
    groups = den.match_patches(x, patch_size=p, step=2, radius=3, group_size=k)

    def hard(Z, pos):
        keep = np.abs(Z) > thr * sigma
        keep[0, 0, 0] = True
        return Z * keep, 1.0 / keep.sum()

    np.testing.assert_allclose(den.group_dct_threshold(x, sigma, groups, patch_size=p, threshold=thr),
                               _group_naive(x, groups, p, hard), rtol=1e-10, atol=1e-9)
    pilot = x + 10 * rng.standard_normal(x.shape)

    def wiener(Z, pos):
        q = dctn(np.stack([pilot[r:r + p, c:c + p] for r, c in pos]), norm="ortho") ** 2
        g = q / (q + sigma**2)
        return Z * g, 1.0 / np.sum(g * g)

    np.testing.assert_allclose(den.group_dct_wiener(x, pilot, sigma, groups, patch_size=p),
                               _group_naive(x, groups, p, wiener), rtol=1e-10, atol=1e-9)
    # no thresholding reproduces the image; a constant image is a fixed point
    np.testing.assert_allclose(den.group_dct_threshold(x, 0.0, groups, patch_size=p), x, atol=1e-9)
    flat = np.full((12, 12), 40.0)
    np.testing.assert_allclose(den.group_dct_threshold(flat, 30.0, den.match_patches(flat)), flat, atol=1e-9)


def test_group_transform_is_the_orthonormal_dct():
    H = den._group_transform(8)
    np.testing.assert_allclose(H, dct(np.eye(8), norm="ortho", axis=0))
    np.testing.assert_allclose(H @ H.T, np.eye(8), atol=1e-12)


def test_grouping_denoises_repeated_structure_better_than_single_patches(rng):
    # a periodic texture: every patch has many exact twins, which grouping exploits
    t = np.arange(64)
    clean = 128 + 60 * np.sin(2 * np.pi * t[:, None] / 8) * np.cos(2 * np.pi * t[None, :] / 16)
    noisy = clean + 20 * rng.standard_normal(clean.shape)
    single = den.patch_dct_threshold(noisy, 20.0)
    grouped = den.group_dct_threshold(noisy, 20.0, den.match_patches(noisy))
    err = [np.sqrt(np.mean((e - clean) ** 2)) for e in (noisy, single, grouped)]
    assert err[2] < 0.8 * err[1] < err[0]


def test_match_patches_refuses_groups_larger_than_the_window(rng):
    with pytest.raises(ValueError, match="group_size must be at most"):
        den.match_patches(rng.random((20, 20)), radius=1, group_size=10)


def test_pnp_nl_iterates_are_consistent_with_the_measurements(crop):
    meas = measure_image(crop, 0.25, block_size=16, rng=0)
    Y = meas.Y[0]
    x = _pnp_nl(Y, meas.A, meas.pinv, meas.padded_shape, 16, np.zeros(meas.padded_shape), n_iter=4, n_wiener=2)
    np.testing.assert_allclose(image_to_tiles(x, 16) @ meas.A.T, Y, rtol=1e-10, atol=1e-8)


def test_pnp_nl_beats_bcs_spl(crop):
    meas = measure_image(crop, 0.3, block_size=16, rng=0)
    spl = image_quality(crop, reconstruct_image(meas, method="bcs_spl", max_iter=60))["psnr"]
    rec = reconstruct_image(meas, method="pnp_nl", max_iter=30)
    assert image_quality(crop, rec)["psnr"] > spl + 2.0
    np.testing.assert_array_equal(reconstruct_image(meas, method="pnp_nl", max_iter=30), rec)  # deterministic


def test_patch_denoisers_work_in_float32_on_float32_images(rng):
    x = rng.random((40, 37)) * 255
    x32 = x.astype(np.float32)
    C64, C32 = den.patch_spectra(x, 8), den.patch_spectra(x32, 8)
    assert C32.dtype == np.float32
    np.testing.assert_allclose(C32, C64, rtol=0, atol=1e-3)
    back = den.patch_spectra_adjoint(C32, x.shape, 8)
    assert back.dtype == np.float32
    np.testing.assert_allclose(back, den.patch_spectra_adjoint(C64, x.shape, 8), rtol=1e-5, atol=1e-2)
    groups = den.match_patches(x, step=3, n_features=16)
    for f64, f32 in [
        (den.group_dct_threshold(x, 20.0, groups), den.group_dct_threshold(x32, 20.0, groups)),
        (den.group_dct_wiener(x, x, 5.0, groups), den.group_dct_wiener(x32, x32, 5.0, groups)),
        (den.patch_dct_threshold(x, 20.0), den.patch_dct_threshold(x32, 20.0)),
        (den.patch_dct_wiener(x, x, 5.0), den.patch_dct_wiener(x32, x32, 5.0)),
    ]:
        assert f32.dtype == np.float32
        # thresholding decisions near the threshold may flip: compare in the mean, not per pixel
        assert np.sqrt(np.mean((f32 - f64) ** 2)) < 0.05
    assert den.match_patches(x32, step=3, n_features=16).shape == groups.shape


def test_float32_reconstruction_runs_in_float32_and_matches_float64(crop, monkeypatch):
    meas = measure_image(crop, 0.25, block_size=32, rng=0)
    seen = set()
    spectra = den.patch_spectra

    def spy(x, p, **kw):
        seen.add(np.asarray(x).dtype)
        return spectra(x, p, **kw)

    monkeypatch.setattr(den, "patch_spectra", spy)
    for method in ("pnp_nl", "pnp_dct", "pnp_lr"):
        r64 = reconstruct_image(meas, method=method, max_iter=10)
        assert seen == {np.dtype(np.float64)}
        seen.clear()
        r32 = reconstruct_image(meas, method=method, max_iter=10, dtype="float32")
        assert seen == {np.dtype(np.float32)}
        seen.clear()
        assert r32.dtype == r64.dtype == crop.dtype  # the output follows the input image
        assert abs(image_quality(crop, r32)["psnr"] - image_quality(crop, r64)["psnr"]) < 0.05
    with pytest.raises(ValueError, match="dtype must be None, 'float32' or 'float64'"):
        reconstruct_image(meas, method="pnp_nl", dtype="float16")
    with pytest.raises(ValueError, match="method 'pnp_tv' computes in float64"):
        reconstruct_image(meas, method="pnp_tv", dtype="float32")


def test_a_reused_workspace_gives_what_fresh_buffers_give(rng):
    # the loops pass one PatchWorkspace to every call: its buffers hold the previous call's
    # numbers, and the parallel runs are cached per groups array; nothing of that may leak
    ws = den.PatchWorkspace()
    for shape, dtype in (((20, 17), np.float64), ((20, 17), np.float32), ((15, 22), np.float64)):
        x = (rng.random(shape) * 255).astype(dtype)
        pilot = (x + 10 * rng.standard_normal(shape)).astype(dtype)
        for step in (2, 3):  # new groups: new runs
            groups = den.match_patches(x, patch_size=4, step=step, radius=3, group_size=4, workspace=ws)
            np.testing.assert_array_equal(groups, den.match_patches(x, patch_size=4, step=step, radius=3,
                                                                    group_size=4))
            for sigma in (5.0, 20.0):
                for fn, args in ((den.group_dct_threshold, (x, sigma, groups)),
                                 (den.group_dct_wiener, (x, pilot, sigma, groups)),
                                 (den.group_dct_wiener, (x, x, sigma, groups)),
                                 (den.patch_dct_threshold, (x, sigma)),
                                 (den.patch_dct_wiener, (x, pilot, sigma)),
                                 (den.patch_dct_wiener, (x, x, sigma))):
                    got = fn(*args, patch_size=4, workspace=ws)
                    assert got.dtype == dtype
                    np.testing.assert_array_equal(got, fn(*args, patch_size=4))
                    assert not np.shares_memory(got, ws.array("image", shape, dtype))  # a new array
    # the buffers follow the shape and dtype asked for
    a = ws.array("C", (3, 4), np.float32)
    assert ws.array("C", (3, 4), np.float32) is a
    assert ws.array("C", (3, 4), np.float64).dtype == np.float64
    assert ws.array("C", (4, 3), np.float64).shape == (4, 3)


def test_patch_spectra_write_into_out_and_refuse_a_wrong_one(rng):
    x = rng.random((12, 10)) * 255
    C = den.patch_spectra(x, 4)
    out = np.full_like(C, np.nan)
    assert den.patch_spectra(x, 4, out=out) is out
    np.testing.assert_array_equal(out, C)
    img = np.full(x.shape, np.nan)
    assert den.patch_spectra_adjoint(C, x.shape, 4, out=img) is img  # overwritten, not added to
    np.testing.assert_array_equal(img, den.patch_spectra_adjoint(C, x.shape, 4))
    with pytest.raises(ValidationError, match="out must be a C-contiguous float64 array of shape"):
        den.patch_spectra(x, 4, out=np.empty((C.shape[0], 15)))
    with pytest.raises(ValidationError, match="out must be"):
        den.patch_spectra(x, 4, out=np.empty(C.shape, np.float32))
    with pytest.raises(ValidationError, match="out must be"):
        den.patch_spectra_adjoint(C, x.shape, 4, out=np.empty((x.shape[1], x.shape[0])))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_group_scatter_is_the_dense_one_exactly(rng, dtype):
    # rows of every density: empty, a few entries (visited one by one), many (added whole)
    from cs_toolkit.signals._image_numba import _group_scatter, _group_scatter_kept

    k, n = 16, 64
    H = den._group_transform(k, dtype)
    Z = rng.standard_normal((k, n)).astype(dtype)
    for a, keep in enumerate(np.linspace(0.0, 1.0, k)):
        Z[a, rng.random(n) >= keep] = 0.0
    rows = rng.permutation(40)[:k].astype(np.int64)
    S1, S2 = (rng.standard_normal((40, n)).astype(dtype) for _ in range(2))
    S2[...] = S1
    W = np.empty((k, n), dtype)
    _group_scatter(Z, rows, H, dtype(0.3), S1, W)
    _group_scatter_kept(Z, rows, H, dtype(0.3), S2, W)
    np.testing.assert_array_equal(S2, S1)


def _lowrank_naive(x, groups, p, sigma, c):
    """Loop reference of the low-rank filter: every group's patches (pixels, rows) less their mean,
    singular values shrunk with the WNNM weights by an SVD, then averaged back with 1 / (1 + rank)."""
    n_cols = x.shape[1] - p + 1
    acc, cnt = np.zeros_like(x), np.zeros_like(x)
    for g in groups:
        pos = [divmod(int(v), n_cols) for v in g]
        M = np.stack([x[r:r + p, q:q + p].ravel() for r, q in pos])
        mean = M.mean(axis=0)
        U, sv, Vt = np.linalg.svd(M - mean, full_matrices=False)
        est = np.sqrt(np.maximum(sv ** 2 - p * p * sigma ** 2, 0.0))
        shrunk = np.maximum(sv - c * np.sqrt(len(g)) * sigma ** 2 / (est + 1e-8), 0.0)
        w = 1.0 / (1 + np.count_nonzero(shrunk))
        est_patches = (U * shrunk) @ Vt + mean
        for (r, q), e in zip(pos, est_patches, strict=True):
            acc[r:r + p, q:q + p] += w * e.reshape(p, p)
            cnt[r:r + p, q:q + p] += w
    return acc / cnt


@pytest.mark.parametrize("sigma", [3.0, 15.0, 40.0])  # 40: most groups below the noise level (no eigendecomposition)
def test_group_lowrank_shrink_against_naive(rng, sigma):
    # smooth structure plus noise: groups of rank > 1 of which some components survive
    i, j = np.mgrid[0:18, 0:16]
    x = 120 + 60 * np.sin(i / 3.0) * np.cos(j / 4.0) + 8 * rng.standard_normal((18, 16))
    before = x.copy()
    groups = den.match_patches(x, patch_size=4, step=2, radius=3, group_size=6)
    got = den.group_lowrank_shrink(x, sigma, groups, patch_size=4, c=2.0)
    np.testing.assert_allclose(got, _lowrank_naive(x, groups, 4, sigma, 2.0), rtol=1e-9, atol=1e-8)
    np.testing.assert_array_equal(x, before)
    assert 0.1 < np.std(got - x) < np.std(x)  # it did something, and not everything
    # float32 in, float32 out, close to float64
    g32 = den.group_lowrank_shrink(x.astype(np.float32), sigma, groups, patch_size=4, c=2.0)
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, got, atol=0.05)


@pytest.mark.parametrize("sigma, many", [(0.5, True), (15.0, False)])
def test_group_lowrank_shrink_against_naive_on_both_eigen_paths(rng, sigma, many):
    """Groups of 16 patches of 4 x 4: at sigma 0.5 they keep 9-15 components (all eigenpairs, by
    implicit QR steps), at 15 one to four (only the kept eigenpairs, by inverse iteration)."""
    from cs_toolkit.signals._lowrank_numba import _FEW

    i, j = np.mgrid[0:40, 0:40]
    x = 120 + 60 * np.sin(i / 3.0) * np.cos(j / 4.0) + 8 * rng.standard_normal((40, 40))
    groups = den.match_patches(x, patch_size=4, step=2, radius=6, group_size=16)
    n_cols, kept = x.shape[1] - 3, []
    for g in groups:
        M = np.stack([x[r:r + 4, q:q + 4].ravel() for r, q in (divmod(int(v), n_cols) for v in g)])
        sv = np.linalg.svd(M - M.mean(axis=0), compute_uv=False)
        kept.append(np.sum(sv > 2.0 * 4 * sigma ** 2 / (np.sqrt(np.maximum(sv ** 2 - 16 * sigma ** 2, 0)) + 1e-8)))
    assert (min(kept) > _FEW) if many else (0 < max(kept) <= _FEW)
    got = den.group_lowrank_shrink(x, sigma, groups, patch_size=4, c=2.0)
    np.testing.assert_allclose(got, _lowrank_naive(x, groups, 4, sigma, 2.0), rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_frobenius_early_out_is_sound_and_skips_groups_the_trace_test_keeps(rng, dtype):
    """Groups the Frobenius bound declares all-shrunk really have every singular value shrunk to
    zero (the eigendecomposition agrees), and the bound skips groups the trace test does not."""
    from cs_toolkit.signals._lowrank_numba import _SKIP_MARGIN, _all_shrunk_to_zero

    k, n, c = 16, 64, 9.0
    skipped_beyond_trace = 0
    for _ in range(400):
        s2 = float(rng.uniform(1.0, 400.0))
        # a group of noise at a random level plus a few components of random strength
        M = rng.normal(0, np.sqrt(s2) * rng.uniform(0.2, 1.5), (k, n))
        r = int(rng.integers(0, 4))
        M += rng.normal(0, 1, (k, r)) @ rng.normal(0, np.sqrt(s2) * rng.uniform(0, 3), (r, n))
        M -= M.mean(axis=0)
        K = (M @ M.T).astype(dtype)
        lam = np.linalg.eigvalsh(K.astype(np.float64))
        sv = np.sqrt(np.maximum(lam, 0))
        w = c * np.sqrt(k) * s2 / (np.sqrt(np.maximum(lam - n * s2, 0)) + 1e-8)
        survivors = int(np.sum(sv > w))
        if _all_shrunk_to_zero(K, dtype(n * s2), dtype(c * np.sqrt(k) * s2 * (1 - _SKIP_MARGIN))):
            assert survivors == 0
            skipped_beyond_trace += np.trace(K) > n * s2
    assert skipped_beyond_trace >= 20


def test_group_lowrank_shrink_keeps_constants_and_refuses_bad_c(rng):
    flat = np.full((12, 12), 40.0)
    np.testing.assert_allclose(den.group_lowrank_shrink(flat, 30.0, den.match_patches(flat)), flat, atol=1e-9)
    x = rng.random((12, 12)) * 255
    g = den.match_patches(x, patch_size=4, step=2, radius=3, group_size=5)
    # no shrinkage (c = 0): every group is itself, the image comes back
    np.testing.assert_allclose(den.group_lowrank_shrink(x, 10.0, g, patch_size=4, c=0.0), x, atol=1e-9)
    # also where every group's energy is far below the noise level (no early-out may fire then)
    np.testing.assert_allclose(den.group_lowrank_shrink(x, 1e4, g, patch_size=4, c=0.0), x, atol=1e-9)
    with pytest.raises(ValidationError, match="c must be a finite number >= 0"):
        den.group_lowrank_shrink(x, 10.0, g, patch_size=4, c=-1.0)


def test_pnp_lr_is_consistent_with_the_measurements_and_beats_bcs_spl(crop):
    meas = measure_image(crop, 0.3, block_size=16, rng=0)
    x = _pnp_lr(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, 16, np.zeros(meas.padded_shape), n_iter=3)
    np.testing.assert_allclose(image_to_tiles(x, 16) @ meas.A.T, meas.Y[0], rtol=1e-10, atol=1e-8)
    spl = image_quality(crop, reconstruct_image(meas, method="bcs_spl", max_iter=60))["psnr"]
    rec = reconstruct_image(meas, method="pnp_lr", max_iter=30)
    assert image_quality(crop, rec)["psnr"] > spl + 2.0
    np.testing.assert_array_equal(reconstruct_image(meas, method="pnp_lr", max_iter=30), rec)  # deterministic


@pytest.mark.parametrize("loop", [_pnp_lr, _pnp_nl, _pnp_dct])
def test_default_schedules_settle_on_smooth_pictures(loop):
    """Each loop's default schedule (``pnp_lr`` 40 -> 1.5, ``pnp_nl`` 20 -> 1.5, ``pnp_dct`` 30 -> 1.5)
    against the former one (20 -> 3), from the same BCS-SPL start: on smooth pictures the former
    ended before the loop had settled, below its own start on the ramp (``pnp_lr`` 42.2 dB against
    44.7, where the default reaches 47.3; ``pnp_nl`` 42.8 -> 48.7, ``pnp_dct`` 39.9 -> 44.5; on the
    blobs 52.7 -> 57.8, 58.2 -> 63.1, 54.6 -> 57.3). The non-local loops also end far above the
    start; ``pnp_dct`` (a fixed patch basis) near it on the ramp."""
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    ramp = 0.1 + 0.6 * xx * yy + 0.2 * (((yy - 0.5) ** 2 + (xx - 0.5) ** 2) < 0.08)
    blobs = 0.2 + 0.5 * np.exp(-((yy - 0.3) ** 2 + (xx - 0.6) ** 2) / 0.02) + 0.3 * np.exp(
        -((yy - 0.7) ** 2 + (xx - 0.3) ** 2) / 0.05)
    for img in (ramp, blobs):
        meas = measure_image(img, 0.25, block_size=16, rng=0)
        args = (meas.Y[0], meas.A, meas.pinv, meas.padded_shape, 16)
        x0, _ = _bcs_spl(*args, lam=6.0, max_iter=200, tol=1e-4)
        quality = [image_quality(img, np.clip(x / 255.0, 0, 1))["psnr"]
                   for x in (x0, loop(*args, x0, sigma0=20.0, sigma_end=3.0), loop(*args, x0))]
        assert quality[2] > quality[1] + 2.0, quality
        if loop is not _pnp_dct:
            assert quality[2] > quality[0] + 2.5, quality


def _planted_gram(rng, kind, n):
    """A symmetric positive semi-definite n x n matrix of one of the shapes the low-rank filter
    meets: a centred noise group, a few strong components plus weak noise, exactly repeated
    eigenvalues, a group of duplicated patches (rank deficient)."""
    if kind == "cluster":
        Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        lam = np.concatenate([[5.0] * min(3, n), [2.0] * min(2, max(n - 3, 0)), rng.uniform(0, 1, max(n - 5, 0))])
        return (Q * lam[:n]) @ Q.T
    if kind == "noise":
        M = rng.standard_normal((n, 64))
    elif kind == "lowrank":
        r = int(rng.integers(1, 5))
        M = rng.standard_normal((n, r)) @ rng.standard_normal((r, 64)) * rng.uniform(1, 100)
        M += 0.01 * rng.standard_normal((n, 64))
    else:
        M = rng.standard_normal((4, 64))[rng.integers(0, 4, n)]
    M -= M.mean(axis=0)
    return M @ M.T


@pytest.mark.parametrize("n", [2, 5, 16])
def test_top_eigenpairs_against_eigh(rng, n):
    from cs_toolkit.signals._topeig_numba import top_eigenpairs, topeig_workspace

    work = topeig_workspace(n)
    lam, V = np.empty(n), np.empty((n, n))
    found = 0
    for trial in range(400):
        kind = ["noise", "lowrank", "cluster", "duplicates", "near cluster"][trial % 5]
        K = _planted_gram(rng, kind.split()[-1], n)
        if kind == "near cluster":  # eigenvalues 1e-7 apart: the vectors mix inside, the weighted projector barely moves
            K = K.astype(np.float32)  # (and computed in float64 whatever comes in)
        w, U = np.linalg.eigh(K.astype(np.float64))
        above = float(rng.uniform(-0.1, 1.0) * w[-1])
        sel = w > above
        tol = 1e-6 if kind == "near cluster" else 1e-11
        before = K.copy()
        m = top_eigenpairs(K, above, lam, V, work, n)
        np.testing.assert_array_equal(K, before)
        assert m == sel.sum(), (trial, m, w, above)
        if m == 0:
            continue
        found += m
        scale = w[-1]
        np.testing.assert_allclose(np.sort(lam[:m]), w[sel], rtol=tol, atol=tol * scale)
        np.testing.assert_allclose(V[:, :m].T @ V[:, :m], np.eye(m), atol=1e-11)
        # the weighted projector sum_i lam_i v_i v_i^T is unique even inside a cluster
        np.testing.assert_allclose((V[:, :m] * lam[:m]) @ V[:, :m].T, (U[:, sel] * w[sel]) @ U[:, sel].T,
                                   atol=10 * tol * scale)
        if m > 1:  # more than `most` above: all n eigenvalues (implicit QR on the tridiagonal form) and
            # the eigenvectors of those above `above` (the other columns are left as they were)
            V.fill(np.nan)
            assert top_eigenpairs(K, above, lam, V, work, m - 1) == n
            np.testing.assert_allclose(np.sort(lam), w, rtol=tol, atol=tol * scale)
            got = lam > above
            assert got.sum() == m and np.all(np.isnan(V[:, ~got]))
            np.testing.assert_allclose(V[:, got].T @ V[:, got], np.eye(m), atol=1e-11)
            np.testing.assert_allclose((V[:, got] * lam[got]) @ V[:, got].T, (U[:, sel] * w[sel]) @ U[:, sel].T,
                                       atol=10 * tol * scale)
    assert found > 200 * min(n, 4) // 4


def test_lowest_kept_is_below_every_eigenvalue_the_shrinkage_keeps(rng):
    from cs_toolkit.signals._lowrank_numba import _lowest_kept

    for _ in range(300):
        noise = float(10 ** rng.uniform(-3, 5))
        threshold = float(rng.choice([0.0, 10 ** rng.uniform(-12, -6), 10 ** rng.uniform(-3, 6)]))
        bound = _lowest_kept(noise, threshold)
        lam = np.concatenate([np.geomspace(1e-12, 1e14, 4000), bound * (1 + np.linspace(-1e-2, 1e-2, 201))])
        kept = np.sqrt(lam) * (np.sqrt(np.maximum(lam - noise, 0.0)) + 1e-8) > threshold
        assert np.all(lam[kept] > bound), (noise, threshold, bound)
        first = lam[kept].min()
        assert bound >= 0.99 * first or first < 1e-11, (noise, threshold, bound, first)  # and close below


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_energy_early_out_implies_the_frobenius_one(rng, dtype):
    """The first test of the low-rank filter (the group's centred energy, the Gram matrix's trace,
    which bounds its largest eigenvalue) declares a group all-shrunk only when the Frobenius test
    (and the eigenvalues themselves) would, and it does declare some."""
    from cs_toolkit.signals._lowrank_numba import (
        _SKIP_MARGIN,
        _all_shrunk_to_zero,
        _below_threshold,
        _centre,
    )

    k, n, c = 16, 64, 9.0
    fired = 0
    for _ in range(400):
        s2 = float(rng.uniform(1.0, 400.0))
        M = rng.normal(0, np.sqrt(s2) * 10 ** rng.uniform(-1.5, 0.3), (k, n)).astype(dtype)
        M_ref = M.astype(np.float64) - M.astype(np.float64).mean(axis=0)
        energy = _centre(M, np.empty(n, dtype))
        np.testing.assert_allclose(energy, np.sum(M_ref ** 2), rtol=1e-4 if dtype == np.float32 else 1e-12)
        keep_above = c * np.sqrt(k) * s2 * (1 - _SKIP_MARGIN)
        if _below_threshold(energy, n * s2, keep_above):
            fired += 1
            K = M.astype(np.float64) @ M.astype(np.float64).T
            assert _all_shrunk_to_zero(K, n * s2, keep_above)
            lam = np.linalg.eigvalsh(K)
            sv = np.sqrt(np.maximum(lam, 0))
            assert np.all(sv <= c * np.sqrt(k) * s2 / (np.sqrt(np.maximum(lam - n * s2, 0)) + 1e-8))
    assert fired >= 20

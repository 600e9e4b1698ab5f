"""Image and audio compressive-sensing pipelines (cs_toolkit.signals.image / .audio), at small sizes."""

import warnings

import numpy as np
import pytest

from cs_toolkit.data import load_audio, load_image
from cs_toolkit.exceptions import ValidationError
from cs_toolkit.signals import (
    BlockMeasurements,
    audio_quality,
    compressive_audio,
    compressive_image,
    image_quality,
    measure_audio,
    measure_image,
    reconstruct_audio,
    reconstruct_image,
)
from cs_toolkit.signals import _denoisers as den
from cs_toolkit.signals._image_loops import _dct2_basis
from cs_toolkit.signals.audio import _FramesOperator
from cs_toolkit.transforms import image_to_tiles, tiles_to_image


@pytest.fixture(scope="module")
def crop():
    """A 64x64 crop of the bundled camera image, float in [0, 1]."""
    return load_image("camera")[192:256, 192:256].copy()


@pytest.fixture(scope="module")
def speech():
    x, rate = load_audio("0_jackson_0")
    return x[:2560].copy(), rate


def _psnr255(a, b):
    return 10 * np.log10(255.0**2 / np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2))


# ------------------------------------------------------------------ images
def test_blocks_round_trip_and_order(rng):
    img = rng.standard_normal((32, 48))
    rows = image_to_tiles(img, 16)
    assert rows.shape == (6, 256)
    np.testing.assert_array_equal(rows[1], img[:16, 16:32].ravel())  # row-major block order
    np.testing.assert_array_equal(tiles_to_image(rows, img.shape, 16), img)


def test_measure_image_shapes_padding_and_matrix(rng):
    img = rng.random((40, 50))
    meas = measure_image(img, 0.25, block_size=16, rng=0)
    assert isinstance(meas, BlockMeasurements)
    assert meas.Y.shape == (1, 12, 64) and meas.A.shape == (64, 256)
    assert meas.padded_shape == (48, 64)
    np.testing.assert_allclose(meas.A @ meas.A.T, np.eye(64), atol=1e-10)  # orthonormal rows
    # the measurements are those of the symmetric-padded [0, 255] image
    padded = np.pad(img * 255, ((0, 8), (0, 14)), mode="symmetric")
    np.testing.assert_allclose(meas.Y[0], image_to_tiles(padded, 16) @ meas.A.T, rtol=1e-12)


def test_ratio_one_reconstructs_exactly_and_crops_odd_sizes(rng):
    img = rng.random((37, 45))
    before = img.copy()
    rec, q = compressive_image(img, 1.0, method="bcs_spl", block_size=16, rng=1, max_iter=1)
    np.testing.assert_array_equal(img, before)  # input untouched
    assert rec.shape == img.shape and rec.dtype == np.float64
    np.testing.assert_allclose(rec, img, atol=1e-8)
    assert q["psnr"] > 100


def test_uint8_and_float_inputs_agree(crop):
    img8 = np.round(crop * 255).astype(np.uint8)
    r8, q8 = compressive_image(img8, 0.5, method="bcs_spl", block_size=16, rng=0, max_iter=15)
    rf, qf = compressive_image(img8 / 255.0, 0.5, method="bcs_spl", block_size=16, rng=0, max_iter=15)
    assert r8.dtype == np.uint8 and rf.dtype == np.float64
    assert 0.0 <= rf.min() and rf.max() <= 1.0
    assert abs(q8["psnr"] - qf["psnr"]) < 0.2
    assert np.max(np.abs(r8.astype(float) - rf * 255)) <= 0.5 + 1e-9


def test_float32_input_keeps_dtype(crop):
    rec, _ = compressive_image(crop.astype(np.float32), 0.5, method="bcs_spl", block_size=32, rng=0, max_iter=3)
    assert rec.dtype == np.float32


def test_colour_image_channel_by_channel(crop):
    col = np.stack([crop, crop[::-1], crop[:, ::-1]], axis=2)[:48, :40]
    meas = measure_image(col, 0.5, block_size=16, rng=0)
    assert meas.Y.shape[0] == 3
    rec = reconstruct_image(meas, method="bcs_spl", max_iter=10)
    assert rec.shape == col.shape
    for c in range(3):  # each channel recovered like the grey image alone
        grey = reconstruct_image(measure_image(col[:, :, c], 0.5, block_size=16, rng=0), method="bcs_spl",
                                 max_iter=10)
        np.testing.assert_allclose(rec[:, :, c], grey, atol=1e-12)


@pytest.mark.slow
def test_quality_floors_and_best_method_beats_bcs_spl(crop):
    meas = measure_image(crop, 0.3, block_size=16, rng=0)
    spl = reconstruct_image(meas, method="bcs_spl", max_iter=60)
    best = reconstruct_image(meas, method="pnp_tv", max_iter=40)
    ps, pb = image_quality(crop, spl)["psnr"], image_quality(crop, best)["psnr"]
    assert ps > 28.0  # documented floor for this crop at ratio 0.3
    assert pb > ps + 0.5
    q = image_quality(crop, best)
    assert q["psnr"] == pytest.approx(_psnr255(crop * 255, best * 255), rel=1e-9)
    assert 0.8 < q["ssim"] <= 1.0


@pytest.mark.slow
def test_pnp_lr_is_the_default_and_beats_bcs_spl_and_pnp_tv(crop):
    from cs_toolkit.signals.image import DEFAULT_IMAGE_METHOD

    assert DEFAULT_IMAGE_METHOD == "pnp_lr"
    meas = measure_image(crop, 0.3, block_size=16, rng=0)
    spl = image_quality(crop, reconstruct_image(meas, method="bcs_spl", max_iter=60))["psnr"]
    tv = image_quality(crop, reconstruct_image(meas, method="pnp_tv", max_iter=40))["psnr"]
    rec = reconstruct_image(meas)  # the default method
    q = image_quality(crop, rec)
    assert q["psnr"] > 34.0  # documented floor for this crop at ratio 0.3
    assert q["psnr"] > spl + 2.0 and q["psnr"] > tv + 0.5
    assert q["ssim"] > 0.9
    np.testing.assert_array_equal(reconstruct_image(meas), rec)  # deterministic


@pytest.mark.slow
def test_pnp_dct_low_ratio_beats_bcs_spl(crop):
    meas = measure_image(crop, 0.1, block_size=16, rng=1)
    spl = image_quality(crop, reconstruct_image(meas, method="bcs_spl", max_iter=60))["psnr"]
    best = image_quality(crop, reconstruct_image(meas, method="pnp_dct", max_iter=30))["psnr"]
    assert best > spl + 1.0


@pytest.mark.slow
def test_pnp_dct_iterates_are_consistent_with_the_measurements(crop):
    from cs_toolkit.signals._image_loops import _pnp_dct

    meas = measure_image(crop, 0.25, block_size=16, rng=0)
    Y = meas.Y[0]
    x = _pnp_dct(Y, meas.A, meas.pinv, meas.padded_shape, 16, np.zeros(meas.padded_shape), n_iter=5, n_wiener=2)
    np.testing.assert_allclose(image_to_tiles(x, 16) @ meas.A.T, Y, rtol=1e-10, atol=1e-8)


def test_tiny_images_reconstruct_and_get_a_quality(rng):
    img = rng.random((6, 7))
    rec, q = compressive_image(img, 0.5, block_size=4, rng=0, max_iter=3)  # the default method
    assert rec.shape == img.shape and np.isfinite(q["psnr"])
    assert image_quality(img, img)["ssim"] == pytest.approx(1.0)  # window shrunk to 5x5
    assert image_quality(img, 1.0 - img)["ssim"] < 0.5


def _patch_dct_naive(x, p, coef_fn):
    """Loop reference: every p x p patch through the 2-D DCT, ``coef_fn(C, i, j) -> (C', weight)``."""
    from scipy.fft import dctn, idctn

    acc = np.zeros_like(x)
    cnt = np.zeros_like(x)
    for i in range(x.shape[0] - p + 1):
        for j in range(x.shape[1] - p + 1):
            C, w = coef_fn(dctn(x[i:i + p, j:j + p], norm="ortho"), i, j)
            acc[i:i + p, j:j + p] += w * idctn(C, norm="ortho")
            cnt[i:i + p, j:j + p] += w
    return acc / cnt


def test_patch_dct_threshold_against_naive(rng):
    x = rng.random((13, 11)) * 255
    before = x.copy()
    sigma, thr, p = 9.0, 2.7, 4

    def hard(C, i, j):
        keep = np.abs(C) > thr * sigma
        keep[0, 0] = True
        return C * keep, 1.0 / keep.sum()

    out = den.patch_dct_threshold(x, sigma, patch_size=p, threshold=thr)
    np.testing.assert_allclose(out, _patch_dct_naive(x, p, hard), rtol=1e-10, atol=1e-9)
    np.testing.assert_array_equal(x, before)
    # no thresholding reproduces the image; a constant image is a fixed point
    np.testing.assert_allclose(den.patch_dct_threshold(x, 0.0, patch_size=p), x, atol=1e-9)
    flat = np.full((12, 12), 77.0)
    np.testing.assert_allclose(den.patch_dct_threshold(flat, 50.0), flat, atol=1e-9)


@pytest.mark.parametrize("shape,p", [((37, 29), 8), ((12, 61), 5), ((8, 8), 8), ((9, 7), 3), ((6, 5), 2), ((4, 6), 1)])
def test_patch_spectra_adjoint_and_coverage(rng, shape, p):
    """The separable kernels against the patch-matrix product, their adjoint identity, the serial
    and the parallel drivers against each other, and the footprint sum against a loop."""
    x = rng.standard_normal(shape)
    before = x.copy()
    C = den.patch_spectra(x, p)
    np.testing.assert_allclose(C, den._patches(x, p) @ den.patch_dct_matrix(p).T, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(den.patch_spectra(x, p, parallel=False), C)
    np.testing.assert_array_equal(x, before)
    S = rng.standard_normal(C.shape)
    back = den.patch_spectra_adjoint(S, shape, p)
    assert np.vdot(C, S) == pytest.approx(np.vdot(x, back), rel=1e-12)
    np.testing.assert_allclose(den.patch_spectra_adjoint(S, shape, p, parallel=False), back, rtol=1e-12, atol=1e-12)
    w = rng.random(C.shape[0])
    cov = np.zeros(shape)
    nc = shape[1] - p + 1
    for i, wi in enumerate(w):
        cov[i // nc:i // nc + p, i % nc:i % nc + p] += wi
    np.testing.assert_allclose(den.patch_coverage(w, shape, p), cov, rtol=1e-12)


def test_patch_dct_wiener_against_naive(rng):
    from scipy.fft import dctn

    x = rng.random((10, 12)) * 255
    sigma, p = 15.0, 4
    for pilot in (x + 20 * rng.standard_normal(x.shape), x):  # another pilot, and x guiding itself

        def wiener(C, i, j, pilot=pilot):
            q = dctn(pilot[i:i + p, j:j + p], norm="ortho") ** 2
            g = q / (q + sigma**2)
            g[0, 0] = 1.0
            return C * g, 1.0 / np.sum(g * g)

        out = den.patch_dct_wiener(x, pilot, sigma, patch_size=p)
        np.testing.assert_allclose(out, _patch_dct_naive(x, p, wiener), rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize("basis", ["dct", "wavelet"])
def test_per_block_solver_in_a_basis(crop, basis):
    rec, q = compressive_image(crop, 0.5, method="omp", basis=basis, block_size=16, rng=0, n_nonzero_coefs=40)
    assert q["psnr"] > 24.0


def test_per_block_solver_with_a_dictionary(crop):
    from scipy.fft import idctn

    D = idctn(np.eye(256).reshape(256, 16, 16), axes=(1, 2), norm="ortho").reshape(256, 256).T
    meas = measure_image(crop, 0.5, block_size=16, rng=0)
    a = reconstruct_image(meas, method="omp", basis=D, n_nonzero_coefs=30)
    b = reconstruct_image(meas, method="omp", basis="dct", n_nonzero_coefs=30)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bernoulli_matrix_uses_pseudo_inverse(crop):
    meas = measure_image(crop, 1.0, block_size=16, matrix="bernoulli", rng=0)
    assert set(np.unique(np.sign(meas.A))) <= {-1.0, 1.0}
    rec = reconstruct_image(meas, method="bcs_spl", max_iter=1)
    assert image_quality(crop, rec)["psnr"] > 80


def test_bivariate_shrink_keeps_approximation_and_shrinks():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 64)) * 10
    import pywt

    c = pywt.wavedec2(x, den.WAVELET, mode="periodization", level=2)
    out = den.bivariate_shrink(c, 1.0)
    np.testing.assert_array_equal(out[0], c[0])
    for lev in range(1, 3):
        for o in range(3):
            assert np.all(np.abs(out[lev][o]) <= np.abs(c[lev][o]) + 1e-12)


def _wiener_reference(x, size=3):
    """The adaptive Wiener filter from SciPy's box filters (reflected borders), step by step."""
    from scipy.ndimage import uniform_filter

    mean = uniform_filter(x, size, mode="reflect")
    var = np.maximum(uniform_filter(x * x, size, mode="reflect") - mean * mean, 0.0)
    noise = var.mean()
    gain = np.where(var > noise, (var - noise) / np.where(var > 0, var, 1.0), 0.0)
    return mean + gain * (x - mean)


def _bivariate_reference(coeffs, lam, window=7):
    """Sendur & Selesnick's bivariate rule band by band with SciPy's box filter and an explicit
    upsampled parent."""
    import math

    from scipy.ndimage import uniform_filter

    n2 = (np.median(np.abs(coeffs[-1][2])) / 0.6745) ** 2
    out = [coeffs[0]]
    for lev in range(1, len(coeffs)):
        bands = []
        for o in range(3):
            w1 = coeffs[lev][o]
            if lev > 1:
                w2 = np.repeat(np.repeat(coeffs[lev - 1][o], 2, axis=0), 2, axis=1)[: w1.shape[0], : w1.shape[1]]
            else:
                w2 = np.zeros_like(w1)
            sig = np.sqrt(np.maximum(uniform_filter(w1 * w1, window, mode="reflect") - n2, 1e-12))
            r = np.sqrt(w1 * w1 + w2 * w2)
            T = lam * math.sqrt(3.0) * n2 / sig
            bands.append(np.where(r > 0, w1 * np.maximum(r - T, 0.0) / np.where(r > 0, r, 1.0), 0.0))
        out.append(tuple(bands))
    return out


@pytest.mark.parametrize("shape", [(64, 48), (7, 5), (2, 9), (1, 1)])
@pytest.mark.parametrize("size", [3, 7])
def test_box_sums_match_scipy_reflect(shape, size):
    from scipy.ndimage import uniform_filter

    from cs_toolkit.signals._bcs_numba import _box_sums

    x = np.random.default_rng(1).standard_normal(shape)
    out, tmp = np.empty_like(x), np.empty_like(x)
    for square in (False, True):
        _box_sums(x, size, square, tmp, out)
        ref = uniform_filter(x * x if square else x, size, mode="reflect") * size * size
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)  # windows wider than x too


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wiener_smooth_matches_the_scipy_reference(dtype):
    rng = np.random.default_rng(2)
    x = (np.cumsum(rng.standard_normal((40, 56)), axis=1) * 10 + rng.standard_normal((40, 56))).astype(dtype)
    x0 = x.copy()
    out = den.wiener_smooth(x)
    assert out.dtype == dtype and np.array_equal(x, x0)
    tol = 1e-10 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(out, _wiener_reference(x.astype(np.float64)), rtol=0, atol=tol * np.abs(x).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_bivariate_shrink_matches_the_scipy_reference(dtype):
    import pywt

    rng = np.random.default_rng(3)
    x = (np.cumsum(np.cumsum(rng.standard_normal((64, 64)), 0), 1) + 5 * rng.standard_normal((64, 64)))
    c = pywt.wavedec2(x.astype(dtype), den.WAVELET, mode="periodization", level=2)
    for lam in (0.5, 3.0):
        out = den.bivariate_shrink(c, lam)
        ref = _bivariate_reference([np.asarray(c[0], np.float64)]
                                   + [tuple(np.asarray(b, np.float64) for b in lev) for lev in c[1:]], lam)
        tol = 1e-10 if dtype == np.float64 else 1e-3
        for lev in range(1, len(c)):
            for o in range(3):
                assert out[lev][o].dtype == dtype
                scale = np.abs(c[lev][o]).max()
                np.testing.assert_allclose(out[lev][o], ref[lev][o], rtol=0, atol=tol * scale)


@pytest.mark.parametrize("wavelet", [den.WAVELET, "db2", "haar"])
@pytest.mark.parametrize("shape", [(64, 48), (8, 16), (4, 4)])
def test_dwt2_kernels_match_pywavelets_periodization(wavelet, shape):
    import pywt

    x = np.random.default_rng(4).standard_normal(shape)
    h, g, rh, rg = den._filters(wavelet)
    cA, det = den._dwt2(x, h, g)
    rA, rdet = pywt.dwt2(x, wavelet, mode="periodization")
    np.testing.assert_allclose(cA, rA, rtol=0, atol=1e-12)
    for a, b in zip(det, rdet):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    back = den._idwt2(cA, det, rh, rg)
    np.testing.assert_allclose(back, pywt.idwt2((rA, rdet), wavelet, mode="periodization"), rtol=0, atol=1e-12)
    if wavelet != den.WAVELET or min(shape) >= 8:
        np.testing.assert_allclose(back, x, rtol=0, atol=1e-10)  # perfect reconstruction (to the filters)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wavelet_shrink_fast_path_matches_pywavelets(dtype):
    import pywt

    rng = np.random.default_rng(5)
    x = (np.cumsum(np.cumsum(rng.standard_normal((128, 96)), 0), 1) + 5 * rng.standard_normal((128, 96))).astype(dtype)
    x0 = x.copy()
    for lam, level in ((1.0, 4), (4.0, 2)):
        out = den.wavelet_shrink(x, lam, level=level)
        level = min(level, pywt.dwt_max_level(96, pywt.Wavelet(den.WAVELET).dec_len))  # 3: the clamp
        c = pywt.wavedec2(x.astype(np.float64), den.WAVELET, mode="periodization", level=level)
        ref = pywt.waverec2(den.bivariate_shrink(c, lam), den.WAVELET, mode="periodization")
        assert out.dtype == dtype and out.shape == x.shape
        tol = 1e-9 if dtype == np.float64 else 2e-3
        np.testing.assert_allclose(out, ref, rtol=0, atol=tol * np.abs(x).max())
    np.testing.assert_array_equal(x, x0)
    # a side that is not a multiple of 2**level takes PyWavelets' path: the same result
    y = x[:, :90].astype(np.float64)
    c = pywt.wavedec2(y, den.WAVELET, mode="periodization", level=3)
    ref = pywt.waverec2(den.bivariate_shrink(c, 2.0), den.WAVELET, mode="periodization")[:, :90]
    np.testing.assert_allclose(den.wavelet_shrink(y, 2.0, level=3), ref, rtol=0, atol=1e-12)


def test_wiener_flat_image_is_unchanged():
    x = np.full((20, 20), 7.0)
    np.testing.assert_allclose(den.wiener_smooth(x), x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ratio": 0.0}, "ratio must be > 0"),
        ({"ratio": 1.5}, "ratio must be <= 1"),
        ({"block_size": 128}, "smaller than one block"),
        ({"matrix": "fourier"}, "matrix must be one of"),
    ],
)
def test_measure_image_rejects_bad_arguments(crop, kwargs, match):
    args = {"ratio": 0.5, "block_size": 16, "rng": 0} | kwargs
    with pytest.raises(ValidationError, match=match):
        measure_image(crop, args.pop("ratio"), **args)


def test_reconstruct_image_rejects_bad_arguments(crop):
    meas = measure_image(crop, 0.5, block_size=16, rng=0)
    with pytest.raises(ValidationError, match="method must be one of"):
        reconstruct_image(meas, method="magic")
    with pytest.raises(ValidationError, match="basis must be one of"):
        reconstruct_image(meas, method="omp", basis="curvelet")
    with pytest.raises(ValidationError, match=r"basis must be a dictionary of shape \(256"):
        reconstruct_image(meas, method="omp", basis=np.ones((64, 10)))
    with pytest.raises(ValidationError, match="meas must be a BlockMeasurements"):
        reconstruct_image(crop)
    with pytest.raises(ValidationError, match="image must be a grey"):
        measure_image(np.zeros((32, 32, 5)), 0.5)
    with pytest.raises(ValidationError, match="finite"):
        measure_image(np.full((32, 32), np.nan), 0.5)


@pytest.mark.slow
def test_whole_image_cs_with_a_structured_operator(crop):
    from cs_toolkit.signals import whole_image_cs

    rec, q = whole_image_cs(crop, 0.5, rng=0)
    assert rec.shape == crop.shape and q["n_measurements"] == 2048
    assert q["psnr"] > 30.0  # documented floor for this crop (SRDCT + db4 wavelets)
    assert q["psnr"] == pytest.approx(image_quality(crop, rec)["psnr"])
    with pytest.raises(ValidationError, match="operator must be one of"):
        whole_image_cs(crop, 0.5, operator="magic")
    with pytest.raises(ValidationError, match="grey"):
        whole_image_cs(np.stack([crop] * 3, axis=2), 0.5)


@pytest.mark.slow
def test_learned_reconstructor_object(crop):
    from cs_toolkit.learned import ALISTA

    meas = measure_image(crop, 0.5, block_size=16, rng=0)
    net = ALISTA(meas.A, n_layers=2, dictionary=_dct2_basis(16), dtype=np.float64)
    rec = reconstruct_image(meas, method="lista", model=net)
    # learned image models work on [0, 1] pixels; the pipeline measures on [0, 255]
    expect = np.clip(tiles_to_image(255 * net.reconstruct(meas.Y[0] / 255), (64, 64), 16), 0, 255) / 255
    np.testing.assert_allclose(rec, expect, atol=1e-12)
    other = ALISTA(measure_image(crop, 0.5, block_size=16, rng=1).A, n_layers=1)
    with pytest.raises(ValidationError, match="another sensing matrix"):
        reconstruct_image(meas, method="lista", model=other)


# ------------------------------------------------------------------ audio
def test_frames_operator_dot_test(rng):
    from cs_toolkit.transforms import DCT

    A = rng.standard_normal((5, 16))
    op = _FramesOperator(A, DCT(16).to_dense(), np.sin(np.pi * (np.arange(16) + 0.5) / 16), 8, 6)
    x, y = rng.standard_normal(op.shape[1]), rng.standard_normal(op.shape[0])
    assert op.forward(x) @ y == pytest.approx(x @ op.adjoint(y), rel=1e-10)


def test_measure_audio_matches_frames(speech):
    from cs_toolkit.transforms import frames

    x, _ = speech
    meas = measure_audio(x, 0.5, rng=0)
    np.testing.assert_allclose(meas.Y[0], frames(x, 256, 128) @ meas.A.T)
    assert meas.A.shape == (128, 256)


@pytest.mark.slow
def test_audio_snr_floor_joint_beats_per_frame_omp(speech):
    x, _ = speech
    meas = measure_audio(x, 0.5, rng=0)
    joint = reconstruct_audio(meas, method="joint", max_iter=150)
    omp = reconstruct_audio(meas, method="omp")
    qj, qo = audio_quality(x, joint), audio_quality(x, omp)
    assert joint.shape == x.shape
    assert qj["snr"] > 18.0  # documented floor on this clip at ratio 0.5
    assert qo["snr"] > 5.0
    assert qj["snr"] > qo["snr"] + 5


def test_audio_ratio_one_is_exact(speech):
    x, _ = speech
    rec, q = compressive_audio(x, 1.0, method="omp", rng=0, n_nonzero_coefs=256)
    np.testing.assert_allclose(rec, x, atol=1e-8)


def test_silent_signal_gives_zeros_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("joint", "omp", "fista"):
            rec = reconstruct_audio(measure_audio(np.zeros(1000), 0.5, rng=0), method=method)
            assert rec.shape == (1000,) and not np.any(rec)


def test_silent_frames_inside_a_signal(speech):
    x, _ = speech
    y = np.concatenate([np.zeros(1024), x[:1024], np.zeros(1024)])
    rec = reconstruct_audio(measure_audio(y, 0.5, rng=0), method="omp")
    assert np.all(np.isfinite(rec))
    np.testing.assert_array_equal(rec[:700], 0.0)


def test_stereo_channel_by_channel(speech):
    x, _ = speech
    st = np.stack([x[:1024], -x[:1024]], axis=1)
    meas = measure_audio(st, 0.75, rng=0)
    rec = reconstruct_audio(meas, method="omp")
    assert rec.shape == st.shape
    np.testing.assert_allclose(rec[:, 0], -rec[:, 1], atol=1e-8)


def test_segmental_snr_against_naive():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(1024)
    e = x + 0.1 * rng.standard_normal(1024)
    q = audio_quality(x, e)
    segs = [10 * np.log10(np.sum(x[i:i + 256] ** 2) / np.sum((x - e)[i:i + 256] ** 2)) for i in range(0, 1024, 256)]
    assert q["seg_snr"] == pytest.approx(np.mean(segs))
    assert q["snr"] == pytest.approx(10 * np.log10(np.sum(x**2) / np.sum((x - e) ** 2)))


def test_audio_rejects_bad_arguments(speech):
    x, _ = speech
    with pytest.raises(ValidationError, match="ratio must be > 0"):
        measure_audio(x, 0.0)
    with pytest.raises(ValidationError, match="hop must be <= 256"):
        measure_audio(x, 0.5, hop=300)
    meas = measure_audio(x, 0.5, rng=0)
    with pytest.raises(ValidationError, match="method must be one of"):
        reconstruct_audio(meas, method="nope")
    with pytest.raises(ValidationError, match="needs a model"):
        reconstruct_audio(meas, method="lista")
    with pytest.raises(ValidationError, match=r"basis must be a dictionary of shape \(256"):
        reconstruct_audio(meas, method="omp", basis=np.ones((100, 3)))

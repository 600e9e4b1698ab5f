"""Transforms (DCT, wavelets, identity), blocks, patches and frames."""

import numpy as np
import pytest
import pywt
import scipy.fft
from conftest import tol

from cs_toolkit.exceptions import ValidationError
from cs_toolkit.sensing import MatrixOperator
from cs_toolkit.transforms import (
    DCT,
    DCT2,
    Identity,
    Wavelet,
    Wavelet2,
    blocks_to_image,
    frames,
    frames_from_audio,
    get_window,
    image_to_blocks,
    make_transform,
    overlap_add,
    patches_from_images,
)


def adjoint_gap(op, rng, n_trials=3):
    """Relative gap of <A x, y> - <x, A^T y> over random batches (the dot test)."""
    m, n = op.shape
    worst = 0.0
    for _ in range(n_trials):
        x = rng.standard_normal((2, n)).astype(op.dtype)
        y = rng.standard_normal((2, m)).astype(op.dtype)
        lhs = np.sum(op.forward(x).astype(np.float64) * y)
        rhs = np.sum(x.astype(np.float64) * op.adjoint(y))
        worst = max(worst, abs(lhs - rhs) / (np.linalg.norm(op.forward(x)) * np.linalg.norm(y)))
    return worst


def all_transforms(dtype):
    return [
        Identity(12, dtype=dtype),
        DCT(12, dtype=dtype),
        DCT2((6, 10), dtype=dtype),
        Wavelet(32, "db2", level=2, dtype=dtype),
        Wavelet(64, "sym4", dtype=dtype),
        Wavelet(32, "bior2.2", level=2, dtype=dtype),
        Wavelet2((16, 32), "haar", level=3, dtype=dtype),
        Wavelet2((32, 16), "db2", level=2, dtype=dtype),
        Wavelet2((16, 16), "bior1.3", level=1, dtype=dtype),
    ]


# ------------------------------------------------------------------ operators
def test_every_transform_passes_the_dot_test(dtype, rng):
    for op in all_transforms(dtype):
        assert adjoint_gap(op, rng) < 50 * tol(dtype), op
        # and a solver sees the same through a composition with a sensing matrix
        A = MatrixOperator(rng.standard_normal((5, op.shape[0])).astype(dtype))
        assert adjoint_gap(A @ op, rng) < 50 * tol(dtype), op


def test_orthonormal_transforms_have_orthonormal_matrices(dtype):
    for op in all_transforms(dtype):
        if isinstance(op, Wavelet | Wavelet2) and not op.wavelet.orthogonal:
            continue
        D = op.to_dense().astype(np.float64)
        assert np.allclose(D @ D.T, np.eye(D.shape[0]), atol=50 * tol(dtype)), op
        assert np.allclose(D.T @ D, np.eye(D.shape[0]), atol=50 * tol(dtype)), op


def test_biorthogonal_wavelet_is_not_orthonormal_but_exactly_invertible(rng):
    op = Wavelet(32, "bior2.2", level=2)
    D = op.to_dense()
    assert not np.allclose(D @ D.T, np.eye(32), atol=1e-3)
    x = rng.standard_normal(32)
    coeffs = np.concatenate(pywt.wavedec(x, "bior2.2", mode="periodization", level=2))
    assert np.allclose(op.forward(coeffs), x)


def test_dct_matches_scipy_and_keeps_dtype(dtype, rng):
    c = rng.standard_normal((3, 16)).astype(dtype)
    out = DCT(16, dtype=dtype).forward(c)
    assert out.dtype == dtype
    assert np.allclose(
        out, scipy.fft.idct(c.astype(np.float64), norm="ortho", axis=-1), atol=20 * tol(dtype)
    )
    assert np.allclose(DCT(16, dtype=dtype).adjoint(out), c, atol=20 * tol(dtype))


def test_dct2_is_row_major_2d_dct(rng):
    img = rng.standard_normal((6, 10))
    T = DCT2((6, 10))
    coef = T.adjoint(img.ravel())
    assert np.allclose(coef.reshape(6, 10), scipy.fft.dctn(img, norm="ortho"))
    assert np.allclose(T.forward(coef).reshape(6, 10), img)


@pytest.mark.parametrize(
    "wavelet,level", [("haar", 1), ("haar", 4), ("db4", 2), ("sym3", 3), ("coif1", 2)]
)
def test_wavelet_perfect_reconstruction_1d(wavelet, level, rng, dtype):
    W = Wavelet(64, wavelet, level=level, dtype=dtype)
    X = rng.standard_normal((4, 64)).astype(dtype)
    C = W.adjoint(X)
    assert C.dtype == dtype
    assert np.allclose(W.forward(C), X, atol=50 * tol(dtype))
    # the coefficient layout is pywt's wavedec concatenated
    ref = np.concatenate(
        pywt.wavedec(X[1].astype(np.float64), wavelet, mode="periodization", level=level)
    )
    assert np.allclose(C[1], ref, atol=50 * tol(dtype))
    assert sum(W.coef_lengths) == 64


@pytest.mark.parametrize(
    "shape,wavelet,level", [((32, 32), "db2", 2), ((16, 48), "haar", 3), ((64, 32), "db4", 1)]
)
def test_wavelet_perfect_reconstruction_2d_nonsquare(shape, wavelet, level, rng):
    W = Wavelet2(shape, wavelet, level=level)
    imgs = rng.standard_normal((3, *shape))
    C = W.adjoint(imgs.reshape(3, -1))
    assert np.allclose(W.forward(C).reshape(3, *shape), imgs)
    ref, _ = pywt.coeffs_to_array(
        pywt.wavedec2(imgs[2], wavelet, mode="periodization", level=level)
    )
    assert np.allclose(C[2].reshape(shape), ref)


def test_batch_equals_loop(rng):
    for op in all_transforms(np.float64):
        X = rng.standard_normal((4, op.shape[1]))
        batch = op.forward(X)
        loop = np.stack([op.forward(x) for x in X])
        assert np.allclose(batch, loop)
        assert op.forward(X[0]).shape == (op.shape[0],)
        assert np.allclose(op.adjoint(batch), np.stack([op.adjoint(y) for y in batch]))


def test_transforms_do_not_modify_input(rng):
    for op in all_transforms(np.float64):
        X = rng.standard_normal((2, op.shape[1]))
        keep = X.copy()
        op.forward(X)
        op.adjoint(X)
        assert np.array_equal(X, keep)


def test_wavelet_default_level_and_validation():
    assert Wavelet(64, "haar").level == 6
    assert Wavelet(48, "haar").level == 4  # 48 = 16 * 3
    assert Wavelet2((64, 32), "db4").level == 2
    with pytest.raises(ValidationError, match=r"pywt.wavelist"):
        Wavelet(64, "db99")
    with pytest.raises(ValidationError, match=r"level must be <= 3"):
        Wavelet(64, "db4", level=4)
    with pytest.raises(ValidationError, match=r"divisible by 2\*\*3"):
        Wavelet(36, "haar", level=3)
    with pytest.raises(ValidationError, match=r"mode must be one of 'periodization'"):
        Wavelet(64, "haar", mode="symmetric")
    with pytest.raises(ValidationError, match=r"too short"):
        Wavelet(8, "db8")
    with pytest.raises(ValidationError, match=r"shape must be a tuple"):
        Wavelet2(64)


def test_make_transform_kinds():
    assert isinstance(make_transform("dct", 16), DCT)
    assert isinstance(make_transform("dct", (8, 4)), DCT2)
    W = make_transform("wavelet", (16, 16), wavelet="haar", level=2)
    assert isinstance(W, Wavelet2) and W.level == 2
    assert isinstance(make_transform("wavelet", 32, wavelet="db2"), Wavelet)
    assert make_transform("identity", (4, 5)).shape == (20, 20)
    assert make_transform("dct", 8, dtype=np.float32).dtype == np.float32
    with pytest.raises(
        ValidationError, match=r"kind must be one of 'dct', 'wavelet', 'identity'; got 'fft'"
    ):
        make_transform("fft", 16)
    with pytest.raises(ValidationError, match=r"takes no options"):
        make_transform("dct", 16, wavelet="haar")
    with pytest.raises(ValidationError, match=r"shape_or_n must be >= 1"):
        make_transform("dct", 0)


def test_operator_input_validation():
    with pytest.raises(ValidationError, match=r"expected 16 features"):
        DCT(16).forward(np.ones(15))
    with pytest.raises(ValidationError, match=r"n must be an integer"):
        DCT(16.0)


# ------------------------------------------------------------------ blocks and patches
@pytest.mark.parametrize("shape", [(16, 16), (17, 23), (5, 6), (3, 40)])
@pytest.mark.parametrize("block,step", [(4, None), (8, None), (4, 2), (5, 1), (8, 3)])
def test_blocks_roundtrip_any_size(shape, block, step, rng):
    img = rng.random(shape)
    rows, meta = image_to_blocks(img, block, step=step)
    assert rows.shape == (meta.n_blocks, block * block)
    assert meta.padded_shape[0] >= shape[0] and meta.padded_shape[1] >= shape[1]
    assert np.allclose(blocks_to_image(rows, meta), img)


def test_blocks_content_and_overlap_average(rng):
    img = np.arange(64.0).reshape(8, 8)
    rows, meta = image_to_blocks(img, 4)
    assert meta.grid == (2, 2)
    assert np.array_equal(rows[1].reshape(4, 4), img[:4, 4:])  # row-major over the block grid
    # overlapping blocks: each pixel is the mean of its covering block values
    rows, meta = image_to_blocks(img, 4, step=2)
    assert meta.grid == (3, 3)
    ones = np.ones_like(rows)
    ones[0] = 3.0  # the top-left block only: pixel (0,0) covered once, (2,2) by 4 blocks
    out = blocks_to_image(ones, meta)
    assert out[0, 0] == 3.0 and out[2, 2] == pytest.approx(1.5) and out[7, 7] == 1.0


def test_blocks_float32_and_padding_modes(rng):
    img = rng.random((10, 10)).astype(np.float32)
    for mode in ("reflect", "symmetric", "edge", "constant", "wrap"):
        rows, meta = image_to_blocks(img, 4, pad_mode=mode)
        assert rows.dtype == np.float32
        assert np.allclose(blocks_to_image(rows, meta), img)
    rows, meta = image_to_blocks(img, 4, pad_mode="constant")
    assert np.all(rows[-1].reshape(4, 4)[2:, :] == 0)


def test_blocks_validation(rng):
    with pytest.raises(ValidationError, match=r"image must be 2-D"):
        image_to_blocks(np.ones(5), 2)
    with pytest.raises(ValidationError, match=r"step must be <= 4"):
        image_to_blocks(np.ones((8, 8)), 4, step=5)
    with pytest.raises(ValidationError, match=r"pad_mode must be one of"):
        image_to_blocks(np.ones((8, 8)), 4, pad_mode="mirror")
    rows, meta = image_to_blocks(np.ones((8, 8)), 4)
    with pytest.raises(ValidationError, match=r"rows must have shape \(4, 16\)"):
        blocks_to_image(rows[:3], meta)
    with pytest.raises(ValidationError, match=r"meta must be the BlockMeta"):
        blocks_to_image(rows, {"grid": (2, 2)})


def test_patches_from_images(rng):
    img = rng.random((12, 10))
    P, mu = patches_from_images(img, 4, step=2)
    assert P.shape == (5 * 4, 16)
    assert np.allclose(P.mean(axis=1), 0)
    assert np.allclose(P[1] + mu[1], img[0:4, 2:6].ravel())
    raw = patches_from_images([img, img.T], 4, remove_mean=False)
    assert raw.shape == (9 * 7 + 7 * 9, 16)
    sub = patches_from_images([img, img.T], 4, remove_mean=False, max_patches=10, rng=3)
    assert sub.shape == (10, 16)
    assert np.array_equal(
        sub, patches_from_images([img, img.T], 4, remove_mean=False, max_patches=10, rng=3)
    )
    # every sampled patch is one of the patches
    assert all(np.any(np.all(raw == s, axis=1)) for s in sub)
    assert patches_from_images(img.astype(np.float32), 4)[0].dtype == np.float32
    with pytest.raises(
        ValidationError, match=r"images\[1\] has shape \(3, 3\), smaller than patch_size=4"
    ):
        patches_from_images([img, np.ones((3, 3))], 4)


# ------------------------------------------------------------------ frames
@pytest.mark.parametrize("window", ["sine", "hann", "rect"])
@pytest.mark.parametrize("N,hop", [(64, 32), (64, 16), (64, 48), (50, 7), (32, 32)])
def test_frames_overlap_add_perfect_reconstruction(window, N, hop, rng, dtype):
    if window == "hann" and hop == N:
        pytest.skip("no coverage: checked in test_overlap_add_rejects_uncovered_samples")
    x = rng.standard_normal(301).astype(dtype)
    F = frames(x, N, hop, window=window)
    assert F.dtype == dtype and F.shape[1] == N
    y = overlap_add(F, hop, window=window, length=len(x))
    assert y.dtype == dtype and y.shape == x.shape
    assert np.allclose(y, x, atol=100 * tol(dtype))


def test_frames_content_and_unpadded(rng):
    x = rng.standard_normal(100)
    F = frames(x, 20, 10, window="rect", pad=False)
    assert F.shape == (9, 20)
    assert np.array_equal(F[3], x[30:50])
    assert np.allclose(overlap_add(F, 10, window="rect", pad=False), x[:100])
    w = get_window("sine", 20)
    assert np.allclose(frames(x, 20, 10, window="sine", pad=False)[2], x[20:40] * w)
    custom = np.linspace(0.5, 1.0, 20)
    Fc = frames(x, 20, 5, window=custom)
    assert np.allclose(overlap_add(Fc, 5, window=custom, length=100), x)


def test_overlap_add_is_least_squares_for_modified_frames(rng):
    # scaling every frame by 2 must scale the output by 2 (normalisation is by w^2 only)
    x = rng.standard_normal(200)
    F = frames(x, 32, 8, window="hann")
    assert np.allclose(overlap_add(2 * F, 8, window="hann", length=200), 2 * x)


def test_overlap_add_rejects_uncovered_samples(rng):
    F = frames(rng.standard_normal(100), 16, 16, window="hann")
    with pytest.raises(ValidationError, match=r"zero window weight"):
        overlap_add(F, 16, window="hann", length=100)


def test_frames_validation(rng):
    with pytest.raises(ValidationError, match=r"hop must be <= 16"):
        frames(np.ones(100), 16, 17)
    with pytest.raises(ValidationError, match=r"window must be one of 'sine', 'hann', 'rect'"):
        frames(np.ones(100), 16, 8, window="kaiser")
    with pytest.raises(ValidationError, match=r"window must have frame_length=16"):
        frames(np.ones(100), 16, 8, window=np.ones(15))
    with pytest.raises(ValidationError, match=r"fewer than frame_length=16"):
        frames(np.ones(10), 16, 8, pad=False)
    with pytest.raises(ValidationError, match=r"length=500 is longer"):
        overlap_add(frames(np.ones(100), 16, 8), 8, length=500)


def test_frames_from_audio(rng):
    sigs = [rng.standard_normal(300), rng.standard_normal(100)]
    F = frames_from_audio(sigs, 64, 32, window="rect")
    assert F.shape == (8 + 2, 64)
    assert np.array_equal(F[0], sigs[0][:64])
    assert np.array_equal(F[8], sigs[1][:64])
    G, mu = frames_from_audio(sigs, 64, 32, remove_mean=True)
    assert np.allclose(G.mean(axis=1), 0) and mu.shape == (10,)
    quiet = np.concatenate([np.zeros(256), rng.standard_normal(256)])
    kept = frames_from_audio(quiet, 64, 64, drop_silent=0.1)
    assert kept.shape == (4, 64)
    short = frames_from_audio(np.ones(10), 64, 32)
    assert short.shape == (1, 64)
    with pytest.raises(ValidationError, match=r"drop_silent must be < 1.0"):
        frames_from_audio(sigs, 64, 32, drop_silent=1.5)
    with pytest.raises(ValidationError, match=r"signals must not be an empty list"):
        frames_from_audio([], 64, 32)
    with pytest.raises(ValidationError, match=r"every frame was dropped"):
        frames_from_audio(np.zeros(128), 64, 32, drop_silent=0.1)

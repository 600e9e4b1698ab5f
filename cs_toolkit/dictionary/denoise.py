"""K-SVD image denoising (Elad & Aharon, 2006): sparse coding of overlapping patches
over a DCT or learned dictionary, then weighted averaging of the patch estimates."""

from __future__ import annotations

import numpy as np

from .._validation import check_array, check_int, check_option, check_rng, check_scalar
from ..exceptions import ValidationError
from ._common import make_coder, overcomplete_dct2
from .ksvd import approx_ksvd, ksvd

__all__ = ["denoise_image"]


def _positions(n, p, step):
    pos = list(range(0, n - p + 1, step))
    if pos[-1] != n - p:
        pos.append(n - p)
    return np.asarray(pos)


def _extract(img, p, rows, cols):
    win = np.lib.stride_tricks.sliding_window_view(img, (p, p))
    return np.ascontiguousarray(win[np.ix_(rows, cols)].reshape(rows.size * cols.size, p * p))


def _aggregate(est, shape, p, rows, cols):
    acc = np.zeros(shape, dtype=np.float64)
    cnt = np.zeros(shape, dtype=np.float64)
    E = est.reshape(rows.size, cols.size, p, p)
    for di in range(p):
        for dj in range(p):
            ix = np.ix_(rows + di, cols + dj)
            acc[ix] += E[:, :, di, dj]
            cnt[ix] += 1.0
    return acc, cnt


def denoise_image(noisy, sigma, *, dictionary="learn", patch_size=8, n_atoms=256, step=1, gain=1.15,
                  lam=None, data_range=None, method="ksvd", max_iter=10, n_train=20000, max_nonzero=None,
                  rng=None, return_dictionary=False):
    """Denoise a grey image by sparse coding of its overlapping patches (K-SVD denoising).

    Parameters
    ----------
    noisy : ndarray of shape (height, width)
        Noisy image (float; [0, 1] or [0, 255]).
    sigma : float
        Standard deviation of the additive white Gaussian noise, in the units of ``noisy``
        (e.g. ``25 / 255`` for an image in [0, 1]).
    dictionary : {"learn", "dct"} or ndarray of shape (patch_size**2, n_atoms), default "learn"
        ``"dct"``: the overcomplete 2-D DCT; ``"learn"``: K-SVD on patches of the noisy
        image, started from the DCT; an array: used as is (columns normalised).
    patch_size : int, default 8
    n_atoms : int, default 256
    step : int, default 1
        Distance between patch positions (1 = every patch; larger is faster).
    gain : float, default 1.15
        OMP codes each mean-removed patch until ``||residual||^2 <= patch_size**2 (gain sigma)^2``.
    lam : float, optional
        Weight of the noisy image in the final average; default ``30 / sigma_255``
        (Elad & Aharon), where ``sigma_255`` is sigma on the [0, 255] scale.
    data_range : float, optional
        Range of the image scale (1 or 255); default from ``noisy.max()``.
    method : {"ksvd", "approx_ksvd"}, default "ksvd"
        Learning method when ``dictionary="learn"``.
    max_iter : int, default 10
        K-SVD iterations.
    n_train : int, default 20000
        Patches (randomly chosen) used for learning.
    max_nonzero : int, optional
        Cap on atoms per patch (default ``patch_size**2 // 2``).
    rng : None, int or Generator
    return_dictionary : bool, default False
        Also return the dictionary used.

    Returns
    -------
    denoised : ndarray of shape (height, width)
    dictionary : ndarray of shape (patch_size**2, n_atoms)
        Only with ``return_dictionary=True``.

    Notes
    -----
    ``x = (lam y + sum_ij R_ij^T (D a_ij + m_ij)) / (lam + sum_ij R_ij^T R_ij 1)`` where
    ``a_ij`` is the OMP code of the mean-removed patch ``R_ij y - m_ij``.
    M. Elad, M. Aharon, "Image denoising via sparse and redundant representations over
    learned dictionaries", IEEE TIP 15(12), 2006.
    """
    img = check_array(noisy, "noisy", ndim=2)
    sigma = check_scalar("sigma", sigma, low=0.0, low_inclusive=False)
    p = check_int("patch_size", patch_size, low=2)
    if p > min(img.shape):
        raise ValidationError(f"patch_size={p} exceeds the image shape {img.shape}.")
    n_atoms = check_int("n_atoms", n_atoms, low=1)
    step = check_int("step", step, low=1)
    gain = check_scalar("gain", gain, low=0.0, low_inclusive=False)
    check_option("method", method, ("ksvd", "approx_ksvd"))
    max_iter = check_int("max_iter", max_iter, low=0)
    n_train = check_int("n_train", n_train, low=1)
    max_nonzero = p * p // 2 if max_nonzero is None else check_int("max_nonzero", max_nonzero, low=1)
    if data_range is None:
        data_range = 1.0 if float(np.max(img)) <= 2.0 else 255.0
    data_range = check_scalar("data_range", data_range, low=0.0, low_inclusive=False)
    if lam is None:
        lam = 30.0 / (sigma * 255.0 / data_range)
    lam = check_scalar("lam", lam, low=0.0)
    rng = check_rng(rng)

    rows = _positions(img.shape[0], p, step)
    cols = _positions(img.shape[1], p, step)
    P = _extract(img, p, rows, cols)
    means = P.mean(axis=1, keepdims=True)
    P0 = P - means
    tol = float(p * p * (gain * sigma) ** 2)

    if isinstance(dictionary, str):
        check_option("dictionary", dictionary, ("learn", "dct"))
        D = np.ascontiguousarray(overcomplete_dct2(p, n_atoms), dtype=img.dtype)
        if dictionary == "learn":
            train = P0 if P0.shape[0] <= n_train else P0[np.sort(rng.choice(P0.shape[0], n_train, replace=False))]
            keep = np.any(train != 0, axis=1)  # flat patches carry no information
            learn = ksvd if method == "ksvd" else approx_ksvd
            res = learn(train[keep], n_atoms, n_nonzero_coefs=max_nonzero, tol=tol, init=D, max_iter=max_iter,
                        rng=rng)
            D = res.dictionary
    else:
        D = check_array(dictionary, "dictionary", ndim=2, dtype=img.dtype)
        if D.shape[0] != p * p:
            raise ValidationError(f"Dimension mismatch for dictionary: expected {p * p} rows (patch_size**2), "
                                  f"got shape {D.shape}.")
        D = D / np.linalg.norm(D, axis=0)
    code = make_coder("omp", n_nonzero_coefs=min(max_nonzero, D.shape[1]), tol=tol,
                      n_features=p * p, n_atoms=D.shape[1])
    codes = code(D, P0)
    est = codes @ D.T + means
    acc, cnt = _aggregate(est, img.shape, p, rows, cols)
    out = ((lam * img + acc) / (lam + cnt)).astype(img.dtype)
    return (out, D) if return_dictionary else out

"""Image denoisers used inside the iterative image reconstructions.

These are the "prior" steps of :mod:`cs_toolkit.signals.image`: the adaptive
Wiener smoothing and the wavelet bivariate shrinkage of BCS-SPL (Mun & Fowler
2009; Sendur & Selesnick 2002), and the total-variation denoiser
(scikit-image) and the sliding-window patch-DCT denoisers (hard thresholding and
empirical Wiener shrinkage, Yu & Sapiro 2011) plugged into the projected-Landweber loop.

All functions take a 2-D image on the [0, 255] scale and return a new array; none of them
modifies its input. The patch denoisers work in float32 on a float32 image (float32 inference of
the image loops) and in float64 otherwise.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pywt

from .._threads import single_thread_blas
from ..exceptions import ValidationError

__all__ = ["single_thread_blas", "work_dtype", "wiener_smooth", "mad_sigma", "bivariate_shrink", "wavelet_shrink", "tv_denoise",
           "patch_dct_matrix", "patch_spectra", "patch_spectra_adjoint", "patch_coverage", "patch_dct_threshold",
           "patch_dct_wiener", "match_patches", "group_dct_threshold", "group_dct_wiener", "group_lowrank_shrink",
           "PatchWorkspace"]


#: Wavelet of the whole-image transforms: the CDF 9/7 biorthogonal wavelet (JPEG 2000).
WAVELET = "bior4.4"


def work_dtype(x) -> type:
    """The floating type the denoisers compute ``x`` in: float32 for float32, else float64."""
    return np.float32 if np.asarray(x).dtype == np.float32 else np.float64


def wiener_smooth(x: np.ndarray, size: int = 3) -> np.ndarray:
    """Adaptive (local statistics) Wiener filter with a ``size x size`` window.

    The noise power is the mean of the local variances, as in
    ``scipy.signal.wiener`` (and MATLAB's ``wiener2``); borders are reflected
    instead of zero-padded, so block edges near the image border are not darkened.
    """
    from ._bcs_numba import _wiener_smooth

    x = np.ascontiguousarray(x, dtype=work_dtype(x))
    out = np.empty_like(x)
    _wiener_smooth(x, int(size), out)
    return out


def mad_sigma(detail: np.ndarray) -> float:
    """Robust noise level ``median(|d|) / 0.6745`` of a finest-scale wavelet subband (Donoho)."""
    return float(np.median(np.abs(detail))) / 0.6745


def bivariate_shrink(coeffs: list, lam: float, *, window: int = 7) -> list:
    """Bivariate shrinkage of 2-D wavelet coefficients (Sendur & Selesnick 2002).

    Parameters
    ----------
    coeffs : list
        Output of ``pywt.wavedec2`` (approximation first, coarsest details next).
    lam : float
        Multiplier of the MAP threshold (``lam = 1`` is the plain bivariate rule).
    window : int, default 7
        Side of the square window used to estimate the local signal variance.

    Returns
    -------
    list
        New coefficient list; the approximation band is left unchanged.

    Notes
    -----
    For a coefficient ``w1`` with parent ``w2`` (same orientation, next coarser scale)
    the estimate is ``w1 * max(r - T, 0) / r`` with ``r = sqrt(w1^2 + w2^2)`` and
    ``T = lam * sqrt(3) * sigma_n^2 / sigma``; ``sigma_n`` is the MAD estimate on the
    finest diagonal band and ``sigma^2`` the local variance of ``w1`` minus ``sigma_n^2``.
    The coarsest detail level has no parent and gets ``w2 = 0`` (soft thresholding).
    """
    from ._bcs_numba import _bivariate_band

    sigma_n = mad_sigma(coeffs[-1][2])
    out = [coeffs[0].copy()]
    n2 = sigma_n * sigma_n
    for lev in range(1, len(coeffs)):
        bands = []
        for o in range(3):
            w1 = np.ascontiguousarray(coeffs[lev][o])
            parent = np.ascontiguousarray(coeffs[lev - 1][o]) if lev > 1 else w1
            if parent.dtype != w1.dtype:
                parent = parent.astype(w1.dtype)
            band = np.empty_like(w1)
            _bivariate_band(w1, parent, lev > 1, n2, float(lam), int(window), band)
            bands.append(band)
        out.append(tuple(bands))
    return out


@functools.lru_cache(maxsize=8)
def _filters(wavelet: str, dtype=np.float64):
    """The analysis and synthesis filters of ``wavelet`` (read-only arrays of ``dtype``)."""
    w = pywt.Wavelet(wavelet)
    out = tuple(np.array(f, dtype=dtype) for f in (w.dec_lo, w.dec_hi, w.rec_lo, w.rec_hi))
    for f in out:
        f.setflags(write=False)
    return out


def _dwt2(x, h, g):
    """One level of the 2-D periodized DWT: ``(cA, (cH, cV, cD))`` as :func:`pywt.dwt2`."""
    from ._bcs_numba import _dwt_rows

    r, c = x.shape
    L = np.empty((r, c // 2), x.dtype)
    H = np.empty_like(L)
    _dwt_rows(np.ascontiguousarray(x), h, g, L, H)  # along the rows
    out = []
    for B in (L, H):  # then along the columns, on the transposes
        a = np.empty((c // 2, r // 2), x.dtype)
        d = np.empty_like(a)
        _dwt_rows(np.ascontiguousarray(B.T), h, g, a, d)
        out.append((a.T, d.T))
    (aa, da), (ad, dd) = out
    return aa, (da, ad, dd)


def _idwt2(cA, details, h, g):
    """The inverse of :func:`_dwt2` (synthesis filters ``h, g``)."""
    from ._bcs_numba import _idwt_rows

    cH, cV, cD = details
    r2, c2 = cA.shape
    cols = []
    for a, d in ((cA, cH), (cV, cD)):  # along the columns, on the transposes
        t = np.empty((c2, 2 * r2), cA.dtype)
        _idwt_rows(np.ascontiguousarray(a.T), np.ascontiguousarray(d.T), h, g, t)
        cols.append(np.ascontiguousarray(t.T))
    x = np.empty((2 * r2, 2 * c2), cA.dtype)
    _idwt_rows(cols[0], cols[1], h, g, x)  # then along the rows
    return x


def wavelet_shrink(x: np.ndarray, lam: float, *, level: int = 4, wavelet: str = WAVELET) -> np.ndarray:
    """Whole-image wavelet denoising by :func:`bivariate_shrink` (periodized transform).

    When both sides are multiples of ``2**level`` and the filters have even length (the default
    wavelet's do), the transforms run in numba kernels (:func:`_dwt2`, :func:`_idwt2`: PyWavelets'
    ``"periodization"`` mode to rounding); otherwise in PyWavelets.
    """
    dt = work_dtype(x)
    h, g, rh, rg = _filters(wavelet, dt)  # cached: no Wavelet object per call
    fit = pywt.dwt_max_level(min(x.shape), h.shape[0])
    level = max(1, min(level, fit))
    if x.shape[0] % (1 << level) == 0 and x.shape[1] % (1 << level) == 0 and h.shape[0] % 2 == 0 and fit > 0:
        c = []
        a = np.asarray(x, dtype=dt)
        for _ in range(level):
            a, det = _dwt2(a, h, g)
            c.append(det)
        c = bivariate_shrink([a] + c[::-1], lam)
        a = c[0]
        for det in c[1:]:
            a = _idwt2(a, det, rh, rg)
        return a
    with warnings.catch_warnings():
        if fit == 0:  # an image shorter than the filter: one periodized level is still exact, say nothing
            warnings.simplefilter("ignore", UserWarning)
        c = pywt.wavedec2(x, wavelet, mode="periodization", level=level)
    return pywt.waverec2(bivariate_shrink(c, lam), wavelet, mode="periodization")[: x.shape[0], : x.shape[1]]


def tv_denoise(x: np.ndarray, sigma: float, *, weight_factor: float = 1.0) -> np.ndarray:
    """Total-variation denoising (Chambolle 2004, scikit-image) with weight proportional to ``sigma``."""
    from skimage.restoration import denoise_tv_chambolle

    w = weight_factor * max(float(sigma), 1e-3) / 255.0
    return np.asarray(denoise_tv_chambolle(x / 255.0, weight=w), dtype=np.float64) * 255.0


# ----------------------------------------------------------------------------------------
# sliding-window patch DCT
# ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def patch_dct_matrix(patch_size: int = 8) -> np.ndarray:
    """Orthonormal 2-D DCT-II analysis matrix ``(p*p, p*p)`` of row-major ``p x p`` patches.

    Row 0 is the constant (DC) atom. The returned array is read-only (it is cached).
    """
    from scipy.fft import dct

    c = dct(np.eye(patch_size), norm="ortho", axis=0)
    T = np.kron(c, c)
    T.setflags(write=False)
    return T


def _patches(x: np.ndarray, p: int) -> np.ndarray:
    """All ``(H-p+1)*(W-p+1)`` overlapping ``p x p`` patches of ``x`` as rows (a copy)."""
    return np.lib.stride_tricks.sliding_window_view(x, (p, p)).reshape(-1, p * p)


@functools.lru_cache(maxsize=8)
def _dct_1d(p: int, dtype=np.float64) -> np.ndarray:
    """The orthonormal 1-D DCT-II matrix ``c`` of which :func:`patch_dct_matrix` is ``kron(c, c)``."""
    c = np.ascontiguousarray(patch_dct_matrix(p)[::p, ::p] * np.sqrt(p), dtype=dtype)
    c.setflags(write=False)
    return c


class PatchWorkspace:
    """Buffers that the patch filters reuse from one call to the next within a loop.

    A 256 x 256 image has 62,001 sliding 8 x 8 patches: their spectra fill 16 MB in float32 and
    32 MB in float64, and a loop calling a filter 70 times would otherwise allocate (and the
    system zero and map) several such arrays every time. The loops of the image pipeline create
    one workspace and pass it to every call (``workspace=``); the buffers live as long as it does.
    Not for sharing between threads. Also keeps the parallel runs (:func:`_runs`) of the last
    groups it was given.
    """

    def __init__(self):
        self._arrays: dict = {}
        self._groups = None
        self._bands = None
        self._extra = 0

    def array(self, name: str, shape, dtype) -> np.ndarray:
        """The buffer ``name`` with this shape and dtype (uninitialised: a new one when either changed)."""
        shape, dtype = tuple(int(v) for v in shape), np.dtype(dtype)
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = np.empty(shape, dtype)
        return a

    def bands(self, groups: np.ndarray, n_cols: int, extra: int = 0) -> np.ndarray:
        """:func:`_runs` of ``groups``, computed once for the same array object and ``extra``."""
        if self._groups is not groups or self._extra != extra:
            self._bands = _runs(groups, n_cols, extra)
            self._groups, self._extra = groups, extra  # the reference keeps the object (and its id) alive
        return self._bands


def patch_spectra(x: np.ndarray, p: int, *, parallel: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """The 2-D DCT spectra of all sliding ``p x p`` patches of ``x``: ``_patches(x, p) @ T.T`` with
    ``T = patch_dct_matrix(p)``, computed separably by a numba kernel (about 7 times fewer flops
    than the product, and no copy of the patches). ``parallel=False``: one thread (for callers
    that run images in threads of their own). ``out``: an array of the result's shape and dtype
    to write into (a :class:`PatchWorkspace` buffer)."""
    from numba import get_num_threads

    from ._image_numba import _patch_dct_parallel, _patch_dct_rows

    dt = work_dtype(x)
    x = np.ascontiguousarray(x, dtype=dt)
    n_rows = x.shape[0] - p + 1
    shape = (n_rows * (x.shape[1] - p + 1), p * p)
    C = np.empty(shape, dt) if out is None else out
    if C.shape != shape or C.dtype != dt or not C.flags.c_contiguous:
        raise ValidationError(f"out must be a C-contiguous {np.dtype(dt).name} array of shape {shape}, "
                              f"got {C.dtype} {C.shape}.")
    if parallel:
        _patch_dct_parallel(x, _dct_1d(p, dt), C, min(n_rows, 4 * get_num_threads()))
    else:
        _patch_dct_rows(x, _dct_1d(p, dt), C, 0, n_rows)
    return C


def patch_spectra_adjoint(C: np.ndarray, shape, p: int, *, parallel: bool = True,
                          out: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of :func:`patch_spectra`: the image of shape ``shape`` in which every row's
    patch (its inverse 2-D DCT) is added at its position. ``out``: an array of that shape and
    the dtype of ``C`` to overwrite with the result."""
    from numba import get_num_threads

    from ._image_numba import _patch_idct_parallel, _patch_idct_rows

    dt = work_dtype(C)
    C = np.ascontiguousarray(C, dtype=dt)
    if out is None:
        out = np.zeros(shape, dt)
    elif out.shape != tuple(shape) or out.dtype != dt or not out.flags.c_contiguous:
        raise ValidationError(f"out must be a C-contiguous {np.dtype(dt).name} array of shape {tuple(shape)}, "
                              f"got {out.dtype} {out.shape}.")
    else:
        out.fill(0.0)
    n_rows = shape[0] - p + 1
    if parallel:
        _patch_idct_parallel(C, _dct_1d(p, dt), out, max(p, -(-n_rows // (4 * get_num_threads()))))
    else:
        _patch_idct_rows(C, _dct_1d(p, dt), out, 0, n_rows)
    return out


def patch_coverage(weights: np.ndarray, shape, p: int) -> np.ndarray:
    """Per pixel, the sum of the weights (one per sliding patch position, row-major) of the
    patches that cover it: the denominator of a weighted average of overlapping patches."""
    from ._image_numba import _footprint_sum

    dt = work_dtype(weights)
    out = np.zeros(shape, dt)
    w = np.ascontiguousarray(weights, dtype=dt).reshape(shape[0] - p + 1, shape[1] - p + 1)
    _footprint_sum(w, p, out)
    return out


def _weighted_average(S: np.ndarray, weights: np.ndarray, shape, p: int, workspace=None) -> np.ndarray:
    """The weighted average of overlapping patch estimates given as their *weighted* spectra:
    row ``i`` of ``S`` is ``weights[i]`` times the 2-D DCT spectrum of patch ``i``'s estimate."""
    out = None if workspace is None else workspace.array("image", shape, S.dtype)
    return patch_spectra_adjoint(S, shape, p, out=out) / patch_coverage(weights, shape, p)


def patch_dct_threshold(x: np.ndarray, sigma: float, *, patch_size: int = 8, threshold: float = 2.7,
                        workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Sliding-window DCT denoising by hard thresholding (Yu & Sapiro 2011).

    Every overlapping ``patch_size x patch_size`` patch (step 1) is transformed by the
    orthonormal 2-D DCT, coefficients below ``threshold * sigma`` are zeroed (the DC
    coefficient is kept), and the inverse transforms are averaged with weights
    ``1 / (number of kept coefficients)`` (the aggregation weights of BM3D, Dabov et al.
    2007: sparser, more reliable patches count more).

    Parameters
    ----------
    x : ndarray of shape (H, W)
        Image on the [0, 255] scale, ``H, W >= patch_size``.
    sigma : float
        Noise level (0-255 scale).
    patch_size : int, default 8
    threshold : float, default 2.7
        Threshold in units of ``sigma``.
    workspace : PatchWorkspace, optional
        Buffers to reuse (a loop's); the result is a new array all the same.

    Returns
    -------
    ndarray of shape (H, W)
    """
    from ._image_numba import _hard_threshold_rows

    ws = PatchWorkspace() if workspace is None else workspace
    C = _spectra_into(ws, "C", x, patch_size)
    w = ws.array("w", C.shape[:1], C.dtype)
    _hard_threshold_rows(C, float(threshold * sigma), w)
    return _weighted_average(C, w, x.shape, patch_size, ws)


def patch_dct_wiener(x: np.ndarray, pilot: np.ndarray, sigma: float, *, patch_size: int = 8,
                     workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Sliding-window DCT empirical Wiener filter of ``x`` guided by a ``pilot`` estimate.

    Each patch coefficient ``c`` of ``x`` becomes ``c * g``, ``g = q^2 / (q^2 + sigma^2)``
    with ``q`` the same coefficient of ``pilot`` (the second step of BM3D, without the
    grouping); estimates are averaged with weights ``1 / sum(g^2)``. ``workspace``: buffers to
    reuse (:class:`PatchWorkspace`).
    """
    from ._image_numba import _wiener_rows

    ws = PatchWorkspace() if workspace is None else workspace
    C = _spectra_into(ws, "C", x, patch_size)
    Q = ws.array("Q", C.shape, C.dtype)
    if pilot is x:
        Q[...] = C
    else:
        patch_spectra(np.asarray(pilot, dtype=C.dtype), patch_size, out=Q)
    w = ws.array("w", C.shape[:1], C.dtype)
    _wiener_rows(C, Q, max(float(sigma), 1e-6) ** 2, w)
    return _weighted_average(C, w, x.shape, patch_size, ws)


def _spectra_into(workspace: PatchWorkspace, name: str, x: np.ndarray, p: int) -> np.ndarray:
    """:func:`patch_spectra` of ``x`` written into the workspace's buffer ``name``."""
    shape = ((x.shape[0] - p + 1) * (x.shape[1] - p + 1), p * p)
    return patch_spectra(x, p, out=workspace.array(name, shape, work_dtype(x)))


# ----------------------------------------------------------------------------------------
# non-local: groups of similar patches filtered together (BM3D-style)
# ----------------------------------------------------------------------------------------
def _reference_positions(n: int, step: int) -> np.ndarray:
    """``0, step, 2 step, ...`` up to ``n - 1``, the last position always included."""
    r = np.arange(0, n, step, dtype=np.int64)
    return r if r[-1] == n - 1 else np.append(r, n - 1)


def match_patches(x: np.ndarray, *, patch_size: int = 8, step: int = 3, radius: int = 8,
                  group_size: int = 16, n_features: int | None = None,
                  workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Groups of similar patches by block matching (Dabov et al. 2007).

    Reference patches sit every ``step`` pixels (the last row and column included); each
    group holds the ``group_size`` patches nearest to its reference, searched within ``radius``
    pixels, the reference first. Distances are squared distances between the patches (default)
    or, with ``n_features``, between their ``n_features`` lowest-frequency 2-D DCT coefficients
    (in zigzag order): a low-pass distance, cheaper and less misled by noise and artefacts.
    ``workspace``: buffers to reuse (:class:`PatchWorkspace`).

    Returns
    -------
    ndarray of shape (n_groups, group_size), int64
        Patch positions ``r * (W - patch_size + 1) + c``: row indices into the sliding
        patches of ``x`` (the order of :func:`patch_dct_threshold`'s patches), groups ordered
        by the row of their reference.
    """
    from ._image_numba import _block_match

    x = np.ascontiguousarray(x, dtype=work_dtype(x))
    p = patch_size
    n_rows, n_cols = x.shape[0] - p + 1, x.shape[1] - p + 1
    n_window = (2 * radius + 1) ** 2
    if group_size > min(n_window, n_rows * n_cols):
        raise ValidationError(f"group_size must be at most the number of patches in the search window "
                              f"({n_window}) and in the image, got {group_size}.")
    if n_features is None:
        F, cols = np.ascontiguousarray(_patches(x, p)), np.arange(p * p)
    else:
        F = patch_spectra(x, p) if workspace is None else _spectra_into(workspace, "C", x, p)
        cols = np.ascontiguousarray(_zigzag(p)[:n_features])
    rr, cc = np.meshgrid(_reference_positions(n_rows, step), _reference_positions(n_cols, step), indexing="ij")
    out = np.empty((rr.size, group_size), dtype=np.int64)
    _block_match(F, cols, n_rows, n_cols, rr.ravel(), cc.ravel(), int(radius), int(group_size), out)
    return out


@functools.lru_cache(maxsize=8)
def _zigzag(p: int) -> np.ndarray:
    """Indices of the ``p * p`` 2-D DCT coefficients (row-major) from low to high frequency."""
    i, j = np.divmod(np.arange(p * p), p)
    return np.lexsort((i, i + j))


@functools.lru_cache(maxsize=8)
def _group_transform(k: int, dtype=np.float64) -> np.ndarray:
    from scipy.fft import dct

    H = np.ascontiguousarray(dct(np.eye(k), norm="ortho", axis=0), dtype=dtype)
    H.setflags(write=False)
    return H


def _runs(groups: np.ndarray, n_cols: int, extra: int = 0) -> np.ndarray:
    """Boundaries of runs of consecutive groups that can be filtered in parallel, every other run
    at a time: a group writes to the patch rows of its members (and ``extra`` rows below them: the
    pixel rows of a patch reach ``p - 1`` below its position); runs span enough rows that a run
    and the run after next never write to the same row (groups must be ordered by reference row,
    as :func:`match_patches` gives them)."""
    rows = groups // n_cols
    ref, lo, hi = rows[:, 0], rows.min(axis=1), rows.max(axis=1)
    reach = int(max((ref - lo).max(), (hi - ref).max())) if len(groups) else 0
    height = 2 * reach + 1 + extra
    band = ref // height
    if len(groups) and np.any(np.diff(band) < 0):
        raise ValidationError("groups must be ordered by the row of their reference patch.")
    return np.searchsorted(band, np.arange(int(band[-1]) + 2 if len(groups) else 1)).astype(np.int64)


def _group_inputs(sigma, groups, workspace):
    """What every collaborative filter starts with: ``(workspace, sigma, groups)``, a new
    workspace for None, ``sigma`` floored at 1e-6 and the groups as contiguous int64."""
    ws = PatchWorkspace() if workspace is None else workspace
    return ws, max(float(sigma), 1e-6), np.ascontiguousarray(groups, dtype=np.int64)


def _group_start(x, sigma, groups, p, workspace):
    """What the 3-D DCT filters start with: ``(workspace, C, S, Wp, sigma, bands, groups)``, those of
    :func:`_group_inputs`, the spectra ``C`` of ``x``, the zeroed sums ``S`` and weights ``Wp`` in the
    workspace's buffers and the parallel runs of the groups."""
    from ._image_numba import _zero

    ws, s, groups = _group_inputs(sigma, groups, workspace)
    C = _spectra_into(ws, "C", np.asarray(x), p)
    S = ws.array("S", C.shape, C.dtype)
    Wp = ws.array("w", C.shape[:1], C.dtype)
    _zero(S)
    Wp.fill(0.0)
    bands = ws.bands(groups, x.shape[1] - p + 1)
    return ws, C, S, Wp, s, bands, groups


def _group_filter(x, pilot, sigma, groups, patch_size, threshold, workspace):
    from ._image_numba import _group_shrink

    p = patch_size
    ws, C, S, Wp, s, bands, groups = _group_start(x, sigma, groups, p, workspace)
    Q = C if pilot is None or pilot is x else _spectra_into(ws, "Q", np.asarray(pilot, dtype=C.dtype), p)
    _group_shrink(C, Q, groups, _group_transform(groups.shape[1], C.dtype.type), threshold * s, s * s, pilot is not None,
                  S, Wp, bands, Q is C)
    return _weighted_average(S, Wp, x.shape, p, ws)  # S[row] holds the weighted sums, Wp[row] their weights


def group_dct_threshold(x: np.ndarray, sigma: float, groups: np.ndarray, *, patch_size: int = 8,
                        threshold: float = 2.7, workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Collaborative hard thresholding of groups of similar patches (the first step of BM3D).

    Each group of ``groups`` (from :func:`match_patches`) is stacked into a 3-D array, transformed
    by the 2-D DCT of its patches and a DCT along the group, thresholded at ``threshold *
    sigma`` (the group's mean kept), transformed back; the patch estimates are averaged with
    weights ``1 / kept coefficients`` of their group. Pixels in no group keep no estimate, so
    the groups must cover the image (they do with ``step <= patch_size``). ``workspace``: buffers
    to reuse (:class:`PatchWorkspace`).
    """
    return _group_filter(x, None, sigma, groups, patch_size, threshold, workspace)


def group_dct_wiener(x: np.ndarray, pilot: np.ndarray, sigma: float, groups: np.ndarray, *,
                     patch_size: int = 8, workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Collaborative empirical Wiener filtering of groups of patches (the second step of BM3D):
    the 3-D spectrum of each group of ``x`` is scaled by ``q^2 / (q^2 + sigma^2)``, ``q`` the
    same spectrum of ``pilot``; group weights ``1 / sum of squared gains``. ``workspace``: buffers
    to reuse (:class:`PatchWorkspace`)."""
    return _group_filter(x, pilot, sigma, groups, patch_size, 0.0, workspace)


def group_lowrank_shrink(x: np.ndarray, sigma: float, groups: np.ndarray, *, patch_size: int = 8,
                         c: float = 9.0, workspace: PatchWorkspace | None = None) -> np.ndarray:
    """Low-rank collaborative filtering of groups of similar patches (weighted nuclear norm shrinkage).

    Each group of ``groups`` (from :func:`match_patches`) is a ``k x p^2`` matrix of patches; less
    its mean patch, its singular values ``s`` are shrunk to ``max(s - c sqrt(k) sigma^2 / (s_hat +
    eps), 0)``, ``s_hat = sqrt(max(s^2 - p^2 sigma^2, 0))`` the estimate of the noiseless one (Gu et
    al. 2014, WNNM; Dong et al. 2014, NLR-CS), the mean added back; the patch estimates are averaged
    with weights ``1 / (1 + rank kept)``. Where the 3-D DCT of :func:`group_dct_threshold` is a
    fixed basis, the singular vectors adapt to every group. ``c`` in units of the schedule's
    ``sigma`` (9 was chosen for ``pnp_lr`` on the validation pictures). ``workspace``: buffers to
    reuse (:class:`PatchWorkspace`).
    """
    from ._lowrank_numba import _lowrank_parallel

    c = float(c)
    if not np.isfinite(c) or c < 0:
        raise ValidationError(f"c must be a finite number >= 0, got {c}.")
    p = patch_size
    ws, s, groups = _group_inputs(sigma, groups, workspace)
    x = np.ascontiguousarray(x, dtype=work_dtype(x))
    S = ws.array("image_sums", x.shape, x.dtype)
    Wp = ws.array("w", ((x.shape[0] - p + 1) * (x.shape[1] - p + 1),), x.dtype)
    S.fill(0.0)
    Wp.fill(0.0)
    # the pixel rows a group writes reach p - 1 beyond its patch rows
    _lowrank_parallel(x, p, groups, c, s * s, S, Wp, ws.bands(groups, x.shape[1] - p + 1, extra=p - 1))
    return S / patch_coverage(Wp, x.shape, p)

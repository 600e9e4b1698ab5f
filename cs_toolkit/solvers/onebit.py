"""Recovery from quantized measurements: binary IHT (one bit) and quantization-consistent IHT.

Batch-first like :mod:`cs_toolkit.solvers.thresholding`: each iteration applies ``A`` and
``A^T`` to every signal still running with one GEMM each (BLAS), and numba kernels
(:mod:`._onebit_numba`) do the elementwise steps in between.
"""

from __future__ import annotations

import functools
import time
import warnings

import numpy as np

from .._threads import blas_single_thread
from .._validation import check_array, check_bool, check_int, check_scalar
from ..exceptions import ValidationError
from ._common import _check_sparsity, _check_tol, prepare
from ._greedy_driver import _finish, _row_norms, _warn_not_converged
from ._registry import register_solver

__all__ = ["biht", "qiht"]


def _kernels():
    from . import _onebit_numba

    return _onebit_numba


def _one_blas_thread(func):
    """Run ``func`` with one BLAS thread: its GEMMs alternate with ``prange`` kernels, and
    OpenBLAS threads spinning after a product took the kernels' cores (5x slower on 2 cores)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with blas_single_thread():
            return func(*args, **kwargs)

    return wrapper


def _check_k(n_nonzero_coefs, n):
    if n_nonzero_coefs is None:
        raise ValidationError("n_nonzero_coefs is required (the sparsity level k, an int >= 1); got None.")
    return _check_sparsity(n_nonzero_coefs, n, what="n")


@register_solver(
    "biht",
    kind="quantized",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Binary iterative hard thresholding: k-sparse unit-norm x from 1-bit signs (Jacques et al. 2013).",
)
@_one_blas_thread
def biht(A, Y, *, n_nonzero_coefs, step=None, max_iter=500, tol=1e-6, normalize=True, history=False,
         return_info=False):
    """Binary iterative hard thresholding (BIHT) for one-bit measurements ``y = sign(A x)``.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix (an operator is densified).
    Y : ndarray of shape (m,) or (n_signals, m), or QuantizedMeasurements
        The signs, one signal per row: any real array is read as ``sign(Y)`` with
        ``sign(0) = +1`` (so ``X @ A.T`` itself may be passed); a one-bit
        :class:`~cs_toolkit.sensing.QuantizedMeasurements` is read from its codes.
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``n`` with a ``SparsityClippedWarning``.
    step : float, optional
        Gradient step ``mu``. Default ``sqrt(pi / 2) / (m sigma)`` with
        ``sigma = ||A||_F / sqrt(m n)``: the step for which, with Gaussian ``A``, the expected
        update of a unit-norm iterate is of unit size (Friedlander et al. 2021).
    max_iter : int, default 500
        Maximum iterations per signal.
    tol : float, default 1e-6
        A signal stops when every sign is matched or ``||x_new - x|| <= tol``.
    normalize : bool, default True
        Project every iterate onto the unit sphere (normalized BIHT); with ``False`` only the
        result is normalized, as in Jacques et al.'s Algorithm.
    history : bool, default False
        Record the number of mismatched signs after each iteration in ``info.history``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`; its ``resid_norm`` holds the
        number of signs of ``A x`` that differ from ``y`` (0: a consistent solution).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        k-sparse estimates **of unit norm**: one-bit measurements carry no amplitude, so
        compare with :func:`cs_toolkit.metrics.normalized_error`.
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite input, ``n_nonzero_coefs`` missing or < 1, ``step <= 0``,
        a multi-bit ``QuantizedMeasurements``.

    Warns
    -----
    ConvergenceWarning
        Signals still inconsistent and moving after ``max_iter`` iterations.

    Notes
    -----
    Jacques, Laska, Boufounos & Baraniuk (2013), "Robust 1-bit compressive sensing via binary
    stable embeddings of sparse vectors", IEEE Trans. Inf. Theory 59(4):
    ``x <- H_k(x + mu A^T (y - sign(A x)))``, a projected subgradient step on the one-sided
    l1 objective ``||[y . (A x)]_-||_1``; started from ``H_k(A^T y)``. The 1-bit model is
    Boufounos & Baraniuk (2008), "1-bit compressive sensing".

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((400, 100))
    >>> x = np.zeros(100); x[[5, 40]] = [0.8, -0.6]
    >>> xh = biht(A, np.sign(A @ x), n_nonzero_coefs=2)
    >>> np.flatnonzero(xh), bool(np.linalg.norm(xh - x) < 0.1)
    (array([ 5, 40]), True)
    """
    t0 = time.perf_counter()
    from ..sensing.quantize import QuantizedMeasurements

    if isinstance(Y, QuantizedMeasurements):
        if Y.bits != 1:
            raise ValidationError(f"Y must hold one-bit measurements for biht, got {Y.bits} bits; use qiht.")
        Y = np.where(Y.codes > 0, 1.0, -1.0)
    A, Y2, was_1d, dtype = prepare(A, Y, dense=True)
    m, n = A.shape
    k = _check_k(n_nonzero_coefs, n)
    max_iter = check_int("max_iter", max_iter, low=1)
    tol = _check_tol(tol)
    check_bool("normalize", normalize)
    if step is None:
        sigma = float(np.linalg.norm(A)) / np.sqrt(m * n)
        mu = np.sqrt(np.pi / 2) / (m * sigma) if sigma > 0 else 1.0
    else:
        mu = check_scalar("step", step, low=0.0, low_inclusive=False)
    nb = _kernels()
    S = np.where(Y2 >= 0, 1, -1).astype(dtype)
    N = S.shape[0]
    X = np.empty((N, n), dtype)
    nb._threshold_rows(np.ascontiguousarray(S @ A), k, True, X)
    n_bad = np.zeros(N, np.int64)
    n_iter = np.zeros(N, np.int64)
    conv = np.zeros(N, bool)
    hist = np.full((N, max_iter), np.nan) if history else None
    active = np.arange(N)
    R = np.empty_like(S)
    AT = A.T
    for it in range(max_iter):
        if active.size == 0:
            break
        Xa = X[active]
        Z = Xa @ AT
        Ra = R[: active.size]
        bad = np.empty(active.size, np.int64)
        nb._sign_residual(Z, S[active], Ra, bad)
        n_bad[active] = bad
        consistent = bad == 0
        Xn = np.empty_like(Xa)
        nb._threshold_rows(np.ascontiguousarray(Xa + (mu * (Ra @ A)).astype(dtype, copy=False)), k, normalize, Xn)
        dx = _row_norms(Xn - Xa) / np.maximum(_row_norms(Xa), np.finfo(np.float64).tiny)
        upd = ~consistent
        X[active[upd]] = Xn[upd]
        n_iter[active[upd]] += 1
        if hist is not None:
            hist[active, it] = bad
        done = consistent | (dx <= tol)
        conv[active[done]] = True
        active = active[~done]
    if active.size:
        Z = X[active] @ AT
        bad = np.empty(active.size, np.int64)
        nb._sign_residual(Z, S[active], np.empty_like(Z), bad)
        n_bad[active] = bad
    if not normalize:
        nrm = _row_norms(X)
        X /= np.where(nrm > 0, nrm, 1.0)[:, None].astype(dtype)
    _warn_not_converged(conv, "biht", max_iter)
    return _finish(X, was_1d, return_info, n_iter, conv, n_bad.astype(np.float64), t0, "biht", hist)


def _cells(Y, lower, upper, bin_width):
    """Reconstruction points and cell bounds ``(values, lower, upper)`` from the accepted inputs."""
    from ..sensing.quantize import QuantizedMeasurements

    if isinstance(Y, QuantizedMeasurements):
        if lower is not None or upper is not None or bin_width is not None:
            raise ValidationError("lower, upper and bin_width must be None when Y is a QuantizedMeasurements "
                                  "(it carries its cells).")
        return Y.values, Y.lower, Y.upper
    if bin_width is not None:
        if lower is not None or upper is not None:
            raise ValidationError("give either bin_width or lower and upper, not both.")
        w = check_scalar("bin_width", bin_width, low=0.0, low_inclusive=False)
        Yv = check_array(Y, "Y", ndim=(1, 2))
        return Yv, Yv - w / 2, Yv + w / 2
    if lower is None or upper is None:
        raise ValidationError("qiht needs the quantization cells: pass Y as a QuantizedMeasurements "
                              "(cs_toolkit.sensing.quantize), or lower and upper arrays, or bin_width.")
    Yv = check_array(Y, "Y", ndim=(1, 2))
    lo = check_array(lower, "lower", ndim=(1, 2), finite=False)
    hi = check_array(upper, "upper", ndim=(1, 2), finite=False)
    for name, arr in (("lower", lo), ("upper", hi)):
        if arr.shape != Yv.shape:
            raise ValidationError(f"{name} must have the shape of Y {Yv.shape}, got {arr.shape}.")
        if np.isnan(arr).any():
            raise ValidationError(f"{name} must not contain NaN (use -inf/+inf for unbounded cells).")
    if np.any(lo > hi):
        raise ValidationError("lower must be <= upper everywhere (lower > upper in some cell).")
    return Yv, lo, hi


@register_solver(
    "qiht",
    kind="quantized",
    sparsity_param="n_nonzero_coefs",
    operator_ok=True,
    summary="Quantization-consistent IHT: k-sparse x whose measurements fall in their quantization cells.",
)
@_one_blas_thread
def qiht(A, Y, *, n_nonzero_coefs, lower=None, upper=None, bin_width=None, max_iter=300, tol=1e-6,
         init_iter=100, history=False, return_info=False):
    """Quantization-consistent iterative hard thresholding for multi-bit measurements.

    Parameters
    ----------
    A : ndarray of shape (m, n) or LinearOperator
        Sensing matrix (an operator is densified).
    Y : QuantizedMeasurements, or ndarray of shape (m,) or (n_signals, m)
        The quantized measurements (:func:`cs_toolkit.sensing.quantize`), which carry their
        cells; or the reconstruction points with ``lower``/``upper`` or ``bin_width``.
    n_nonzero_coefs : int
        Sparsity ``k``; clipped to ``n`` with a ``SparsityClippedWarning``.
    lower, upper : ndarray of the shape of Y, optional
        Cell bounds of every measurement (``-inf``/``+inf`` for saturated cells).
    bin_width : float, optional
        Cells ``[Y - bin_width/2, Y + bin_width/2]`` (a quantizer without saturation).
    max_iter : int, default 300
        Maximum consistency iterations per signal.
    tol : float, default 1e-6
        A signal stops once the distance of ``A x`` to the cells is ``<= tol ||y||`` or
        ``||x_new - x|| <= tol ||x_new||``.
    init_iter : int, default 100
        Iterations of normalized IHT on the reconstruction points that give the start
        (0: start from ``x = 0``).
    history : bool, default False
        Record the distance of ``A x`` to the cells after each iteration in ``info.history``.
    return_info : bool, default False
        Also return a :class:`~cs_toolkit.solvers.GreedyInfo`; ``resid_norm`` is the final
        distance of ``A x`` to the cells (0: consistent).

    Returns
    -------
    X : ndarray of shape (n,) or (n_signals, n)
        k-sparse codes, float32 only if ``A`` and the measurements are.
    info : GreedyInfo
        Only with ``return_info=True``.

    Raises
    ------
    ValidationError
        Shape mismatch, non-finite ``A``/``Y``, missing cells, ``lower > upper``,
        ``n_nonzero_coefs`` missing or < 1.

    Warns
    -----
    ConvergenceWarning
        Signals neither consistent nor settled after ``max_iter`` iterations.

    Notes
    -----
    Minimises ``f(x) = 1/2 dist(A x, C)^2``, ``C`` the box of quantization cells, over
    k-sparse ``x``: ``x <- H_k(x + mu A^T (P_C(A x) - A x))`` with the normalized step
    ``mu = ||g_S||^2 / ||A g_S||^2`` of normalized IHT (Blumensath & Davies 2010) on the
    current support ``S``. ``f`` is zero exactly at the *consistent* estimates, whose
    measurements re-quantize to the observed codes; enforcing consistency instead of
    fitting the cell centres is what lowers the error for coarse quantizers (Jacques,
    Hammond & Fadili 2011, "Dequantizing compressed sensing: when oversampling and
    non-Gaussian constraints combine", IEEE Trans. Inf. Theory 57(1); Boufounos 2010,
    "Reconstruction of sparse signals from distorted randomized measurements").

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.sensing import quantize
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((60, 120)) / np.sqrt(60)
    >>> x = np.zeros(120); x[[3, 70]] = [1.0, -1.0]
    >>> np.flatnonzero(qiht(A, quantize(A @ x, 4), n_nonzero_coefs=2))
    array([ 3, 70])
    """
    t0 = time.perf_counter()
    values, lo, hi = _cells(Y, lower, upper, bin_width)
    A, Y2, was_1d, dtype = prepare(A, values, dense=True)
    m, n = A.shape
    k = _check_k(n_nonzero_coefs, n)
    max_iter = check_int("max_iter", max_iter, low=1)
    init_iter = check_int("init_iter", init_iter, low=0)
    tol = _check_tol(tol)
    lo2 = np.ascontiguousarray(np.atleast_2d(lo), dtype=dtype)
    hi2 = np.ascontiguousarray(np.atleast_2d(hi), dtype=dtype)
    N = Y2.shape[0]
    if init_iter:
        from ..exceptions import ConvergenceWarning
        from .thresholding import iht

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            X = np.ascontiguousarray(iht(A, Y2, n_nonzero_coefs=k, max_iter=init_iter, tol=tol or 1e-6), dtype=dtype)
    else:
        X = np.zeros((N, n), dtype)
    nb = _kernels()
    AT = A.T
    ny = _row_norms(Y2)
    n_iter = np.zeros(N, np.int64)
    conv = np.zeros(N, bool)
    hist = np.full((N, max_iter), np.nan) if history else None
    active = np.arange(N)
    tiny = np.finfo(np.float64).tiny
    for it in range(max_iter + 1):
        if active.size == 0:
            break
        Xa = X[active]
        R = np.empty((active.size, m), dtype)
        d = np.empty(active.size)
        nb._cell_residual(Xa @ AT, lo2[active], hi2[active], R, d)
        done = d <= tol * np.maximum(ny[active], tiny)
        if it == max_iter:
            conv[active[done]] = True
            break
        if it and hist is not None:
            hist[active, it - 1] = d
        G = R @ A
        S = Xa != 0
        S[~S.any(axis=1)] = True
        gS = G * S
        AgS = (gS @ AT) * (R != 0)  # the curvature of f along g_S: only violated cells count
        den = np.einsum("ij,ij->i", AgS, AgS, dtype=np.float64)
        num = np.einsum("ij,ij->i", gS, gS, dtype=np.float64)
        mu = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        Xn = np.empty_like(Xa)
        nb._threshold_rows(np.ascontiguousarray(Xa + (mu[:, None] * G).astype(dtype)), k, False, Xn)
        dx = _row_norms(Xn - Xa)
        upd = ~done
        X[active[upd]] = Xn[upd]
        n_iter[active[upd]] += 1
        done |= (dx <= tol * np.maximum(_row_norms(Xn), tiny)) | (mu == 0)
        conv[active[done]] = True
        active = active[~done]
    dfin = np.empty(N)
    nb._cell_residual(X @ AT, lo2, hi2, np.empty((N, m), dtype), dfin)
    _warn_not_converged(conv, "qiht", max_iter)
    return _finish(X, was_1d, return_info, n_iter, conv, dfin, t0, "qiht", hist)

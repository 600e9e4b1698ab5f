"""Block-based compressive sensing of images.

An image is cut into ``B x B`` blocks (default ``B = 32``), every block is
measured with the same ``(m, B*B)`` sensing matrix, ``m = round(ratio * B*B)``,
and the blocks are recovered either one by one in a sparsifying basis (any
registered solver, batch-solved) or jointly as a whole image:

``"bcs_spl"``
    Smoothed projected Landweber (Mun & Fowler 2009): Wiener smoothing,
    projection onto the measurement set of every block, bivariate wavelet
    shrinkage of the whole image, with a decreasing threshold.
``"pnp_dct"`` (the default, best quality)
    Plug-and-play projected Landweber (Venkatakrishnan et al. 2013) warm-started
    from BCS-SPL: a sliding-window 8x8 patch-DCT hard-thresholding denoiser (Yu &
    Sapiro 2011) with a decreasing noise level, alternated with the projection onto
    the measurements, then a few iterations with the patch-DCT empirical Wiener
    filter guided by the current estimate (the second step of BM3D without grouping).
    1.3 to 13 dB above BCS-SPL on the bundled images (B = 32, ratios 0.1-0.5); the
    most on textures, the least on cartoon-like images.
``"pnp_tv"``
    The same loop with a total-variation denoiser (Chambolle), Nesterov momentum
    and a decreasing denoising strength. About 1.3-2 dB above BCS-SPL.
any solver name (``"fista"``, ``"omp"``, ...)
    Per-block recovery in ``basis`` (2-D DCT, wavelet, or a learned dictionary).
``"lista"``
    A learned unrolled reconstructor loaded with :func:`cs_toolkit.learned.load_model`.
``"tnrd"``
    The learned image reconstructor: trained nonlinear diffusion stages
    (:mod:`cs_toolkit.learned.diffusion`: learned filters and influence functions,
    each stage followed by the projection onto the measurements), trained end to end
    on pictures other than the bundled test images, run from the classical start
    it was trained with (BCS-SPL or ``pnp_dct``, recorded in the model file). The
    default models ship with the package (``cs_toolkit/learned/models/``: one for all
    ratios, plus a deeper specialist for ratio 0.1, used when the measurements have that
    ratio; trained by ``benchmarks/tnrd_images.py``); ``cs-toolkit train --model tnrd
    --data DIR`` trains one on your images.

:func:`whole_image_cs` measures the whole image at once with a matrix-free
structured operator (SRDCT, SRHT, ...) and recovers it in a wavelet basis by FISTA.

Value ranges: ``uint8`` images are on [0, 255]; float images are assumed on
[0, 1]. Internally, and for every quality figure (PSNR, SSIM), the image is on
the [0, 255] scale, as in the literature. Colour images ``(H, W, 3)`` are
processed channel by channel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import sensing
from .._validation import check_array, check_int, check_option, check_rng, check_scalar
from ..exceptions import ValidationError
from ..transforms import DCT2, Wavelet2
from . import _denoisers as den
from ._denoisers import single_thread_blas
from ._learned import apply_block_model
from .methods import list_methods

__all__ = [
    "BlockMeasurements",
    "measure_image",
    "reconstruct_image",
    "compressive_image",
    "whole_image_cs",
    "image_quality",
    "IMAGE_METHODS",
    "BlockConstraint",
    "pipeline_matrix",
    "training_samples",
    "train_tnrd",
    "DEFAULT_IMAGE_METHOD",
]

#: The best-quality classical method (top of the README table); used when no method is given.
DEFAULT_IMAGE_METHOD = "pnp_dct"
#: Whole-image methods (:mod:`cs_toolkit.signals.methods`; per-block solver names come from the solver registry).
IMAGE_METHODS = tuple(list_methods("image"))
#: The bundled trained diffusion stages of method ``"tnrd"`` (package data, trained by ``benchmarks/tnrd_images.py``).
DEFAULT_TNRD_MODEL = Path(__file__).resolve().parent.parent / "learned" / "models" / "tnrd_images.npz"


#: Classical reconstructions the diffusion stages can start from.
TNRD_STARTS = ("bcs_spl", "pnp_dct")
_MATRICES = ("gaussian", "bernoulli")


def default_tnrd_model(ratio: float) -> Path:
    """The bundled model of method ``"tnrd"`` for a measurement ratio: the specialist trained at
    exactly that ratio when one ships (``tnrd_images_r<ratio>.npz``), else the all-ratio model."""
    special = DEFAULT_TNRD_MODEL.with_name(f"tnrd_images_r{float(ratio):g}.npz")
    return special if special.is_file() else DEFAULT_TNRD_MODEL


# ----------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------
@dataclass
class BlockMeasurements:
    """Block-CS measurements of one (grey or colour) image.

    Attributes
    ----------
    Y : ndarray of shape (n_channels, n_blocks, n_measurements)
        Measurements of every block (rows), image on the [0, 255] scale.
    A : ndarray of shape (n_measurements, block_size**2)
        The sensing matrix shared by all blocks (blocks are raveled row-major).
    block_size : int
        Side ``B`` of the square blocks.
    image_shape : tuple of int
        Shape of the original image (``(H, W)`` or ``(H, W, C)``).
    padded_shape : tuple of int
        ``(H', W')``, the image size rounded up to multiples of ``B`` (symmetric padding).
    input_dtype : numpy.dtype
        dtype of the original image (``uint8`` input is returned as ``uint8``).
    ratio : float
        Requested measurement ratio ``m / B**2``.
    matrix : str
        Name of the sensing matrix kind.
    """

    Y: np.ndarray
    A: np.ndarray
    block_size: int
    image_shape: tuple
    padded_shape: tuple
    input_dtype: np.dtype
    ratio: float
    matrix: str
    _pinv: np.ndarray | None = field(default=None, repr=False)

    @property
    def n_measurements(self) -> int:
        return int(self.A.shape[0])

    @property
    def pinv(self) -> np.ndarray:
        """``A^+`` of shape ``(B*B, m)`` (``A^T`` when the rows are orthonormal)."""
        if self._pinv is None:
            A = self.A
            G = A @ A.T
            if np.allclose(G, np.eye(A.shape[0]), atol=1e-8):
                self._pinv = np.ascontiguousarray(A.T)
            else:
                self._pinv = np.ascontiguousarray(np.linalg.pinv(A))
        return self._pinv


def _to_blocks(img: np.ndarray, B: int) -> np.ndarray:
    H, W = img.shape
    return np.ascontiguousarray(img.reshape(H // B, B, W // B, B).transpose(0, 2, 1, 3).reshape(-1, B * B))


def _from_blocks(rows: np.ndarray, shape, B: int) -> np.ndarray:
    H, W = shape
    return np.ascontiguousarray(rows.reshape(H // B, W // B, B, B).transpose(0, 2, 1, 3).reshape(H, W))


def pipeline_matrix(kind, m: int, n: int, rng) -> tuple[np.ndarray, str]:
    """The dense ``(m, n)`` sensing matrix the image and audio pipelines use, and its kind's name.

    ``kind`` is ``"gaussian"`` (orthonormal rows, the block-CS standard), ``"bernoulli"``,
    any kind of :func:`cs_toolkit.sensing.make_sensing`, or an array used as given ("custom").
    The same ``(kind, m, n, rng)`` always gives the same matrix: learned models rebuild theirs
    from it.
    """
    if not isinstance(kind, str):
        A = check_array(kind, "matrix", ndim=2, dtype=np.float64)
        if A.shape != (m, n):
            raise ValidationError(f"matrix must have shape ({m}, {n}) for this ratio and block size, got {A.shape}.")
        return A, "custom"
    gen = check_rng(rng)
    if kind == "gaussian":
        A = sensing.gaussian(m, n, rng=gen, dtype=np.float64, orthonormal_rows=True)
    elif kind == "bernoulli":
        A = sensing.bernoulli(m, n, rng=gen, dtype=np.float64)
    else:
        try:
            op = sensing.make_sensing(kind, m, n, rng=gen)
        except ValidationError as exc:
            raise ValidationError(str(exc).replace("kind must", "matrix must", 1)) from None
        A = op.to_dense() if hasattr(op, "to_dense") else np.asarray(op)
    return np.ascontiguousarray(np.asarray(A, dtype=np.float64)), kind


def _check_image(image, name="image"):
    """Validate an image; return ``(float64 array on [0, 255], input dtype)``."""
    if image is None:
        raise ValidationError(f"{name} must be an array, got None.")
    raw = np.asarray(image)
    if raw.dtype == bool:
        raw = raw.astype(np.uint8) * 255
    if raw.ndim not in (2, 3) or (raw.ndim == 3 and raw.shape[2] not in (1, 3, 4)):
        raise ValidationError(
            f"{name} must be a grey (H, W) or colour (H, W, 3) image, got an array of shape {raw.shape}."
        )
    in_dtype = raw.dtype
    if in_dtype.kind in "ui":
        if in_dtype != np.uint8:
            raise ValidationError(f"{name}: integer images must be uint8 (0-255), got {in_dtype}; "
                                  "convert to float in [0, 1].")
        img = raw.astype(np.float64)
    else:
        img = check_array(raw, name, ndim=(2, 3), dtype=np.float64) * 255.0
    if raw.ndim == 3 and raw.shape[2] == 4:  # drop alpha
        img = img[:, :, :3]
    return img, in_dtype


@single_thread_blas
def measure_image(image, ratio: float, *, block_size: int = 32, matrix="gaussian", rng=None) -> BlockMeasurements:
    """Measure an image block by block with one shared sensing matrix.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3)
        ``uint8`` on [0, 255] or float on [0, 1]; any size of at least one block is
        accepted (the image is padded symmetrically up to multiples of ``block_size``).
    ratio : float in (0, 1]
        Measurement ratio: ``m = round(ratio * block_size**2)`` per block; a ratio giving
        no measurement is refused.
    block_size : int, default 32
        Side of the square blocks.
    matrix : {"gaussian", "bernoulli"}, any kind known to :func:`cs_toolkit.sensing.make_sensing`, or ndarray
        ``"gaussian"`` has orthonormal rows (the BCS standard); an array of shape
        ``(m, block_size**2)`` is used as given.
    rng : None, int or numpy.random.Generator
        Randomness of the sensing matrix.

    Returns
    -------
    BlockMeasurements

    Raises
    ------
    ValidationError
        Ratio outside (0, 1], image smaller than one block, bad shapes or values.

    Examples
    --------
    >>> import numpy as np
    >>> meas = measure_image(np.zeros((40, 50)), 0.25, block_size=16, rng=0)
    >>> meas.Y.shape, meas.A.shape, meas.padded_shape
    ((1, 12, 64), (64, 256), (48, 64))
    """
    ratio = check_scalar("ratio", ratio, low=0.0, high=1.0, low_inclusive=False)
    B = check_int("block_size", block_size, low=2, high=256)
    img, in_dtype = _check_image(image)
    H, W = img.shape[:2]
    if H < B or W < B:
        raise ValidationError(f"image of size {H}x{W} is smaller than one block of {B}x{B}; "
                              "use a smaller block_size.")
    n = B * B
    m = int(round(ratio * n))
    if m < 1:
        raise ValidationError(f"ratio={ratio:g} gives no measurement per {B}x{B} block; "
                              f"the smallest usable ratio for block_size={B} is {1 / n:.3g}.")
    A, kind = pipeline_matrix(matrix, m, n, rng)
    Hp, Wp = -(-H // B) * B, -(-W // B) * B
    chans = img[:, :, None] if img.ndim == 2 else img
    Ys = []
    for c in range(chans.shape[2]):
        x = np.pad(chans[:, :, c], ((0, Hp - H), (0, Wp - W)), mode="symmetric")
        Ys.append(_to_blocks(x, B) @ A.T)
    return BlockMeasurements(np.stack(Ys), A, B, tuple(img.shape), (Hp, Wp), in_dtype, ratio, kind)


# ----------------------------------------------------------------------------------------
# bases
# ----------------------------------------------------------------------------------------
def _dct2_basis(B: int) -> np.ndarray:
    """Orthonormal 2-D DCT synthesis matrix ``(B*B, B*B)`` (atoms as columns)."""
    return np.ascontiguousarray(DCT2((B, B)).to_dense(), dtype=np.float64)


def _wavelet_basis(B: int) -> np.ndarray:
    """2-D Haar wavelet synthesis matrix ``(B*B, B*B)`` with all levels (orthonormal).

    Haar is the wavelet that fits small blocks: longer filters allow only one or
    two levels on a 16 or 32 sample block and compress worse there.
    """
    return np.ascontiguousarray(Wavelet2((B, B), wavelet="haar").to_dense(), dtype=np.float64)


def _basis(basis, n: int, B: int) -> np.ndarray:
    if isinstance(basis, str):
        check_option("basis", basis, ("dct", "wavelet"))
        return _dct2_basis(B) if basis == "dct" else _wavelet_basis(B)
    D = check_array(basis, "basis", ndim=2, dtype=np.float64)
    if D.shape[0] != n:
        raise ValidationError(f"basis must be a dictionary of shape ({n}, n_atoms) for {B}x{B} blocks, "
                              f"got shape {D.shape}.")
    return D


# ----------------------------------------------------------------------------------------
# reconstruction
# ----------------------------------------------------------------------------------------
def _project(X, Y, A, P):
    """Projection onto ``{x : A x = y}`` for every block (one GEMM each way)."""
    return X + (Y - X @ A.T) @ P.T


class BlockConstraint:
    """The measurement set ``{x : A x_b = y_b for every block b}`` of one channel.

    ``project(u)`` is the orthogonal projection onto it, ``null_project(g)`` onto the
    null space of the block operator (the derivative of ``project``, self-adjoint):
    what the trained diffusion stages (:mod:`cs_toolkit.learned.diffusion`) need.
    """

    def __init__(self, Y, A, P, shape, B):
        B = check_int("B", B, low=1)
        shape = tuple(int(v) for v in shape)
        if len(shape) != 2 or shape[0] % B or shape[1] % B or min(shape) < B:
            raise ValidationError(f"shape must be (H, W) with multiples of B = {B}, got {shape}.")
        n_blocks = (shape[0] // B) * (shape[1] // B)
        if np.ndim(A) != 2 or np.shape(A)[1] != B * B:
            raise ValidationError(f"A must have shape (m, {B * B}), got {np.shape(A)}.")
        m = np.shape(A)[0]
        if np.shape(P) != (B * B, m):
            raise ValidationError(f"P must have shape ({B * B}, {m}) (the pseudo-inverse of A), got {np.shape(P)}.")
        if np.shape(Y) != (n_blocks, m):
            raise ValidationError(f"Y must have shape ({n_blocks}, {m}) (blocks x measurements), got {np.shape(Y)}.")
        self.Y, self.A, self.P, self.shape, self.B = Y, A, P, shape, B
        self._zero = np.zeros_like(Y)

    def project(self, u):
        return _from_blocks(_project(_to_blocks(u, self.B), self.Y, self.A, self.P), self.shape, self.B)

    def null_project(self, g):
        return _from_blocks(_project(_to_blocks(g, self.B), self._zero, self.A, self.P), self.shape, self.B)


def _bcs_spl(Y, A, P, shape, B, *, lam, max_iter, tol, progress=None):
    X = Y @ P.T
    x = _from_blocks(X, shape, B)
    d_prev = None
    n_reduce = 0
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        xh = den.wiener_smooth(x)
        x1 = _from_blocks(_project(_to_blocks(xh, B), Y, A, P), shape, B)
        xb = den.wavelet_shrink(x1, lam)
        x = _from_blocks(_project(_to_blocks(xb, B), Y, A, P), shape, B)
        d = float(np.sqrt(np.mean((x - x1) ** 2)))
        if progress is not None:
            progress.update(1)
        if d_prev is not None and abs(d - d_prev) < tol:
            if n_reduce == 4:
                break
            lam *= 0.6
            n_reduce += 1
        d_prev = d
    return x, n_iter


def _pnp(Y, A, P, shape, B, x0, *, denoiser, sigma0, sigma_end, n_iter, progress=None):
    """Plug-and-play projected Landweber with Nesterov momentum.

    ``z = x_k + k/(k+3) (x_k - x_{k-1})``, ``x_{k+1} = P_y(D_sigma_k(z))`` with a
    geometric schedule ``sigma_k`` from ``sigma0`` down to ``sigma_end``.
    """
    x = x_prev = x0
    for k, s in enumerate(np.geomspace(sigma0, sigma_end, n_iter)):
        z = x + (k / (k + 3.0)) * (x - x_prev)
        x_prev = x
        x = _from_blocks(_project(_to_blocks(denoiser(z, s), B), Y, A, P), shape, B)
        if progress is not None:
            progress.update(1)
    return x


def _pnp_dct(Y, A, P, shape, B, x0, *, sigma0=20.0, sigma_end=3.0, n_iter=60, n_wiener=10,
             progress=None):
    """Plug-and-play projected Landweber with the sliding patch-DCT denoisers (no momentum).

    ``x_{k+1} = P_y(H_sigma_k(x_k))`` with ``H`` patch-DCT hard thresholding and a geometric
    schedule ``sigma_k`` from ``sigma0`` to ``sigma_end``, then ``n_wiener`` iterations
    ``x <- P_y(W_sigma_end(x; pilot=x))`` with the patch-DCT empirical Wiener filter.
    Hard thresholding is not a contraction: Nesterov momentum makes this loop drift,
    so there is none.
    """
    p = min(8, shape[0], shape[1])

    def project(z):
        return _from_blocks(_project(_to_blocks(z, B), Y, A, P), shape, B)

    x = x0
    for s in np.geomspace(sigma0, sigma_end, n_iter):
        x = project(den.patch_dct_threshold(x, s, patch_size=p))
        if progress is not None:
            progress.update(1)
    for _ in range(n_wiener):
        x = project(den.patch_dct_wiener(x, x, sigma_end, patch_size=p))
        if progress is not None:
            progress.update(1)
    return x


def _block_solve(Y, A, D, solver, options):
    from ..solvers import get_solver, solve

    M = A @ D
    spec = get_solver(solver)
    opts = dict(options)
    if "lam" in spec.options and "lam" not in opts and spec.sparsity_param is None:
        # a penalty relative to each block's largest correlation (scale free)
        corr = np.abs(Y @ M).max(axis=1)
        opts["lam"] = opts.pop("lam_rel", 0.005) * np.maximum(corr, 1e-12)
    opts.pop("lam_rel", None)
    if spec.sparsity_param and spec.sparsity_param not in opts:
        opts[spec.sparsity_param] = max(1, A.shape[0] // 4)
    if "max_iter" in spec.options and "max_iter" not in opts:
        opts["max_iter"] = 500
    elif "max_iter" not in spec.options:
        opts.pop("max_iter", None)
    import warnings

    from ..exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        C = solve(M, Y, solver, **opts)
    return C @ D.T


@single_thread_blas
def reconstruct_image(meas: BlockMeasurements, *, method: str = DEFAULT_IMAGE_METHOD, basis="dct",
                      lam: float | None = None, max_iter: int | None = None, tol: float = 1e-4,
                      model=None, progress: bool = False, **solver_options):
    """Reconstruct an image from its block measurements.

    Parameters
    ----------
    meas : BlockMeasurements
        Output of :func:`measure_image`.
    method : str, default ``DEFAULT_IMAGE_METHOD`` ("pnp_dct")
        ``"pnp_dct"``, ``"pnp_tv"``, ``"bcs_spl"``, ``"lista"`` or the name of a
        registered solver (per-block recovery in ``basis``; see :func:`cs_toolkit.solvers.list_solvers`).
    basis : {"dct", "wavelet"} or ndarray of shape (block_size**2, n_atoms), default "dct"
        Sparsifying basis of the per-block solvers (a learned dictionary, for instance).
    lam : float, optional
        BCS-SPL initial threshold multiplier (default 6); for penalty solvers, the
        penalty relative to each block's largest correlation (default 0.005).
    max_iter : int, optional
        BCS-SPL iterations (default 200), plug-and-play iterations (``pnp_dct``: 60
        thresholding iterations, followed by 10 Wiener iterations, also for the ``pnp_dct``
        start of ``tnrd``; ``pnp_tv``: 120), or
        iterations of an iterative per-block solver (default 500).
    tol : float, default 1e-4
        BCS-SPL stopping tolerance on the change of the RMS update (0-255 scale).
    model : str, path or model object, optional
        Learned reconstructor for ``method="lista"`` (required), or trained diffusion
        stages for ``method="tnrd"`` (default: the bundled model for the ratio, :func:`default_tnrd_model`).
    progress : bool, default False
        Show a tqdm progress bar.
    **solver_options
        Passed to the per-block solver (e.g. ``n_nonzero_coefs`` for OMP).

    Returns
    -------
    ndarray
        The reconstruction, of the shape of the original image; ``uint8`` when the
        input was ``uint8``, else float on [0, 1] (clipped).

    Notes
    -----
    BCS-SPL (Mun & Fowler 2009) alternates ``x <- P(W(x))`` and ``x <- P(S_lam(x))``,
    ``W`` the 3x3 Wiener filter, ``P`` the projection ``x + A^+ (y - A x)`` on every
    block and ``S_lam`` bivariate shrinkage in a 4-level CDF 9/7 wavelet transform;
    when the RMS change stalls, ``lam`` is multiplied by 0.6 (four times at most).
    ``"pnp_dct"`` starts from the BCS-SPL result and iterates ``x <- P(H_sigma(x))``,
    ``H`` hard thresholding at ``2.7 sigma`` of the 2-D DCT of every overlapping 8x8
    patch with weighted averaging of the patches (Yu & Sapiro 2011; Dabov et al. 2007),
    ``sigma`` decreasing geometrically from 20 to 3 (0-255 scale), then 10 iterations
    ``x <- P(W(x))`` with the patch-DCT Wiener filter guided by ``x`` itself.
    ``"pnp_tv"`` starts from the BCS-SPL result and iterates ``x <- P(D_sigma(z))``,
    ``z`` the Nesterov extrapolation, ``D`` TV denoising whose strength ``sigma``
    decreases geometrically from 10 to 0.5 (0-255 scale).
    """
    if not isinstance(meas, BlockMeasurements):
        raise ValidationError(f"meas must be a BlockMeasurements (from measure_image), got {type(meas).__name__}.")
    if not isinstance(method, str):
        raise ValidationError(f"method must be a string, got {type(method).__name__}.")
    from ..solvers import list_solvers

    valid = list(IMAGE_METHODS) + list_solvers()
    if method not in valid:
        raise ValidationError(f"method must be one of {', '.join(map(repr, valid))}; got {method!r}.")
    if max_iter is not None:
        max_iter = check_int("max_iter", max_iter, low=1)
    if lam is not None:
        lam = check_scalar("lam", lam, low=0.0)
    if method in IMAGE_METHODS and solver_options:
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, sorted(solver_options)))} "
                              f"for method {method!r}.")
    B, A, P = meas.block_size, meas.A, meas.pinv
    shape = meas.padded_shape
    H, W = meas.image_shape[:2]
    if method == "tnrd":  # loaded once for all channels, before anything runs
        net, start = _tnrd_model(model, meas.ratio)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"reconstruct ({method})", unit="it", leave=False)
    chans = []
    try:
        for Y in meas.Y:
            if method == "bcs_spl":
                x, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0 if lam is None else lam,
                                max_iter=max_iter or 200, tol=tol, progress=bar)
            elif method in ("pnp_dct", "pnp_tv"):
                # both plug-and-play loops start from the BCS-SPL reconstruction
                x0, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0, max_iter=200, tol=tol, progress=bar)
                if method == "pnp_dct":
                    x = _pnp_dct(Y, A, P, shape, B, x0, n_iter=max_iter or 60, progress=bar)
                else:
                    x = _pnp(Y, A, P, shape, B, x0, denoiser=_tv_half, sigma0=10.0, sigma_end=0.5,
                             n_iter=max_iter or 120, progress=bar)
            elif method == "tnrd":
                x0 = _tnrd_start(Y, A, P, shape, B, start, tol=tol, n_iter=max_iter, progress=bar)
                x = net.forward(x0, BlockConstraint(Y, A, P, shape, B))
            elif method == "lista":
                x = _from_blocks(apply_block_model(Y, A, model, "image"), shape, B)
            else:
                D = _basis(basis, A.shape[1], B)
                opts = dict(solver_options)
                if lam is not None:
                    opts["lam_rel"] = lam
                if max_iter is not None:
                    opts["max_iter"] = max_iter
                x = _from_blocks(_block_solve(Y, A, D, method, opts), shape, B)
            chans.append(x[:H, :W])
    finally:
        if bar is not None:
            bar.close()
    out = chans[0] if len(meas.image_shape) == 2 else np.stack(chans, axis=2)
    return _from_255(out, meas.input_dtype)


def _tnrd_start(Y, A, P, shape, B, start, *, tol=1e-4, n_iter=None, progress=None):
    """The classical reconstruction the diffusion stages start from, the same in training and in
    :func:`reconstruct_image`: BCS-SPL, followed by ``pnp_dct`` (``n_iter`` iterations, default 60)
    when ``start`` is ``"pnp_dct"``."""
    x0, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0, max_iter=200, tol=tol, progress=progress)
    if start == "pnp_dct":
        x0 = _pnp_dct(Y, A, P, shape, B, x0, n_iter=n_iter or 60, progress=progress)
    return x0


def _tnrd_model(model, ratio):
    """``(stages, start)`` of method ``"tnrd"``: ``model`` (a file or a ``DiffusionStages``, left
    unchanged) or the bundled one for ``ratio``, and the classical start its training record names
    (BCS-SPL when it names none)."""
    from ..learned.diffusion import DiffusionStages, load_diffusion

    if model is None:
        model = default_tnrd_model(ratio)
    net = model if isinstance(model, DiffusionStages) else load_diffusion(model)
    rec = net.training_record if isinstance(getattr(net, "training_record", None), dict) else {}
    start = rec.get("start", "bcs_spl")
    if start not in TNRD_STARTS:
        raise ValidationError(f"the diffusion stages' training record names the start {start!r}; "
                              f"expected one of {TNRD_STARTS}.")
    return net, start


def training_samples(images, ratios, *, start="bcs_spl", block_size=32, matrix="gaussian", rng=None, n_jobs=1):
    """Training triples ``(x0, x_true, constraint)`` for :func:`cs_toolkit.learned.diffusion.train_diffusion`.

    Every image is measured at every ratio (its own sensing matrix, drawn from ``rng``)
    and reconstructed by the classical ``start`` method; images and starts are on the
    [0, 255] scale, cropped to whole blocks.

    Parameters
    ----------
    images : list of ndarray (H, W)
        Grey images, ``uint8`` on [0, 255] or float on [0, 1]; at least one block each.
    ratios : sequence of float in (0, 1]
    start : {"bcs_spl", "pnp_dct"}, default "bcs_spl"
    block_size : int, default 32
    matrix : str, default "gaussian"
    rng : None, int or numpy.random.Generator
    n_jobs : int, default 1
        Threads computing the starts (the measurements are drawn first, in order:
        the result does not depend on it).

    Returns
    -------
    list of (ndarray, ndarray, BlockConstraint)
    """
    check_option("start", start, TNRD_STARTS)
    rng = check_rng(rng)
    todo = []
    for k, img in enumerate(images):
        x, _ = _check_image(img, f"images[{k}]")
        if x.ndim != 2:
            raise ValidationError(f"images[{k}] must be a grey (H, W) image, got shape {x.shape}.")
        H, W = (x.shape[0] // block_size) * block_size, (x.shape[1] // block_size) * block_size
        if H == 0 or W == 0:
            raise ValidationError(f"images[{k}] of shape {x.shape} is smaller than one {block_size}x{block_size} "
                                  "block.")
        x = np.ascontiguousarray(x[:H, :W])
        for r in ratios:
            meas = measure_image(x / 255.0, r, block_size=block_size, matrix=matrix, rng=rng)
            todo.append((x, BlockConstraint(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, block_size)))

    def one(item):
        x, c = item
        return _tnrd_start(c.Y, c.A, c.P, c.shape, block_size, start), x, c

    n_jobs = check_int("n_jobs", n_jobs, low=1)
    if n_jobs == 1:
        return [one(t) for t in todo]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(n_jobs) as ex:
        return list(ex.map(one, todo))


@single_thread_blas
def train_tnrd(images, *, ratios=(0.1, 0.25, 0.5), validation=(), start="bcs_spl", n_stages=5, filter_size=5,
               block_size=32, matrix="gaussian", max_iter=100, objective="mse", rng=None, n_jobs=1, verbose=False):
    """Train diffusion stages (method ``"tnrd"``) on grey training images; returns ``(model, history)``.

    Every image is measured at every ratio and reconstructed by ``start``; the stages
    are then trained end to end (L-BFGS, :func:`cs_toolkit.learned.diffusion.train_diffusion`)
    to turn those starts into the images, and the iterate that scores best on the
    ``validation`` images (measured the same way) is kept. The model records its start,
    ratios, block size and training figures (``model.training_record``, saved with it).

    Parameters
    ----------
    images, validation : list of ndarray (H, W)
        Grey training and validation images (``uint8`` or float on [0, 1]).
    ratios : sequence of float, default (0.1, 0.25, 0.5)
    start : {"bcs_spl", "pnp_dct"}, default "bcs_spl"
    n_stages, filter_size : int, default 5, 5
    block_size : int, default 32
    matrix : str, default "gaussian"
    max_iter : int, default 100
        L-BFGS iterations.
    objective : {"mse", "psnr"}, default "mse"
        The pooled squared error (the hard, low-ratio cases weigh most) or the mean PSNR
        over images and ratios (every case alike); see
        :meth:`~cs_toolkit.learned.diffusion.DiffusionStages.loss_and_grad`.
    rng : None, int or numpy.random.Generator
        Draws the sensing matrices.
    n_jobs : int, default 1
        Threads for the classical starts and the gradient evaluations.
    verbose : bool, default False

    Returns
    -------
    model : cs_toolkit.learned.diffusion.DiffusionStages
    history : dict
        As returned by :func:`~cs_toolkit.learned.diffusion.train_diffusion`, plus ``samples_s``
        (time spent on the classical starts).
    """
    from ..learned.diffusion import DiffusionStages, train_diffusion

    if not isinstance(images, list | tuple) or not images:
        raise ValidationError("images must be a non-empty list of grey images.")
    ratios = tuple(float(check_scalar("ratios", r, low=0.0, high=1.0, low_inclusive=False)) for r in ratios)
    if not ratios:
        raise ValidationError("ratios must hold at least one measurement ratio.")
    rng = check_rng(rng)
    model = DiffusionStages(n_stages, filter_size=filter_size)
    t0 = time.perf_counter()
    train_set = training_samples(list(images), ratios, start=start, block_size=block_size, matrix=matrix,
                                 rng=rng, n_jobs=n_jobs)
    val_set = training_samples(list(validation), ratios, start=start, block_size=block_size, matrix=matrix,
                               rng=rng, n_jobs=n_jobs) if validation else None
    t_samples = time.perf_counter() - t0
    if verbose:
        print(f"{len(train_set)} training and {len(val_set or ())} validation starts ({start}) in "
              f"{t_samples:.0f} s", flush=True)
    hist = train_diffusion(model, train_set, validation=val_set, max_iter=max_iter, objective=objective,
                           n_threads=n_jobs, verbose=verbose)
    hist["samples_s"] = t_samples
    model.training_record = {"start": start, "ratios": list(ratios), "block_size": int(block_size),
                             "matrix": str(matrix), "objective": objective, "n_images": len(images),
                             "n_validation": len(validation),
                             "iterations": len(hist["iterations"]), "time_s": hist["time_s"] + t_samples,
                             "best_val_psnr_db": hist["best_val_psnr_db"] if val_set else None}
    return model, hist


def _tv_half(x, sigma):
    return den.tv_denoise(x, sigma, weight_factor=0.5)


def _from_255(x: np.ndarray, in_dtype) -> np.ndarray:
    x = np.clip(x, 0.0, 255.0)
    if np.dtype(in_dtype) == np.uint8 or np.dtype(in_dtype) == bool:
        return np.round(x).astype(np.uint8)
    dt = np.float32 if np.dtype(in_dtype) == np.float32 else np.float64
    return (x / 255.0).astype(dt)


def _to_255(image) -> np.ndarray:
    img, _ = _check_image(image)
    return img


def image_quality(reference, estimate) -> dict:
    """PSNR and SSIM of ``estimate`` against ``reference``, both on the [0, 255] scale.

    ``uint8`` inputs are on [0, 255]; float inputs are taken on [0, 1] and scaled.
    Returns ``{"psnr": dB, "ssim": value}``; images smaller than 7 pixels on a side get
    SSIM with the largest odd window that fits (NaN below 3 pixels).
    """
    ref, est = _to_255(reference), _to_255(estimate)
    if ref.shape != est.shape:
        raise ValidationError(f"Dimension mismatch: reference has shape {ref.shape}, estimate {est.shape}.")
    mse = float(np.mean((ref - est) ** 2))
    psnr = float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))
    from skimage.metrics import structural_similarity

    kw = {"channel_axis": 2} if ref.ndim == 3 else {}
    side = min(ref.shape[:2])
    if side < 7:  # scikit-image's default 7x7 window does not fit: the largest odd one that does
        kw["win_size"] = side if side % 2 else side - 1
    ssim = float(structural_similarity(ref, est, data_range=255.0, **kw)) if side >= 3 else float("nan")
    return {"psnr": psnr, "ssim": ssim}


def compressive_image(image, ratio: float, *, method: str = DEFAULT_IMAGE_METHOD, block_size: int = 32,
                      matrix="gaussian", rng=None, **options):
    """Measure and reconstruct an image in one call; return the reconstruction and its quality.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3)
        ``uint8`` on [0, 255] or float on [0, 1].
    ratio : float in (0, 1]
        Measurement ratio.
    method : str, default ``DEFAULT_IMAGE_METHOD``
        See :func:`reconstruct_image`.
    block_size : int, default 32
    matrix : str or ndarray, default "gaussian"
    rng : None, int or numpy.random.Generator
    **options
        Passed to :func:`reconstruct_image` (``basis``, ``lam``, ``max_iter``, ``model``, ...).

    Returns
    -------
    recon : ndarray
        As returned by :func:`reconstruct_image`.
    quality : dict
        ``psnr`` (dB) and ``ssim`` on the [0, 255] scale, ``time`` (s, reconstruction only),
        ``ratio``, ``method``, ``block_size``, ``matrix``, ``n_measurements``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.tile(np.linspace(0, 1, 32), (32, 1))
    >>> rec, q = compressive_image(img, 1.0, method="bcs_spl", block_size=16, rng=0, max_iter=2)
    >>> q["psnr"] > 60
    True
    """
    meas = measure_image(image, ratio, block_size=block_size, matrix=matrix, rng=rng)
    t0 = time.perf_counter()
    rec = reconstruct_image(meas, method=method, **options)
    elapsed = time.perf_counter() - t0
    q = image_quality(image, rec)
    q.update(time=elapsed, ratio=float(ratio), method=method, block_size=meas.block_size,
             matrix=meas.matrix, n_measurements=meas.n_measurements)
    return rec, q


@single_thread_blas
def whole_image_cs(image, ratio: float, *, operator: str = "srdct", wavelet: str = "db4", level: int | None = None,
                   lam: float = 1e-3, max_iter: int = 200, rng=None):
    """Whole-image CS with a matrix-free structured operator and wavelet sparsity, solved by FISTA.

    The whole (grey) image ``x`` of ``n = H*W`` pixels is measured at once,
    ``y = Phi x`` with ``m = round(ratio * n)``, ``Phi`` a structured operator from
    :func:`cs_toolkit.sensing.make_sensing` (never stored as a matrix), and recovered as
    ``x = W c`` with ``min_c 1/2 ||Phi W c - y||^2 + lam' ||c||_1`` (``W`` the periodized
    2-D wavelet synthesis, ``lam' = lam * max|W^T Phi^T y|``) by :func:`cs_toolkit.solvers.fista`
    on the composed operator ``Phi @ W``.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        ``uint8`` on [0, 255] or float on [0, 1]; ``H`` and ``W`` must be divisible by ``2**level``.
    ratio : float in (0, 1]
    operator : str, default "srdct"
        A structured kind of :func:`cs_toolkit.sensing.make_sensing` ("srdct", "srht",
        "partial_dct", ...).
    wavelet : str, default "db4"
    level : int, optional
        Wavelet levels (default: as many as fit, at most 4).
    lam : float, default 1e-3
        Penalty relative to the largest correlation.
    max_iter : int, default 200
    rng : None, int or numpy.random.Generator

    Returns
    -------
    recon : ndarray
        As :func:`reconstruct_image` (``uint8`` for ``uint8`` input, else float on [0, 1]).
    quality : dict
        ``psnr``, ``ssim``, ``time``, ``ratio``, ``method`` ("whole_" + operator), ``n_measurements``.
    """
    from ..sensing import make_sensing
    from ..solvers import fista
    from ..transforms import Wavelet2

    ratio = check_scalar("ratio", ratio, low=0.0, high=1.0, low_inclusive=False)
    lam = check_scalar("lam", lam, low=0.0)
    max_iter = check_int("max_iter", max_iter, low=1)
    img, in_dtype = _check_image(image)
    if img.ndim != 2:
        raise ValidationError(f"image must be grey (H, W) for whole-image CS, got shape {img.shape}.")
    H, W = img.shape
    n = H * W
    m = max(1, int(round(ratio * n)))
    try:
        Phi = make_sensing(operator, m, n, rng=check_rng(rng))
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("kind must", "operator must", 1)) from None
    if level is None:
        import pywt

        level = max(1, min(4, pywt.dwt_max_level(min(H, W), pywt.Wavelet(wavelet).dec_len)))
        while level > 1 and (H % 2**level or W % 2**level):
            level -= 1
    Psi = Wavelet2((H, W), wavelet=wavelet, level=level)
    y = Phi.forward(img.ravel())
    t0 = time.perf_counter()
    M = Phi @ Psi
    corr = float(np.abs(M.adjoint(y)).max())
    import warnings

    from ..exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        c = fista(M, y, lam=lam * max(corr, 1e-12), max_iter=max_iter)
    x = Psi.forward(c).reshape(H, W)
    elapsed = time.perf_counter() - t0
    rec = _from_255(x, in_dtype)
    q = image_quality(image, rec)
    q.update(time=elapsed, ratio=float(ratio), method=f"whole_{operator}", n_measurements=m)
    return rec, q

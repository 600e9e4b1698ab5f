"""Block-based compressive sensing of images.

An image is cut into ``B x B`` blocks (default ``B = 32``), every block is
measured with the same ``(m, B*B)`` sensing matrix, ``m = round(ratio * B*B)``,
and the blocks are recovered either one by one in a sparsifying basis (any
registered solver, batch-solved) or jointly as a whole image:

``"bcs_spl"``
    Smoothed projected Landweber (Mun & Fowler 2009): Wiener smoothing,
    projection onto the measurement set of every block, bivariate wavelet
    shrinkage of the whole image, with a decreasing threshold.
``"pnp_dct"``
    Plug-and-play projected Landweber (Venkatakrishnan et al. 2013) warm-started
    from BCS-SPL: a sliding-window 8x8 patch-DCT hard-thresholding denoiser (Yu &
    Sapiro 2011) with a decreasing noise level, alternated with the projection onto
    the measurements, then a few iterations with the patch-DCT empirical Wiener
    filter guided by the current estimate (the second step of BM3D without grouping).
    1.3 to 13 dB above BCS-SPL on the bundled images (B = 32, ratios 0.1-0.5); the
    most on textures, the least on cartoon-like images.
``"pnp_lr"`` (the default here, the best classical method)
    The same loop with a low-rank collaborative filter: each group of similar 8x8 patches (found
    as for ``pnp_nl``), less its mean patch, has its singular values shrunk with the weights of
    weighted nuclear norm minimisation (Gu et al. 2014; for CS, Dong et al. 2014, NLR-CS), an
    adaptive basis per group where ``pnp_nl`` uses the fixed 3-D DCT; no Wiener phase; 60
    iterations with the noise level falling from 40 to 1.5 (0-255 scale). Chosen on the validation
    pictures chelsea and coffee (+0.2 / +0.7 / +0.9 dB over ``pnp_nl`` on average at ratios 0.1 /
    0.25 / 0.5, most on coffee, with the earlier schedule from 20 to 3; the present one, chosen on
    the training and validation pictures, adds a median +0.3 / +0.3 / +0.5 dB there), in about
    twice ``pnp_nl``'s time.
``"pnp_nl"``
    The same loop with non-local denoisers (BM3D-style, Dabov et al. 2007): similar 8x8
    patches grouped by block matching (on their lowest DCT frequencies), each group hard
    thresholded, then Wiener filtered, in a 3-D DCT. Chosen on validation pictures (above
    ``pnp_dct`` at every ratio there); on the bundled test images +0.71 / +0.09 / -0.05 dB
    over ``pnp_dct`` at ratios 0.1 / 0.25 / 0.5 (-0.5 to +1.2 dB per image; it loses on the
    periodic brick texture at 0.25 and 0.5), in about 1.6 times its time. Both loops' noise
    levels fall to 1.5 (``pnp_dct`` from 30, ``pnp_nl`` from 20; chosen on the training and
    validation pictures).
``"pnp_nl_learned"`` (the default of ``cs-toolkit reconstruct`` where its bundled model serves: ratios 0.1 to 0.5)
    A non-local loop (the one its model names: ``pnp_lr`` for the bundled model) followed by trained
    collaborative-filter stages
    (:class:`~cs_toolkit.signals.NonLocalStages`: a learned shrinkage of every coefficient of the
    groups in a 3-D transform, for the bundled model each group's principal axes in the start
    times the 2-D DCT of the patches, a learned step, the projection), one model for ratios 0.1
    to 0.5, 32x32 blocks, Gaussian sensing (``cs_toolkit/learned/models/nl_stages_images.npz``,
    trained by ``benchmarks/nl_images.py``: 12 stages, steps bounded to [0, 2]); +0.33 / +0.39 /
    +0.44 dB over ``pnp_lr`` at ratios 0.1 / 0.25 / 0.5 on average on the bundled test images,
    which it never saw (+0.01 to +1.27 dB per image; the CLI uses it at every ratio 0.1 to 0.5,
    where it beat ``pnp_lr`` on the validation pictures).
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

import numpy as np

from .. import sensing
from .._validation import check_array, check_int, check_rng, check_scalar, dense_matrix
from ..exceptions import ValidationError
from ..transforms import Wavelet2, image_to_tiles, tiles_to_image
from ._denoisers import single_thread_blas
from ._image_loops import (
    BlockConstraint,
    _basis,
    _bcs_spl,
    _block_solve,
    _pnp,
    _tv_half,
)
from ._image_tnrd import (
    DEFAULT_TNRD_MODEL,
    TNRD_STARTS,
    _tnrd_model,
    _tnrd_start,
    default_tnrd_model,
    train_tnrd,
    training_samples,
)
from ._learned import apply_block_model
from ._measure_checks import check_block_measurements, whole_image_operator
from .methods import check_method_options, list_methods

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
    "default_tnrd_model",
    "DEFAULT_TNRD_MODEL",
    "TNRD_STARTS",
    "training_samples",
    "train_tnrd",
    "DEFAULT_IMAGE_METHOD",
]

#: The best-quality classical method (top of the README table); used when no method is given.
DEFAULT_IMAGE_METHOD = "pnp_lr"
#: Whole-image methods (:mod:`cs_toolkit.signals.methods`; per-block solver names come from the solver registry).
IMAGE_METHODS = tuple(list_methods("image"))


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

    ``Y`` and ``A`` are checked (shapes against the other fields, NaN, Inf) on construction,
    ``dataclasses.replace`` included, and by :func:`reconstruct_image` (``ValidationError``).
    """

    Y: np.ndarray
    A: np.ndarray
    block_size: int
    image_shape: tuple
    padded_shape: tuple
    input_dtype: np.dtype
    ratio: float
    matrix: str
    _pinv: np.ndarray | None = field(default=None, repr=False, init=False)  # not copied by replace()

    def __post_init__(self):
        check_block_measurements(self)

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
        A = dense_matrix(op, "matrix", copy=False)
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
        Ys.append(image_to_tiles(x, B) @ A.T)
    return BlockMeasurements(np.stack(Ys), A, B, tuple(img.shape), (Hp, Wp), in_dtype, ratio, kind)


@single_thread_blas
def reconstruct_image(meas: BlockMeasurements, *, method: str = DEFAULT_IMAGE_METHOD, basis="dct",
                      lam: float | None = None, max_iter: int | None = None, tol: float = 1e-4,
                      model=None, progress: bool = False, dtype=None, **solver_options):
    """Reconstruct an image from its block measurements.

    Parameters
    ----------
    meas : BlockMeasurements
        Output of :func:`measure_image`.
    method : str, default ``DEFAULT_IMAGE_METHOD`` ("pnp_lr")
        ``"pnp_lr"``, ``"pnp_nl"``, ``"pnp_dct"``, ``"pnp_tv"``, ``"bcs_spl"``, ``"pnp_nl_learned"``,
        ``"tnrd"``, ``"lista"`` or the name of a
        registered solver (per-block recovery in ``basis``; see :func:`cs_toolkit.solvers.list_solvers`).
    basis : {"dct", "wavelet"} or ndarray of shape (block_size**2, n_atoms), default "dct"
        Sparsifying basis of the per-block solvers (a learned dictionary, for instance).
    lam : float, optional
        BCS-SPL initial threshold multiplier (default 6); for penalty solvers, the
        penalty relative to each block's largest correlation (default 0.005).
    max_iter : int, optional
        BCS-SPL iterations (default 200), plug-and-play iterations (``pnp_lr``: 60; ``pnp_nl``, ``pnp_dct``: 60
        thresholding iterations, followed by 10 Wiener iterations, also for the ``pnp_dct``
        start of ``tnrd``; ``pnp_tv``: 120), or
        iterations of an iterative per-block solver (default 500).
    tol : float >= 0, default 1e-4
        BCS-SPL stopping tolerance on the change of the RMS update (0-255 scale).
    model : str, path or model object, optional
        Learned reconstructor for ``method="lista"`` (required), trained diffusion
        stages for ``method="tnrd"`` (default: the bundled model for the ratio, :func:`default_tnrd_model`),
        or trained non-local stages for ``method="pnp_nl_learned"`` (default: the bundled model;
        measurements of another block size, matrix kind or a ratio outside its range are refused).
    progress : bool, default False
        Show a tqdm progress bar.
    dtype : {None, "float64", "float32"}, default None (float64)
        Working precision of ``"bcs_spl"``, ``"pnp_dct"``, ``"pnp_nl"``, ``"pnp_lr"`` and ``"pnp_nl_learned"``:
        ``"float32"`` runs their loops, patch denoisers and learned stages in float32 (faster, half
        the memory; within about 0.02 dB of the float64 result). Other methods compute in float64 and
        refuse ``"float32"``.
    **solver_options
        Passed to the per-block solver (e.g. ``n_nonzero_coefs`` for OMP; a sparsity solver
        not given its sparsity keeps ``m // 4`` coefficients per block).

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
    ``sigma`` decreasing geometrically from 30 to 1.5 (0-255 scale) over 60 iterations, then 10
    iterations ``x <- P(W(x))`` with the patch-DCT Wiener filter guided by ``x`` itself.
    ``"pnp_nl"`` runs it with the grouped 3-D DCT filters, ``sigma`` from 20 to 1.5.
    ``"pnp_lr"`` runs the same projected loop with the low-rank collaborative filter in place of
    ``H``, ``sigma`` decreasing geometrically from 40 to 1.5 over 60 iterations, no Wiener phase.
    ``"pnp_tv"`` starts from the BCS-SPL result and iterates ``x <- P(D_sigma(z))``,
    ``z`` the Nesterov extrapolation, ``D`` TV denoising whose strength ``sigma``
    decreases geometrically from 10 to 0.5 (0-255 scale).
    """
    if not isinstance(meas, BlockMeasurements):
        raise ValidationError(f"meas must be a BlockMeasurements (from measure_image), got {type(meas).__name__}.")
    check_block_measurements(meas)  # fields may have been set after construction
    tol = check_scalar("tol", tol, low=0.0)
    if not isinstance(method, str):
        raise ValidationError(f"method must be a string, got {type(method).__name__}.")
    lam, max_iter = check_method_options("image", method, lam=lam, max_iter=max_iter,
                                         solver_options=solver_options)
    work = _work_precision(dtype, method)
    B, A, P = meas.block_size, meas.A.astype(work, copy=False), meas.pinv.astype(work, copy=False)
    shape = meas.padded_shape
    H, W = meas.image_shape[:2]
    if method == "tnrd":  # loaded once for all channels, before anything runs
        net, start = _tnrd_model(model, meas.ratio)
    elif method == "pnp_nl_learned":
        from ._image_nlstages import check_nl_settings, default_nl_model

        net = default_nl_model(model)
        check_nl_settings(net, ratio=meas.ratio, block_size=B, matrix=meas.matrix)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc=f"reconstruct ({method})", unit="it", leave=False)
    chans = []
    try:
        for Y in meas.Y:
            Y = Y.astype(work, copy=False)
            if method == "bcs_spl":
                x, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0 if lam is None else lam,
                                max_iter=max_iter or 200, tol=tol, progress=bar)
            elif method in ("pnp_nl", "pnp_nl_learned", "pnp_dct", "pnp_lr"):
                # BCS-SPL, then the loop (the learned stages continue their model's loop)
                loop = net.start if method == "pnp_nl_learned" else method
                x = _tnrd_start(Y, A, P, shape, B, loop, tol=tol, n_iter=max_iter, progress=bar)
                if method == "pnp_nl_learned":
                    x = net.forward(x, BlockConstraint(Y, A, P, shape, B))
            elif method == "pnp_tv":  # from the BCS-SPL reconstruction too
                x0, _ = _bcs_spl(Y, A, P, shape, B, lam=6.0, max_iter=200, tol=tol, progress=bar)
                x = _pnp(Y, A, P, shape, B, x0, denoiser=_tv_half, sigma0=10.0, sigma_end=0.5,
                         n_iter=max_iter or 120, progress=bar)
            elif method == "tnrd":
                x0 = _tnrd_start(Y, A, P, shape, B, start, tol=tol, n_iter=max_iter, progress=bar)
                x = net.forward(x0, BlockConstraint(Y, A, P, shape, B))
            elif method == "lista":
                x = tiles_to_image(apply_block_model(Y, A, model, "image"), shape, B)
            else:
                D = _basis(basis, A.shape[1], B)
                opts = dict(solver_options)
                if lam is not None:
                    opts["lam_rel"] = lam
                if max_iter is not None:
                    opts["max_iter"] = max_iter
                x = tiles_to_image(_block_solve(Y, A, D, method, opts), shape, B)
            chans.append(x[:H, :W])
    finally:
        if bar is not None:
            bar.close()
    out = chans[0] if len(meas.image_shape) == 2 else np.stack(chans, axis=2)
    return _from_255(out, meas.input_dtype)


#: The methods that can compute in float32 (``reconstruct_image(..., dtype="float32")``).
FLOAT32_METHODS = ("bcs_spl", "pnp_dct", "pnp_nl", "pnp_nl_learned", "pnp_lr")


def _work_precision(dtype, method) -> type:
    """The working float type of :func:`reconstruct_image` for its ``dtype`` argument."""
    if dtype is None:
        return np.float64
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValidationError(f"dtype must be None, 'float32' or 'float64', got {dtype!r}.")
    if dt == np.float32 and method not in FLOAT32_METHODS:
        raise ValidationError(f"dtype='float32' is available for the methods {', '.join(FLOAT32_METHODS)}; "
                              f"method {method!r} computes in float64.")
    return dt.type


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
    """Whole-image CS with one sensing operator (structured or dense) and wavelet sparsity, solved by FISTA.

    The whole (grey) image ``x`` of ``n = H*W`` pixels is measured at once,
    ``y = Phi x`` with ``m = round(ratio * n)``, ``Phi`` from :func:`cs_toolkit.sensing.make_sensing`
    (a structured operator is never stored as a matrix), and recovered as
    ``x = W c`` with ``min_c 1/2 ||Phi W c - y||^2 + lam' ||c||_1`` (``W`` the periodized
    2-D wavelet synthesis, ``lam' = lam * max|W^T Phi^T y|``) by :func:`cs_toolkit.solvers.fista`
    on the composed operator ``Phi @ W``.

    Parameters
    ----------
    image : ndarray of shape (H, W)
        ``uint8`` on [0, 255] or float on [0, 1]; ``H`` and ``W`` must be divisible by ``2**level``.
    ratio : float in (0, 1]
    operator : str, default "srdct"
        A kind of :func:`cs_toolkit.sensing.make_sensing`: structured ("srdct", "srht", "partial_dct", ...),
        or dense "gaussian" / "bernoulli" (an ``(m, n)`` matrix, refused above ``2**27`` entries).
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
    from ..solvers import fista

    ratio = check_scalar("ratio", ratio, low=0.0, high=1.0, low_inclusive=False)
    lam = check_scalar("lam", lam, low=0.0)
    max_iter = check_int("max_iter", max_iter, low=1)
    img, in_dtype = _check_image(image)
    if img.ndim != 2:
        raise ValidationError(f"image must be grey (H, W) for whole-image CS, got shape {img.shape}.")
    H, W = img.shape
    n = H * W
    m = max(1, int(round(ratio * n)))
    Phi = whole_image_operator(operator, m, n, rng)
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

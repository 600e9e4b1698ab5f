"""The classical block-CS image loops and their pieces (used by :mod:`cs_toolkit.signals.image`).

Blocks of an image <-> rows, the projection onto the measurements of every block
(:class:`BlockConstraint`), the per-block sparsifying bases, BCS-SPL (Mun & Fowler 2009), the
plug-and-play projected Landweber loops (patch-DCT, TV), and per-block recovery by any registered
solver. Images are on the [0, 255] scale; functions return new arrays.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from .._validation import check_array, check_int, check_option
from ..exceptions import ValidationError
from ..transforms import DCT2, Wavelet2, image_to_tiles, tiles_to_image
from . import _denoisers as den

#: The noise level (0-255 scale) at which each plug-and-play loop's schedule ends: where learned stages
#: that continue the loop start (:class:`~cs_toolkit.signals.NonLocalStages`' ``sigma``). All three
#: loops ended at 3 until the schedules were chosen again on the training and validation pictures:
#: the measurements are noiseless, and a lower end lets the smooth pictures settle.
FINAL_SIGMA = MappingProxyType({"pnp_dct": 1.5, "pnp_nl": 1.5, "pnp_lr": 1.5})


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
        # float arrays (float32 kept, bool/int to float64); NaN/Inf raise ValidationError, complex DTypeError
        Y, A, P = (check_array(v, name) for v, name in ((Y, "Y"), (A, "A"), (P, "P")))
        self.Y, self.A, self.P, self.shape, self.B = Y, A, P, shape, B
        self._zero = np.zeros_like(Y)

    def project(self, u):
        return tiles_to_image(_project(image_to_tiles(u, self.B), self.Y, self.A, self.P), self.shape, self.B)

    def null_project(self, g):
        return tiles_to_image(_project(image_to_tiles(g, self.B), self._zero, self.A, self.P), self.shape, self.B)


def _bcs_spl(Y, A, P, shape, B, *, lam, max_iter, tol, progress=None):
    X = Y @ P.T
    x = tiles_to_image(X, shape, B)
    d_prev = None
    n_reduce = 0
    n_iter = 0
    for it in range(1, max_iter + 1):
        n_iter = it
        xh = den.wiener_smooth(x)
        x1 = tiles_to_image(_project(image_to_tiles(xh, B), Y, A, P), shape, B)
        xb = den.wavelet_shrink(x1, lam)
        x = tiles_to_image(_project(image_to_tiles(xb, B), Y, A, P), shape, B)
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
        x = tiles_to_image(_project(image_to_tiles(denoiser(z, s), B), Y, A, P), shape, B)
        if progress is not None:
            progress.update(1)
    return x


def _pnp_two_phase(constraint, x0, threshold, wiener, *, sigma0, sigma_end, n_iter, n_wiener, progress):
    """The projected loop of :func:`_pnp_dct` and :func:`_pnp_nl`, without momentum.

    ``x <- P_y(threshold(x, sigma_k, k))`` over a geometric schedule ``sigma_k`` from ``sigma0``
    to ``sigma_end``, then ``x <- P_y(wiener(x, k))`` ``n_wiener`` times (``k`` counts the
    iterations of each phase from 0), ``P_y`` the projection of ``constraint``.
    """
    x = x0
    for it, s in enumerate(np.geomspace(sigma0, sigma_end, n_iter)):
        x = constraint.project(threshold(x, s, it))
        if progress is not None:
            progress.update(1)
    for it in range(n_wiener):
        x = constraint.project(wiener(x, it))
        if progress is not None:
            progress.update(1)
    return x


def _pnp_dct(Y, A, P, shape, B, x0, *, sigma0=30.0, sigma_end=FINAL_SIGMA["pnp_dct"], n_iter=60, n_wiener=10,
             progress=None):
    """Plug-and-play projected Landweber with the sliding patch-DCT denoisers (no momentum).

    ``x_{k+1} = P_y(H_sigma_k(x_k))`` with ``H`` patch-DCT hard thresholding and a geometric
    schedule ``sigma_k`` from ``sigma0`` to ``sigma_end``, then ``n_wiener`` iterations
    ``x <- P_y(W_sigma_end(x; pilot=x))`` with the patch-DCT empirical Wiener filter.
    Hard thresholding is not a contraction: Nesterov momentum makes this loop drift,
    so there is none. The schedule (30 to 1.5) was chosen on the training and validation pictures
    (over the former 20 to 3: a median +0.3 / +0.3 / +0.4 dB at ratios 0.1 / 0.25 / 0.5, no picture
    below it by more than 0.1 dB; 40 to 1.5 gained less at 0.1, 20 to 1.5 cost one picture 4.3 dB there).
    """
    p = min(8, shape[0], shape[1])
    ws = den.PatchWorkspace()  # the filters' buffers, reused by every iteration
    return _pnp_two_phase(BlockConstraint(Y, A, P, shape, B), x0,
                          lambda x, s, it: den.patch_dct_threshold(x, s, patch_size=p, workspace=ws),
                          lambda x, it: den.patch_dct_wiener(x, x, sigma_end, patch_size=p, workspace=ws),
                          sigma0=sigma0, sigma_end=sigma_end, n_iter=n_iter, n_wiener=n_wiener, progress=progress)


def _grouping(shape, rematch, step, n_features):
    """``(p, workspace, grouped)`` of the non-local loops: the patch size, one
    :class:`~cs_toolkit.signals._denoisers.PatchWorkspace` for every filter call, and
    ``grouped(x, it)``, the groups of up to 16 similar patches matched on ``x`` at every
    ``rematch``-th iteration ``it`` of a phase and kept in between."""
    p = min(8, shape[0], shape[1])
    k = min(16, (shape[0] - p + 1) * (shape[1] - p + 1))
    groups = []
    ws = den.PatchWorkspace()  # the filters' buffers, reused by every iteration

    def grouped(x, it):
        if it % rematch == 0:
            groups[:] = [den.match_patches(x, patch_size=p, group_size=k, step=step, n_features=n_features,
                                           workspace=ws)]
        return groups[0]

    return p, ws, grouped


def _pnp_nl(Y, A, P, shape, B, x0, *, sigma0=20.0, sigma_end=FINAL_SIGMA["pnp_nl"], n_iter=60, n_wiener=10, rematch=4,
            step=4, n_features=16, progress=None):
    """Plug-and-play projected Landweber with non-local (grouped patch) denoisers.

    The loop of :func:`_pnp_dct` with the BM3D-style collaborative filters: similar 8x8
    patches are grouped by block matching on the current estimate (every ``rematch``
    iterations of each phase; a reference patch every ``step`` pixels, distances between the
    ``n_features`` lowest 2-D DCT frequencies), each group is hard thresholded in a 3-D DCT,
    then ``n_wiener`` iterations of the collaborative empirical Wiener filter guided by the
    current estimate. The schedule (20 to 1.5) was chosen on the training and validation pictures
    (over the former 20 to 3: a median +0.3 / +0.4 / +0.4 dB at ratios 0.1 / 0.25 / 0.5, no picture
    below it by more than 0.15 dB; starting at 30 or 40 gained less and cost one picture 0.6 or 0.75 dB).
    """
    p, ws, grouped = _grouping(shape, rematch, step, n_features)
    return _pnp_two_phase(BlockConstraint(Y, A, P, shape, B), x0,
                          lambda x, s, it: den.group_dct_threshold(x, s, grouped(x, it), patch_size=p, workspace=ws),
                          lambda x, it: den.group_dct_wiener(x, x, sigma_end, grouped(x, it), patch_size=p,
                                                             workspace=ws),
                          sigma0=sigma0, sigma_end=sigma_end, n_iter=n_iter, n_wiener=n_wiener, progress=progress)


def _pnp_lr(Y, A, P, shape, B, x0, *, sigma0=40.0, sigma_end=FINAL_SIGMA["pnp_lr"], n_iter=60, rematch=4, step=4,
            n_features=16, c=9.0, progress=None):
    """Plug-and-play projected Landweber with the low-rank collaborative filter.

    ``x <- P_y(L_sigma_k(x))``, ``L`` :func:`~cs_toolkit.signals._denoisers.group_lowrank_shrink`
    on groups of similar 8x8 patches found by block matching on the current estimate (every
    ``rematch`` iterations; as in :func:`_pnp_nl`), ``sigma_k`` geometric from ``sigma0`` to
    ``sigma_end``; no Wiener phase (on the validation pictures it helped at ratio 0.1 and hurt at
    0.5 by as much). The schedule (40 to 1.5 over 60 iterations) was chosen on the training and
    validation pictures: the former 20 to 3 ended on some smooth pictures before the loop had
    settled (on one, 13 dB short), and a lower end suits the noiseless measurements.
    """
    p, ws, grouped = _grouping(shape, rematch, step, n_features)
    return _pnp_two_phase(BlockConstraint(Y, A, P, shape, B), x0,
                          lambda x, s, it: den.group_lowrank_shrink(x, s, grouped(x, it), patch_size=p, c=c,
                                                                    workspace=ws),
                          None, sigma0=sigma0, sigma_end=sigma_end, n_iter=n_iter, n_wiener=0, progress=progress)


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


def _tv_half(x, sigma):
    return den.tv_denoise(x, sigma, weight_factor=0.5)

"""Images <-> rows of blocks or patches (block compressed sensing, dictionary learning)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_array, check_int, check_option, check_rng
from ..exceptions import ValidationError

__all__ = ["BlockMeta", "image_to_blocks", "blocks_to_image", "image_to_tiles", "tiles_to_image", "patches_from_images"]

_PAD_MODES = ("reflect", "symmetric", "edge", "constant", "wrap")


@dataclass(frozen=True)
class BlockMeta:
    """How an image was cut into blocks, for :func:`blocks_to_image`.

    Attributes
    ----------
    image_shape : tuple of int
        Shape ``(height, width)`` of the original image.
    padded_shape : tuple of int
        Shape after padding at the bottom and right.
    block_size : int
        Side ``B`` of the square blocks.
    step : int
        Distance between the top-left corners of neighbouring blocks.
    grid : tuple of int
        Number of block rows and block columns; blocks are listed row-major.
    """

    image_shape: tuple[int, int]
    padded_shape: tuple[int, int]
    block_size: int
    step: int
    grid: tuple[int, int]

    @property
    def n_blocks(self) -> int:
        return self.grid[0] * self.grid[1]


def _padded_length(n: int, block: int, step: int) -> int:
    if n <= block:
        return block
    return block + -(-(n - block) // step) * step


def _pad(image: np.ndarray, shape: tuple[int, int], pad_mode: str) -> np.ndarray:
    ph, pw = shape[0] - image.shape[0], shape[1] - image.shape[1]
    if ph == 0 and pw == 0:
        return image
    if pad_mode in ("reflect", "symmetric"):
        # numpy refuses reflect pads longer than the axis on some versions; grow in passes
        out = image
        while out.shape[0] < shape[0] or out.shape[1] < shape[1]:
            ah = min(
                shape[0] - out.shape[0], out.shape[0] - 1 if pad_mode == "reflect" else out.shape[0]
            )
            aw = min(
                shape[1] - out.shape[1], out.shape[1] - 1 if pad_mode == "reflect" else out.shape[1]
            )
            if ah <= 0 and aw <= 0:  # 1-pixel axis with reflect: fall back to edge
                return np.pad(
                    out, ((0, shape[0] - out.shape[0]), (0, shape[1] - out.shape[1])), mode="edge"
                )
            out = np.pad(out, ((0, max(ah, 0)), (0, max(aw, 0))), mode=pad_mode)
        return out
    return np.pad(image, ((0, ph), (0, pw)), mode=pad_mode)


def image_to_blocks(image, block_size, *, step=None, pad_mode="reflect"):
    """Cut a grayscale image into square blocks stacked as rows.

    Parameters
    ----------
    image : array_like of shape (height, width)
        The image (any size; it is padded at the bottom and right so that the
        blocks cover it exactly).
    block_size : int
        Block side ``B``; each row has ``B * B`` pixels (block flattened row-major).
    step : int, optional
        Distance between neighbouring blocks, ``1 <= step <= block_size``.
        Defaults to ``block_size`` (non-overlapping blocks).
    pad_mode : {"reflect", "symmetric", "edge", "constant", "wrap"}, default "reflect"
        ``numpy.pad`` mode for the padding (``"constant"`` pads with zeros).

    Returns
    -------
    blocks : ndarray of shape (n_blocks, block_size**2)
        The blocks, row-major over the block grid; float32 stays float32,
        everything else becomes float64. A new array.
    meta : BlockMeta
        What :func:`blocks_to_image` needs to put the image back together.

    Raises
    ------
    ValidationError
        Image not 2-D or non-finite, bad ``block_size``/``step``/``pad_mode``.

    See Also
    --------
    blocks_to_image, patches_from_images

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import image_to_blocks, blocks_to_image
    >>> img = np.arange(30.0).reshape(5, 6)
    >>> rows, meta = image_to_blocks(img, 4)
    >>> rows.shape, meta.padded_shape
    ((4, 16), (8, 8))
    >>> bool(np.array_equal(blocks_to_image(rows, meta), img))
    True
    """
    img = check_array(image, "image", ndim=2)
    B = check_int("block_size", block_size)
    step = B if step is None else check_int("step", step, high=B)
    pad_mode = check_option("pad_mode", pad_mode, _PAD_MODES)
    H, W = img.shape
    padded_shape = (_padded_length(H, B, step), _padded_length(W, B, step))
    padded = _pad(img, padded_shape, pad_mode)
    win = np.lib.stride_tricks.sliding_window_view(padded, (B, B))[::step, ::step]
    grid = (win.shape[0], win.shape[1])
    rows = np.ascontiguousarray(win.reshape(grid[0] * grid[1], B * B))
    if np.shares_memory(rows, img):
        rows = rows.copy()
    meta = BlockMeta(
        image_shape=(H, W), padded_shape=padded_shape, block_size=B, step=step, grid=grid
    )
    return rows, meta


def _tile_side(block_size) -> int:
    """``block_size`` as a positive int: a plain type check on the hot path, :func:`check_int` otherwise."""
    if type(block_size) is int and block_size > 0:
        return block_size
    return check_int("block_size", block_size)


def image_to_tiles(image: np.ndarray, block_size: int) -> np.ndarray:
    """The non-overlapping ``B x B`` tiles of ``image`` as rows ``(n_tiles, B*B)``, row-major.

    The fast path of :func:`image_to_blocks` (``step = block_size``, no padding, no copy of the
    input) for loops that cut the same padded image every iteration: ``image`` must be a 2-D float
    array whose sides are multiples of ``block_size`` (only the shapes are checked). A new
    C-contiguous array.
    """
    B = _tile_side(block_size)
    image = np.asarray(image)
    if image.ndim != 2 or image.shape[0] % B or image.shape[1] % B:
        raise ValidationError(f"image must be 2-D with sides that are multiples of block_size={B}, got shape "
                              f"{image.shape}; pad it first (image_to_blocks pads).")
    H, W = image.shape
    return np.ascontiguousarray(image.reshape(H // B, B, W // B, B).transpose(0, 2, 1, 3).reshape(-1, B * B))


def tiles_to_image(rows: np.ndarray, shape, block_size: int) -> np.ndarray:
    """The image of ``shape`` from its tiles (the inverse of :func:`image_to_tiles`; only the
    shapes are checked: ``rows`` of shape ``(n_tiles, B*B)`` for the multiples of ``B`` in ``shape``)."""
    B = _tile_side(block_size)
    try:
        H, W = shape
    except (TypeError, ValueError):
        raise ValidationError(f"shape must be (height, width), got {shape!r}.") from None
    rows = np.asarray(rows)
    if H % B or W % B or H < 0 or W < 0:
        raise ValidationError(f"shape must have sides that are multiples of block_size={B}, got {tuple(shape)}.")
    if rows.shape != ((H // B) * (W // B), B * B):
        raise ValidationError(f"rows must have shape {((H // B) * (W // B), B * B)} (n_tiles, block_size**2) for "
                              f"shape {tuple(shape)} and block_size={B}, got {rows.shape}.")
    return np.ascontiguousarray(rows.reshape(H // B, W // B, B, B).transpose(0, 2, 1, 3).reshape(H, W))


def blocks_to_image(rows, meta: BlockMeta):
    """Put blocks back into an image, averaging where blocks overlap.

    Parameters
    ----------
    rows : array_like of shape (n_blocks, block_size**2)
        Blocks as returned (possibly processed) from :func:`image_to_blocks`.
    meta : BlockMeta
        The second output of :func:`image_to_blocks`.

    Returns
    -------
    image : ndarray of shape meta.image_shape
        Every pixel is the mean of the block pixels that cover it; the padding
        is cropped away. Unmodified blocks give back the original image.

    Raises
    ------
    ValidationError
        ``meta`` is not a :class:`BlockMeta` or ``rows`` has the wrong shape.
    """
    if not isinstance(meta, BlockMeta):
        raise ValidationError(
            f"meta must be the BlockMeta returned by image_to_blocks, got {type(meta).__name__}."
        )
    B, step = meta.block_size, meta.step
    nbh, nbw = meta.grid
    R = check_array(rows, "rows", ndim=2)
    if R.shape != (nbh * nbw, B * B):
        raise ValidationError(
            f"rows must have shape {(nbh * nbw, B * B)} (n_blocks, block_size**2) for this meta, got {R.shape}."
        )
    R4 = R.reshape(nbh, nbw, B, B)
    Hp, Wp = meta.padded_shape
    if step == B:  # non-overlapping: a pure reshuffle
        out = tiles_to_image(R, (Hp, Wp), B)
    else:
        acc = np.zeros((Hp, Wp), dtype=R.dtype)
        cnt = np.zeros((Hp, Wp), dtype=R.dtype)
        hi, wi = step * (nbh - 1) + 1, step * (nbw - 1) + 1
        for a in range(B):
            for b in range(B):
                acc[a : a + hi : step, b : b + wi : step] += R4[:, :, a, b]
                cnt[a : a + hi : step, b : b + wi : step] += 1
        out = acc / cnt
    H, W = meta.image_shape
    return np.ascontiguousarray(out[:H, :W])


def _as_image_list(images) -> list[np.ndarray]:
    if isinstance(images, list | tuple):
        if len(images) == 0:
            raise ValidationError("images must not be an empty list.")
        return [check_array(im, f"images[{i}]", ndim=2) for i, im in enumerate(images)]
    arr = check_array(images, "images", ndim=(2, 3))
    return [arr] if arr.ndim == 2 else list(arr)


def patches_from_images(
    images, patch_size=8, *, step=1, remove_mean=True, max_patches=None, rng=None
):
    """Extract square patches from one or several images as rows (for dictionary learning).

    Parameters
    ----------
    images : array_like of shape (height, width) or (n_images, height, width), or list of 2-D arrays
        Grayscale images (a list may mix sizes).
    patch_size : int, default 8
        Patch side ``p``; each row has ``p * p`` pixels, flattened row-major.
    step : int, default 1
        Distance between neighbouring patches in each image.
    remove_mean : bool, default True
        Subtract each patch's mean (the DC component), as usual before learning
        a dictionary; the means are returned too.
    max_patches : int, optional
        Keep a uniformly random subset of at most this many patches (drawn
        without replacement with ``rng``; the order of the kept patches follows
        the images). All patches are kept when None.
    rng : None, int or numpy.random.Generator, default None
        Randomness for ``max_patches``.

    Returns
    -------
    patches : ndarray of shape (n_patches, patch_size**2)
        float32 when every image is float32, else float64.
    means : ndarray of shape (n_patches,)
        Patch means, returned only when ``remove_mean`` is true
        (``patches + means[:, None]`` are the raw patches).

    Raises
    ------
    ValidationError
        An image smaller than the patch, bad sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import patches_from_images
    >>> img = np.random.default_rng(0).random((16, 16))
    >>> P, mu = patches_from_images(img, 8, step=4)
    >>> P.shape, mu.shape
    ((9, 64), (9,))
    """
    ims = _as_image_list(images)
    p = check_int("patch_size", patch_size)
    step = check_int("step", step)
    if max_patches is not None:
        max_patches = check_int("max_patches", max_patches)
    dt = np.float32 if all(im.dtype == np.float32 for im in ims) else np.float64
    views, counts = [], []
    for i, im in enumerate(ims):
        if im.shape[0] < p or im.shape[1] < p:
            raise ValidationError(f"images[{i}] has shape {im.shape}, smaller than patch_size={p}.")
        v = np.lib.stride_tricks.sliding_window_view(im, (p, p))[::step, ::step]
        views.append(v)
        counts.append(v.shape[0] * v.shape[1])
    total = int(sum(counts))
    if max_patches is not None and max_patches < total:
        gen = check_rng(rng)
        chosen = np.sort(gen.choice(total, size=max_patches, replace=False))
    else:
        chosen = None
    out = []
    start = 0
    for v, c in zip(views, counts, strict=True):
        if chosen is None:
            out.append(v.reshape(c, p * p).astype(dt))
        else:  # gather only the chosen windows (no copy of all patches)
            sel = chosen[(chosen >= start) & (chosen < start + c)] - start
            r, q = np.divmod(sel, v.shape[1])
            out.append(v[r, q].reshape(-1, p * p).astype(dt))
        start += c
    P = np.ascontiguousarray(np.concatenate(out, axis=0))
    if not remove_mean:
        return P
    means = P.mean(axis=1)
    P -= means[:, None]
    return P, means

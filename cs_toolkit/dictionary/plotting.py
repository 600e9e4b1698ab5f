"""Tile image of dictionary atoms (matplotlib; works with the Agg backend).

:func:`plot_dictionary` draws on the ``ax`` it is given or on a new
:class:`matplotlib.figure.Figure` made without pyplot (as :mod:`cs_toolkit.plotting` does), so
it opens no pyplot figure and changes no global state; ``ax.figure`` is the figure to save.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_array, check_bool, check_int
from ..exceptions import ValidationError

__all__ = ["plot_dictionary", "dictionary_tiles"]


def _check_patch_shape(patch_shape, n_features):
    """``patch_shape`` as ``(h, w)``: two positive ints whose product is ``n_features``."""
    want = f"a pair of positive ints (h, w) with h * w == n_features = {n_features}"
    shape = patch_shape.tolist() if isinstance(patch_shape, np.ndarray) else patch_shape
    if not (isinstance(shape, tuple | list) and len(shape) == 2
            and all(isinstance(v, numbers.Integral | np.integer) and not isinstance(v, bool | np.bool_) and v >= 1
                    for v in shape)):
        raise ValidationError(f"patch_shape must be {want}, got {patch_shape!r}.")
    h, w = (int(v) for v in shape)
    if h * w != n_features:
        raise ValidationError(f"patch_shape must be {want}, got {(h, w)}, which has {h * w} pixels.")
    return h, w


def dictionary_tiles(D, patch_shape, *, n_cols=None, pad=1, normalize=True):
    """Arrange the atoms of ``D`` as image tiles in one 2-D array (NaN between tiles).

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
    patch_shape : (int, int)
        ``(h, w)``, positive, with ``h * w == n_features``; atoms are reshaped row-major.
    n_cols : int, optional
        Tiles per row (default ``ceil(sqrt(n_atoms))``).
    pad : int, default 1
        Gap between tiles, in pixels.
    normalize : bool, default True
        Scale each atom to [0, 1] on its own.

    Returns
    -------
    ndarray of shape (rows * (h + pad) - pad, n_cols * (w + pad) - pad)

    Examples
    --------
    >>> dictionary_tiles(np.eye(4), (2, 2), n_cols=2).shape
    (5, 5)
    """
    D = check_array(D, "D", ndim=2)
    n_features, n_atoms = D.shape
    h, w = _check_patch_shape(patch_shape, n_features)
    n_cols = int(np.ceil(np.sqrt(n_atoms))) if n_cols is None else check_int("n_cols", n_cols, low=1)
    pad = check_int("pad", pad, low=0)
    normalize = check_bool("normalize", normalize)
    n_rows = -(-n_atoms // n_cols)
    out = np.full((n_rows * (h + pad) - pad, n_cols * (w + pad) - pad), np.nan)
    for j in range(n_atoms):
        a = D[:, j].reshape(h, w).astype(np.float64)
        if normalize:
            lo, hi = a.min(), a.max()
            a = (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)
        r, c = divmod(j, n_cols)
        out[r * (h + pad):r * (h + pad) + h, c * (w + pad):c * (w + pad) + w] = a
    return out


def plot_dictionary(D, *, patch_shape=None, ax=None, n_cols=None, pad=1, cmap="gray", normalize=True, title=None):
    """Show the atoms of a dictionary as a tile image (or as curves for 1-D atoms).

    Parameters
    ----------
    D : ndarray of shape (n_features, n_atoms)
        Dictionary (columns are atoms).
    patch_shape : tuple of int, optional
        Shape of one atom as an image; default square when ``n_features`` is a perfect
        square, else atoms are drawn as stacked curves.
    ax : matplotlib Axes, optional
        Where to draw; by default a new :class:`matplotlib.figure.Figure` (not a pyplot figure:
        nothing is left open).
    n_cols, pad, normalize
        See :func:`dictionary_tiles`.
    cmap : str, default "gray"
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes
        ``ax.figure`` is the figure (save it with ``ax.figure.savefig`` or
        :func:`cs_toolkit.plotting.save_figure`).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_dictionary(np.eye(16)[:, :8])
    """
    D = check_array(D, "D", ndim=2)
    n_features, n_atoms = D.shape
    if patch_shape is None:
        p = int(round(np.sqrt(n_features)))
        patch_shape = (p, p) if p * p == n_features and p > 1 else None
    tiles = None
    if patch_shape is not None:  # every input is checked before a figure exists
        tiles = dictionary_tiles(D, patch_shape, n_cols=n_cols, pad=pad, normalize=normalize)
    else:
        if n_cols is not None:
            check_int("n_cols", n_cols, low=1)
        check_int("pad", pad, low=0)
        check_bool("normalize", normalize)
    if title is not None and not isinstance(title, str):
        raise ValidationError(f"title must be a string or None, got {title!r}.")
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 6), layout="constrained").add_subplot()
    elif not hasattr(ax, "imshow"):
        raise ValidationError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}.")
    if tiles is None:
        n_show = min(n_atoms, 64)
        scale = float(np.max(np.abs(D[:, :n_show]))) or 1.0
        for j in range(n_show):
            ax.plot(D[:, j] / (2.2 * scale) - j, lw=0.8)
        ax.set_yticks([])
        ax.set_xlabel("sample")
    else:
        ax.imshow(np.ma.masked_invalid(tiles), cmap=cmap, interpolation="nearest")
        ax.set_axis_off()
    ax.set_title(title if title is not None else f"{n_atoms} atoms")
    return ax

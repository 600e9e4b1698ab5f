"""Sparsifying transforms as synthesis operators (coefficients -> signal).

Every transform here is a :class:`~cs_toolkit.sensing.LinearOperator` of
maths shape ``(n, n)`` that maps a row of coefficients to a row of signal
samples (the synthesis operator ``Psi``), so that a sensing matrix composes as
``A @ Psi`` and a signal is ``x = Psi c``. The adjoint ``Psi^T`` is the
analysis transform. DCTs and orthogonal wavelets with periodic extension are
orthonormal, so the analysis is also the inverse.
"""

from __future__ import annotations

import numpy as np
import pywt
import scipy.fft

from .._validation import check_int, check_option
from ..exceptions import ValidationError
from ..sensing import LinearOperator

__all__ = ["DCT", "DCT2", "Wavelet", "Wavelet2", "Identity", "make_transform", "TRANSFORM_KINDS"]

#: The kinds understood by :func:`make_transform`.
TRANSFORM_KINDS = ("dct", "wavelet", "identity")


def _check_shape2(shape, name: str = "shape") -> tuple[int, int]:
    if not isinstance(shape, tuple | list) or len(shape) != 2:
        raise ValidationError(
            f"{name} must be a tuple (height, width) of two integers, got {shape!r}."
        )
    return check_int(f"{name}[0]", shape[0]), check_int(f"{name}[1]", shape[1])


class Identity(LinearOperator):
    """The identity transform of size ``n`` (the signal is its own sparse code).

    Parameters
    ----------
    n : int
        Signal length.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import Identity
    >>> Identity(3).forward(np.array([1.0, 2.0, 3.0]))
    array([1., 2., 3.])
    """

    def __init__(self, n, dtype=np.float64):
        n = check_int("n", n)
        super().__init__((n, n), dtype)

    def _forward(self, X):
        return X.copy()

    def _adjoint(self, Y):
        return Y.copy()

    def norm(self, **kwargs) -> float:
        return 1.0


class DCT(LinearOperator):
    """Orthonormal 1-D DCT-II synthesis operator of size ``n``.

    ``forward`` is the inverse orthonormal DCT-II (DCT coefficients -> signal),
    ``adjoint`` the orthonormal DCT-II (signal -> coefficients). The matrix is
    orthogonal: ``D @ D.T = I``.

    Parameters
    ----------
    n : int
        Signal length.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import DCT
    >>> D = DCT(8)
    >>> bool(np.allclose(D.to_dense() @ D.to_dense().T, np.eye(8)))
    True
    """

    def __init__(self, n, dtype=np.float64):
        n = check_int("n", n)
        super().__init__((n, n), dtype)

    def _forward(self, X):
        return scipy.fft.idct(X, type=2, norm="ortho", axis=-1)

    def _adjoint(self, Y):
        return scipy.fft.dct(Y, type=2, norm="ortho", axis=-1)

    def norm(self, **kwargs) -> float:
        return 1.0


class DCT2(LinearOperator):
    """Orthonormal 2-D DCT-II synthesis operator on images flattened row-major.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(height, width)``; the operator has maths shape
        ``(height * width, height * width)``.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.

    Notes
    -----
    ``forward`` maps a flattened coefficient array ``C.ravel()`` to the
    flattened image ``idctn(C, norm="ortho").ravel()``; ``adjoint`` is the
    forward 2-D DCT. Rows of a batch are independent images.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import DCT2
    >>> img = np.arange(12.0).reshape(3, 4)
    >>> T = DCT2((3, 4))
    >>> bool(np.allclose(T.forward(T.adjoint(img.ravel())).reshape(3, 4), img))
    True
    """

    def __init__(self, shape, dtype=np.float64):
        self.image_shape = _check_shape2(shape)
        n = self.image_shape[0] * self.image_shape[1]
        super().__init__((n, n), dtype)

    def _forward(self, X):
        k = X.shape[0]
        out = scipy.fft.idctn(X.reshape(k, *self.image_shape), type=2, norm="ortho", axes=(-2, -1))
        return out.reshape(k, -1)

    def _adjoint(self, Y):
        k = Y.shape[0]
        out = scipy.fft.dctn(Y.reshape(k, *self.image_shape), type=2, norm="ortho", axes=(-2, -1))
        return out.reshape(k, -1)

    def norm(self, **kwargs) -> float:
        return 1.0


def _check_wavelet(wavelet) -> tuple[pywt.Wavelet, pywt.Wavelet]:
    """Return the synthesis wavelet and the wavelet whose analysis is its exact adjoint."""
    if isinstance(wavelet, pywt.Wavelet):
        w = wavelet
    else:
        names = pywt.wavelist(kind="discrete")
        if not isinstance(wavelet, str) or wavelet not in names:
            raise ValidationError(
                f"wavelet must be the name of a discrete PyWavelets wavelet (e.g. 'haar', 'db4', 'sym8', "
                f"'coif2', 'bior2.2'), got {wavelet!r}; see pywt.wavelist(kind='discrete') for all valid names."
            )
        w = pywt.Wavelet(wavelet)
    if not w.biorthogonal:
        raise ValidationError(
            f"wavelet {w.name!r} is not biorthogonal, so it has no exact synthesis operator."
        )
    if w.orthogonal:
        return w, w
    # For a biorthogonal wavelet the adjoint of the synthesis (upsample, filter
    # with rec_*) is filtering with the time-reversed rec_* and downsampling,
    # i.e. an analysis with dec_* := reversed(rec_*).
    adj = pywt.Wavelet(
        f"{w.name}-adjoint",
        filter_bank=(w.rec_lo[::-1], w.rec_hi[::-1], w.dec_lo[::-1], w.dec_hi[::-1]),
    )
    return w, adj


def _check_mode(mode) -> str:
    return check_option("mode", mode, ("periodization",))


def _check_level(level, lengths: tuple[int, ...], w: pywt.Wavelet) -> int:
    """Default or validate the decomposition level for signal axes of the given lengths."""
    max_filter = min(pywt.dwt_max_level(n, w.dec_len) for n in lengths)
    # periodization is orthonormal (square) only if every axis halves exactly
    max_div = min((n & -n).bit_length() - 1 for n in lengths)
    if max_filter < 1:
        raise ValidationError(
            f"signal length(s) {lengths} too short for wavelet {w.name!r} (filter length {w.dec_len}): "
            f"pywt.dwt_max_level is 0; use a shorter wavelet such as 'haar' or a longer signal."
        )
    if level is None:
        if max_div < 1:
            raise ValidationError(
                f"the signal length(s) {lengths} must be even for a wavelet transform with mode='periodization'."
            )
        return min(max_filter, max_div)
    level = check_int("level", level, low=1)
    if level > max_filter:
        raise ValidationError(
            f"level must be <= {max_filter} (pywt.dwt_max_level for length(s) {lengths} "
            f"and wavelet {w.name!r} with filter length {w.dec_len}), got {level}."
        )
    if level > max_div:
        raise ValidationError(
            f"level={level} needs signal length(s) divisible by 2**{level}={2**level} with mode='periodization', "
            f"got {lengths}; use level <= {max_div} or pad the signal."
        )
    return level


class Wavelet(LinearOperator):
    """1-D discrete wavelet synthesis operator (PyWavelets), orthonormal for orthogonal wavelets.

    Parameters
    ----------
    n : int
        Signal length; must be divisible by ``2**level``.
    wavelet : str or pywt.Wavelet, default "db4"
        A discrete wavelet name (``pywt.wavelist(kind="discrete")``).
    level : int, optional
        Number of decomposition levels. Defaults to the largest level allowed
        by both ``pywt.dwt_max_level`` and the divisibility of ``n`` by 2.
    mode : {"periodization"}, default "periodization"
        Signal extension. Only periodization gives a square transform with an
        exact adjoint, so it is the only mode accepted.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.

    Attributes
    ----------
    coef_lengths : list of int
        Lengths of ``[cA_level, cD_level, ..., cD_1]`` in the flattened coefficient vector.

    Notes
    -----
    A coefficient vector is the concatenation ``[cA_L, cD_L, ..., cD_1]`` of the
    output of ``pywt.wavedec``; ``forward`` is ``pywt.waverec`` on its split,
    ``adjoint`` is ``pywt.wavedec`` (for biorthogonal wavelets the analysis
    uses the time-reversed synthesis filters, which is the exact adjoint, not
    the inverse). With orthogonal wavelets (Daubechies, symlets, coiflets,
    Haar) the operator is orthonormal; PyWavelets' discrete Meyer ``"dmey"``, which it flags as
    orthogonal, has truncated filters, so it is orthonormal only to about 5e-3.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import Wavelet
    >>> W = Wavelet(64, "db4", level=3)
    >>> x = np.sin(np.linspace(0, 6, 64))
    >>> bool(np.allclose(W.forward(W.adjoint(x)), x))
    True
    """

    def __init__(self, n, wavelet="db4", level=None, mode="periodization", dtype=np.float64):
        n = check_int("n", n)
        self.wavelet, self._adj_wavelet = _check_wavelet(wavelet)
        self.mode = _check_mode(mode)
        self.level = _check_level(level, (n,), self.wavelet)
        super().__init__((n, n), dtype)
        self.coef_lengths = [n >> self.level] + [n >> j for j in range(self.level, 0, -1)]
        self._splits = np.cumsum(self.coef_lengths)[:-1]

    def _forward(self, X):
        coeffs = np.split(X, self._splits, axis=-1)
        return pywt.waverec(coeffs, self.wavelet, mode=self.mode, axis=-1)

    def _adjoint(self, Y):
        coeffs = pywt.wavedec(Y, self._adj_wavelet, mode=self.mode, level=self.level, axis=-1)
        return np.concatenate(coeffs, axis=-1)

    def tree_parents(self) -> np.ndarray:
        """Parent of each coefficient in the wavelet tree (``-1`` for a root).

        The approximation coefficients ``cA_L[i]`` are the roots; ``cD_L[i]`` is the child of
        ``cA_L[i]``, and ``cD_j[i]`` (finer levels ``j < L``) the child of ``cD_{j+1}[i // 2]``,
        so each detail coefficient has two children at the next finer level. Indices refer to
        the flattened coefficient vector ``[cA_L, cD_L, ..., cD_1]`` of this operator; pass the
        array as ``tree=`` to the tree solvers (:func:`cs_toolkit.solvers.tree_cosamp`).

        Returns
        -------
        ndarray of int64, shape (n,)

        Examples
        --------
        >>> Wavelet(8, "haar", level=2).tree_parents().tolist()
        [-1, -1, 0, 1, 2, 2, 3, 3]
        """
        n0 = self.coef_lengths[0]
        parents = np.full(self.shape[1], -1, np.int64)
        parents[n0:2 * n0] = np.arange(n0)
        start, length = n0, n0  # the band cD_{j+1}: offset and length
        for _ in range(self.level - 1):
            child = np.arange(2 * length)
            parents[start + length + child] = start + child // 2
            start, length = start + length, 2 * length
        return parents


class Wavelet2(LinearOperator):
    """2-D discrete wavelet synthesis operator (PyWavelets) on images flattened row-major.

    Parameters
    ----------
    shape : tuple of int
        Image shape ``(height, width)``; both must be divisible by ``2**level``.
    wavelet : str or pywt.Wavelet, default "db4"
        A discrete wavelet name (``pywt.wavelist(kind="discrete")``).
    level : int, optional
        Number of decomposition levels (default: the largest allowed).
    mode : {"periodization"}, default "periodization"
        Signal extension (the only mode with an exact adjoint).
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.

    Notes
    -----
    The coefficients of one image are laid out as by ``pywt.coeffs_to_array``
    (approximation in the top-left corner, details around it) and flattened
    row-major; ``forward`` is ``pywt.waverec2`` and ``adjoint`` ``pywt.wavedec2``
    over the last two axes of a ``(k, height, width)`` stack.

    Examples
    --------
    >>> import numpy as np
    >>> from cs_toolkit.transforms import Wavelet2
    >>> W = Wavelet2((16, 32), "haar", level=2)
    >>> img = np.random.default_rng(0).random((16, 32))
    >>> bool(np.allclose(W.forward(W.adjoint(img.ravel())), img.ravel()))
    True
    """

    def __init__(self, shape, wavelet="db4", level=None, mode="periodization", dtype=np.float64):
        self.image_shape = _check_shape2(shape)
        self.wavelet, self._adj_wavelet = _check_wavelet(wavelet)
        self.mode = _check_mode(mode)
        self.level = _check_level(level, self.image_shape, self.wavelet)
        n = self.image_shape[0] * self.image_shape[1]
        super().__init__((n, n), dtype)
        template = pywt.wavedec2(
            np.zeros(self.image_shape), self.wavelet, mode=self.mode, level=self.level
        )
        _, self._slices = pywt.coeffs_to_array(template)

    def _forward(self, X):
        k = X.shape[0]
        arr = X.reshape(k, *self.image_shape)
        # the slices were computed for 2-D arrays; prepend the batch axis
        coeffs = pywt.array_to_coeffs(
            arr, [self._batch(s) for s in self._slices], output_format="wavedec2"
        )
        out = pywt.waverec2(coeffs, self.wavelet, mode=self.mode, axes=(-2, -1))
        return out.reshape(k, -1)

    def _adjoint(self, Y):
        k = Y.shape[0]
        coeffs = pywt.wavedec2(
            Y.reshape(k, *self.image_shape),
            self._adj_wavelet,
            mode=self.mode,
            level=self.level,
            axes=(-2, -1),
        )
        arr, _ = pywt.coeffs_to_array(coeffs, axes=(-2, -1))
        return arr.reshape(k, -1)

    def tree_parents(self) -> np.ndarray:
        """Parent of each coefficient in the wavelet quadtree (``-1`` for a root).

        The approximation coefficients are the roots; a detail coefficient of the coarsest
        level at ``(r, c)`` of its band is the child of the approximation coefficient
        ``(r, c)``, and a detail coefficient of a finer level at ``(r, c)`` the child of the
        coefficient ``(r // 2, c // 2)`` of the same band (horizontal, vertical, diagonal) one
        level coarser: four children per node. Indices refer to the flattened coefficient
        layout of this operator (``pywt.coeffs_to_array``, row-major); pass the array as
        ``tree=`` to the tree solvers.

        Returns
        -------
        ndarray of int64, shape (height * width,)

        Examples
        --------
        >>> p = Wavelet2((4, 4), "haar", level=1).tree_parents().reshape(4, 4)
        >>> p[0].tolist(), p[3].tolist()
        ([-1, -1, 0, 1], [4, 5, 4, 5])
        """
        h, w = self.image_shape
        # position of every coefficient in the flat layout: lay out an array of ids
        shapes = [(h >> self.level, w >> self.level)] + [
            (h >> j, w >> j) for j in range(self.level, 0, -1)
        ]
        coeffs, next_id = [], 0
        band_ids = []
        for lev, shp in enumerate(shapes):
            nb = 1 if lev == 0 else 3
            bands = []
            for _ in range(nb):
                ids = np.arange(next_id, next_id + shp[0] * shp[1], dtype=np.float64).reshape(shp)
                next_id += ids.size
                bands.append(ids)
            band_ids.append(bands)
            coeffs.append(bands[0] if lev == 0 else tuple(bands))
        arr, _ = pywt.coeffs_to_array(coeffs)
        pos = np.empty(next_id, np.int64)
        pos[arr.ravel().astype(np.int64)] = np.arange(arr.size)
        parents = np.full(arr.size, -1, np.int64)
        for lev in range(1, len(shapes)):
            hh, ww = shapes[lev]
            r, c = np.meshgrid(np.arange(hh), np.arange(ww), indexing="ij")
            for b in range(3):
                child = pos[band_ids[lev][b].astype(np.int64)]
                if lev == 1:
                    par = band_ids[0][0][r, c]
                else:
                    par = band_ids[lev - 1][b][r // 2, c // 2]
                parents[child] = pos[par.astype(np.int64)]
        return parents

    @staticmethod
    def _batch(s):
        if isinstance(s, dict):
            return {key: (slice(None),) + tuple(v) for key, v in s.items()}
        return (slice(None),) + tuple(s)


def make_transform(kind, shape_or_n, *, dtype=np.float64, **kw) -> LinearOperator:
    """Build a sparsifying synthesis transform by name.

    Parameters
    ----------
    kind : {"dct", "wavelet", "identity"}
        The transform family.
    shape_or_n : int or tuple of int
        A signal length ``n`` gives the 1-D transform (:class:`DCT`,
        :class:`Wavelet`); an image shape ``(height, width)`` the 2-D one
        (:class:`DCT2`, :class:`Wavelet2`) on flattened images. The identity
        on an image shape has size ``height * width``.
    dtype : {np.float32, np.float64}, default np.float64
        Output dtype.
    **kw
        Options of the wavelet transforms (``wavelet``, ``level``, ``mode``).

    Returns
    -------
    LinearOperator
        Square synthesis operator.

    Raises
    ------
    ValidationError
        Unknown ``kind`` (the valid ones are listed), bad size, or options
        given to a transform that takes none.

    Examples
    --------
    >>> from cs_toolkit.transforms import make_transform
    >>> make_transform("wavelet", (32, 32), wavelet="haar")
    <Wavelet2 shape=(1024, 1024) dtype=float64>
    """
    kind = check_option("kind", kind, TRANSFORM_KINDS)
    two_d = isinstance(shape_or_n, tuple | list)
    if two_d:
        shape = _check_shape2(shape_or_n, "shape_or_n")
    else:
        n = check_int("shape_or_n", shape_or_n)
    if kind != "wavelet" and kw:
        raise ValidationError(f"transform kind {kind!r} takes no options, got {sorted(kw)}.")
    if kind == "dct":
        return DCT2(shape, dtype=dtype) if two_d else DCT(n, dtype=dtype)
    if kind == "wavelet":
        return Wavelet2(shape, dtype=dtype, **kw) if two_d else Wavelet(n, dtype=dtype, **kw)
    return Identity(shape[0] * shape[1] if two_d else n, dtype=dtype)

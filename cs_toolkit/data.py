"""Bundled sample images and speech clips, and WAV / image file input-output.

The samples live in the repository's ``data/`` folder (see ``data/README.md``
for provenance and licences); a wheel or regular install carries that folder as
the package data folder ``cs_toolkit/_sample_data``, and an editable install
reads ``data/`` in the checkout. The environment variable ``CS_TOOLKIT_DATA``
points the loaders at another folder with the same layout.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from ._atomic import atomic_path
from ._validation import check_array, check_bool, check_int, check_option
from .exceptions import ValidationError

__all__ = [
    "data_dir",
    "list_samples",
    "load_image",
    "load_audio",
    "read_wav",
    "wav_format",
    "write_wav",
    "read_image",
    "write_image",
]

#: Environment variable that overrides the sample folder.
DATA_ENV = "CS_TOOLKIT_DATA"

_KINDS = {".png": "image", ".wav": "audio"}
#: The image file extensions :func:`write_image` writes.
IMAGE_WRITE_EXT = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def data_dir() -> Path:
    """The folder holding the sample data.

    Returns
    -------
    pathlib.Path
        ``$CS_TOOLKIT_DATA`` when set; else the samples installed with the package
        (``cs_toolkit/_sample_data``, a wheel or ``pip install .``); else the ``data/``
        folder of the source checkout the package is imported from (an editable install).

    Raises
    ------
    FileNotFoundError
        ``$CS_TOOLKIT_DATA`` is not a folder, or neither place holds the samples (the
        message names the places looked in and how to set ``CS_TOOLKIT_DATA``).
    """
    env = os.environ.get(DATA_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_dir():
            raise FileNotFoundError(f"{DATA_ENV}={env!r} is not a folder.")
        return p
    pkg = Path(__file__).resolve().parent
    installed = pkg / "_sample_data"  # package data of a wheel / regular install (see setup.py)
    if installed.is_dir():
        return installed
    # A source checkout (editable install): data/ beside the package and pyproject.toml beside
    # both, so that a stray site-packages/data of another distribution is never taken for it.
    checkout = pkg.parent / "data"
    if checkout.is_dir() and (pkg.parent / "pyproject.toml").is_file():
        return checkout
    raise FileNotFoundError(
        f"cs-toolkit's sample data is missing: neither {str(installed)!r} (a regular install) nor "
        f"{str(checkout)!r} (a source checkout) holds it; reinstall cs-toolkit, or set the "
        f"environment variable {DATA_ENV} to a folder holding the samples."
    )


def list_samples(kind=None) -> dict[str, str]:
    """The available samples and their kinds.

    Parameters
    ----------
    kind : {"image", "audio"}, optional
        Only list samples of this kind.

    Returns
    -------
    dict of str to str
        Sample name (file name without extension) -> ``"image"`` or ``"audio"``,
        sorted by name.

    Examples
    --------
    >>> from cs_toolkit.data import list_samples
    >>> "camera" in list_samples("image")
    True
    """
    if kind is not None:
        check_option("kind", kind, ("image", "audio"))
    return {name: k for name, (k, _) in _samples(kind).items()}


def _samples(kind=None) -> dict[str, tuple[str, Path]]:
    """Sample name -> (kind, file), sorted by name; only samples of ``kind`` when given."""
    out = {}
    for f in sorted(data_dir().iterdir()):
        k = _KINDS.get(f.suffix.lower())
        if k is not None and f.is_file() and (kind is None or k == kind):
            out[f.stem] = (k, f)
    return out


def _sample_path(name, kind: str) -> Path:
    avail = _samples(kind)
    stem = name
    if isinstance(name, str) and _KINDS.get(Path(name).suffix.lower()) == kind:
        stem = name[: -len(Path(name).suffix)]  # "camera.png" names the image "camera"
    if not isinstance(stem, str) or stem not in avail:
        raise ValidationError(
            f"unknown {kind} sample {name!r}; available {kind} samples: {', '.join(avail) or '(none)'}."
        )
    return avail[stem][1]


def load_image(name) -> np.ndarray:
    """Load a bundled grayscale image.

    Parameters
    ----------
    name : str
        Sample name, e.g. ``"camera"`` (see ``list_samples("image")``).

    Returns
    -------
    ndarray of shape (height, width), float64
        Pixel values scaled to ``[0, 1]`` (8-bit value / 255).

    Raises
    ------
    ValidationError
        Unknown name (the message lists the available images).

    Examples
    --------
    >>> from cs_toolkit.data import load_image
    >>> img = load_image("camera")
    >>> img.shape, img.dtype.name, float(img.min()) >= 0.0, float(img.max()) <= 1.0
    ((512, 512), 'float64', True, True)
    """
    return read_image(_sample_path(name, "image"))


def load_audio(name) -> tuple[np.ndarray, int]:
    """Load a bundled speech clip.

    Parameters
    ----------
    name : str
        Sample name, e.g. ``"0_jackson_0"`` (see ``list_samples("audio")``).

    Returns
    -------
    signal : ndarray of shape (n_samples,), float64
        Samples in ``[-1, 1]`` (16-bit value / 32768).
    sample_rate : int
        8000 for the bundled clips.

    Raises
    ------
    ValidationError
        Unknown name (the message lists the available clips).
    """
    return read_wav(_sample_path(name, "audio"))


def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a WAV file as float64 samples in ``[-1, 1]``.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    signal : ndarray of shape (n_samples,) or (n_samples, n_channels), float64
        Mono files give 1-D arrays. Integer PCM is scaled by its full range
        (``int16 / 2**15``, ``int32 / 2**31``, ``(uint8 - 128) / 128``); float
        files are returned as stored.
    sample_rate : int

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValidationError
        The file is not a readable WAV, is truncated, or holds no samples
        (the message names the path).
    """
    from scipy.io import wavfile

    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", wavfile.WavFileWarning)
        rate, data = _wavfile_read(path)
    for w in caught:
        msg = str(w.message)
        if "EOF" in msg or "truncat" in msg.lower():
            raise ValidationError(f"WAV file {str(path)!r} is truncated: {msg}")
    if data.size == 0:
        raise ValidationError(f"WAV file {str(path)!r} holds no samples.")
    if data.dtype == np.uint8:
        x = (data.astype(np.float64) - 128.0) / 128.0
    elif data.dtype.kind == "i":
        x = data.astype(np.float64) / float(2 ** (8 * data.dtype.itemsize - 1))
    elif data.dtype.kind == "f":
        x = data.astype(np.float64)
    else:
        raise ValidationError(f"WAV file {str(path)!r} has unsupported sample type {data.dtype}.")
    return np.ascontiguousarray(x), int(rate)


def wav_format(path) -> str:
    """The sample type a WAV file stores, as a NumPy dtype name.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        ``"uint8"``, ``"int16"``, ``"int32"`` (also 24-bit PCM, which :func:`read_wav`
        reads as ``int32``), ``"float32"`` or ``"float64"``: what :func:`read_wav` scales
        to float64. Only the header is read (the samples are memory-mapped) where SciPy
        allows it.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValidationError
        The file is not a readable WAV (the message names the path).

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from cs_toolkit.data import wav_format, write_wav
    >>> path = os.path.join(tempfile.mkdtemp(), "x.wav")
    >>> write_wav(path, np.zeros(8), 8000, sample_format="float32")
    >>> wav_format(path)
    'float32'
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, data = _wavfile_read(path, mmap=True)  # the samples stay on disk
        name = data.dtype.newbyteorder("=").name
        del data
    return name


def _wavfile_read(path: Path, *, mmap: bool = False):
    """``scipy.io.wavfile.read``, with a missing file and every SciPy failure as one-line errors
    naming the path; ``mmap=True`` falls back to reading when SciPy cannot map the file
    (24-bit PCM)."""
    from scipy.io import wavfile

    if not path.is_file():
        raise FileNotFoundError(f"no such WAV file: {str(path)!r}.")
    try:
        if mmap:
            try:
                return wavfile.read(path, mmap=True)
            except ValueError:  # 24-bit PCM cannot be memory-mapped
                pass
        return wavfile.read(path)
    except (ValueError, OSError) as exc:  # SciPy's own messages ("File format ... not understood", ...)
        raise ValidationError(f"cannot read WAV file {str(path)!r}: {exc}") from None
    except Exception:  # struct.error, UnboundLocalError, ...: SciPy lost in malformed RIFF chunks
        raise ValidationError(f"not a valid WAV file: {str(path)!r} (a malformed RIFF header or chunk list, "
                              f"e.g. no 'fmt ' chunk before the samples).") from None


def write_wav(path, signal, rate, *, sample_format="int16") -> None:
    """Write samples in ``[-1, 1]`` to a WAV file.

    Parameters
    ----------
    path : str or path-like
        Output file (overwritten).
    signal : array_like of shape (n_samples,) or (n_samples, n_channels)
        Samples (rows), at most 65535 channels and no more channels than samples; values outside
        ``[-1, 1]`` are clipped for integer formats.
    rate : int
        Sample rate in Hz, at most ``2**32 - 1``.
    sample_format : {"int16", "int32", "float32"}, default "int16"
        Stored sample type.

    Raises
    ------
    ValidationError
        Bad signal (a 2-D signal with more channels than samples looks transposed), rate or format.
    """
    from scipy.io import wavfile

    shape = np.shape(signal) if isinstance(signal, np.ndarray) else np.shape(check_array(signal, "signal"))
    if len(shape) == 2 and shape[1] > min(shape[0], 65535):  # checked before the float64 copy of an array
        why = ("more channels than samples: samples are rows, pass signal.T" if shape[1] > shape[0]
               else "a WAV file holds at most 65535 channels")
        raise ValidationError(f"signal must have shape (n_samples, n_channels), with at most 65535 channels and "
                              f"no more channels than samples; got shape {shape}: {why}.")
    x = check_array(signal, "signal", ndim=(1, 2), dtype=np.float64)
    rate = check_int("rate", rate, high=2**32 - 1)
    check_option("sample_format", sample_format, ("int16", "int32", "float32"))
    if sample_format == "float32":
        data = x.astype(np.float32)
    else:
        dt = np.dtype(sample_format)
        scale = float(2 ** (8 * dt.itemsize - 1))
        data = np.clip(np.round(x * scale), -scale, scale - 1).astype(dt)
    with atomic_path(path) as tmp:  # Ctrl-C leaves the old file or none, never half a file
        wavfile.write(tmp, rate, data)


def read_image(path, *, as_gray=True) -> np.ndarray:
    """Read an image file as float64 in ``[0, 1]``.

    Parameters
    ----------
    path : str or path-like
        The file (PNG, TIFF, BMP, JPEG, ... as supported by ``skimage.io``).
    as_gray : bool, default True
        Convert colour images to gray (``skimage.color.rgb2gray``, alpha dropped).

    Returns
    -------
    ndarray of shape (height, width) (or (height, width, channels) when not ``as_gray``), float64
        Integer images are divided by their dtype maximum; float images are
        returned as stored.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValidationError
        Unreadable, truncated or unsupported file (the message names the path).
    """
    import skimage.io

    as_gray = check_bool("as_gray", as_gray)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image file: {str(path)!r}.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = np.asarray(skimage.io.imread(path))
    except Exception as exc:  # imageio / PIL raise OSError, ValueError, SyntaxError ...
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValidationError(f"cannot read image file {str(path)!r}: {first}") from None
    if img.dtype == bool:
        img = img.astype(np.float64)
    elif img.dtype.kind in "ui":
        img = img.astype(np.float64) / float(np.iinfo(img.dtype).max)
    elif img.dtype.kind == "f":
        img = img.astype(np.float64)
    else:
        raise ValidationError(f"image file {str(path)!r} has unsupported pixel type {img.dtype}.")
    if img.ndim == 4 and img.shape[0] > 1:  # an animation (GIF, APNG) or a multi-page file
        raise ValidationError(f"image file {str(path)!r} has {img.shape[0]} frames; expected a single "
                              "picture (save one frame as its own file).")
    if img.ndim == 4:  # the one frame of a single-frame animation format (GIF), grey when its palette is
        img = img[0][..., 0] if img.shape[-1] == 3 and (img[0] == img[0][..., :1]).all() else img[0]
    if img.ndim not in (2, 3):
        raise ValidationError(
            f"image file {str(path)!r} has {img.ndim} dimensions; expected a 2-D or colour image."
        )
    if as_gray and img.ndim == 3:
        from skimage.color import rgb2gray

        if img.shape[-1] == 4:
            img = img[..., :3]
        img = rgb2gray(img) if img.shape[-1] == 3 else img[..., 0]
    return np.ascontiguousarray(img)


def write_image(path, img) -> None:
    """Write a grayscale image with values in ``[0, 1]`` as an 8-bit file.

    Parameters
    ----------
    path : str or path-like
        Output file; the extension picks the format: .png (lossless, preferred),
        .tif/.tiff, .bmp, .jpg/.jpeg (lossy).
    img : array_like of shape (height, width)
        Float pixel values in ``[0, 1]`` (clipped and rounded to 8 bits), or an
        integer image (uint8 is written as it is; other integer dtypes are scaled
        by their maximum value). Integer images are never clipped to 0/1.

    Raises
    ------
    ValidationError
        Bad image or unsupported extension (the message names the path).
    """
    import skimage.io

    a = check_array(img, "img", ndim=2, dtype=np.float64)
    raw = np.asarray(img)  # an array already: check_array converted it
    if raw.dtype.kind in "ui":
        if raw.dtype.kind == "i" and raw.min() < 0:
            raise ValidationError(f"img is a signed integer image with negative values (min {raw.min()}); pass floats in [0, 1].")
        a = a / float(np.iinfo(raw.dtype).max if raw.dtype != np.uint8 else 255)
    path = Path(path)
    if path.suffix.lower() not in IMAGE_WRITE_EXT:
        raise ValidationError(
            f"cannot write image file {str(path)!r}: unsupported extension {path.suffix!r}; "
            f"use one of {', '.join(IMAGE_WRITE_EXT)}."
        )
    data = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
    try:
        with atomic_path(path) as tmp:  # the temporary file keeps the extension (format)
            skimage.io.imsave(tmp, data, check_contrast=False)
    except OSError:
        raise
    except Exception as exc:
        raise ValidationError(f"cannot write image file {str(path)!r}: {exc}") from None

"""Reading ``.npz`` archives safely: never unpickled, every damaged file refused with one message.

Every file format of the toolkit (learned models, diffusion stages, joint-audio networks, training
and dictionary checkpoints, user dictionaries) is an ``.npz`` archive, most with a JSON record
stored as a ``uint8`` array. :func:`open_archive` opens one and :func:`decode_json_record` reads
such a record; each format's reader passes ``bad(path, why)``, which makes the exception of its
kind of file, so messages name the file and the format it should have been. :func:`read_record`
does the common part of reading a record file (members, metadata size, format and version, checked
float64 arrays), so a format's loader only checks its own fields.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np

from .exceptions import CSToolkitError

__all__ = ["open_archive", "decode_json_record", "read_record", "meta_int"]


def open_archive(path, bad):
    """``np.load`` of a whole ``.npz`` read into memory, ``allow_pickle=False``.

    Nothing stays open when the archive is refused. ``bad(path, why)`` makes the exception raised
    for a file that is not an ``.npz`` archive: an empty file, a single ``.npy`` array, any file
    that is not a zip (checked by its signature first, so numpy never tries it as a pickle and
    never hints at ``allow_pickle``), a truncated or damaged zip.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    if not data:
        raise bad(path, "the file is empty")
    if not data.startswith(b"PK"):
        kind = "a single .npy array" if data.startswith(b"\x93NUMPY") else "another kind of file"
        raise bad(path, f"it is {kind}, not an .npz archive (a zip of .npy arrays)")
    try:
        npz = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as exc:  # truncated zip, damaged members, ...
        raise bad(path, f"it is damaged or truncated: it cannot be opened as an .npz archive "
                        f"({type(exc).__name__}: {exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):  # pragma: no cover - the signature check catches it
        raise bad(path, "it holds a single array, not an .npz archive")
    try:
        _check_member_headers(npz, path, bad)
    except BaseException:
        npz.close()
        raise
    return npz


def _check_member_headers(npz, path, bad) -> None:
    """Refuse an archive whose ``.npy`` member announces, in its header, more data than the member
    holds: numpy allocates the array of the header's shape before it reads a byte, so a tiny file
    claiming a huge shape would exhaust the memory. Only the headers are read (no array is);
    object arrays are left to ``np.load``, which refuses them (``allow_pickle=False``)."""
    import zipfile
    import zlib

    from numpy.lib import format as npy

    for info in npz.zip.infolist():
        if not info.filename.endswith(".npy"):
            continue
        name = info.filename[:-4]
        try:
            with npz.zip.open(info) as fh:
                if fh.read(6) != b"\x93NUMPY":
                    continue  # not an array: each reader refuses the member its own way
                fh.seek(0)
                version = npy.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = npy.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = npy.read_array_header_2_0(fh)
                else:
                    raise bad(path, f"array {name!r} is damaged or too large: .npy format version "
                                    f"{version[0]}.{version[1]} is not read")
                header_bytes = fh.tell()
        except (ValueError, OSError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
                zlib.error) as exc:
            if isinstance(exc, CSToolkitError):
                raise
            raise bad(path, f"array {name!r} is damaged or too large: its header cannot be read "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None
        if dtype.hasobject:
            continue
        need = math.prod(shape) * dtype.itemsize
        held = info.file_size - header_bytes
        if need > held:
            raise bad(path, f"array {name!r} is damaged or too large: its header announces shape {tuple(shape)} "
                            f"of {dtype} ({need:,} bytes), the archive holds {max(held, 0):,}")


def decode_json_record(raw, path, bad) -> dict:
    """The JSON object stored as a 1-D ``uint8`` record of an ``.npz``; ``bad(path, why)`` makes the
    error of each kind of file."""
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:  # bytes: not an .npy member
        raise bad(path, "the metadata record is not a byte array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(path, f"the metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise bad(path, "the metadata is not a JSON object")
    return meta


def record_format(path, bad, max_meta_bytes=1 << 16):
    """The ``format`` named by the metadata record of the ``.npz`` at ``path`` (None when it names
    none); ``bad(path, why)`` for a file that is no such archive or whose record is missing, too
    large or not JSON. What tells the saved-model kinds apart before one loader reads the file."""
    import zipfile
    import zlib

    with open_archive(path, bad) as npz:
        if "__metadata__" not in npz.files:
            raise bad(path, "the metadata record '__metadata__' is missing")
        if npz.zip.getinfo("__metadata__.npy").file_size > max_meta_bytes:
            raise bad(path, "the metadata record is too large")
        try:
            return decode_json_record(npz["__metadata__"], path, bad).get("format")
        except CSToolkitError:  # the reader's own error, already naming the file: not wrapped twice
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise bad(path, f"{type(exc).__name__}: {exc}") from None


def meta_int(meta, key, low, high, path, bad) -> int:
    """The integer ``meta[key]`` in ``[low, high]`` (not a bool), else ``bad(path, why)``."""
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise bad(path, f"metadata {key!r} must be an integer in [{low}, {high}], got {v!r}")
    return v


def meta_positive(meta, key, path, bad, *, optional=False):
    """The finite number ``meta[key] > 0`` (not a bool) as a float, else ``bad(path, why)``;
    with ``optional`` a missing or null entry is None."""
    v = meta.get(key)
    if optional and v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v > 0):
        raise bad(path, f"metadata {key!r} must be a positive number{' or null' if optional else ''}, got {v!r}")
    return float(v)


@contextlib.contextmanager
def read_record(path, bad, *, fmt, version, arrays, max_meta_bytes=1 << 16):
    """Open an ``.npz`` record file: a JSON ``__metadata__`` record and float64 arrays.

    The file must hold exactly ``__metadata__`` and the names in ``arrays`` (or ``arrays(meta)``,
    names that depend on the metadata record), a metadata record of at
    most ``max_meta_bytes`` naming ``format == fmt`` and ``format_version == version`` (or one of
    ``version``, a tuple of the versions read). Yields
    ``(meta, read)``, ``read(name, shape)`` giving the array ``name`` checked (its stored size
    bounded before it is read, float64, of ``shape``, finite). Every failure, in the body too, is
    ``bad(path, why)``.
    """
    import zipfile
    import zlib

    with open_archive(path, bad) as npz:
        try:
            infos = {i.filename: i for i in npz.zip.infolist()}
            if "__metadata__.npy" not in infos:
                raise bad(path, f"expected a '__metadata__' record, found {sorted(npz.files)}")
            if infos["__metadata__.npy"].file_size > max_meta_bytes:
                raise bad(path, "the metadata record is too large")
            meta = decode_json_record(npz["__metadata__"], path, bad)
            versions = version if isinstance(version, tuple) else (version,)
            v = meta.get("format_version")
            if meta.get("format") != fmt or isinstance(v, bool) or v not in versions:
                raise bad(path, f"format must be {fmt!r} version {' or '.join(map(str, versions))}, got "
                                f"{meta.get('format')!r} version {meta.get('format_version')!r}")
            names = {"__metadata__", *(arrays(meta) if callable(arrays) else arrays)}
            if set(infos) != {f"{n}.npy" for n in names}:
                raise bad(path, f"expected the arrays {sorted(names)}, found {sorted(npz.files)}")

            def read(name, shape):
                size = int(np.prod(shape))
                if infos[f"{name}.npy"].file_size > 4096 + 8 * size:
                    raise bad(path, f"array {name!r} is larger than its metadata allows")
                a = npz[name]
                if a.dtype != np.float64 or a.shape != tuple(shape):
                    raise bad(path, f"array {name!r} must be float64 of shape {tuple(shape)}, got {a.dtype} {a.shape}")
                if not np.all(np.isfinite(a)):
                    raise bad(path, f"array {name!r} holds NaN or Inf values")
                return np.array(a)

            yield meta, read
        except CSToolkitError:
            raise
        except (ValueError, OSError, EOFError, KeyError, TypeError, zipfile.BadZipFile, zlib.error) as exc:
            raise bad(path, f"{type(exc).__name__}: {exc}") from None

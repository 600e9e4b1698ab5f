"""Reading ``.npz`` archives safely: never unpickled, every damaged file refused with one message.

Every file format of the toolkit (learned models, diffusion stages, joint-audio networks, training
and dictionary checkpoints, user dictionaries) is an ``.npz`` archive, most with a JSON record
stored as a ``uint8`` array. :func:`open_archive` opens one and :func:`decode_json_record` reads
such a record; each format's reader passes ``bad(path, why)``, which makes the exception of its
kind of file, so messages name the file and the format it should have been.
"""

from __future__ import annotations

import io
import json

import numpy as np

__all__ = ["open_archive", "decode_json_record"]


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
    return npz


def decode_json_record(raw, path, bad) -> dict:
    """The JSON object stored as a 1-D ``uint8`` record of an ``.npz``; ``bad(path, why)`` makes the
    error of each kind of file."""
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise bad(path, "the metadata record is not a byte array")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(path, f"the metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise bad(path, "the metadata is not a JSON object")
    return meta

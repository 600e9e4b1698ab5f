"""Checkpoints of dictionary learning: atomic ``.npz`` files from which an interrupted run resumes.

A checkpoint holds the arrays of the learning state (dictionary, sparse codes or the
online statistics), a JSON ``metadata`` string (format, version, iteration, history,
counters and a *fingerprint* of the settings and data) and the JSON state of the
random generator (``numpy.random.Generator.bit_generator.state``). No pickle: the file
is read with ``allow_pickle=False`` and every field is validated. A checkpoint whose
fingerprint differs from the current call's (other data, other settings) is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import zipfile

import numpy as np

from .._archive import open_archive
from .._atomic import atomic_savez, with_npz_suffix
from .._rngstate import rng_state_from_json, rng_state_json
from .._validation import check_int, check_rng
from ..exceptions import ModelFileError, ValidationError

FORMAT = "cs_toolkit.dictionary.checkpoint"
FORMAT_VERSION = 1


def checkpoint_path(checkpoint) -> str | None:
    """Validate ``checkpoint`` (None or a path); ``.npz`` is appended when missing.

    The directory is created when missing; a path that is a directory, or whose
    directory cannot be created or written, is an error naming ``checkpoint``.
    """
    if checkpoint is None:
        return None
    try:
        path = os.fspath(checkpoint)
    except TypeError:
        raise ValidationError(
            f"checkpoint must be None or a file path (str or os.PathLike), got {type(checkpoint).__name__}."
        ) from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValidationError("checkpoint must be a non-empty file path, got ''.")
    if not os.path.isdir(path):
        path = with_npz_suffix(path)
    if os.path.isdir(path):
        raise ValidationError(f"checkpoint {path!r} is a directory; give a file path such as "
                              f"{os.path.join(path, 'checkpoint.npz')!r}.")
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"checkpoint {path!r}: cannot create its directory ({exc.strerror}).") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValidationError(f"checkpoint {path!r}: its directory is not writable.")
    return path


def check_every(checkpoint_every) -> int:
    """Validate ``checkpoint_every`` (a positive integer)."""
    return check_int("checkpoint_every", checkpoint_every, low=1)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def describe(value):
    """A JSON-safe, comparable description of a setting (arrays and callables by identity)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        v = float(value)
        return v if math.isfinite(v) else repr(v)
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    if callable(value):
        return f"callable {getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
    if hasattr(value, "__array__"):
        a = np.ascontiguousarray(value)
        return {"array_shape": list(a.shape), "dtype": str(a.dtype), "sha256": _sha(a.tobytes())}
    return repr(value)


def fingerprint(X, rng_arg, rng: np.random.Generator, settings: dict) -> dict:
    """Settings and data a checkpoint must match: shape, dtype and a hash of ``X``, the
    settings, and the initial random state (unless ``rng`` is None: fresh randomness)."""
    X = np.ascontiguousarray(X)
    fp = {"X_shape": list(X.shape), "X_dtype": str(X.dtype), "X_sha256": _sha(X.tobytes())}
    fp.update({k: describe(v) for k, v in settings.items()})
    fp["rng"] = None if rng_arg is None else _sha(rng_state_json(rng).encode())
    return json.loads(json.dumps(fp, sort_keys=True))


def save(path, fp: dict, state: dict, arrays: dict, rng: np.random.Generator) -> None:
    """Write a checkpoint atomically (the previous one survives an interrupted write)."""
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "fingerprint": fp, **state}
    atomic_savez(path, {"metadata": np.array(json.dumps(meta)), "rng_state": np.array(rng_state_json(rng)),
                        **arrays}, compressed=False)


def start(path, X, rng, settings: dict):
    """The run's generator from the ``rng`` argument, and where a checkpoint is kept
    (``path`` not None) its fingerprint and reader; returns ``(rng, fp, reader)``.

    ``reader`` is None when the run starts afresh (no ``path``, or no file yet); otherwise the
    generator is set to the saved state (see :func:`load`).
    """
    gen = check_rng(rng)
    if path is None:
        return gen, None, None
    fp = fingerprint(X, rng, gen, settings)
    return gen, fp, load(path, fp, gen)


def remove(path) -> None:
    """Delete the checkpoint of a finished run."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


class _Reader:
    """Validated access to the fields of a loaded checkpoint; errors name the file."""

    def __init__(self, path, meta, arrays):
        self.path, self.meta, self.arrays = path, meta, arrays

    def error(self, what):
        return ModelFileError(f"checkpoint {self.path!r} is corrupt: {what}; delete it to start over.")

    def fail(self, what):
        raise self.error(what)

    def int(self, key, low, high):
        v = self.meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            self.fail(f"{key}={v!r} is not an integer in [{low}, {high}]")
        return v

    def float(self, key, low=0.0):
        v = self.meta.get(key)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < low:
            self.fail(f"{key}={v!r} is not a finite number >= {low}")
        return float(v)

    def array(self, key, shape, dtype, *, finite=True):
        a = self.arrays.get(key)
        if a is None:
            self.fail(f"the {key!r} entry is missing")
        if a.dtype != np.dtype(dtype) or a.ndim != len(shape) or any(
                s is not None and s != n for s, n in zip(shape, a.shape, strict=True)):
            want = tuple("*" if s is None else s for s in shape)
            self.fail(f"{key!r} has dtype {a.dtype} and shape {a.shape}, expected {np.dtype(dtype)} and {want}")
        if finite and a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            self.fail(f"{key!r} has non-finite values")
        return np.ascontiguousarray(a)

    def history(self, n_entries):
        h = self.meta.get("history")
        keys = ("iteration", "error", "time", "replaced")
        if not isinstance(h, dict) or set(h) != set(keys):
            self.fail(f"history must have the keys {list(keys)}")
        out = {}
        for k in keys:
            v = h[k]
            if not isinstance(v, list) or len(v) != n_entries or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in v):
                self.fail(f"history[{k!r}] is not a list of {n_entries} finite numbers")
            out[k] = [int(x) for x in v] if k in ("iteration", "replaced") else [float(x) for x in v]
        return out


def load(path, fp: dict, rng: np.random.Generator) -> _Reader | None:
    """Read and check a checkpoint; None when ``path`` does not exist.

    The fingerprint must equal ``fp`` (else a ``ValidationError`` naming ``checkpoint``
    and the differing settings); the random generator ``rng`` is set to the saved state.
    Corrupt or foreign files raise ``ModelFileError``.
    """
    if not os.path.exists(path):
        return None
    def bad(p, why):
        return ModelFileError(f"checkpoint {p!r} is not a readable .npz checkpoint ({why}); delete it to start over.")

    try:
        with open_archive(path, bad) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise bad(path, exc) from None
    reader = _Reader(path, {}, arrays)
    for key in ("metadata", "rng_state"):
        a = arrays.get(key)
        if a is None or a.dtype.kind != "U" or a.ndim != 0:
            reader.fail(f"the {key!r} entry is missing or not a JSON string")
    try:
        meta = json.loads(str(arrays["metadata"]))
    except json.JSONDecodeError as exc:
        reader.fail(f"invalid JSON ({exc})")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        reader.fail("not a dictionary-learning checkpoint (format field)")
    if meta.get("version") != FORMAT_VERSION:
        reader.fail(f"unsupported version {meta.get('version')!r}, expected {FORMAT_VERSION}")
    old = meta.get("fingerprint")
    if not isinstance(old, dict):
        reader.fail("no settings fingerprint")
    if old != fp:
        diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
        names = ", ".join("X (the training data)" if k.startswith("X_") else k for k in diff)
        names = ", ".join(dict.fromkeys(names.split(", ")))
        raise ValidationError(
            f"checkpoint {path!r} was written by a run with other settings or data ({names} differ); "
            "use another checkpoint path, or delete the file to start over."
        )
    rng.bit_generator.state = rng_state_from_json(str(arrays["rng_state"]), type(rng.bit_generator), reader.error)
    reader.meta = meta
    return reader

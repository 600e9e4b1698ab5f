"""Atomic file output: write to a temporary file beside the target, then rename over it.

A reader (or a rerun after Ctrl-C) sees either the old file or the whole new
one, never half of it. The temporary file lives in the target's directory so
that :func:`os.replace` is a rename on one file system; it is removed on any
exception, ``KeyboardInterrupt`` included.

Used by everything that writes results, models, dictionaries and checkpoints.

The file gets the permissions :func:`open` would give it: those of the file it
replaces, else ``0o666`` less the umask (``mkstemp`` alone would leave ``0o600``).
Errors name the target path, never the temporary file.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

import numpy as np

__all__ = ["atomic_path", "atomic_write_text", "atomic_write_bytes", "atomic_savez", "with_npz_suffix"]


@contextlib.contextmanager
def atomic_path(path, *, fsync=True):
    """Context manager yielding a temporary path to write; renamed to ``path`` on success.

    The writer is free to open the temporary path itself (image and audio
    libraries want a file name). On any exception the temporary file is
    deleted and ``path`` is left as it was.

    Examples
    --------
    >>> with atomic_path("out.png") as tmp:          # doctest: +SKIP
    ...     skimage.io.imsave(tmp, image, extension=".png")
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    tmp = None
    try:
        os.makedirs(directory, exist_ok=True)
        mode = _mode_for(path)
        # keep the extension last: some writers pick the format from it
        fd, tmp = tempfile.mkstemp(prefix=f".tmp-{base}-", suffix=os.path.splitext(base)[1], dir=directory)
        os.close(fd)
    except OSError as exc:
        raise _naming(exc, path, tmp) from None
    try:
        yield tmp
        os.chmod(tmp, mode)  # after the writer: one that recreates the file would reset it
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _naming(exc, path, tmp) from None
        raise


def _umask() -> int:
    """The process umask, read without changing it where the system allows (Linux
    ``/proc/self/status``); else set and restored at once."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _mode_for(path) -> int:
    """Permission bits :func:`open` would leave ``path`` with: an existing file keeps its own."""
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and stat.S_ISREG(st.st_mode):
        return stat.S_IMODE(st.st_mode)
    return 0o666 & ~_umask()


def _naming(exc: OSError, path, tmp) -> OSError:
    """``exc`` again (same class and errno) with a message naming ``path``, not the temporary file."""
    path = os.fsdecode(path)
    why = exc.strerror or str(exc)
    if tmp:
        why = why.replace(os.fsdecode(tmp), path)
    try:
        err = type(exc)(f"cannot write {path!r}: {why}")
    except TypeError:  # a subclass with another constructor
        err = OSError(f"cannot write {path!r}: {why}")
    err.errno = exc.errno
    return err


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def with_npz_suffix(path) -> str:
    """``path`` as :func:`atomic_savez` (like :func:`numpy.savez`) writes it: ``.npz`` appended unless
    it ends in ``.npz`` (in any case)."""
    path = os.fspath(path)
    return path if path.lower().endswith(".npz") else path + ".npz"


def atomic_savez(path, arrays: dict, *, compressed=False) -> str:
    """``numpy.savez`` of ``arrays`` to ``path`` atomically; returns the path written.

    Like :func:`numpy.savez`, ``.npz`` is appended when missing. Object arrays
    are refused, so the file loads with ``allow_pickle=False``.
    """
    path = with_npz_suffix(path)
    for key, value in arrays.items():
        if np.asarray(value).dtype.hasobject:
            raise TypeError(f"array {key!r} has dtype object; it could only be loaded with pickle.")
    save = np.savez_compressed if compressed else np.savez
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        save(fh, **arrays)
    return path

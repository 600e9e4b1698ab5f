"""The checks every subcommand makes on the paths it will write, before any work.

One rule for all of them, file outputs and output folders (``demo``, ``bench``
and ``phase`` ``--out DIR``) alike: missing folders on the way are created when
the output is written (as ``mkdir -p`` would), so the nearest part of the path
that exists must be a folder, and a writable one (tried for real, not only by
the mode bits). A file output must end in the extension of what is written to
it (no extension is appended). Messages name the option and the path as the
user typed them.
"""

from __future__ import annotations

import os
import tempfile

from ..exceptions import ValidationError

__all__ = ["check_output_file", "check_output_dir", "same_file", "check_not_same"]


def _folder_problem(folder: str) -> str | None:
    """Why no file can be created in ``folder`` (a path as the user gave it; missing folders
    would be created), or None."""
    above = folder
    while above and not os.path.lexists(above):  # the nearest part of the path that exists
        parent = os.path.dirname(above)
        above = parent if parent != above else ""
    above = above or "."
    if not os.path.isdir(above):
        return f"{above!r} is a file, not a folder"
    new = "" if above == folder else f" (to create {folder!r} in it)"
    if not os.access(above, os.W_OK | os.X_OK):
        return f"the folder {above!r} is not writable{new}"
    try:  # os.access trusts the mode bits: root, read-only mounts and /proc need a real try
        fd, probe = tempfile.mkstemp(prefix=".cs-toolkit-probe-", dir=above)
    except OSError as exc:
        return f"nothing can be created in the folder {above!r}{new}: {exc.strerror or exc}"
    os.close(fd)
    os.unlink(probe)
    return None


def check_output_file(path, flag: str, *, exts, what: str) -> str:
    """Refuse, before any work, a file output that cannot be written or has the wrong extension.

    Parameters
    ----------
    path : str or path-like
        The output file as given by the user.
    flag : str
        The option that gave it, for the message (``"--out"``, ``"--checkpoint"``).
    exts : iterable of str
        The extensions (with the dot, lower case) the output may have; the message suggests the first.
    what : str
        What is written, for the message (``"a model"``, ``"an audio reconstruction"``).

    Returns
    -------
    str
        The path, unchanged.
    """
    p = os.fspath(path)
    if not p:
        raise ValidationError(f"{flag} must not be empty.")
    exts = list(dict.fromkeys(exts))  # in the order given: the first is the one suggested
    ext = os.path.splitext(p)[1].lower()
    if ext not in exts:
        raise ValidationError(f"{flag} {p!r}: {what} is written as {', '.join(exts)}, got "
                              f"{repr(ext) if ext else 'no extension'}; give a name ending in {exts[0]}.")
    if os.path.isdir(p):
        raise ValidationError(f"{flag} {p!r} is a folder; give a file name.")
    why = _folder_problem(os.path.dirname(p) or ".")
    if why:
        raise ValidationError(f"{flag} {p!r}: {why}.")
    return p


def check_output_dir(path, flag: str = "--out") -> str:
    """Refuse, before any work, an output folder that cannot be used (a missing one, and missing
    folders above it, are created by the subcommand). Returns the path."""
    p = os.fspath(path)
    if not p:
        raise ValidationError(f"{flag} must not be empty.")
    if os.path.lexists(p) and not os.path.isdir(p):
        raise ValidationError(f"{flag} {p!r} is a file, not a folder.")
    why = _folder_problem(os.path.normpath(p))
    if why:
        raise ValidationError(f"{flag} {p!r}: {why}.")
    return p


def same_file(a, b) -> bool:
    """Whether the paths ``a`` and ``b`` name the same file: ``os.path.samefile`` when both exist
    (``./x``, symbolic and hard links), else their resolved absolute paths compared."""
    a, b = os.fspath(a), os.fspath(b)
    if not a or not b:
        return False
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def check_not_same(path, flag: str, others) -> None:
    """Refuse, before any work, an output ``path`` (given by ``flag``) that is one of ``others``:
    ``(path, what)`` pairs of the files the command reads or writes besides (``"the input file"``,
    ``"the --checkpoint file"``); writing it would destroy that file."""
    for other, what in others:
        if other is not None and same_file(path, other):
            raise ValidationError(f"{flag} {os.fspath(path)!r} is {what} ({os.fspath(other)!r}); "
                                  f"give {flag} another name.")


def check_checkpoint(checkpoint, every) -> None:
    """``--checkpoint`` (an ``.npz`` file that can be written) and ``--checkpoint-every`` (>= 1, only
    with ``--checkpoint``), checked before any work."""
    from .._validation import check_int

    if every is not None:
        if checkpoint is None:
            raise ValidationError("--checkpoint-every needs --checkpoint PATH.")
        check_int("--checkpoint-every", every, low=1)
    if checkpoint is not None:
        check_output_file(checkpoint, "--checkpoint", exts={".npz"}, what="a checkpoint")

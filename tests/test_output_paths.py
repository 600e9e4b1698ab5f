"""Output files: normal permissions whatever writes them, and errors that name the user's path
(issue: reliability)."""

from __future__ import annotations

import contextlib
import os
import stat

import numpy as np
import pytest

from cs_toolkit._atomic import atomic_savez, atomic_write_bytes, atomic_write_text
from cs_toolkit.data import write_image, write_wav


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


WRITERS = {
    "atomic_savez": lambda p: atomic_savez(p / "a.npz", {"x": np.ones(3)}),
    "atomic_write_text": lambda p: atomic_write_text(p / "a.txt", "text\n"),
    "atomic_write_bytes": lambda p: atomic_write_bytes(p / "a.bin", b"\x00"),
    "write_image": lambda p: write_image(p / "a.png", np.full((8, 8), 0.5)),
    "write_wav": lambda p: write_wav(p / "a.wav", np.zeros(16), 8000),
}


@pytest.mark.parametrize("writer", WRITERS, ids=list(WRITERS))
@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_get_the_mode_the_umask_gives(tmp_path, writer, mask, mode):
    with _umask(mask):
        WRITERS[writer](tmp_path)
    (written,) = list(tmp_path.iterdir())  # and no temporary file left
    assert _mode(written) == mode, oct(_mode(written))


def test_an_overwritten_file_keeps_its_mode(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    with _umask(0o022):
        atomic_write_text(target, "new")
    assert target.read_text() == "new" and _mode(target) == 0o640


def test_the_umask_is_left_as_it_was(tmp_path):
    with _umask(0o027):
        atomic_write_text(tmp_path / "a.txt", "x")
        assert os.umask(0o027) == 0o027


@pytest.mark.parametrize("where", ["under a regular file", "missing system folder"])
def test_write_errors_name_the_target_not_the_temporary_file(tmp_path, where):
    if where == "missing system folder" and not os.path.isdir("/proc"):
        pytest.skip("no /proc")
    (tmp_path / "file.txt").write_text("x")
    target = str(tmp_path / "file.txt" / "out.npz") if where == "under a regular file" else "/proc/no-such/out.npz"
    with pytest.raises(OSError) as info:
        atomic_savez(target, {"x": np.ones(2)})
    assert target in str(info.value) and ".tmp-" not in str(info.value)
    assert info.value.errno is not None

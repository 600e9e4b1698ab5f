"""Output files: normal permissions whatever writes them, and errors that name the user's path
(issue: reliability)."""

from __future__ import annotations

import contextlib
import os
import re
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


# --------------------------------------------------------------------------- output paths of the CLI

def _path_cases(tmp):
    """(argv, message pattern): every subcommand, every kind of unusable output path."""
    img, wav, reg = tmp / "img.png", tmp / "clip.wav", tmp / "file.txt"
    cases = [
        (["train", "--quick", "--out", reg / "t.npz"], r"--out '.*file\.txt/t\.npz': '.*file\.txt' is a file, not a folder"),
        (["train", "--quick", "--out", reg / "sub" / "t.npz"], r"'.*file\.txt' is a file, not a folder"),
        (["train", "--quick", "--out", tmp / "t.txt"], r"a model is written as \.npz, got '\.txt'"),
        (["train", "--quick", "--out", tmp / "t"], r"a model is written as \.npz, got no extension"),
        (["train", "--quick", "--out", tmp / "m.npz", "--checkpoint", reg / "c.npz"], r"--checkpoint '.*file\.txt/c\.npz'"),
        (["train", "--model", "tnrd", "--data", tmp, "--out", reg / "t.npz"], r"'.*file\.txt' is a file, not a folder"),
        (["reconstruct", wav, "--out", tmp / "a.png"], r"an audio reconstruction is written as \.wav, got '\.png'"),
        (["reconstruct", img, "--out", tmp / "a.wav"], r"an image reconstruction is written as \.png.*got '\.wav'"),
        (["reconstruct", img, "--out", tmp / "a.gif"], r"an image reconstruction is written as \.png.*got '\.gif'"),
        (["reconstruct", img, "--out", reg / "a.png"], r"'.*file\.txt' is a file, not a folder"),
        (["reconstruct", img, "--out", tmp / "dir.png"], r"--out '.*dir\.png' is a folder"),
        (["train-dict", img, "--kind", "image", "--out", reg / "x" / "d.npz"], r"'.*file\.txt' is a file, not a folder"),
        (["train-dict", img, "--kind", "image", "--out", tmp / "d.txt"], r"a dictionary is written as \.npz"),
        (["train-dict", img, "--kind", "image", "--checkpoint", reg / "c.npz"], r"--checkpoint .*is a file, not a folder"),
        (["phase", "--solvers", "omp", "--out", reg / "deeper"], r"'.*file\.txt' is a file, not a folder"),
        (["phase", "--solvers", "omp", "--out", reg], r"--out '.*file\.txt' is a file, not a folder"),
        (["bench", "--solvers", "omp", "--out", reg / "b"], r"'.*file\.txt' is a file, not a folder"),
        (["demo", "--quick", "--out", reg / "demo"], r"'.*file\.txt' is a file, not a folder"),
    ]
    if os.path.isdir("/proc"):  # a folder where nothing can be created, whoever runs the test
        cases += [(["train", "--quick", "--out", "/proc/t.npz"], r"--out '/proc/t\.npz': nothing can be created in the folder '/proc'"),
                  (["demo", "--quick", "--out", "/proc/demo/x"], r"nothing can be created in the folder '/proc' \(to create '/proc/demo/x' in it\)")]
    return cases


N_PATH_CASES = 20


def _no_work(monkeypatch):
    """Make every long computation the subcommands start fail loudly (exit 1, not 2)."""
    import cs_toolkit.bench
    import cs_toolkit.dictionary
    import cs_toolkit.learned
    import cs_toolkit.signals.audio
    import cs_toolkit.signals.image

    def work(*args, **kwargs):
        raise RuntimeError("work started before the output path was checked")

    for mod, names in [(cs_toolkit.signals.image, ["compressive_image", "whole_image_cs", "train_tnrd"]),
                       (cs_toolkit.signals.audio, ["compressive_audio"]),
                       (cs_toolkit.dictionary, ["ksvd", "mod", "online_dictionary_learning"]),
                       (cs_toolkit.learned, ["train", "train_reconstructor", "pretrain_and_fine_tune"]),
                       (cs_toolkit.bench, ["run_benchmark", "phase_transition"])]:
        for name in names:
            monkeypatch.setattr(mod, name, work)


def test_every_subcommand_checks_its_output_paths_before_any_work(tmp_path, monkeypatch, capsys):
    from cs_toolkit.cli import main

    write_image(tmp_path / "img.png", np.random.default_rng(0).random((40, 40)))
    write_wav(tmp_path / "clip.wav", 0.5 * np.sin(np.arange(4000) * 0.05), 8000)
    (tmp_path / "file.txt").write_text("a regular file")
    (tmp_path / "dir.png").mkdir()
    _no_work(monkeypatch)
    cases = _path_cases(tmp_path)
    assert len(cases) == N_PATH_CASES or not os.path.isdir("/proc")
    before = sorted(p.name for p in tmp_path.iterdir())
    for argv, pattern in cases:
        rc = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert rc == 2, (argv, err)
        assert len(err.strip().splitlines()) == 1 and re.search(pattern, err), (argv, err)
        assert ".tmp-" not in err and "Errno" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no folder created, nothing written


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*atoms are unused")  # a tiny dictionary, learned in one iteration
def test_missing_folders_are_created_by_every_kind_of_output(tmp_path, capsys):
    """One rule: missing folders on the way to an output are created (mkdir -p), file or folder output."""
    from cs_toolkit.cli import main

    write_image(tmp_path / "img.png", np.random.default_rng(0).random((32, 32)))
    img = str(tmp_path / "img.png")
    new = tmp_path / "new"
    runs = [
        (["reconstruct", img, "--method", "bcs_spl", "--block-size", "16", "--out", str(new / "r" / "o.png")], new / "r" / "o.png"),
        (["train-dict", img, "--kind", "image", "--atoms", "4", "--sparsity", "1", "--patch-size", "4",
          "--max-iter", "1", "--max-signals", "50", "--out", str(new / "d" / "d.npz")], new / "d" / "d.npz"),
        (["bench", "--solvers", "omp", "--n", "20", "--m", "10", "--k", "2", "--trials", "1", "--no-progress",
          "--out", str(new / "b" / "bench")], new / "b" / "bench" / "results.csv"),
    ]
    for argv, written in runs:
        assert main(argv) == 0, capsys.readouterr().err
        assert written.is_file(), argv


@pytest.mark.slow
def test_no_file_the_commands_write_is_private_under_umask_022(tmp_path):
    """Every output of the real commands (images, WAV, figures, dictionaries, models, CSV/JSON) is 0644."""
    import subprocess
    import sys

    write_image(tmp_path / "img.png", np.random.default_rng(0).random((32, 32)))
    write_wav(tmp_path / "clip.wav", 0.5 * np.sin(np.arange(2048) * 0.05), 8000)
    out = tmp_path / "out"
    runs = [
        ["reconstruct", tmp_path / "img.png", "--method", "bcs_spl", "--block-size", "16", "--out", out / "img_cs.png"],
        ["reconstruct", tmp_path / "clip.wav", "--method", "omp", "--out", out / "clip_cs.wav"],
        ["train-dict", tmp_path / "img.png", "--kind", "image", "--atoms", "8", "--sparsity", "2", "--patch-size", "4",
         "--max-iter", "1", "--max-signals", "100", "--out", out / "dict.npz"],
        ["train", "--quick", "--quiet", "--m", "20", "--n", "40", "--layers", "2", "--out", out / "model.npz"],
        ["bench", "--solvers", "omp", "--n", "20", "--m", "10", "--k", "2", "--trials", "1", "--no-progress",
         "--out", out / "bench"],
        ["demo", "--quick", "--out", out / "demo"],
    ]
    for argv in runs:
        r = subprocess.run([sys.executable, "-m", "cs_toolkit.cli", *map(str, argv)], capture_output=True, text=True,
                           timeout=600, preexec_fn=lambda: os.umask(0o022), env={**os.environ, "MPLBACKEND": "Agg"})
        assert r.returncode == 0, (argv, r.stderr)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".png", ".wav", ".npz", ".csv", ".json", ".svg"}
    private = [str(p.relative_to(out)) for p in files if _mode(p) == 0o600]
    assert private == []
    assert {oct(_mode(p)) for p in files} == {oct(0o644)}

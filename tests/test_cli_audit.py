"""The command line's answers to the mistakes an audit made: every user error ends with exit status 2
and one line naming the option, before any work (outputs, memory), and never with a traceback."""

import io
import os
import zipfile

import numpy as np
import pytest
from test_cli_signals import _run_capped  # the command under an address-space cap

from cs_toolkit.data import write_image, write_wav


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit")
    write_image(d / "img64.png", np.random.default_rng(0).random((64, 64)))
    write_wav(d / "clip.wav", 0.5 * np.sin(np.arange(4000) * 0.05), 8000)
    return d


def _main(capsys, *argv):
    """``cs-toolkit ARGV`` in this process: the exit status and the lines written to stderr."""
    from cs_toolkit.cli import main

    status = main([str(a) for a in argv])
    return status, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def _refused(capsys, *argv, match):
    status, err = _main(capsys, *argv)
    assert status == 2, err
    assert len(err) == 1 and match in err[0], err
    return err[0]


def _npy_header(shape, descr):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _bomb(path, name, shape, descr="<f8"):
    """An .npz of a few bytes whose member's header claims ``shape``."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(f"{name}.npy", _npy_header(shape, descr) + bytes(64))


# ------------------------------------------------------------------ 1, 5: outputs over inputs
def test_reconstruct_refuses_to_write_over_its_input(inputs, tmp_path, capsys, monkeypatch):
    for name in ("img64.png", "clip.wav"):
        (tmp_path / name).write_bytes((inputs / name).read_bytes())
    (tmp_path / "link.png").symlink_to(tmp_path / "img64.png")
    monkeypatch.chdir(tmp_path)
    before = {n: (tmp_path / n).read_bytes() for n in ("img64.png", "clip.wav")}
    for argv in (["img64.png", "--method", "bcs_spl", "--out", "img64.png"],
                 ["img64.png", "--method", "bcs_spl", "--out", "./img64.png"],
                 ["img64.png", "--method", "bcs_spl", "--out", "link.png"],
                 [str(tmp_path / "clip.wav"), "--method", "omp", "--out", "clip.wav"]):
        err = _refused(capsys, "reconstruct", *argv, match="is the input file")
        assert err.startswith("cs-toolkit reconstruct: error: --out")
    assert {n: (tmp_path / n).read_bytes() for n in before} == before


@pytest.mark.parametrize(("argv", "match"), [
    (["train-dict", "{img}", "--kind", "image", "--out", "d.npz", "--checkpoint", "./d.npz"],
     "--checkpoint './d.npz' is the --out file"),
    (["train", "--quick", "--quiet", "--out", "m.npz", "--checkpoint", "{tmp}/m.npz"], "is the --checkpoint file"),
    (["train", "--model", "tnrd", "--data", "{tmp}", "--out", "m.npz", "--checkpoint", "m.npz"],
     "is the --checkpoint file"),
], ids=["train-dict", "train", "train-tnrd"])
def test_checkpoint_equal_to_out_is_refused_up_front(argv, match, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(capsys, *[a.format(img=inputs / "img64.png", tmp=tmp_path) for a in argv], match=match)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ 2: never a traceback
def test_binary_config_files_are_not_toml(inputs, tmp_path, capsys):
    _refused(capsys, "bench", inputs / "img64.png", match="is not valid TOML: it is not UTF-8 text")
    bad = tmp_path / "c9.toml"
    bad.write_bytes(b"trials = 2\n\xff\xfe bad\n")
    _refused(capsys, "bench", bad, match="is not valid TOML")


@pytest.mark.parametrize("content", [b"\xff\xfe\x00 not text\n", b"[1, 2]\n", b"42\n"])
@pytest.mark.parametrize("command", ["bench", "phase"])
def test_corrupt_journals_are_refused_in_one_line(command, content, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    journal = out / ("trials.jsonl" if command == "bench" else "cells.jsonl")
    journal.write_bytes(content)
    argv = (["--n", "20", "--m", "10", "--k", "2"] if command == "bench" else ["--n", "20", "--deltas", "0.5",
                                                                              "--rhos", "0.2"])
    _refused(capsys, command, "--solvers", "omp", *argv, "--trials", "1", "--out", out, "--no-progress",
             match=f"corrupt journal {journal}")
    assert journal.read_bytes() == content  # the journal is not replaced by a refused run


def test_unexpected_errors_are_one_line_internal_errors(capsys, monkeypatch):
    import cs_toolkit.cli.bench as cli_bench

    def boom(path):
        raise UnicodeError("a ValueError subclass nobody expected\nsecond line")

    monkeypatch.setattr(cli_bench, "_read_toml", boom)
    status, err = _main(capsys, "bench", "x.toml")
    assert status == 1 and len(err) == 1, err
    assert err[0].startswith("cs-toolkit bench: internal error (UnicodeError: a ValueError subclass")


# ------------------------------------------------------------------ 3, 4: memory, checked before the work
@pytest.mark.parametrize(("argv", "match"), [
    (["bench", "--solvers", "omp", "--n", "20", "--m", "10", "--k", "2", "--trials", "100000000000"],
     "--trials x 1 solver(s) needs about"),
    (["phase", "--solvers", "omp", "--n", "20", "--trials", "2", "--deltas", "0.1:0.9:100000000000",
      "--rhos", "0.2"], "100,000,000,000 --deltas"),
    (["train", "--model", "lista", "--m", "250", "--n", "500", "--layers", "16", "--batch-size", "100000000",
      "--quick", "--quiet", "--max-steps", "1", "--out", "X.npz"], "--batch-size 100000000"),
    (["reconstruct", "img64.png", "--method", "omp", "--block-size", "8", "--basis", "bomb_dict.npz"],
     "array 'dictionary' is damaged or too large"),
    (["reconstruct", "img64.png", "--model", "bomb_model.npz"], "array '__metadata__' is damaged or too large"),
], ids=["bench-trials", "phase-grid", "train-batch", "basis-bomb", "model-bomb"])
def test_runs_that_cannot_fit_are_refused_before_they_start(argv, match, inputs):
    _bomb(inputs / "bomb_dict.npz", "dictionary", (10**6, 10**6))
    _bomb(inputs / "bomb_model.npz", "__metadata__", (10**12,), "|u1")
    r = _run_capped(*argv, cwd=inputs)
    assert r.returncode == 2, r.stderr  # not 1 (MemoryError) nor killed
    err = r.stderr.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "MemoryError" not in err[0], r.stderr


def test_large_pictures_are_sized_from_their_header_before_decoding(tmp_path, capsys, monkeypatch):
    from PIL import Image

    import cs_toolkit.cli.signals as cli_signals
    import cs_toolkit.data

    pics = tmp_path / "pics"
    pics.mkdir()
    Image.fromarray(np.zeros((3000, 3000, 4), np.uint8), "RGBA").save(pics / "big.png")  # compresses to little

    def never(*args, **kwargs):
        raise AssertionError("the picture was decoded before the memory check")

    monkeypatch.setattr(cs_toolkit.data, "read_image", never)
    monkeypatch.setattr(cli_signals, "_available_memory", lambda: 200 * 2**20)
    big, out = pics / "big.png", tmp_path / "o.npz"
    _refused(capsys, "reconstruct", big, "--method", "bcs_spl", "--out", tmp_path / "o.png", match="GiB of memory")
    _refused(capsys, "train-dict", big, "--kind", "image", "--out", out, match="GiB of memory")
    _refused(capsys, "train", "--data", pics, "--block", "8", "--quick", "--quiet", "--out", out,
             match="GiB of memory")
    _refused(capsys, "train", "--model", "tnrd", "--data", pics, "--quick", "--quiet", "--out", out,
             match="GiB of memory")


# ------------------------------------------------------------------ 6: argparse errors in one line
def test_argument_errors_are_one_line(capsys):
    from cs_toolkit.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["reconstruct", "x.png", "--ratio"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ratio" in err[0] and "cs-toolkit reconstruct --help" in err[0], err


# ------------------------------------------------------------------ 7, 9, 10, 12, 13: messages
@pytest.mark.parametrize(("argv", "match"), [
    (["phase", "--solvers", "omp", "--deltas", "nan"], "--deltas must lie in (0, 1]"),
    (["reconstruct", "{img}", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["bench", "--solvers", "omp", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["phase", "--solvers", "omp", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["train-dict", "{img}", "--kind", "image", "--seed", "-1"], "--seed must be >= 0, got -1"),
    # refused before the (missing) input is looked at
    (["train-dict", "missing.png", "--kind", "image", "--checkpoint-every", "0", "--checkpoint", "X.npz"],
     "--checkpoint-every must be >= 1, got 0"),
    (["bench", "--solvers", "omp", "--trials", "0"], "--trials must be >= 1, got 0"),
    (["bench", "--solvers", "omp", "--jobs", "0"], "--jobs must be a positive integer or -1"),
    (["bench", "--solvers", "omp", "--snr", "nan"], "--snr must be finite"),
    (["bench", "--solvers", "omp", "--k", "0"], "--k must be >= 1, got 0"),
    (["reconstruct", "{img}", "--method", "lista"], "--method lista needs --model"),
    (["reconstruct", "{img}", "--model", "{tmp}"], "is a folder"),
    (["reconstruct", "{img}", "--out", ""], "--out must not be empty"),
    (["demo", "--quick", "--ratio", "0.0001", "--out", "D"], "--ratio 0.0001 gives no measurement"),
    (["train", "--quick", "--out", "m.npz", "--checkpoint-every", "3"], "--checkpoint-every needs --checkpoint"),
], ids=lambda v: " ".join(v[:1] + [a for a in v if a.startswith("--")][:2]) if isinstance(v, list) else None)
def test_messages_name_the_option(argv, match, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _refused(capsys, *[a.format(img=inputs / "img64.png", tmp=tmp_path) for a in argv], match=match)
    assert os.listdir(tmp_path) == []  # no demo folder, nothing written
    assert not (inputs / "img64_cs.png").exists()  # nor next to the input


def test_solver_options_must_be_a_table(tmp_path, capsys):
    cfg = tmp_path / "opts.toml"
    cfg.write_text('[[problems]]\nn = 20\nm = 10\nk = 2\n[[solvers]]\nname = "omp"\noptions = "x"\n')
    _refused(capsys, "bench", cfg, match="options of the solver 'omp' must be a table")


# ------------------------------------------------------------------ 8: the hop follows the frame
def test_hop_defaults_to_half_the_frame(inputs, tmp_path, capsys):
    status, err = _main(capsys, "reconstruct", inputs / "clip.wav", "--method", "omp", "--frame-length", "64",
                        "--out", tmp_path / "r.wav")
    assert status == 0 and (tmp_path / "r.wav").is_file(), err


# ------------------------------------------------------------------ 11: a model file's error said once
def test_model_file_errors_are_not_repeated(inputs, tmp_path, capsys):
    bad = tmp_path / "meta.npz"
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(b"[1, 2]", np.uint8))
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("__metadata__.npy", buf.getvalue())
    err = _refused(capsys, "reconstruct", inputs / "img64.png", "--model", bad, match="not a JSON object")
    assert err.count("is not a valid cs-toolkit model file") == 1 and "ModelFileError" not in err


def test_train_defaults_are_the_bundled_models_recipes():
    """``--stages`` / ``--iterations`` default to what the bundled image models were trained with
    (the CLI's help says so; they were 5 / 100 for both)."""
    from cs_toolkit.cli.learned import _BUNDLED_RECIPE
    from cs_toolkit.learned.diffusion import load_diffusion
    from cs_toolkit.signals import load_nlstages
    from cs_toolkit.signals._image_nlstages import DEFAULT_NL_MODEL
    from cs_toolkit.signals.image import DEFAULT_TNRD_MODEL

    for name, model in (("pnp_nl_learned", load_nlstages(DEFAULT_NL_MODEL)),
                        ("tnrd", load_diffusion(DEFAULT_TNRD_MODEL))):
        assert _BUNDLED_RECIPE[name] == (model.n_stages, model.training_record["iterations"]), name


def test_solvers_listing_marks_required_options(capsys):
    """``cs-toolkit solvers`` printed ``lam=None`` for an option without a default; it is required."""
    from cs_toolkit.cli import main

    assert main(["solvers"]) == 0
    out = capsys.readouterr().out
    fista = out.split("\nfista", 1)[1].split("\n", 2)[1]
    assert "lam (required)" in fista and "lam=None" not in fista
    assert "max_iter=" in fista  # options with a default still show it


# ------------------------------------------------------------------ follow-up audit
@pytest.mark.parametrize("command", [
    ["bench", "--solvers", "omp", "--n", "32", "--m", "16", "--k", "2", "--trials", "3", "--no-progress"],
    ["phase", "--solvers", "omp", "--n", "20", "--deltas", "0.5", "--rhos", "0.2", "--trials", "2", "--no-progress"],
], ids=["bench", "phase"])
def test_jobs_are_checked_and_capped(command, capsys, monkeypatch):
    import cs_toolkit.bench.phase as phase_mod
    import cs_toolkit.bench.runner as runner_mod

    _refused(capsys, *command, "--jobs", "0", match="--jobs")
    _refused(capsys, *command, "--jobs", "-2", match="--jobs")
    seen = []
    for mod in (runner_mod, phase_mod):
        original = mod._execute

        def spy(func, tasks, *, n_jobs, _original=original, **kw):
            seen.append((n_jobs, len(tasks)))
            return _original(func, tasks, n_jobs=n_jobs, **kw)

        monkeypatch.setattr(mod, "_execute", spy)
    for jobs in ("1000000", "-1"):
        status, err = _main(capsys, *command, "--jobs", jobs)
        assert status == 0, err
    assert len(seen) == 2
    assert all(1 <= n <= min(os.cpu_count() or 1, tasks) for n, tasks in seen), seen


def test_upper_case_npz_outputs_keep_their_name(tmp_path, capsys):
    from cs_toolkit._atomic import atomic_savez
    from cs_toolkit.learned import load_model

    out = tmp_path / "M2.NPZ"
    status, err = _main(capsys, "train", "--model", "alista", "--quick", "--m", "20", "--n", "40", "--out", out)
    assert status == 0, err
    assert os.listdir(tmp_path) == ["M2.NPZ"]
    assert load_model(out).n_measurements == 20
    assert atomic_savez(str(tmp_path / "x.Npz"), {"a": np.zeros(2)}) == str(tmp_path / "x.Npz")
    assert sorted(os.listdir(tmp_path)) == ["M2.NPZ", "x.Npz"]


def test_iterations_beat_quick_and_unused_train_options_are_refused(inputs, tmp_path, capsys, monkeypatch):
    import cs_toolkit.signals.image as image_mod

    data = tmp_path / "data"
    data.mkdir()
    (data / "a.png").write_bytes((inputs / "img64.png").read_bytes())
    seen = []

    def fake_train(*a, max_iter, **kw):
        seen.append(max_iter)
        raise KeyboardInterrupt

    monkeypatch.setattr(image_mod, "train_tnrd", fake_train)
    base = ["train", "--model", "tnrd", "--data", data, "--quick", "--quiet", "--out", tmp_path / "t.npz"]
    assert _main(capsys, *base)[0] == 130
    assert _main(capsys, *base, "--iterations", "7")[0] == 130
    assert seen == [3, 7]
    for flag in (["--layers", "4"], ["--lr", "0.1"], ["--max-steps", "5"], ["--batch-size", "2"], ["--pretrain"],
                 ["--m", "250"], ["--n", "10"], ["--p", "0.2"], ["--block", "16"], ["--ratio", "0.3"], ["--snr", "-5"]):
        _refused(capsys, *base, *flag, match=f"{flag[0]} does not apply to --model tnrd")
    speech = ["train", "--model", "joint_learned", "--data", tmp_path, "--quick", "--out", tmp_path / "j.npz"]
    for flag in (["--stages", "2"], ["--iterations", "2"], ["--start", "pnp_nl"], ["--basis", "dct"], ["--m", "9"],
                 ["--n", "9"], ["--p", "0.2"], ["--ratio", "0.3"], ["--pretrain"]):
        _refused(capsys, *speech, *flag, match=f"{flag[0]} does not apply to --model joint_learned")
    for flag in (["--start", "pnp_nl"], ["--basis", "dct"]):  # pnp_nl_learned's loop and basis, not tnrd's
        _refused(capsys, *base, *flag, match=f"{flag[0]} does not apply to --model tnrd")
    lista = ["train", "--model", "alista", "--quick", "--quiet", "--out", tmp_path / "l.npz"]
    for flag in (["--stages", "2"], ["--iterations", "2"], ["--start", "pnp_nl"], ["--basis", "dct"]):
        _refused(capsys, *lista, *flag, match=f"{flag[0]} does not apply to --model alista")
    assert seen == [3, 7]
    assert not any((tmp_path / f).exists() for f in ("t.npz", "j.npz", "l.npz"))


def test_train_dict_online_takes_max_iter(inputs, tmp_path, capsys, monkeypatch):
    import cs_toolkit.dictionary as dictionary

    seen = []
    original = dictionary.online_dictionary_learning

    def spy(*a, **kw):
        seen.append(kw.get("max_iter"))
        return original(*a, **kw)

    monkeypatch.setattr(dictionary, "online_dictionary_learning", spy)
    base = ["train-dict", inputs / "img64.png", "--kind", "image", "--method", "online", "--atoms", "16"]
    for extra in (["--max-iter", "3"], []):
        status, err = _main(capsys, *base, *extra, "--out", tmp_path / "d.npz")
        assert status == 0, err
    assert seen == [3, None]
    _refused(capsys, *base, "--max-iter", "0", "--out", tmp_path / "e.npz", match="--max-iter")
    from cs_toolkit.cli import build_parser

    sub = build_parser()._subparsers._group_actions[0].choices["train-dict"]
    helps = {a.dest: a.help or "" for a in sub._actions}
    assert all("default" in helps[d] for d in ("max_iter", "method", "out", "seed")), helps


def test_single_frame_gifs_are_read_and_animations_refused(tmp_path, capsys):
    from PIL import Image

    from cs_toolkit.data import read_image

    grey = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "g.gif")
    assert read_image(tmp_path / "g.gif").shape == (64, 64)
    status, err = _main(capsys, "reconstruct", tmp_path / "g.gif", "--method", "pnp_dct", "--out", tmp_path / "o.png")
    assert status == 0, err
    assert (tmp_path / "o.png").is_file()
    frames = [Image.fromarray(np.full((40, 40), 50 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "m.gif", save_all=True, append_images=frames[1:])
    _refused(capsys, "reconstruct", tmp_path / "m.gif", "--method", "pnp_dct", "--out", tmp_path / "p.png",
             match="has 3 frames")


@pytest.mark.parametrize("value", ["-1e1", "-2.5E-1", "-1.e+2", "-.5e1", "-3", "-0.5"])
def test_negative_numbers_with_exponents_are_values(value):
    from cs_toolkit.cli import build_parser

    args = build_parser().parse_args(["bench", "--solvers", "omp", "--snr", value])
    assert args.snr == float(value)
    args = build_parser().parse_args(["train", "--out", "m.npz", "--snr", value])
    assert args.snr == float(value)


def test_folders_named_like_images_are_not_inputs(inputs, tmp_path, capsys, monkeypatch):
    import cs_toolkit.signals.image as image_mod

    td = tmp_path / "td"
    (td / "sub.png").mkdir(parents=True)
    (td / "x.wav").mkdir()
    (td / "a.png").write_bytes((inputs / "img64.png").read_bytes())
    status, err = _main(capsys, "train-dict", td, "--kind", "image", "--atoms", "8", "--sparsity", "2",
                        "--max-iter", "1", "--out", tmp_path / "d.npz")
    assert status == 0, err
    _refused(capsys, "train-dict", td, "--kind", "audio", "--out", tmp_path / "e.npz", match="no training files")

    def fake_train(imgs, **kw):
        assert len(imgs) == 1
        raise KeyboardInterrupt

    monkeypatch.setattr(image_mod, "train_tnrd", fake_train)
    assert _main(capsys, "train", "--model", "tnrd", "--data", td, "--quiet", "--out", tmp_path / "t.npz")[0] == 130
    status, err = _main(capsys, "train", "--model", "alista", "--quick", "--quiet", "--block", "8",
                        "--data", td, "--out", tmp_path / "m.npz")
    assert status == 0, err
    (tmp_path / "dd.png").mkdir()
    _refused(capsys, "reconstruct", tmp_path / "dd.png", "--method", "pnp_dct", match="is a folder")


def test_bench_config_problems_name_the_table_and_key(tmp_path, capsys):
    """A [[problems]] table without ``n`` or with ``k = []`` gave Python's own messages
    ("missing 1 required keyword-only argument", "max() arg is an empty sequence")."""
    cases = {"no_n.toml": ('m = 16\nk = 2\n', "[[problems]] table 1: missing key(s) ['n']"),
             "empty_k.toml": ('n = 32\nm = 16\nk = []\n', "[[problems]] table 1: k must be an integer or a non-empty")}
    for name, (body, match) in cases.items():
        cfg = tmp_path / name
        cfg.write_text('[[solvers]]\nname = "omp"\n\n[[problems]]\n' + body)
        _refused(capsys, "bench", cfg, "--no-progress", "--out", tmp_path / "out", match=match)
        assert not (tmp_path / "out").exists()

"""Tests written to kill mutants that the rest of the suite let survive (hand mutation testing of
the command line, the benchmark harness, the active-set solvers and the file helpers).

Each test checks documented behaviour against an independent reference (a closed form, a
round trip, an optimality condition, the exit status and one-line message of a user mistake),
not a stored output of the current code.
"""

import os

import numpy as np
import pytest
from test_cli_audit import _main  # cs-toolkit in this process: status and stderr lines

from cs_toolkit.solvers import omp


# --- OMP: the error target and the "numerically zero" stop -----------------------------------------
@pytest.mark.parametrize("precompute", [True, False])
def test_omp_stops_when_the_squared_residual_equals_tol(precompute):
    # documented: stop once ||y - A x||^2 <= tol. With A = I and y = (0, 4, 3, 0) the first atom
    # leaves a squared residual of exactly 9 (all values exact in floating point).
    A = np.eye(4)
    y = np.array([0.0, 4.0, 3.0, 0.0])
    x, info = omp(A, y, tol=9.0, precompute=precompute, return_info=True)
    np.testing.assert_array_equal(x, [0.0, 4.0, 0.0, 0.0])
    assert info.n_iter[0] == 1 and info.converged[0]
    # just below the residual of one atom, the second atom is taken
    x2 = omp(A, y, tol=np.nextafter(9.0, 0.0), precompute=precompute)
    np.testing.assert_array_equal(x2, [0.0, 4.0, 3.0, 0.0])


@pytest.mark.parametrize("precompute", [True, False])
def test_omp_keeps_small_but_not_numerically_zero_correlations(precompute):
    # documented: a signal stops early only when its correlations are numerically zero (100 eps
    # relative to the first); 1e-4 of the first is far from that and must be selected.
    A = np.eye(4)
    y = np.array([1.0, 1e-4, 0.0, 0.0])
    x = omp(A, y, n_nonzero_coefs=2, precompute=precompute)
    np.testing.assert_allclose(x, y, rtol=0, atol=1e-15)
    # a correlation of 1e-15 relative is numerically zero: one atom only
    x1, info = omp(A, np.array([1.0, 1e-15, 0.0, 0.0]), n_nonzero_coefs=2, precompute=precompute,
                   return_info=True)
    assert info.n_iter[0] == 1 and x1[1] == 0.0


# --- the command line ---------------------------------------------------------------------------
def test_bench_config_file_settings_are_used_and_flags_override_them(tmp_path, capsys, monkeypatch):
    # documented (cli/bench.py): trials, seed and out may come from the config file; flags override them
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench.toml").write_text(
        'trials = 2\nseed = 7\nout = "from_config"\n\n[[problems]]\nn = 16\nm = 8\nk = 1\n\n'
        '[[solvers]]\nname = "omp"\n')
    status, err = _main(capsys, "bench", "bench.toml", "--no-progress")
    assert status == 0, err
    doc = json.loads((tmp_path / "from_config" / "results.json").read_text())
    assert doc["meta"]["settings"]["seed"] == 7 and doc["meta"]["settings"]["n_trials"] == 2
    assert len(doc["rows"]) == 2
    status, err = _main(capsys, "bench", "bench.toml", "--no-progress", "--seed", "3", "--out", "from_flag")
    assert status == 0, err
    doc = json.loads((tmp_path / "from_flag" / "results.json").read_text())
    assert doc["meta"]["settings"]["seed"] == 3


def test_bench_memory_check_counts_every_parallel_job(capsys, monkeypatch):
    # documented: a run whose largest problem, once per parallel job, cannot fit is refused up front
    # (about 4 m n + n^2 + 8 s (m + n) floats a job). Room for three jobs: --jobs 1 starts, --jobs 8 is refused.
    import cs_toolkit.bench
    import cs_toolkit.cli.signals as cli_signals

    m, n = 128, 256
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(cli_signals, "_available_memory", lambda: 8 * 3 * (4 * m * n + n * n))

    def started(*args, **kwargs):
        raise KeyboardInterrupt  # the run was reached: the memory check let it through

    monkeypatch.setattr(cs_toolkit.bench, "run_benchmark", started)
    argv = ["bench", "--solvers", "omp", "--n", n, "--m", m, "--k", "5", "--trials", "8", "--no-progress"]
    status, _ = _main(capsys, *argv, "--jobs", "1")
    assert status == 130
    status, err = _main(capsys, *argv, "--jobs", "8")
    assert status == 2 and len(err) == 1 and "memory" in err[0], err


# --- the benchmark journal ----------------------------------------------------------------------
def test_journal_records_are_on_disk_as_soon_as_they_are_appended(tmp_path):
    # documented (bench/io.py): each record is written with one write call and flushed, so an
    # interrupted run (or a reader beside it) finds every finished record in the file
    import json

    from cs_toolkit.bench.io import JsonLinesLog

    path = tmp_path / "trials.jsonl"
    log = JsonLinesLog(path)
    log.start({"settings_hash": "h"})
    try:
        for i in range(3):
            log.append({"problem_id": 0, "trial": i})
            lines = path.read_text(encoding="utf-8").splitlines()
            assert [json.loads(ln) for ln in lines[1:]] == [{"problem_id": 0, "trial": t} for t in range(i + 1)]
        header, records = JsonLinesLog(path).read()
        assert header == {"settings_hash": "h"} and len(records) == 3
    finally:
        log.close()


def test_bench_config_file_with_an_unknown_top_level_key_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    # a misspelt setting ("trails") must not be ignored silently: exit status 2, one line naming it
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench.toml").write_text(
        'trails = 2\n\n[[problems]]\nn = 16\nm = 8\nk = 1\n\n[[solvers]]\nname = "omp"\n')
    status, err = _main(capsys, "bench", "bench.toml", "--no-progress")
    assert status == 2 and len(err) == 1, err
    assert err[0].startswith("cs-toolkit bench: error:") and "trails" in err[0]
    assert os.listdir(tmp_path) == ["bench.toml"]  # refused before any work


# --- train: the checkpoint options ----------------------------------------------------------------
@pytest.mark.parametrize("model", ["tnrd", "pnp_nl_learned", "joint_learned"])
def test_checkpoint_every_is_refused_where_the_checkpoint_is_written_every_iteration(model, tmp_path, capsys,
                                                                                       monkeypatch):
    # documented (cli/learned.py): for tnrd and pnp_nl_learned the checkpoint is the L-BFGS log written
    # after every iteration and for joint_learned after every evaluation: --checkpoint-every does not apply
    monkeypatch.chdir(tmp_path)
    status, err = _main(capsys, "train", "--model", model, "--data", ".", "--out", "m.npz",
                        "--checkpoint", "c.npz", "--checkpoint-every", "3", "--quiet")
    assert status == 2 and len(err) == 1, err
    assert "--checkpoint-every" in err[0] and "does not apply" in err[0]
    assert os.listdir(tmp_path) == []


def test_pretrain_refuses_an_out_that_is_the_fine_tuning_checkpoint(tmp_path, capsys, monkeypatch):
    # documented: with --pretrain the fine-tuning writes PATH with -finetune added to its stem; a model
    # written there would be read back as a damaged checkpoint on the next run
    monkeypatch.chdir(tmp_path)
    for ck, out in (("ck.npz", "ck-finetune.npz"), ("sub/CK.NPZ", "sub/CK-finetune.npz")):
        status, err = _main(capsys, "train", "--model", "lista", "--pretrain", "--quick", "--quiet",
                            "--checkpoint", ck, "--out", out)
        assert status == 2 and len(err) == 1, err
        assert "--out" in err[0] and "fine-tuning checkpoint" in err[0]
    assert os.listdir(tmp_path) == []


def test_train_passes_checkpoint_every_on_to_the_training(tmp_path, capsys, monkeypatch):
    # --checkpoint-every N: the training state is saved every N steps (default 200)
    import cs_toolkit.learned

    seen = {}

    def spy(model, source, **kwargs):
        seen.update(kwargs)
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(cs_toolkit.learned, "train", spy)
    monkeypatch.chdir(tmp_path)
    base = ["train", "--model", "alista", "--quick", "--quiet", "--m", "8", "--n", "16", "--out", "m.npz",
            "--checkpoint", "c.npz"]
    assert _main(capsys, *base, "--checkpoint-every", "7")[0] == 130
    assert seen["checkpoint"] == "c.npz" and seen["checkpoint_every"] == 7
    seen.clear()
    assert _main(capsys, *base)[0] == 130
    assert seen["checkpoint_every"] == 200


@pytest.mark.parametrize("precompute", [True, False])
def test_omp_error_target_only_counts_an_exhausted_residual_as_converged(precompute):
    # GreedyInfo.converged: the signal stopped on its stopping rule (error target met or residual
    # exhausted), not on dependent atoms. y has a part (e3) that no atom reaches (a zero column):
    # after two atoms every correlation is zero while ||r||^2 = 1 > tol.
    A = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    y = np.array([1.0, 2.0, 1.0])
    x, info = omp(A, y, tol=0.5, precompute=precompute, return_info=True)
    np.testing.assert_allclose(x, [1.0, 2.0, 0.0], atol=1e-14)
    assert info.n_iter[0] == 2 and info.converged[0]
    np.testing.assert_allclose(info.resid_norm, [1.0], rtol=1e-12)


@pytest.mark.parametrize("precompute", [True, False])
@pytest.mark.parametrize("scale", [1e-4, 1.0, 1e4])
def test_omp_dependence_test_is_relative_to_the_atom_norm(precompute, scale):
    # the fourth atom is a1 + a2 + 1e-9 e3: numerically dependent on a1, a2 whatever the scale of A
    from cs_toolkit.exceptions import DependentAtomsWarning

    A = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1e-9], [0.0, 0.0, 1.0, 0.0]])
    y = np.array([1.0, -1.0, 1.0, 0.5])
    with pytest.warns(DependentAtomsWarning):
        x, info = omp(scale * A, scale * y, n_nonzero_coefs=4, precompute=precompute, return_info=True)
    assert info.n_iter[0] == 3 and not info.converged[0]
    np.testing.assert_allclose(x, [1.0, -1.0, 0.5, 0.0], atol=1e-9)


# --- the shared solver checks -------------------------------------------------------------------
def test_a_negative_per_signal_lam_is_refused():
    # documented (lars, fista, lasso_objective): lam is non-negative, shared or one per signal
    from cs_toolkit.exceptions import ValidationError
    from cs_toolkit.solvers import fista, lars
    from cs_toolkit.solvers.lasso import lasso_objective

    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 10))
    Y = rng.standard_normal((2, 6))
    lam = np.array([0.1, -0.1])
    for call in (lambda: lars(A, Y, lam=lam), lambda: fista(A, Y, lam=lam, max_iter=5),
                 lambda: lasso_objective(A, Y, np.zeros((2, 10)), lam)):
        with pytest.raises(ValidationError, match="lam"):
            call()


def test_warm_up_refuses_an_unknown_solver_before_running_any(monkeypatch):
    # documented (solvers/warmup.py): an unknown name fails before any compilation
    import cs_toolkit.solvers.warmup as warmup

    ran = []
    monkeypatch.setattr(warmup, "solve", lambda A, Y, method, **kw: ran.append(method))
    with pytest.raises(Exception, match="no_such_solver"):
        warmup.warm_up(["omp", "no_such_solver"], dtypes=("float64",))
    assert ran == []


def test_check_array_with_copy_never_returns_the_users_array():
    # documented: with copy=True the result is never the user's array (the caller may write into it)
    from cs_toolkit._validation import check_array, check_signals

    for x in (np.arange(6.0).reshape(2, 3), np.arange(6, dtype=np.float32), np.ones((3, 2))[:, 0]):
        before = x.copy()
        out = check_array(x, "x", copy=True)
        assert not np.shares_memory(out, x)
        out[...] = -1.0
        np.testing.assert_array_equal(x, before)
        y2, _ = check_signals(x, "Y", copy=True)
        assert not np.shares_memory(y2, x)


# --- the .npz reader ----------------------------------------------------------------------------
def test_an_archive_member_announcing_more_data_than_it_holds_is_refused_before_reading(tmp_path):
    # documented (_archive.open_archive): numpy would allocate the header's shape before reading a
    # byte, so a tiny file claiming a huge array is refused from its header
    import io
    import zipfile

    from numpy.lib import format as npy

    class Bad(Exception):
        pass

    member = io.BytesIO()
    npy.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    member.write(b"\0" * 64)
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dictionary.npy", member.getvalue())
    from cs_toolkit._archive import open_archive

    with pytest.raises(Bad, match="too large"):
        open_archive(path, lambda p, why: Bad(why))
    # the same member with its whole data is read
    ok = tmp_path / "ok.npz"
    np.savez(ok, dictionary=np.arange(8.0))
    with open_archive(ok, lambda p, why: Bad(why)) as npz:
        np.testing.assert_array_equal(npz["dictionary"], np.arange(8.0))

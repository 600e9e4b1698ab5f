import subprocess
import sys

import numpy as np
import pytest

import cs_toolkit
from cs_toolkit._validation import check_int, check_option, check_scalar, check_signals
from cs_toolkit.exceptions import DTypeError, ValidationError


def test_version_is_exposed():
    assert cs_toolkit.__version__.count(".") == 2


@pytest.mark.slow
def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "cs_toolkit.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and cs_toolkit.__version__ in out.stdout
    out = subprocess.run([sys.executable, "-m", "cs_toolkit.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "COMMAND" in out.stdout


def test_check_signals_names_argument_and_shapes():
    with pytest.raises(ValidationError, match=r"Y.*expected 5 features.*\(3, 4\)"):
        check_signals(np.ones((3, 4)), "Y", n_features=5)
    with pytest.raises(ValidationError, match="transposed"):
        check_signals(np.ones((5, 3)), "Y", n_features=5)
    with pytest.raises(ValidationError, match="finite"):
        check_signals(np.array([1.0, np.nan]), "Y")
    with pytest.raises(DTypeError, match="complex"):
        check_signals(np.ones(3, dtype=complex), "Y")


def test_check_signals_keeps_float32_and_upcasts_int():
    y2, was_1d = check_signals(np.ones(4, dtype=np.float32))
    assert was_1d and y2.shape == (1, 4) and y2.dtype == np.float32
    y2, _ = check_signals(np.ones((2, 4), dtype=np.int64))
    assert y2.dtype == np.float64


def test_scalar_int_option_checks():
    with pytest.raises(ValidationError, match="lam must be >= 0"):
        check_scalar("lam", -1.0, low=0.0)
    with pytest.raises(ValidationError, match="k must be an integer"):
        check_int("k", 2.5)
    with pytest.raises(ValidationError, match="'a', 'b'"):
        check_option("mode", "c", ["a", "b"])


def test_solver_aliases_resolve_to_registered_solvers():
    from cs_toolkit.solvers import get_solver
    from cs_toolkit.solvers._registry import ALIASES

    for alias, name in ALIASES.items():
        assert get_solver(alias) is get_solver(name)
    with pytest.raises(ValidationError, match="method must be one of"):
        get_solver("lassoo")


def test_import_sets_the_thread_waiting_defaults_before_numpy_and_keeps_the_users():
    """``import cs_toolkit`` sets OpenMP's passive waiting and OpenBLAS's short spin before NumPy
    (and so OpenBLAS, which reads the variable when it loads) is imported, unless the user set them."""
    import os
    import subprocess
    import sys

    code = ("import os, sys; import cs_toolkit; print('numpy' in sys.modules, "
            "os.environ['OMP_WAIT_POLICY'], os.environ['OPENBLAS_THREAD_TIMEOUT'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "PASSIVE", "16"]
    env.update(OMP_WAIT_POLICY="ACTIVE", OPENBLAS_THREAD_TIMEOUT="28")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "ACTIVE", "28"]

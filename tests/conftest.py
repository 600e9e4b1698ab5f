"""Shared test fixtures and the dtype tolerances used by every test (STYLE.md section 8)."""

import os
import sys

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

#: Relative tolerances by dtype, in one place.
TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}


def tol(dtype) -> float:
    return TOL[np.dtype(dtype)]


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the size of the bad-input catalogue, as the hardening issue asks."""
    mod = sys.modules.get("test_bad_inputs") or sys.modules.get("tests.test_bad_inputs")
    if mod is not None and hasattr(mod, "n_cases"):
        terminalreporter.write_line(f"bad-input catalogue: {mod.n_cases()} cases")

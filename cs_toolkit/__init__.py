"""cs-toolkit: compressed sensing and sparse coding.

Subpackages
-----------
sensing      sensing matrices and matrix-free operators, diagnostics
transforms   DCT, wavelets, blocks/patches and frames <-> rows
solvers      numba batch solvers (OMP, ISTA/FISTA, LARS, CoSaMP, SP, IHT, HTP, BP, AMP) and ``solve``
dictionary   dictionary learning (K-SVD, approximate K-SVD, MOD, online) and denoising
learned      learned unrolled reconstructors (LISTA family), training, safe save/load
features     sparse codes as features: scikit-learn transformer, SRC classifier, ML-ISTA
signals      synthetic problems, image and audio pipelines
bench        benchmark harness and phase transitions
metrics      NMSE, SNR, PSNR, SSIM, support recovery, success criterion
data         bundled samples and WAV/image input-output
plotting     figures (matplotlib)

Every subpackage is imported on first use: ``import cs_toolkit`` loads neither numba nor SciPy.
"""

import os as _os

from ._version import __version__

# numba's OpenMP threading layer (libgomp) spin-waits after every parallel region by default,
# stealing the cores that OpenBLAS needs for the next GEMM: FISTA ran 2x and batch OMP 2x slower
# on 2 cores. Passive waiting removes that contention. Set here, before numba first loads libgomp;
# a value the user has already set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# OpenBLAS's worker threads likewise spin for 2^28 cycles (about 0.1 s) after every multi-threaded
# product before they sleep, and take the second core from the numba kernel that follows it (batch
# OMP at 2 threads right after a product: 47 instead of 28 ms). 2^16 cycles (tens of microseconds)
# keeps back-to-back products fast. OpenBLAS reads it when it loads, with NumPy: it applies when
# cs_toolkit is imported first (the CLI, or a script that imports it before NumPy).
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

#: Subpackages and modules, imported on first use (``cs_toolkit.solvers`` or ``from cs_toolkit
#: import solvers``): ``import cs_toolkit`` and ``cs-toolkit --help`` stay fast because numba,
#: SciPy and the compiled kernels load only with the first subpackage that needs them.
_SUBMODULES = frozenset({"bench", "data", "dictionary", "exceptions", "features", "learned", "metrics",
                         "plotting", "sensing", "signals", "solvers", "transforms"})
#: Functions re-exported from a subpackage: name -> subpackage.
_FUNCTIONS = {"solve": "solvers", "list_solvers": "solvers"}

__all__ = [
    "__version__",
    "bench",
    "data",
    "dictionary",
    "exceptions",
    "features",
    "learned",
    "metrics",
    "plotting",
    "sensing",
    "signals",
    "solvers",
    "transforms",
    "solve",
    "list_solvers",
]


def __getattr__(name):
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f".{_FUNCTIONS[name]}", __name__), name)
    raise AttributeError(f"module 'cs_toolkit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))

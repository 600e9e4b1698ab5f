"""The reconstruction methods of the image and audio pipelines, as a registry.

Every whole-signal method of :func:`~cs_toolkit.signals.reconstruct_image` and
:func:`~cs_toolkit.signals.reconstruct_audio` is listed here once, with its kind (classical or
learned), a one-line summary and, for a learned method with a bundled model, the test of whether
that model serves given sensing settings. The CLI, the benchmarks and the notebooks enumerate
methods from here; besides them, every registered solver (:func:`cs_toolkit.solvers.list_solvers`)
is a per-block (per-frame) method.

:func:`default_method` picks what ``cs-toolkit reconstruct`` uses when no method is given: the
learned method whose bundled model serves the settings, else the best classical method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .._validation import check_int, check_scalar
from ..exceptions import ValidationError

__all__ = ["ReconstructionMethod", "list_methods", "get_method", "default_method", "SIGNALS"]

SIGNALS = ("image", "audio")
#: The folder of the bundled trained models (package data: ``cs_toolkit/learned/models``).
MODELS_DIR = Path(__file__).resolve().parent.parent / "learned" / "models"


@dataclass(frozen=True)
class ReconstructionMethod:
    """One whole-signal reconstruction method.

    Attributes
    ----------
    name : str
    signal : {"image", "audio"}
    learned : bool
        Its parameters were trained on data (bundled models are trained on data held out from
        every evaluation; see the README).
    summary : str
    rank : int
        Order of quality among the classical methods of a signal kind (0 = best, the default when
        no learned model serves the settings).
    serves : callable or None
        ``serves(settings) -> bool``: whether the bundled model handles measurements taken with
        ``settings`` (``ratio``, ``block_size`` or ``frame_length`` and ``hop``, ``matrix``, ``basis``).
    floats_per_pixel : int
        Peak working memory of an image method in float64 values per pixel, rounded up from its
        measured peak (the patch methods hold the 2-D DCT spectra of every sliding 8x8 patch, 64
        values per pixel, more than once: 1,300-1,530 bytes per pixel at 512 to 2,048 pixels a
        side); the CLI refuses an image that would not fit before it starts.
    """

    name: str
    signal: str
    learned: bool
    summary: str
    rank: int = 99
    serves: object = field(default=None, repr=False, compare=False)
    floats_per_pixel: int = 30


def _joint_audio_serves(s) -> bool:
    path = MODELS_DIR / "joint_audio.npz"
    if not path.is_file() or s.get("matrix", "gaussian") != "gaussian" or s.get("basis", "dct") != "dct":
        return False
    from ..learned.joint_audio import load_joint_audio

    net = load_joint_audio(path)
    # only at the ratios where it beat "joint" on its validation clips (recorded by its training script)
    chosen = (net.training_record or {}).get("default_ratios") or []
    ratio = s.get("ratio", 0.25)
    return (s.get("frame_length", 256) == net.frame_length and s.get("hop", 128) * 2 == net.frame_length
            and any(isinstance(r, int | float) and abs(ratio - r) < 1e-9 for r in chosen))


def _nl_serves(s) -> bool:
    from ._image_nlstages import DEFAULT_NL_MODEL, nl_serves

    return nl_serves(s, MODELS_DIR / DEFAULT_NL_MODEL.name)


_REGISTRY: dict[tuple[str, str], ReconstructionMethod] = {}
#: :attr:`ReconstructionMethod.floats_per_pixel` of the methods that filter sliding 8x8 patches.
_PATCHES = 200


def _register(*methods):
    for m in methods:
        _REGISTRY[(m.signal, m.name)] = m


_register(
    ReconstructionMethod("pnp_nl", "image", False, "plug-and-play projected Landweber with non-local "
                         "denoisers (groups of similar patches filtered in a 3-D DCT, BM3D-style), from BCS-SPL", rank=1, floats_per_pixel=_PATCHES),
    ReconstructionMethod("pnp_lr", "image", False, "plug-and-play projected Landweber with a low-rank "
                         "collaborative filter (weighted nuclear norm shrinkage of groups of similar patches, "
                         "NLR-CS-style), from BCS-SPL (about twice pnp_nl's time)", rank=0,
                         floats_per_pixel=_PATCHES),
    ReconstructionMethod("pnp_dct", "image", False, "plug-and-play projected Landweber with the sliding "
                         "8x8 patch-DCT denoisers, from BCS-SPL (about half pnp_nl's time)", rank=2,
                         floats_per_pixel=_PATCHES),
    ReconstructionMethod("pnp_tv", "image", False, "plug-and-play projected Landweber with total-variation "
                         "denoising and momentum, from BCS-SPL", rank=3),
    ReconstructionMethod("bcs_spl", "image", False, "BCS-SPL: Wiener smoothing, projection, bivariate wavelet "
                         "shrinkage (Mun & Fowler 2009)", rank=4),
    ReconstructionMethod("tnrd", "image", True, "trained nonlinear diffusion stages with projections "
                         "(bundled models; below pnp_dct and pnp_nl on the held-out images)", floats_per_pixel=_PATCHES),
    ReconstructionMethod("pnp_nl_learned", "image", True, "a non-local loop (pnp_lr for the bundled model, "
                         "the one its model names) followed by trained collaborative-filter stages (learned "
                         "shrinkage of every 3-D frequency)", serves=_nl_serves, floats_per_pixel=_PATCHES),
    ReconstructionMethod("lista", "image", True, "a learned per-block unrolled network (--model)"),
    ReconstructionMethod("joint", "audio", False, "all overlapping frames recovered together (DCT, FISTA)",
                         rank=0),
    ReconstructionMethod("joint_learned", "audio", True, "joint recovery unrolled with learned per-frequency "
                         "thresholds, steps and momenta (bundled model)", serves=_joint_audio_serves),
    ReconstructionMethod("lista", "audio", True, "a learned per-frame unrolled network (--model)"),
)


def _check_signal(signal):
    if signal not in SIGNALS:
        raise ValidationError(f"signal must be one of {SIGNALS}, got {signal!r}.")


def list_methods(signal, *, solvers=False) -> list[str]:
    """Names of the whole-signal methods of ``signal`` ("image" or "audio"), classical first by rank,
    then learned; with ``solvers=True`` followed by every registered per-block solver."""
    _check_signal(signal)
    ms = sorted((m for (s, _), m in _REGISTRY.items() if s == signal), key=lambda m: (m.learned, m.rank, m.name))
    names = [m.name for m in ms]
    if solvers:
        from ..solvers import list_solvers

        names += [s for s in list_solvers() if s not in names]
    return names


def check_method_options(signal, method, *, lam, max_iter, solver_options) -> tuple:
    """Check the ``method`` of a ``reconstruct_*`` call (a whole-signal method of ``signal`` or a
    registered solver) and the options all methods share; returns the checked ``(lam, max_iter)``.
    Solver options are refused for a whole-signal method."""
    from ..solvers import list_solvers

    whole = list_methods(signal)
    valid = whole + list_solvers()
    if not isinstance(method, str) or method not in valid:
        raise ValidationError(f"method must be one of {', '.join(map(repr, valid))}; got {method!r}.")
    if lam is not None:
        lam = check_scalar("lam", lam, low=0.0)
    if max_iter is not None:
        max_iter = check_int("max_iter", max_iter, low=1)
    if method in whole and solver_options:
        raise ValidationError(f"unknown option(s) {', '.join(map(repr, sorted(solver_options)))} "
                              f"for method {method!r}.")
    return lam, max_iter


def get_method(signal, name) -> ReconstructionMethod:
    """The registered method ``name`` of ``signal``; ValidationError listing the valid names otherwise."""
    _check_signal(signal)
    m = _REGISTRY.get((signal, name))
    if m is None:
        raise ValidationError(f"method must be one of {', '.join(map(repr, list_methods(signal)))} "
                              f"for {signal}; got {name!r}.")
    return m


def default_method(signal, **settings) -> tuple[str, str]:
    """``(name, reason)``: the learned method whose bundled model serves ``settings``, else the best
    classical method (rank 0) of ``signal``."""
    _check_signal(signal)
    for m in _REGISTRY.values():
        if m.signal == signal and m.learned and m.serves is not None and m.serves(settings):
            return m.name, "the learned method, whose bundled model serves these settings"
    best = min((m for m in _REGISTRY.values() if m.signal == signal and not m.learned), key=lambda m: m.rank)
    return best.name, "the best classical method (no bundled learned model serves these settings)"

"""Packaging: the sample data and the shipped models reach every install, not only the checkout."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cs_toolkit import data

ROOT = Path(__file__).resolve().parent.parent


def test_data_dir_resolves_and_lists_samples(monkeypatch):
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    d = data.data_dir()
    assert d.is_dir()
    samples = data.list_samples()
    assert samples and {"image", "audio"} <= set(samples.values())
    assert all(
        (d / f"{name}{'.png' if k == 'image' else '.wav'}").is_file() for name, k in samples.items()
    )


def test_data_dir_error_names_both_places_and_the_override(tmp_path, monkeypatch):
    """A package folder with no _sample_data/ and no checkout around it (a broken install)."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    fake_pkg = tmp_path / "site-packages" / "cs_toolkit"
    fake_pkg.mkdir(parents=True)
    (tmp_path / "site-packages" / "data").mkdir()  # another distribution's folder, not the samples
    monkeypatch.setattr(data, "__file__", str(fake_pkg / "data.py"))
    with pytest.raises(
        FileNotFoundError, match=r"_sample_data.*regular install.*source checkout.*CS_TOOLKIT_DATA"
    ):
        data.data_dir()
    (fake_pkg / "_sample_data").mkdir()
    assert data.data_dir() == (fake_pkg / "_sample_data").resolve()


def _clean_source(dst: Path) -> Path:
    """The files git knows (tracked, or new and not ignored) copied to ``dst``: the wheel is built
    as from a fresh clone, so a stale build/ or *.egg-info of the checkout cannot hide a missing file
    (and none is left behind). Outside a git checkout the checkout itself is built."""
    cmd = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        ls = subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return ROOT
    for rel in ls.stdout.decode().split("\0"):
        if rel and (ROOT / rel).is_file():  # a file deleted but not yet committed is skipped
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    return dst


@pytest.mark.slow
def test_wheel_carries_sample_data_and_models(tmp_path):
    pytest.importorskip("setuptools", reason="building without isolation needs setuptools (dev)")
    try:
        import setuptools.command.bdist_wheel  # noqa: F401  (setuptools >= 70.1)
    except ImportError:
        pytest.importorskip("wheel", reason="building without isolation needs wheel (dev extras)")
    src = _clean_source(tmp_path / "src")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    out = subprocess.run(
        [*pip_wheel, "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    (whl,) = (tmp_path / "dist").glob("cs_toolkit-*.whl")
    with zipfile.ZipFile(whl) as z:
        names = set(z.namelist())
    samples = sorted(f.name for f in (src / "data").iterdir() if f.is_file())
    models = sorted(f.name for f in (src / "cs_toolkit" / "learned" / "models").glob("*.npz"))
    assert {".png", ".wav"} <= {Path(f).suffix for f in samples} and "README.md" in samples
    assert models
    wanted = [f"cs_toolkit/_sample_data/{f}" for f in samples]
    wanted += [f"cs_toolkit/learned/models/{f}" for f in [*models, "README.md"]]
    missing = [f for f in wanted if f not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not any(n.startswith("data/") for n in names), "samples belong inside the package"

"""The README's main job: ``cs-toolkit demo`` end to end through the real command."""

import re
import subprocess
import sys


def test_demo_writes_figures_and_prints_quality_table(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "cs_toolkit.cli", "demo", "--quick", "--out", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr
    pngs = sorted(p.name for p in (tmp_path / "demo").glob("*_figure.png"))
    assert len(pngs) >= 2, pngs
    assert any(p.endswith(".wav") for p in (p.name for p in (tmp_path / "demo").iterdir()))
    psnrs = [float(v) for v in re.findall(r"PSNR ([\d.]+) dB", out.stdout)]
    snrs = [float(v) for v in re.findall(r"\| SNR ([\d.]+) dB", out.stdout)]
    assert psnrs and min(psnrs) > 18.0, out.stdout  # documented floor for the quick demo image
    rows = {m: float(v) for m, v in re.findall(r"\| camera \| (\w+) \| PSNR ([\d.]+) dB", out.stdout)}
    assert set(rows) == {"bcs_spl", "tnrd", "pnp_dct"}, out.stdout
    assert rows["tnrd"] > rows["bcs_spl"], out.stdout  # the learned stages improve on their start
    assert snrs and max(snrs) > 10.0, out.stdout  # best audio method on the bundled clip

"""The README's main job: ``cs-toolkit demo`` end to end through the real command."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

plt = pytest.importorskip("matplotlib.pyplot")


@pytest.mark.slow
def test_demo_writes_figures_and_prints_quality_table(tmp_path):
    # stderr is merged into stdout, as in a terminal log (`cs-toolkit demo 2>&1 | tee log`)
    # (bytes, decoded by hand: text mode would turn a progress bar's carriage returns into newlines)
    out = subprocess.run(
        [sys.executable, "-m", "cs_toolkit.cli", "demo", "--quick", "--out", str(tmp_path / "demo")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
    )
    log = out.stdout.decode().replace(os.linesep, "\n")
    assert out.returncode == 0, log
    pngs = sorted(p.name for p in (tmp_path / "demo").glob("*_figure.png"))
    assert len(pngs) >= 2, pngs
    assert any(p.endswith(".wav") for p in (p.name for p in (tmp_path / "demo").iterdir()))
    psnrs = [float(v) for v in re.findall(r"PSNR ([\d.]+) dB", log)]
    snrs = [float(v) for v in re.findall(r"\| SNR ([\d.]+) dB", log)]
    assert psnrs and min(psnrs) > 18.0, log  # documented floor for the quick demo image
    rows = {m: float(v) for m, v in re.findall(r"\| camera \| (\w+) \| PSNR ([\d.]+) dB", log)}
    from cs_toolkit.signals import DEFAULT_IMAGE_METHOD, default_method

    chosen = default_method("image", ratio=0.25)[0]  # the demo shows the learned default beside the best classical
    learned_image = chosen if chosen != DEFAULT_IMAGE_METHOD else "tnrd"
    assert set(rows) == {"bcs_spl", DEFAULT_IMAGE_METHOD, learned_image}, log
    assert rows[learned_image] > rows["bcs_spl"], log  # the learned stages improve on their start
    assert snrs and max(snrs) > 10.0, log  # best audio method on the bundled clip
    speech = {m: float(v) for m, v in re.findall(r"\| 0_jackson_0 \| (\w+) \| SNR ([\d.]+) dB", log)}

    learned = default_method("audio", ratio=0.25)[0]  # the demo shows the learned method where one serves
    assert set(speech) == {"omp", "joint", learned}, log
    # no progress-bar output (carriage returns, tqdm text) anywhere in the piped output, and the
    # table is whole: a header, a separator and one row per (input, method), nothing in between
    assert "\r" not in log and "it/s" not in log, repr(log)
    lines = log.splitlines()
    start = lines.index("| input | method | quality | time (s) |")
    n_rows = len(rows) + len(speech)
    table = lines[start:start + 2 + n_rows]
    assert table[1] == "|---|---|---|---|" and all(re.fullmatch(r"\| .+ \| [\d.]+ \|", r) for r in table[2:]), table
    assert lines[start + 2 + n_rows].startswith("figures and reconstructions written to"), lines[start:]


def _drawn_figure(monkeypatch, tmp_path, panels, titles, kind, **kw):
    """Call the demo's ``_figure`` and return the matplotlib figure it saved (the caller closes it)."""
    from cs_toolkit.cli.signals import _figure

    kept = []
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    _figure(panels, titles, tmp_path / f"{kind}.png", kind, **kw)
    monkeypatch.undo()
    assert (tmp_path / f"{kind}.png").stat().st_size > 0
    fig = kept[-1]
    fig.canvas.draw()
    return fig


def _assert_titles_inside(fig, titles):
    box = fig.bbox
    for ax in fig.axes:
        t = ax.title
        if t.get_text():
            ext = t.get_window_extent()
            assert box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1, (
                f"title {t.get_text()!r} is clipped: {ext} outside {box}")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == titles


@pytest.mark.slow
def test_demo_image_figure_has_full_titles_and_an_error_colour_bar(monkeypatch, tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (128, 128)).astype(np.uint8)
    rec = np.clip(img + 10.0, 0, 255)
    titles = ["original (128x128 pixels)", "pnp_dct, ratio 0.25: PSNR 30.15 dB, SSIM 0.921",
              "absolute error |original - reconstruction|"]
    fig = _drawn_figure(monkeypatch, tmp_path, [img, rec, np.abs(img - rec)], titles, "image")
    _assert_titles_inside(fig, titles)
    labels = [ax.get_ylabel() for ax in fig.axes[3:]]  # the colour bar is a fourth axes
    plt.close(fig)
    assert len(fig.axes) == 4 and "grey levels" in labels[0], labels


@pytest.mark.slow
def test_demo_audio_figure_has_labelled_axes(monkeypatch, tmp_path):
    x = np.sin(np.arange(800) / 5.0)
    titles = ["original: clip.wav (0.10 s at 8000 Hz)", "joint, ratio 0.25: SNR 15.15 dB, segmental SNR 16.29 dB",
              "error (original - reconstruction)"]
    fig = _drawn_figure(monkeypatch, tmp_path, [x, 0.9 * x, 0.1 * x], titles, "audio", rate=8000)
    _assert_titles_inside(fig, titles)
    assert all(ax.get_ylabel() == "amplitude" for ax in fig.axes)
    assert fig.axes[-1].get_xlabel() == "time (s)"
    assert fig.axes[-1].get_xlim() == pytest.approx((0.0, 0.1))
    plt.close(fig)

"""Block-CS image reconstruction benchmark: PSNR / SSIM / time per method and ratio.

Setting of the literature (Mun & Fowler 2009): B = 32 blocks, one Gaussian
sensing matrix with orthonormal rows, images on [0, 255], ratios 0.1 / 0.25 / 0.5.
Contenders: per-block FISTA in the 2-D DCT (no smoothing), our BCS-SPL (DWT,
bivariate shrinkage), plug-and-play with a TV denoiser (``pnp_tv``) and our best
method (``DEFAULT_IMAGE_METHOD``, plug-and-play with patch-DCT denoisers). Images:
the bundled samples (``cs_toolkit.data``) at 256x256, plus camera at 512x512.

Run from the repository root::

    python benchmarks/images.py            # full table
    python benchmarks/images.py --quick    # two images, 256x256 only

Prints a markdown table (means over images, per ratio), the per-image rows and the
per-image margins of the best method over our BCS-SPL.
The machine load average is printed; times are wall-clock seconds of one run.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from cs_toolkit.data import list_samples, load_image
from cs_toolkit.signals import DEFAULT_IMAGE_METHOD, image_quality, measure_image, reconstruct_image

LITERATURE = {  # dB at ratios 0.1 / 0.25 / 0.5, standard 256/512 test images
    "fista_dct": (20.1, 24.1, 29.6),
    "bcs_spl": (23.4, 27.4, 32.1),
}
RATIOS = (0.1, 0.25, 0.5)
METHODS = {
    "fista_dct": dict(method="fista", basis="dct"),
    "bcs_spl": dict(method="bcs_spl"),
    "pnp_tv": dict(method="pnp_tv"),
    DEFAULT_IMAGE_METHOD: dict(method=DEFAULT_IMAGE_METHOD),
}


def _images(quick: bool):
    names = [n for n, k in list_samples().items() if k == "image"]
    out = []
    for n in sorted(names):
        img = load_image(n)
        if img.shape[0] >= 512 and not quick:
            out.append((f"{n}512", img[:512, :512]))
        if img.shape[0] >= 512:
            img = img[::2, ::2][:256, :256]  # decimated 256x256 version (no extra dependency)
        out.append((f"{n}256", img[:256, :256]))
    return out[:2] if quick else out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    for name, img in _images(args.quick):
        img8 = np.round(img * 255).astype(np.uint8)
        for r in RATIOS:
            meas = measure_image(img8, r, block_size=32, matrix="gaussian", rng=0)
            for label, kw in METHODS.items():
                t0 = time.perf_counter()
                rec = reconstruct_image(meas, **kw)
                dt = time.perf_counter() - t0
                q = image_quality(img8, rec)
                rows.append((name, r, label, q["psnr"], q["ssim"], dt))
                print(f"{name:16s} ratio {r:4.2f} {label:10s} PSNR {q['psnr']:6.2f} SSIM {q['ssim']:.4f} "
                      f"{dt:6.2f} s  load {os.getloadavg()[0]:.1f}", flush=True)
    print()
    print("| method | " + " | ".join(f"ratio {r}: PSNR / SSIM / s" for r in RATIOS) + " |")
    print("|---|" + "---|" * len(RATIOS))
    for label in dict.fromkeys([DEFAULT_IMAGE_METHOD, "pnp_tv", "bcs_spl", "fista_dct"]):
        cells = []
        for r in RATIOS:
            sel = [x for x in rows if x[1] == r and x[2] == label]
            cells.append(f"{np.mean([x[3] for x in sel]):.2f} / {np.mean([x[4] for x in sel]):.3f} / "
                         f"{np.mean([x[5] for x in sel]):.1f}")
        print(f"| {label} (ours) | " + " | ".join(cells) + " |")
    for label, vals in LITERATURE.items():
        print(f"| {label} (literature) | " + " | ".join(f"{v:.1f} / - / -" for v in vals) + " |")
    gains = []
    for r in RATIOS:
        b = np.mean([x[3] for x in rows if x[1] == r and x[2] == DEFAULT_IMAGE_METHOD])
        s = np.mean([x[3] for x in rows if x[1] == r and x[2] == "bcs_spl"])
        gains.append(b - s)
    print(f"\ngain of {DEFAULT_IMAGE_METHOD} over our BCS-SPL (dB): " + ", ".join(f"{g:+.2f}" for g in gains))
    psnr = {(x[0], x[1], x[2]): x[3] for x in rows}
    print(f"per-image gain of {DEFAULT_IMAGE_METHOD} over our BCS-SPL (dB), ratios " + " / ".join(map(str, RATIOS)))
    for name in dict.fromkeys(x[0] for x in rows):
        print(f"  {name:18s} " + " / ".join(f"{psnr[name, r, DEFAULT_IMAGE_METHOD] - psnr[name, r, 'bcs_spl']:+.2f}"
                                          for r in RATIOS))
    print(f"images: {', '.join(sorted({x[0] for x in rows}))}; load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Block-CS image reconstruction benchmark: PSNR / SSIM / time per method and ratio.

Setting of the literature (Mun & Fowler 2009): B = 32 blocks, one Gaussian
sensing matrix with orthonormal rows, images on [0, 255], ratios 0.1 / 0.25 / 0.5.
Contenders: per-block FISTA in the 2-D DCT (no smoothing), our BCS-SPL (DWT,
bivariate shrinkage), plug-and-play with a TV denoiser (``pnp_tv``) or with patch-DCT
denoisers (``pnp_dct``) or non-local ones (``pnp_nl``, ``pnp_lr``, the best classical method), the
learned diffusion stages ``tnrd`` (BCS-SPL followed by the bundled trained stages, trained on other
pictures by ``benchmarks/tnrd_images.py``) and the learned default ``pnp_nl_learned`` (``pnp_lr``
followed by the bundled learned non-local stages, ``benchmarks/nl_images.py``). Images: the bundled samples (``cs_toolkit.data``) at
256x256, plus camera at 512x512. ``--methods`` picks the contenders (bcs_spl always).

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
    "pnp_dct": dict(method="pnp_dct"),
    "pnp_nl": dict(method="pnp_nl"),
    "tnrd": dict(method="tnrd"),  # the learned diffusion stages (bundled model, cs_toolkit/learned/models/)
    DEFAULT_IMAGE_METHOD: dict(method=DEFAULT_IMAGE_METHOD),  # the best classical method
    "pnp_nl_learned": dict(method="pnp_nl_learned"),  # the learned default of cs-toolkit reconstruct
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
    p.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)} (default all)")
    args = p.parse_args(argv)
    methods = {k: METHODS[k] for k in dict.fromkeys(m.strip() for m in args.methods.split(",") if m.strip())
               if k in METHODS}
    unknown = [m for m in args.methods.split(",") if m.strip() and m.strip() not in METHODS]
    if unknown or "bcs_spl" not in methods:
        p.error(f"--methods: unknown {unknown}; bcs_spl (the reference) must be included")
    print(f"load average at start: {os.getloadavg()}")
    rows = []
    for name, img in _images(args.quick):
        img8 = np.round(img * 255).astype(np.uint8)
        for r in RATIOS:
            meas = measure_image(img8, r, block_size=32, matrix="gaussian", rng=0)
            for label, kw in methods.items():
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
    for label in dict.fromkeys(["pnp_nl_learned", DEFAULT_IMAGE_METHOD, "pnp_nl", "pnp_dct", "tnrd", "pnp_tv", "bcs_spl",
                                "fista_dct"]):
        if label not in methods:
            continue
        cells = []
        for r in RATIOS:
            sel = [x for x in rows if x[1] == r and x[2] == label]
            cells.append(f"{np.mean([x[3] for x in sel]):.2f} / {np.mean([x[4] for x in sel]):.3f} / "
                         f"{np.mean([x[5] for x in sel]):.1f}")
        print(f"| {label} (ours) | " + " | ".join(cells) + " |")
    for label, vals in LITERATURE.items():
        print(f"| {label} (literature) | " + " | ".join(f"{v:.1f} / - / -" for v in vals) + " |")
    psnr = {(x[0], x[1], x[2]): x[3] for x in rows}
    for label in methods:
        if label in ("bcs_spl", "fista_dct"):
            continue
        gains = [np.mean([psnr[n, r, label] - psnr[n, r, "bcs_spl"] for n in dict.fromkeys(x[0] for x in rows)])
                 for r in RATIOS]
        print(f"\ngain of {label} over our BCS-SPL (dB), mean over images: " + ", ".join(f"{g:+.2f}" for g in gains))
        print(f"per-image gain of {label} over our BCS-SPL (dB), ratios " + " / ".join(map(str, RATIOS)))
        for name in dict.fromkeys(x[0] for x in rows):
            print(f"  {name:18s} " + " / ".join(f"{psnr[name, r, label] - psnr[name, r, 'bcs_spl']:+.2f}"
                                              for r in RATIOS))
    print(f"images: {', '.join(sorted({x[0] for x in rows}))}; load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Train the learned image reconstructor (method ``"tnrd"``) bundled as ``cs_toolkit/learned/models/tnrd_images.npz``.

Trained diffusion stages (:mod:`cs_toolkit.learned.diffusion`) learn to turn the
BCS-SPL reconstruction of a block-CS measured picture into the picture: 32 x 32
blocks, Gaussian sensing matrices with orthonormal rows, ratios 0.1 / 0.25 / 0.5,
one model for all three. Training pictures: scikit-image's bundled pictures *other
than* the toolkit's test images (camera, astronaut, coins, brick are never seen),
grey, centre 256 x 256 crops; two more pictures are the validation set that picks
the kept L-BFGS iterate. Then every test image is reconstructed by BCS-SPL,
``pnp_dct`` and ``tnrd`` at the three ratios and the PSNRs are printed side by side
(the README's image table is measured by ``benchmarks/images.py``, which includes
``tnrd``).

Run from the repository root::

    python benchmarks/tnrd_images.py                 # train (about 20 min on 2 cores), save, compare
    python benchmarks/tnrd_images.py --iterations 5 --out smoke.npz   # smoke test
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

TRAIN = ["moon", "grass", "gravel", "clock", "rocket", "cell", "hubble_deep_field", "immunohistochemistry", "text",
         "page", "retina", "horse"]
VALIDATION = ["chelsea", "coffee"]
TEST = ["camera", "astronaut_gray", "coins", "brick"]
RATIOS = (0.1, 0.25, 0.5)


def skimage_picture(name, size=256, at=(0.5, 0.5)):
    """A scikit-image picture, grey, on [0, 1], its ``size x size`` crop (padded when smaller); ``at``:
    where the crop lies, as fractions of the rows and columns it can move over (0: top or left, 1:
    bottom or right; default the centre)."""
    from skimage import color
    from skimage import data as skd

    x = getattr(skd, name)()
    if x.ndim == 3:
        x = color.rgb2gray(x[..., :3])
    x = np.asarray(x, dtype=np.float64)
    if x.max() > 1.0:
        x = x / 255.0
    pad = [(0, max(0, size - n)) for n in x.shape]
    x = np.pad(x, pad, mode="symmetric")
    i, j = (int(f * (n - size)) for f, n in zip(at, x.shape))
    return np.ascontiguousarray(x[i:i + size, j:j + size])


def main(argv=None) -> int:
    from cs_toolkit.data import load_image
    from cs_toolkit.signals import compressive_image
    from cs_toolkit.signals.image import DEFAULT_TNRD_MODEL, train_tnrd

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=80, help="L-BFGS iterations (default 80)")
    p.add_argument("--stages", type=int, default=6, help="diffusion stages (default 6)")
    p.add_argument("--start", default="bcs_spl", help="classical start: bcs_spl (default) or pnp_dct")
    p.add_argument("--objective", default="mse", help="training loss: mse (default) or psnr")
    p.add_argument("--ratios", default=",".join(map(str, RATIOS)),
                   help="comma list of measurement ratios (default 0.1,0.25,0.5; one ratio: a specialist model)")
    p.add_argument("--jobs", type=int, default=2, help="threads (default 2)")
    p.add_argument("--out", default=str(DEFAULT_TNRD_MODEL), help="model file (default: the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    out = args.out
    ratios = tuple(float(r) for r in args.ratios.split(",") if r.strip())
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    print(f"load average {os.getloadavg()}", flush=True)
    train = [skimage_picture(n) for n in TRAIN]
    val = [skimage_picture(n) for n in VALIDATION]
    t0 = time.perf_counter()
    model, hist = train_tnrd(train, validation=val, ratios=ratios, start=args.start, n_stages=args.stages,
                             max_iter=args.iterations, objective=args.objective, rng=args.seed, n_jobs=args.jobs, verbose=True)
    print(f"training: {hist['samples_s']:.0f} s of classical starts + {hist['time_s']:.0f} s of L-BFGS "
          f"({len(hist['iterations'])} iterations); {time.perf_counter() - t0:.0f} s in all; "
          f"load average {os.getloadavg()}", flush=True)
    model.training_record["pictures"] = {"train": TRAIN, "validation": VALIDATION}
    path = model.save(out)
    print(f"saved {model!r} to {path}")

    print("\n| test image (256 x 256) | ratio | BCS-SPL | pnp_dct | tnrd |")
    print("|---|---|---|---|---|")
    for name in TEST:
        img = load_image(name)
        if img.shape[0] >= 512:
            img = img[::2, ::2]
        img = img[:256, :256]
        for r in ratios:
            row = []
            for method in ("bcs_spl", "pnp_dct", "tnrd"):
                kw = {"model": path} if method == "tnrd" else {}
                _, q = compressive_image(img, r, method=method, rng=1, **kw)
                row.append(f"{q['psnr']:.2f} dB ({q['time']:.1f} s)")
            print(f"| {name} | {r} | " + " | ".join(row) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

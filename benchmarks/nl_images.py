"""Train the learned non-local stages (method ``"pnp_nl_learned"``) bundled as
``cs_toolkit/learned/models/nl_stages_images.npz``, then compare them with ``pnp_nl`` on the test images.

The stages (:class:`cs_toolkit.signals.NonLocalStages`) continue a classical non-local loop
(``--start``, default ``pnp_lr``) with learned shrinkage of every coefficient of the groups of
similar patches in a 3-D transform (``--basis``: by default each group's principal axes in the
start times the patches' 2-D DCT), one set of parameters per anchor ratio (0.1 / 0.25 / 0.5,
interpolated in between), trained with the recipe ``cs_toolkit.signals.NL_RECIPE`` (the defaults of the options below: the mean PSNR over the
pictures as the loss, L-BFGS preconditioned on the log-thresholds, which stay within a factor 20
of their start). 32 x 32 blocks, Gaussian
sensing matrices with orthonormal rows. Training pictures: scikit-image's bundled pictures *other
than* the toolkit's test images (camera, astronaut, coins, brick are never seen), grey, centre
256 x 256 crops (``--augment``: each also flipped left-right, twice the training time); chelsea and coffee are the
validation pictures that pick the kept L-BFGS iterate. Then every test image is reconstructed by
``pnp_nl``, by the start and by the trained stages from the same measurements and the PSNR/SSIM
are printed.

Run from the repository root::

    python benchmarks/nl_images.py                  # train (about 20 min on 2 cores), save, compare
    python benchmarks/nl_images.py --iterations 2 --out smoke.npz   # smoke test
    python benchmarks/nl_images.py --evaluate a.npz b.npz [--extra | --synthetic]  # compare saved stages
    python benchmarks/nl_images.py --oracle MODEL   # the stages with the true picture's groups and axes

The best model so far is saved after every L-BFGS iteration that improves the validation score
(``OUT`` with ``.partial.npz``), so an interrupted run leaves a usable model.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from tnrd_images import RATIOS, TEST, TRAIN, VALIDATION, skimage_picture

#: The training pictures of 512 pixels or more a side, from which ``--more-crops`` takes a second crop.
MORE_CROPS = ["moon", "grass", "gravel", "rocket", "cell", "hubble_deep_field", "immunohistochemistry", "retina"]


def main(argv=None) -> int:
    from cs_toolkit.signals import NL_RECIPE, load_nlstages, train_nlstages
    from cs_toolkit.signals._image_nlstages import DEFAULT_NL_MODEL, NL_BASES, NL_STARTS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=20, help="L-BFGS iterations (default 20)")
    p.add_argument("--stages", type=int, default=12, help="learned stages (default 12)")
    p.add_argument("--objective", default=NL_RECIPE["objective"], choices=("mse", "psnr"),
                   help=f"training loss (default {NL_RECIPE['objective']}: the mean PSNR over the pictures)")
    p.add_argument("--augment", action="store_true",
                   help="also train on the pictures' left-right mirror images (twice the time)")
    p.add_argument("--max-step", type=float, default=NL_RECIPE["max_step"],
                   help="bound of the stages' steps (default 2, the over-relaxation limit; 0: free steps)")
    p.add_argument("--start", default=NL_RECIPE["start"], choices=NL_STARTS,
                   help="the classical loop the stages continue (default pnp_lr, the best on the validation pictures)")
    p.add_argument("--basis", default=NL_RECIPE["basis"], choices=NL_BASES,
                   help="the transform along a group of patches: its principal axes in the start (default, the "
                        "bundled model's) or the DCT")
    p.add_argument("--adapt", action="store_true",
                   help="shrinkage that also follows the start's fine-detail level (a learned exponent per stage)")
    p.add_argument("--local", action=argparse.BooleanOptionalAction, default=NL_RECIPE["local"],
                   help="every group's shrinkage scaled by its tail variance in the start (needs --basis pca; "
                        f"default {NL_RECIPE['local']})")
    p.add_argument("--tau-factor", type=float, default=NL_RECIPE["tau_factor"],
                   help=f"keep every learned tau within this factor of its start (default {NL_RECIPE['tau_factor']:g}; "
                        "0: free)")
    p.add_argument("--theta-scale", type=float, default=NL_RECIPE["theta_scale"],
                   help="L-BFGS preconditioner: works on log(tau) / THETA_SCALE (default "
                        f"{NL_RECIPE['theta_scale']:g}; 0: none)")
    p.add_argument("--curve", action="store_true",
                   help="learn the shape of the shrinkage too (a gain curve per stage, ratio and group-transform row)")
    p.add_argument("--init", metavar="MODEL", default=None,
                   help="start from the stages in MODEL (the same loop, stages, ratios and basis) instead of the "
                        "classical loop: fine-tuning")
    p.add_argument("--more-crops", action="store_true",
                   help="also train on a second crop (a quarter of the way from the top left) of every training picture "
                        "of 512 pixels or more a side (MORE_CROPS; about 1.7 times the training time)")
    p.add_argument("--jobs", type=int, default=2, help="threads (default 2)")
    p.add_argument("--out", default=str(DEFAULT_NL_MODEL), help="model file (default: the bundled one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", default=None, metavar="LOG",
                   help="log of the L-BFGS run (.npz), written every iteration; rerunning the same command "
                        "after an interruption resumes it bit for bit")
    p.add_argument("--evaluate", metavar="MODEL", nargs="+", default=None,
                   help="skip training: compare the stages saved in MODEL (one or more files, from the same "
                        "classical starts) with pnp_nl on the test images")
    p.add_argument("--choose-default", metavar="MODEL", default=None,
                   help="skip training: measure MODEL's gain over its start on the validation pictures at each anchor "
                        "ratio and record up to which ratio it is the CLI default (done after every training)")
    p.add_argument("--extra", action="store_true",
                   help="with --evaluate: on further held-out pictures (scikit-image's left stereo motorcycle "
                        "view and Shepp-Logan phantom, matplotlib's grace_hopper) instead of the test images")
    p.add_argument("--synthetic", action="store_true",
                   help="with --evaluate: on held-out synthetic pictures (scikit-image's binary_blobs with seed 1, "
                        "its logo in grey, its checkerboard) instead of the test images")
    p.add_argument("--oracle", metavar="MODEL", default=None,
                   help="skip training: a diagnostic on the validation pictures and two training pictures: MODEL's "
                        "stages with the groups and axes of the true picture instead of its start's")
    args = p.parse_args(argv)
    if args.oracle:
        from cs_toolkit.signals import load_nlstages

        return oracle(load_nlstages(args.oracle))
    if args.choose_default:
        from cs_toolkit.signals import load_nlstages

        model = load_nlstages(args.choose_default)
        choose_default_ratios(model)
        print(f"saved {model.save(args.choose_default)}")
        return 0
    if args.evaluate:
        from cs_toolkit.signals import load_nlstages

        return compare({os.path.basename(f): load_nlstages(f) for f in args.evaluate},
                       pictures="extra" if args.extra else "synthetic" if args.synthetic else "test")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    print(f"load average {os.getloadavg()}", flush=True)
    train = [skimage_picture(n) for n in TRAIN]
    if args.more_crops:
        train += [skimage_picture(n, at=(0.25, 0.25)) for n in MORE_CROPS]
    if args.augment:
        train += [np.ascontiguousarray(x[:, ::-1]) for x in train]
    val = [skimage_picture(n) for n in VALIDATION]
    partial = args.out[:-4] + ".partial.npz" if args.out.endswith(".npz") else args.out + ".partial.npz"
    best = {"val": -np.inf}

    def save_best(model, it, tr, va):
        if va > best["val"]:
            best["val"] = va
            model.training_record = {"partial": True, "iteration": it, "val_psnr_db": va, "block_size": 32,
                                     "matrix": "gaussian", "ratios": list(RATIOS)}
            model.save(partial)

    t0 = time.perf_counter()
    model, hist = train_nlstages(train, validation=val, ratios=RATIOS, n_stages=args.stages,
                                 max_iter=args.iterations, objective=args.objective,
                                 max_step=args.max_step or None, rng=args.seed,
                                 n_jobs=args.jobs, verbose=True, callback=save_best, checkpoint=args.checkpoint,
                                 start=args.start, basis=args.basis, adapt=args.adapt, local=args.local,
                                 curve=args.curve, init=load_nlstages(args.init) if args.init else None,
                                 tau_factor=args.tau_factor or None, theta_scale=args.theta_scale or None)
    print(f"training: {hist['samples_s']:.0f} s of pnp_nl starts + {hist['time_s']:.0f} s of L-BFGS "
          f"({len(hist['iterations'])} iterations); {time.perf_counter() - t0:.0f} s in all; "
          f"validation {model.training_record['start_val_psnr_db']:.3f} -> "
          f"{model.training_record['best_val_psnr_db']:.3f} dB; load average {os.getloadavg()}", flush=True)
    model.training_record["pictures"] = {"train": TRAIN, "validation": VALIDATION, "mirrored": bool(args.augment),
                                         "second_crops": MORE_CROPS if args.more_crops else []}
    choose_default_ratios(model)
    path = model.save(args.out)
    print(f"saved {model!r} to {path}")
    if os.path.exists(partial):
        os.remove(partial)
    return compare({os.path.basename(args.out): model})


def choose_default_ratios(model, seeds=(1, 2)) -> None:
    """Record in ``model.training_record`` the largest anchor ratio up to which the stages beat their
    start (mean PSNR gain > 0 on the validation pictures, measurement seeds ``seeds``, float32) at
    every anchor ratio (``default_max_ratio``; None when not even at the smallest), with the gains:
    the CLI makes the stages its default only there (``nl_serves``). Validation pictures only."""
    from cs_toolkit.metrics import psnr
    from cs_toolkit.signals.image import measure_image, reconstruct_image

    gains = {}
    for r in model.ratios:
        g = []
        for seed in seeds:
            for name in VALIDATION:
                x = skimage_picture(name)
                meas = measure_image(x, r, rng=seed)
                a = reconstruct_image(meas, method=model.start, dtype="float32")
                b = reconstruct_image(meas, method="pnp_nl_learned", model=model, dtype="float32")
                g.append(psnr(x, b, data_range=1.0) - psnr(x, a, data_range=1.0))
        gains[r] = float(np.mean(g))
        print(f"validation gain over {model.start} at ratio {r}: {gains[r]:+.3f} dB "
              f"({', '.join(f'{v:+.2f}' for v in g)})", flush=True)
    top = None
    for r in model.ratios:
        if gains[r] <= 0:
            break
        top = r
    model.training_record["validation_gain_by_ratio_db"] = {str(r): round(v, 4) for r, v in gains.items()}
    model.training_record["default_max_ratio"] = top
    print(f"default up to ratio {top}", flush=True)


def oracle(model, names=(*VALIDATION, "moon", "gravel")) -> int:
    """PSNR of the start, of ``model``'s stages, and of the stages prepared (groups, axes, weights)
    on the true picture instead of the start (an oracle): how much better groups and axes could add.
    Measurement seed 1; validation and training pictures only (a diagnostic, never a choice)."""
    from cs_toolkit.metrics import psnr
    from cs_toolkit.signals._image_loops import BlockConstraint
    from cs_toolkit.signals._image_tnrd import _tnrd_start
    from cs_toolkit.signals.image import measure_image

    print(f"| picture | ratio | {model.start} | stages | stages with the true picture's groups and axes |")
    print("|---|---|---|---|---|")
    for name in names:
        x = skimage_picture(name)
        for r in RATIOS:
            meas = measure_image(x, r, rng=1)
            c = BlockConstraint(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, 32)
            x0 = _tnrd_start(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, 32, model.start)
            q = [psnr(255.0 * x, np.clip(v, 0, 255), data_range=255.0)
                 for v in (x0, model.forward(x0, c), model.forward(x0, model.prepare(255.0 * x, c)))]
            print(f"| {name} | {r} | " + " | ".join(f"{v:.2f} dB" for v in q) + " |", flush=True)
    return 0


def synthetic_pictures():
    """Held-out synthetic pictures on [0, 1]: binary blobs (256 x 256, seed 1), the scikit-image
    logo in grey (every second pixel, centre 224 x 224) and the checkerboard (top left 192 x 192);
    sides are multiples of the 32-pixel blocks."""
    from skimage import color
    from skimage import data as skd

    logo = color.rgb2gray(color.rgba2rgb(skd.logo()))[::2, ::2][13:237, 13:237]
    return {"blobs": skd.binary_blobs(256, rng=1).astype(np.float64), "logo": np.ascontiguousarray(logo),
            "checkerboard": skd.checkerboard()[:192, :192] / 255.0}


def extra_pictures():
    """Held-out pictures besides the test images, grey 256 x 256 centre crops on [0, 1]."""
    import matplotlib.cbook as cbook
    from matplotlib.image import imread
    from skimage import color
    from skimage import data as skd

    motorcycle = color.rgb2gray(skd.stereo_motorcycle()[0])
    hopper = color.rgb2gray(imread(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) / 255.0)
    pics = {}
    for name, x in (("motorcycle", motorcycle), ("grace_hopper", hopper), ("phantom", skd.shepp_logan_phantom())):
        i, j = (x.shape[0] - 256) // 2, (x.shape[1] - 256) // 2
        pics[name] = np.ascontiguousarray(x[i:i + 256, j:j + 256])
    return pics


def compare(models, pictures="test") -> int:
    """PSNR / SSIM of ``pnp_nl``, of the other classical loops the models start from, and of each
    model's stages after its start (``models``: name -> stages) on the test images (measurement seed 1), or on
    :func:`extra_pictures` (``"extra"``) or :func:`synthetic_pictures` (``"synthetic"``)."""
    from cs_toolkit.data import load_image
    from cs_toolkit.metrics import psnr, ssim
    from cs_toolkit.signals._image_loops import BlockConstraint
    from cs_toolkit.signals._image_tnrd import _tnrd_start
    from cs_toolkit.signals.image import measure_image

    print(f"load average {os.getloadavg()}", flush=True)
    names = list(models)
    start_of = {n: (m.training_record or {}).get("start", "pnp_nl") for n, m in models.items()}
    loops = ["pnp_nl"] + sorted(set(start_of.values()) - {"pnp_nl"})  # the classical loops, pnp_nl first
    print("\n| image | ratio | " + " | ".join(loops) + " | " + " | ".join(f"{n} (gain over pnp_nl)" for n in names)
          + " | time of the stages |")
    print("|---|---|" + "---|" * (len(loops) + len(names) + 1))
    gains = {(n, r): [] for n in names for r in RATIOS}
    if pictures == "test":
        pics = {name: load_image(name) for name in TEST}
    else:
        pics = {"extra": extra_pictures, "synthetic": synthetic_pictures}[pictures]()
    for name, img in pics.items():
        if img.shape[0] >= 512:
            img = img[::2, ::2]
        x = np.asarray(img[:256, :256], dtype=np.float64) * 255.0  # pictures on [0, 1]
        for r in RATIOS:
            meas = measure_image(x / 255.0, r, rng=1)
            Y, A, P, shape = meas.Y[0], meas.A, meas.pinv, meas.padded_shape
            starts = {s: _tnrd_start(Y, A, P, shape, 32, s) for s in loops}  # BCS-SPL then the loop, as in training
            q0 = psnr(x, np.clip(starts["pnp_nl"], 0, 255), data_range=255.0)
            base = [f"{psnr(x, np.clip(x0, 0, 255), data_range=255.0):.2f} dB / "
                    f"{ssim(x, np.clip(x0, 0, 255), data_range=255.0):.3f}" for x0 in starts.values()]
            cells, times = [], []
            for n, model in models.items():
                t = time.perf_counter()
                x1 = model.forward(starts[start_of[n]], BlockConstraint(Y, A, P, shape, 32))
                times.append(time.perf_counter() - t)
                q1 = psnr(x, np.clip(x1, 0, 255), data_range=255.0)
                s1 = ssim(x, np.clip(x1, 0, 255), data_range=255.0)
                gains[n, r].append(q1 - q0)
                cells.append(f"{q1:.2f} dB / {s1:.3f} ({q1 - q0:+.2f})")
            print(f"| {name} | {r} | " + " | ".join(base) + " | " + " | ".join(cells)
                  + " | " + ", ".join(f"{t:.1f} s" for t in times) + " |", flush=True)
    for n in names:
        print(f"{n}: mean gain " + ", ".join(f"ratio {r}: {np.mean(gains[n, r]):+.2f} dB" for r in RATIOS)
              + f"; worst {min(min(gains[n, r]) for r in RATIOS):+.2f} dB")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

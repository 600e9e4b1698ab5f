"""Benchmark of the learned unrolled reconstructors on the standard LISTA problem.

Problem (Chen et al. 2018, Liu et al. 2019): m = 250, n = 500, A with N(0, 1/m)
entries and unit-norm columns, x Bernoulli(0.1) support with N(0, 1) values,
noise std(Ax) * 10^(-SNR/20) (noiseless, 40, 30, 20 dB), 16 layers, NMSE =
sum ||x_hat - x||^2 / sum ||x||^2 in dB on a fixed held-out set of 1000 vectors.

Reported per layer / iteration: LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled
FISTA, LAMP (trained) and ISTA, FISTA (``cs_toolkit.solvers``, lam tuned on a grid
on the validation set), AMP (``cs_toolkit.solvers.amp`` when present, else the
small reference AMP below, threshold factor tuned), plus the oracle-support
least-squares floor and the training times. Writes ``learned_nmse.csv``,
``learned_nmse.json`` and ``learned_nmse.png`` to ``--out``.

Schedules (all the layer-wise schedule of :func:`cs_toolkit.learned.train`,
Adam, batch 64, stages of lr x1, x0.2, x0.02 per layer, 48 stages for 16 layers):

--quick    smoke test: m=64, n=128, 4 layers, 30 steps per stage, lr 2e-3 (seconds)
(default)  reduced: at most 150 steps per stage, patience 75, eval every 25 on
           500 validation vectors, lr 2e-3 (<= 7200 steps: 10-16 min per model
           on one busy core)
--full     literature-like: lr 5e-4, at most 4000 steps per stage, patience
           1000, 1000 validation vectors (<= 192k steps: hours per model)

Measured (reduced schedule, one BLAS thread per model, shared 2-core machine at
load average 8-10), test NMSE at layer 16: noiseless ALISTA -59.5 dB (633 s),
LISTA-CPSS -46.2 dB (970 s), AMP -28.9, FISTA -11.0, ISTA -6.3 dB; at 20 dB SNR
(100 steps per stage) ALISTA -20.2 dB, LAMP -17.3 dB, oracle floor -26.1 dB.
Image blocks (``--images``, 100 steps per stage): ALISTA 19.7 dB PSNR on the
held-out camera image against 8.1 dB for FISTA with 16 iterations.

Trainings are independent processes (``--jobs``), each with one BLAS thread.
Example: ``python benchmarks/learned.py --models alista,lista_cpss --snr inf --jobs 2``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SCHEDULES = {
    "quick": dict(m=64, n=128, layers=4, max_steps=30, patience=15, eval_every=5, n_val=200, lr=2e-3),
    "reduced": dict(m=250, n=500, layers=16, max_steps=150, patience=75, eval_every=25, n_val=500, lr=2e-3),
    "full": dict(m=250, n=500, layers=16, max_steps=4000, patience=1000, eval_every=25, n_val=1000, lr=5e-4),
}
ALL_MODELS = ["lista", "lista_cp", "lista_cpss", "alista", "fista", "lamp"]


def make_problem(m, n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    return A / np.linalg.norm(A, axis=0)


def test_set(A, snr, n_test=1000, seed=1234):
    from cs_toolkit.learned import SyntheticSource

    Y, X = SyntheticSource(A, p=0.1, snr_db=snr, dtype=np.float64).sample(n_test, rng=seed)
    return Y, X


def nmse_curve(outs, X):
    from cs_toolkit.learned import nmse_db

    return [float(nmse_db(o, X)) for o in outs]


def oracle_ls(A, Y, X):
    """Least squares on the true support: the noise floor of any support-exact method."""
    Xh = np.zeros_like(X)
    for i in range(X.shape[0]):
        s = np.flatnonzero(X[i])
        if s.size:
            Xh[i, s] = np.linalg.lstsq(A[:, s], Y[i], rcond=None)[0]
    from cs_toolkit.learned import nmse_db

    return float(nmse_db(Xh, X))


def _ista_curve(A, Y, X, lam, K, accel):
    import importlib

    ista_mod = importlib.import_module("cs_toolkit.solvers.ista")

    fn = ista_mod.fista if accel else ista_mod.ista
    kw = {"restart": None} if accel else {}
    outs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k in range(1, K + 1):
            outs.append(fn(A, Y, lam=lam, max_iter=k, tol=0, **kw))
    return nmse_curve(outs, X)


def _amp_curve(A, Y, X, alpha, K):
    """Reference AMP (Donoho, Maleki, Montanari 2009): threshold alpha * ||z|| / sqrt(m)."""
    from cs_toolkit.solvers import soft_threshold

    m, n = A.shape
    Xh = np.zeros((Y.shape[0], n))
    Z = Y.copy()
    outs = []
    for _ in range(K):
        tau = alpha * np.linalg.norm(Z, axis=1, keepdims=True) / np.sqrt(m)
        Xh = soft_threshold(Xh + Z @ A, tau)
        b = np.count_nonzero(Xh, axis=1, keepdims=True) / m
        Z = Y - Xh @ A.T + b * Z
        outs.append(Xh.copy())
    return nmse_curve(outs, X)


def baselines(A, snr, K, seed):
    Yv, Xv = test_set(A, snr, 500, seed=seed + 777)
    Yt, Xt = test_set(A, snr, 1000)
    res = {}
    for name, accel in (("ista", False), ("fista", True)):
        best = min((_ista_curve(A, Yv, Xv, lam, K, accel)[-1], lam) for lam in (0.02, 0.05, 0.1, 0.2, 0.4))
        res[name] = {"curve": _ista_curve(A, Yt, Xt, best[1], K, accel), "lam": best[1]}
    best = min((_amp_curve(A, Yv, Xv, a, K)[-1], a) for a in (1.0, 1.5, 2.0, 2.5, 3.0))
    res["amp"] = {"curve": _amp_curve(A, Yt, Xt, best[1], K), "alpha": best[1]}
    res["oracle"] = {"nmse_db": oracle_ls(A, Yt, Xt)}
    return res


def train_one(kind, snr, sched, seed, verbose=False):
    """Train one model (run in a worker process); returns its test NMSE curve and timing."""
    from threadpoolctl import threadpool_limits

    from cs_toolkit.learned import SyntheticSource, make_model, train

    with threadpool_limits(limits=1, user_api="blas"):
        A = make_problem(sched["m"], sched["n"])
        model = make_model(kind, A, sched["layers"])
        src = SyntheticSource(A, p=0.1, snr_db=snr)
        t0 = time.perf_counter()
        hist = train(model, src, lr=sched.get("lr", 5e-4), batch_size=64, max_steps=sched["max_steps"], patience=sched["patience"],
                     eval_every=sched["eval_every"], n_val=sched["n_val"], rng=seed + 17, n_threads=1, verbose=verbose)
        dt = time.perf_counter() - t0
        Yt, Xt = test_set(A, snr, 1000)
        curve = nmse_curve(model.forward(Yt.astype(np.float32), return_all=True), Xt)
        steps = sum(s["steps"] for s in hist.stages)
    return {"model": kind, "snr": snr, "curve": curve, "train_time_s": dt, "steps": steps,
            "load_avg": os.getloadavg()[0]}


TRAIN_IMAGES = ["astronaut", "coins", "moon", "text", "page", "brick", "grass", "gravel", "clock", "coffee",
                "chelsea", "rocket", "cell"]
TEST_IMAGES = ["camera"]


def _blocks(name, b):
    import skimage.data
    from skimage.color import rgb2gray
    from skimage.util import img_as_float

    img = img_as_float(getattr(skimage.data, name)())
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    h, w = (img.shape[0] // b) * b, (img.shape[1] // b) * b
    return img[:h, :w].reshape(h // b, b, w // b, b).swapaxes(1, 2).reshape(-1, b * b)


def image_experiment(args, sched):
    """16x16 blocks, ratio 0.25, 2-D DCT codes: trained networks vs FISTA (same iterations), PSNR."""
    from scipy.fft import dct
    from threadpoolctl import threadpool_limits

    from cs_toolkit.learned import train_reconstructor

    b, K = 16, sched["layers"]
    C = dct(np.eye(b), norm="ortho", axis=0)
    Psi = np.kron(C, C).T  # synthesis: s = Psi c
    n = b * b
    m = n // 4
    A = np.random.default_rng(args.seed).standard_normal((m, n)) / np.sqrt(m)
    S_train = np.concatenate([_blocks(k, b) for k in TRAIN_IMAGES])
    S_test = np.concatenate([_blocks(k, b) for k in TEST_IMAGES])
    Yt = S_test @ A.T

    def psnr(S_hat):
        return 10 * np.log10(1.0 / np.mean((S_hat - S_test) ** 2))

    print(f"images: {S_train.shape[0]} training blocks, {S_test.shape[0]} test blocks ({TEST_IMAGES}), m={m}, n={n}")
    with threadpool_limits(limits=1, user_api="blas"):
        ista_mod = __import__("importlib").import_module("cs_toolkit.solvers.ista")
        Yv = S_train[::7][:500] @ A.T
        Sv = S_train[::7][:500]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = min((float(np.mean((ista_mod.fista(A @ Psi, Yv, lam=lam, max_iter=K, tol=0, restart=None) @ Psi.T
                                        - Sv) ** 2)), lam) for lam in (1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1))
            Xf = ista_mod.fista(A @ Psi, Yt, lam=best[1], max_iter=K, tol=0, restart=None)
        print(f"FISTA {K} it (lam {best[1]:g}): PSNR {psnr(Xf @ Psi.T):.2f} dB")
        for kind in [k for k in args.models.split(",") if k]:
            t0 = time.perf_counter()
            model, _ = train_reconstructor(S_train, A, Psi, kind=kind, n_layers=K, rng=args.seed, lr=sched["lr"],
                                           max_steps=sched["max_steps"], patience=sched["patience"],
                                           eval_every=sched["eval_every"], verbose=args.verbose)
            S_hat = model.reconstruct(Yt.astype(np.float32))
            print(f"{kind:11s} {K} layers: PSNR {psnr(S_hat):.2f} dB  (trained {time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return 0


def _snr_list(text):
    out = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        out.append(None if tok in ("inf", "none", "noiseless") else float(tok))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="smoke-test schedule")
    g.add_argument("--full", action="store_true", help="literature-like schedule")
    ap.add_argument("--models", default=",".join(ALL_MODELS), help="comma list of " + ", ".join(ALL_MODELS))
    ap.add_argument("--snr", default="inf,40,30,20", help="comma list of SNRs in dB, 'inf' = noiseless")
    ap.add_argument("--jobs", type=int, default=1, help="parallel training processes (one BLAS thread each)")
    ap.add_argument("--max-steps", type=int, default=None, help="override the schedule's steps per stage")
    ap.add_argument("--patience", type=int, default=None, help="override the schedule's patience")
    ap.add_argument("--lr", type=float, default=None, help="override the schedule's Adam learning rate")
    ap.add_argument("--eval-every", type=int, default=None, help="override the steps between validations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", action="store_true",
                    help="real-signal experiment: 16x16 DCT blocks of skimage images, ratio 0.25, PSNR vs FISTA")
    ap.add_argument("--verbose", action="store_true", help="print the training stages")
    ap.add_argument("--out", default="results/learned", help="output folder (default results/learned)")
    args = ap.parse_args(argv)

    name = "quick" if args.quick else "full" if args.full else "reduced"
    sched = dict(SCHEDULES[name])
    if args.max_steps:
        sched["max_steps"] = args.max_steps
    if args.patience:
        sched["patience"] = args.patience
    if args.eval_every:
        sched["eval_every"] = args.eval_every
    if args.lr:
        sched["lr"] = args.lr
    models = [s.strip() for s in args.models.split(",") if s.strip()]
    bad = [k for k in models if k not in ALL_MODELS]
    if bad:
        ap.error(f"unknown models {bad}; choose from {ALL_MODELS}")
    if args.images:
        return image_experiment(args, sched)
    snrs = _snr_list(args.snr)
    os.makedirs(args.out, exist_ok=True)
    print(f"schedule {name}: {sched}; models {models}; SNR {snrs}; jobs {args.jobs}; "
          f"load average {os.getloadavg()}", flush=True)
    A = make_problem(sched["m"], sched["n"])
    K = sched["layers"]

    t0 = time.perf_counter()
    base = {snr: baselines(A, snr, K, args.seed) for snr in snrs}
    print(f"baselines done in {time.perf_counter() - t0:.1f} s", flush=True)
    jobs = [(k, snr) for snr in snrs for k in models]
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(train_one, k, snr, sched, args.seed, args.verbose) for k, snr in jobs]
            trained = [f.result() for f in futs]
    else:
        trained = [train_one(k, snr, sched, args.seed, args.verbose) for k, snr in jobs]

    rows, record = [], {"schedule": name, "params": sched, "results": []}
    for snr in snrs:
        lab = "noiseless" if snr is None else f"{snr:g} dB"
        print(f"\n=== SNR {lab}: oracle-support LS floor {base[snr]['oracle']['nmse_db']:.2f} dB")
        entries = [(k, base[snr][k]["curve"], None, None) for k in ("ista", "fista", "amp")]
        entries += [("unrolled_fista" if r["model"] == "fista" else r["model"], r["curve"], r["train_time_s"], r["steps"]) for r in trained if r["snr"] == snr]
        for meth, curve, tt, steps in entries:
            extra = "" if tt is None else f"  (trained {tt:.0f} s, {steps} steps)"
            print(f"{meth:11s} final {curve[-1]:8.2f} dB | " + " ".join(f"{v:.1f}" for v in curve) + extra)
            rows += [{"snr": lab, "method": meth, "layer": i + 1, "nmse_db": v} for i, v in enumerate(curve)]
            record["results"].append({"snr": lab, "method": meth, "nmse_db": curve, "train_time_s": tt,
                                      "steps": steps, "oracle_db": base[snr]["oracle"]["nmse_db"]})
    with open(os.path.join(args.out, "learned_nmse.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["snr", "method", "layer", "nmse_db"])
        w.writeheader()
        w.writerows(rows)
    with open(os.path.join(args.out, "learned_nmse.json"), "w") as f:
        json.dump(record, f, indent=1)
    _plot(record, snrs, os.path.join(args.out, "learned_nmse.png"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()}; wrote {args.out}")
    return 0


def _plot(record, snrs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(snrs), figsize=(4.5 * len(snrs), 4), squeeze=False)
    for ax, snr in zip(axes[0], snrs, strict=True):
        lab = "noiseless" if snr is None else f"{snr:g} dB"
        for r in record["results"]:
            if r["snr"] == lab:
                ax.plot(range(1, len(r["nmse_db"]) + 1), r["nmse_db"], marker=".", label=r["method"])
        oracle = [r["oracle_db"] for r in record["results"] if r["snr"] == lab][0]
        if oracle > -150:  # noiseless: the oracle is at machine precision, off the chart
            ax.axhline(oracle, color="k", ls="--", lw=0.8, label="oracle LS")
        ax.set_title(f"SNR {lab}")
        ax.set_xlabel("layer / iteration")
        ax.set_ylabel("NMSE (dB)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

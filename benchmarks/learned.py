"""Benchmark of the learned unrolled reconstructors on the standard LISTA problem.

Problem (Chen et al. 2018, Liu et al. 2019): m = 250, n = 500, A with N(0, 1/m)
entries and unit-norm columns, x Bernoulli(0.1) support with N(0, 1) values,
noise std(Ax) * 10^(-SNR/20) (noiseless, 40, 30, 20 dB), 16 layers, NMSE =
sum ||x_hat - x||^2 / sum ||x||^2 in dB on a fixed held-out set of 1000 vectors.

Reported per layer / iteration: LISTA, LISTA-CP, LISTA-CPSS, ALISTA, unrolled
FISTA, LAMP (trained) and ISTA, FISTA (the untrained LISTA / unrolled FISTA
networks, which reproduce the solvers' iterations exactly, lam tuned on a grid on
a validation set), AMP (the small reference AMP below, threshold factor tuned on a
grid), BG-AMP (AMP with the posterior-mean denoiser of the true prior: an estimate
of the minimum MSE, the floor of every estimator), plus the oracle-support
least-squares floor and the training times. Every trained model then gets the
least-squares debiasing final layer (``calibrate_debias`` on 1000 separate
validation vectors); when that helps, it is reported as its own row
``<model>+ls_debias`` (layers 1..15 as the model, layer 16 refit). Writes ``learned_nmse.csv``,
``learned_nmse.json`` and ``learned_nmse.png`` to ``--out``.

Schedules (the layer-wise schedule of :func:`cs_toolkit.learned.train`: fresh
mini-batches of 64 every step, per layer a "layer t alone" stage and a
refinement of layers 1..t, a validation set, early stopping with best-weights
restore; layer t starts from the trained layer t - 1 when that scores better):

--quick    smoke test: m=64, n=128, 4 layers, 30 steps per stage (a minute)
(default)  the README table: weights lr 1e-3, thresholds and steps at a learning
           rate of 5 % of their size, refinement at x0.3 for every layer and
           x0.03 at the last one (33 stages), at most 250 steps per stage,
           patience 60, validation every 20 steps on 500 vectors. LISTA and
           LISTA-CP are first trained as their tied form, ALISTA without support
           selection, with that schedule (``pretrain_alista``), then every weight
           in one stage over all layers (``fine_tune``: batches of 256, lr 1e-5,
           up to 2000 steps, patience 600); the tied network is reported as its
           own row ``<model>@tied``. Noiseless for all six models, 40/30/20 dB for
           ALISTA and LISTA-CPSS (``--snr-models``), two training processes
           (``--jobs 2``).
--full     literature-like: lr 5e-4, stages x1, x0.2, x0.02 for every layer, at
           most 4000 steps per stage, patience 1000, 1000 validation vectors
           (hours per model)

Measured with the default schedule (``python benchmarks/learned.py``, nothing
else running, load average 1.7-1.9): 691 s in all, training 654 s wall with 2
processes. Test NMSE at layer 16, noiseless: ALISTA -73.5 dB (61 s), LISTA-CPSS
-61.6 (80 s), LISTA -49.8 (355 s), LAMP -47.0 (45 s), LISTA-CP -47.0 (225 s),
their tied form -46.3, unrolled FISTA -27.3 (38 s); AMP -28.9, FISTA -11.0, ISTA
-6.3. LISTA-CPSS / ALISTA / oracle floor at 40 dB: -44.3 / -42.5 / -46.1; at 30 dB:
-33.8 / -32.1 / -36.1; at 20 dB: -21.9 / -20.0 / -26.1 (AMP -28.4, -25.0, -17.2).
With the LS debias layer: noiseless ALISTA -94.1 dB, LISTA-CPSS -76.1, LISTA -71.8,
LISTA-CP -67.5; at 40 / 30 / 20 dB LISTA-CPSS -45.2 / -34.2 / -22.7, ALISTA -44.5 /
-33.9 / -22.3; BG-AMP (16 iterations, true prior) -45.6 / -35.0 / -23.8. At 20 dB
the BG-AMP estimate of the minimum MSE is 2.3 dB above the oracle floor (150
iterations give the same): "within 2 dB of the oracle" is out of reach of any
estimator there.
Trained layer-wise from the ALISTA step instead (up to 1000 steps per stage and a
joint stage of 5000 steps at lr 1e-4), LISTA and LISTA-CP stopped at -27.0 and
-28.6 dB after 1274 and 990 s. LISTA-CPSS pretrained from ALISTA with support
selection gave -73.5 dB noiseless but -43.0 / -32.1 / -21.0 dB at 40 / 30 / 20 dB,
below its layer-wise schedule, which it keeps.
``--audio`` (ratio 0.5 / 0.25, 16 layers, held-out speakers): LISTA-CP 16.3 / 10.6 dB
SNR, ALISTA 15.6 / 6.3 dB, FISTA with 16 iterations 8.5 / 4.1 dB (500 iterations
10.3 / 4.9 dB). ``--audio`` and ``--images`` train with the layer-wise schedule unless
``--pretrain`` is given; on the image blocks it does not help (LISTA-CP / LISTA /
LISTA-CPSS 27.51 / 27.62 / 27.56 dB PSNR with it, 27.94 / 27.75 / 27.77 without).

Trainings are independent processes (``--jobs``), each with one BLAS thread.
Example: ``python benchmarks/learned.py --models alista,lista_cpss --snr inf --jobs 2``.
``--audio`` and ``--images`` run the real-signal experiments instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

_FAST = dict(lr_scalar=0.05, refine=(0.3,), refine_last=(0.03,))
#: LISTA and LISTA-CP: first their tied form (ALISTA without support selection, two scalars per layer, the
#: schedule above; ``pretrain_alista``), then every weight in one stage over all layers (``fine_tune``: batches
#: of 256, lr 1e-5, scalars 5e-4 relative, up to 2000 steps, patience 600). LISTA-CPSS keeps the layer-wise
#: schedule: pretrained the same way it scored worse at 40 and 30 dB SNR (see the module docstring)
_PRETRAINED = {k: dict(pretrain=True, finetune={}) for k in ("lista", "lista_cp")}
_QUICK_FINETUNE = dict(batch_size=64, lr=1e-4, lr_scalar=5e-3, max_steps=30, patience=15, eval_every=5)
SCHEDULES = {
    "quick": dict(m=64, n=128, layers=4, max_steps=30, patience=15, eval_every=5, n_val=200, lr=2e-3, **_FAST,
                  model_opts={k: dict(pretrain=True, finetune=_QUICK_FINETUNE) for k in _PRETRAINED}),
    "default": dict(m=250, n=500, layers=16, max_steps=250, patience=60, eval_every=20, n_val=500, lr=1e-3,
                    model_opts=_PRETRAINED, **_FAST),
    "full": dict(m=250, n=500, layers=16, max_steps=4000, patience=1000, eval_every=25, n_val=1000, lr=5e-4,
                 lr_scalar=0.02, refine=(0.2, 0.02), refine_last=()),
}
ALL_MODELS = ["lista", "lista_cp", "lista_cpss", "alista", "fista", "lamp"]
NOISY_MODELS = ["alista", "lista_cpss"]
#: relative cost of a training step (LISTA has the n x n matrices S)
_COST = {"lista": 1.3, "lista_cp": 0.8, "lista_cpss": 0.5, "lamp": 0.2, "alista": 0.25, "fista": 0.2}


def make_problem(m, n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(m)
    return A / np.linalg.norm(A, axis=0)


def test_set(A, snr, n_test=1000, seed=1234):
    from cs_toolkit.learned import SyntheticSource

    Y, X = SyntheticSource(A, p=0.1, snr_db=snr, dtype=np.float64).sample(n_test, rng=seed)
    return Y, X


def nmse_curve(outs, X):
    from cs_toolkit.metrics import nmse

    return [float(nmse(X, o, db=True)) for o in outs]


def oracle_ls(A, Y, X):
    """Least squares on the true support: the noise floor of any support-exact method."""
    Xh = np.zeros_like(X)
    for i in range(X.shape[0]):
        s = np.flatnonzero(X[i])
        if s.size:
            Xh[i, s] = np.linalg.lstsq(A[:, s], Y[i], rcond=None)[0]
    from cs_toolkit.metrics import nmse

    return float(nmse(X, Xh, db=True))


def _ista_curve(A, Y, X, lam, K, accel):
    """NMSE of the first K ISTA (or FISTA, no restart) iterations: the untrained networks, which reproduce
    the solvers' iterations exactly (tested), give every iterate in one run."""
    from cs_toolkit.learned import LISTA, UnrolledFISTA

    cls = UnrolledFISTA if accel else LISTA
    net = cls(A, K, lam=lam, dtype=np.float64)
    return nmse_curve(net.forward(Y, return_all=True), X)


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


def _bg_amp_curve(A, Y, X, K, p=0.1):
    """AMP with the posterior-mean denoiser of the true Bernoulli(p)-N(0, 1) prior
    (``cs_toolkit.solvers.amp(denoiser="bg")``): close to the minimum mean squared error of the
    problem, the floor of any estimator, not only of support-exact ones."""
    from cs_toolkit.solvers import amp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = [amp(A, Y, max_iter=k, tol=0, denoiser="bg", sparsity=p, variance=1.0) for k in range(1, K + 1)]
    return nmse_curve(outs, X)


def baselines(A, snr, K, seed):
    Yv, Xv = test_set(A, snr, 500, seed=seed + 777)
    Yt, Xt = test_set(A, snr, 1000)
    res = {}
    for name, accel in (("ista", False), ("fista", True)):
        best = min((_ista_curve(A, Yv, Xv, lam, K, accel)[-1], lam) for lam in (0.02, 0.05, 0.1, 0.2, 0.4))
        res[name] = {"curve": _ista_curve(A, Yt, Xt, best[1], K, accel), "lam": best[1]}
    best = min((_amp_curve(A, Yv, Xv, a, K)[-1], a) for a in (0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0))
    res["amp"] = {"curve": _amp_curve(A, Yt, Xt, best[1], K), "alpha": best[1]}
    res["bg_amp"] = {"curve": _bg_amp_curve(A, Yt, Xt, K)}
    res["oracle"] = {"nmse_db": oracle_ls(A, Yt, Xt)}
    return res


def _train_opts(sched):
    keys = ("lr", "lr_scalar", "refine", "refine_last", "max_steps", "patience", "eval_every", "n_val")
    return {k: sched[k] for k in keys if k in sched}


def train_one(kind, snr, sched, seed, verbose=False, out=None):
    """Train one model (run in a worker process); returns its test NMSE curve and timing."""
    from threadpoolctl import threadpool_limits

    from cs_toolkit.learned import SyntheticSource, fine_tune, make_model, pretrain_alista, train

    with threadpool_limits(limits=1, user_api="blas"):
        A = make_problem(sched["m"], sched["n"])
        opts = _train_opts(sched)
        opts.update(sched.get("model_opts", {}).get(kind, {}))
        finetune = opts.pop("finetune", None)
        pretrain = opts.pop("pretrain", False)
        model = make_model(kind, A, sched["layers"])
        src = SyntheticSource(A, p=0.1, snr_db=snr)
        t0 = time.perf_counter()
        fit = pretrain_alista if pretrain else train  # pretrain: the tied (ALISTA) form, copied into the model
        hist = fit(model, src, batch_size=64, rng=seed + 17, n_threads=1, verbose=verbose, **opts)
        steps = sum(s["steps"] for s in hist.stages)
        Yt, Xt = test_set(A, snr, 1000)
        pretrained = None
        if pretrain:
            pretrained = nmse_curve(model.forward(Yt.astype(np.float32), return_all=True, debias=False), Xt)
        if finetune is not None:  # every weight, one stage over all layers, larger batches
            hist = fine_tune(model, src, rng=seed + 18, n_threads=1, verbose=verbose, n_val=opts.get("n_val", 1000),
                             **finetune)
            steps += sum(s["steps"] for s in hist.stages)
        dt = time.perf_counter() - t0
        curve = nmse_curve(model.forward(Yt.astype(np.float32), return_all=True, debias=False), Xt)
        # the least-squares debiasing final layer, its threshold picked on a separate validation set
        t1 = time.perf_counter()
        Yc, Xc = test_set(A, snr, 1000, seed=seed + 4321)
        model.calibrate_debias(Yc.astype(np.float32), Xc)
        debias = {"threshold": model.debias_threshold, "calibration_s": time.perf_counter() - t1,
                  "curve": nmse_curve(model.forward(Yt.astype(np.float32), return_all=True), Xt)}
    res = {"model": kind, "snr": snr, "curve": curve, "train_time_s": dt, "steps": steps,
           "load_avg": os.getloadavg()[0], "debias": debias, "pretrained_curve": pretrained}
    if out is not None:  # each result on disk as soon as it exists
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"job_{kind}_{'inf' if snr is None else f'{snr:g}'}.json"), "w") as f:
            json.dump(res, f)
    return res


def _pretrain(args, kind):
    """``--pretrain`` applies to the models with free weights (their tied form first, then fine-tuning)."""
    from cs_toolkit.learned.train import PRETRAIN_KINDS

    return bool(args.pretrain) and kind in PRETRAIN_KINDS


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
            opts = {k: v for k, v in _train_opts(sched).items() if k != "n_val"}
            model, _ = train_reconstructor(S_train, A, Psi, kind=kind, n_layers=K, rng=args.seed,
                                           verbose=args.verbose, pretrain=_pretrain(args, kind), **opts)
            S_hat = model.reconstruct(Yt.astype(np.float32))
            print(f"{kind:11s} {K} layers: PSNR {psnr(S_hat):.2f} dB  (trained {time.perf_counter() - t0:.0f} s)",
                  flush=True)
    return 0


FSDD_TRAIN = ("george", "lucas")
FSDD_TEST = ("jackson", "nicolas")


def _fsdd_clips(speakers):
    """Clips of the given speakers from the shared FSDD folder beside the checkout (else the bundled ones)."""
    from pathlib import Path

    from cs_toolkit.data import data_dir, list_samples, load_audio, read_wav

    root = Path(__file__).resolve().parent.parent
    folder = root.parent / "shared" / "data" / "fsdd"
    if folder.is_dir():
        files = sorted(f for f in folder.glob("*.wav") if f.stem.split("_")[1] in speakers)
        return [read_wav(f)[0] for f in files], str(folder.relative_to(root.parent))
    names = [k for k, kind in list_samples("audio").items() if k.split("_")[1] in speakers]
    return [load_audio(k)[0] for k in names], str(data_dir().name)


def audio_experiment(args, sched):
    """Speech frames (256 samples, hop 128, sine window) coded in the DCT, ratio 0.5 and 0.25:
    networks trained on speakers george and lucas against FISTA with the same number of iterations,
    SNR of the overlap-added signals of the held-out speakers jackson and nicolas."""
    from scipy.fft import dct
    from threadpoolctl import threadpool_limits

    from cs_toolkit.learned import train_reconstructor
    from cs_toolkit.transforms import frames, frames_from_audio, overlap_add

    N, hop, K = 256, 128, sched["layers"]
    train_clips, where = _fsdd_clips(FSDD_TRAIN)
    test_clips, _ = _fsdd_clips(FSDD_TEST)
    if not train_clips:
        print(f"no training clips of {FSDD_TRAIN} found (looked in {where}); the FSDD folder is needed")
        return 1
    if args.quick:
        train_clips, test_clips = train_clips[:10], test_clips[:4]
    S_train = frames_from_audio(train_clips, N, hop, drop_silent=1e-3)
    Psi = dct(np.eye(N), norm="ortho", axis=0).T  # synthesis: s = Psi c
    print(f"audio: {len(train_clips)} clips of {FSDD_TRAIN} -> {S_train.shape[0]} frames; "
          f"{len(test_clips)} test clips of {FSDD_TEST} ({where}); {K} layers/iterations; "
          f"load average {os.getloadavg()}", flush=True)
    ista_mod = __import__("importlib").import_module("cs_toolkit.solvers.ista")
    opts = {k: v for k, v in _train_opts(sched).items() if k != "n_val"}
    results = []

    def snr_db(rec):
        num = sum(float(np.sum(x * x)) for x in test_clips)
        den = sum(float(np.sum((x - r) ** 2)) for x, r in zip(test_clips, rec, strict=True))
        return 10 * np.log10(num / den)

    with threadpool_limits(limits=1, user_api="blas"):
        for ratio in (0.5, 0.25):
            m = int(round(ratio * N))
            A = np.random.default_rng(args.seed).standard_normal((m, N)) / np.sqrt(m)
            F_test = [frames(x, N, hop) for x in test_clips]
            Y_test = [F @ A.T for F in F_test]

            def synth(F_hat, x):
                return overlap_add(F_hat, hop, length=len(x))

            Sv = S_train[:: 13][:1000]
            Yv = Sv @ A.T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lams = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3)
                best = min((float(np.sum((ista_mod.fista(A @ Psi, Yv, lam=lam, max_iter=K, tol=0, restart=None)
                                          @ Psi.T - Sv) ** 2)), lam) for lam in lams)
                rec = [synth(ista_mod.fista(A @ Psi, Y, lam=best[1], max_iter=K, tol=0, restart=None) @ Psi.T, x)
                       for Y, x in zip(Y_test, test_clips, strict=True)]
                rec500 = [synth(ista_mod.fista(A @ Psi, Y, lam=best[1], max_iter=500, tol=1e-7) @ Psi.T, x)
                          for Y, x in zip(Y_test, test_clips, strict=True)]
            row = {"ratio": ratio, "m": m, "fista_lam": best[1], "fista_snr_db": snr_db(rec),
                   "fista500_snr_db": snr_db(rec500)}
            print(f"ratio {ratio}: FISTA {K} it (lam {best[1]:g}) SNR {row['fista_snr_db']:.2f} dB; "
                  f"FISTA 500 it {row['fista500_snr_db']:.2f} dB", flush=True)
            for kind in args.audio_models.split(","):
                t0 = time.perf_counter()
                model, _ = train_reconstructor(S_train, A, Psi, kind=kind, n_layers=K, rng=args.seed,
                                               verbose=args.verbose, pretrain=_pretrain(args, kind), **opts)
                dt = time.perf_counter() - t0
                rec = [synth(model.reconstruct(Y.astype(np.float32)).astype(np.float64), x)
                       for Y, x in zip(Y_test, test_clips, strict=True)]
                row[f"{kind}_snr_db"], row[f"{kind}_train_s"] = snr_db(rec), dt
                print(f"ratio {ratio}: {kind:10s} {K} layers SNR {row[kind + '_snr_db']:.2f} dB "
                      f"(trained {dt:.0f} s, load average {os.getloadavg()[0]:.1f})", flush=True)
            results.append(row)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "learned_audio.json"), "w") as f:
        json.dump(results, f, indent=1)
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
    ap.add_argument("--snr-models", default=",".join(NOISY_MODELS),
                    help=f"models trained at the finite SNRs (default {','.join(NOISY_MODELS)})")
    ap.add_argument("--jobs", type=int, default=2, help="parallel training processes (one BLAS thread each)")
    ap.add_argument("--max-steps", type=int, default=None, help="override the schedule's steps per stage")
    ap.add_argument("--patience", type=int, default=None, help="override the schedule's patience")
    ap.add_argument("--lr", type=float, default=None, help="override the schedule's Adam learning rate")
    ap.add_argument("--eval-every", type=int, default=None, help="override the steps between validations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--images", action="store_true",
                    help="real-signal experiment: 16x16 DCT blocks of skimage images, ratio 0.25, PSNR vs FISTA")
    ap.add_argument("--audio", action="store_true",
                    help="real-signal experiment: FSDD speech frames (256, hop 128) in the DCT, ratio 0.5 and 0.25, "
                         "trained on george/lucas, SNR vs FISTA on jackson/nicolas")
    ap.add_argument("--audio-models", default="lista_cp,alista", help="models of --audio")
    ap.add_argument("--pretrain", action="store_true",
                    help="--images/--audio: train LISTA, LISTA-CP, LISTA-CPSS as their tied form first, then "
                         "fine-tune (train_reconstructor(pretrain=True))")
    ap.add_argument("--verbose", action="store_true", help="print the training stages")
    ap.add_argument("--out", default="results/learned", help="output folder (default results/learned)")
    args = ap.parse_args(argv)

    name = "quick" if args.quick else "full" if args.full else "default"
    sched = dict(SCHEDULES[name])
    if args.max_steps:
        sched["max_steps"] = args.max_steps
    if args.patience:
        sched["patience"] = args.patience
    if args.eval_every:
        sched["eval_every"] = args.eval_every
    if args.lr:
        sched["lr"] = args.lr
        sched.pop("model_opts", None)
    models = [s.strip() for s in args.models.split(",") if s.strip()]
    snr_models = [s.strip() for s in args.snr_models.split(",") if s.strip()]
    bad = [k for k in models + snr_models + args.audio_models.split(",") if k not in ALL_MODELS]
    if bad:
        ap.error(f"unknown models {bad}; choose from {ALL_MODELS}")
    if args.images:
        return image_experiment(args, sched)
    if args.audio:
        return audio_experiment(args, sched)
    snrs = _snr_list(args.snr)
    os.makedirs(args.out, exist_ok=True)
    print(f"schedule {name}: {sched}; models {models} (noiseless), {snr_models} (noisy); SNR {snrs}; "
          f"jobs {args.jobs}; load average {os.getloadavg()}", flush=True)
    A = make_problem(sched["m"], sched["n"])
    K = sched["layers"]

    t0 = time.perf_counter()
    base = {snr: baselines(A, snr, K, args.seed) for snr in snrs}
    print(f"baselines done in {time.perf_counter() - t0:.1f} s", flush=True)
    jobs = [(k, snr) for snr in snrs for k in (models if snr is None else snr_models)]
    jobs.sort(key=lambda j: -_COST.get(j[0], 1.0))  # longest first: the two workers finish together
    t1 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(train_one, k, snr, sched, args.seed, args.verbose, args.out) for k, snr in jobs]
            trained = []
            for f in as_completed(futs):
                trained.append(f.result())
                r = trained[-1]
                print(f"trained {r['model']} at SNR {r['snr']}: {r['curve'][-1]:.2f} dB in {r['train_time_s']:.0f} s",
                      flush=True)
    else:
        trained = [train_one(k, snr, sched, args.seed, args.verbose, args.out) for k, snr in jobs]
    train_wall = time.perf_counter() - t1

    rows, record = [], {"schedule": name, "params": sched, "results": [], "training_wall_s": train_wall,
                        "jobs": args.jobs}
    for snr in snrs:
        lab = "noiseless" if snr is None else f"{snr:g} dB"
        print(f"\n=== SNR {lab}: oracle-support LS floor {base[snr]['oracle']['nmse_db']:.2f} dB")
        entries = [(k, base[snr][k]["curve"], None, None) for k in ("ista", "fista", "amp", "bg_amp")]
        for r in trained:
            if r["snr"] != snr:
                continue
            name = "unrolled_fista" if r["model"] == "fista" else r["model"]
            entries.append((name, r["curve"], r["train_time_s"], r["steps"]))
            if r.get("pretrained_curve") is not None:  # the tied form before fine-tuning, for comparison
                entries.append((f"{name}@tied", r["pretrained_curve"], None, None))
            if r["debias"]["threshold"] is not None:  # calibration turned the debiasing layer on
                entries.append((f"{name}+ls_debias", r["debias"]["curve"], None, None))
        for meth, curve, tt, steps in entries:
            extra = "" if tt is None else f"  (trained {tt:.0f} s, {steps} steps)"
            print(f"{meth:14s} final {curve[-1]:8.2f} dB | " + " ".join(f"{v:.1f}" for v in curve) + extra)
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
    print(f"\ntraining wall time {train_wall:.0f} s with {args.jobs} processes; total {time.perf_counter() - t0:.0f} s; "
          f"load average {os.getloadavg()}; wrote {args.out}")
    return 0


_COLORS = {m: f"C{i}" for i, m in enumerate(["ista", "fista", "amp", "bg_amp", "lista", "lista_cp", "lista_cpss", "alista",
                                                "unrolled_fista", "lamp"])}


def _plot(record, snrs, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(snrs), figsize=(4.5 * len(snrs), 4), squeeze=False)
    for ax, snr in zip(axes[0], snrs, strict=True):
        lab = "noiseless" if snr is None else f"{snr:g} dB"
        for r in record["results"]:
            if r["snr"] == lab and not r["method"].endswith("@tied"):
                base = r["method"].split("+")[0]  # a debiased row: the model's colour, dashed
                ax.plot(range(1, len(r["nmse_db"]) + 1), r["nmse_db"], marker=".", label=r["method"],
                        color=_COLORS.get(base), ls="--" if base != r["method"] else "-")
        oracle = [r["oracle_db"] for r in record["results"] if r["snr"] == lab][0]
        if oracle > -150:  # noiseless: the oracle is at machine precision, off the chart
            ax.axhline(oracle, color="k", ls="--", lw=0.8, label="oracle LS")
        ax.set_title(f"SNR {lab}")
        ax.set_xlabel("layer / iteration")
        ax.set_ylabel("NMSE (dB)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())

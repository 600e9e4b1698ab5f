"""Designed sensing matrices and quantized measurements: recovery rates, PSNR, 1-bit and multi-bit CS.

Experiments (all seeded):

1. Elad (2007), "Optimized projections for compressed sensing", section V: signals
   ``x = D c`` with ``k = 4`` Gaussian coefficients on random supports, measured by an
   ``m x n`` Gaussian matrix or by the matrix :func:`cs_toolkit.sensing.optimize_sensing`
   designs from it (``"elad"``, and ``"gram"`` with the Welch-bound target); recovered
   by OMP and by basis pursuit; error rate = share of signals with relative coefficient
   error >= 1e-3 (:func:`cs_toolkit.metrics.recovery_success`). Dictionaries: a random
   80 x 120 one (Elad's, k = 4) and 64 x 128 and 64 x 256 dictionaries of 8x8 patches (a
   DC atom and K-SVD atoms of mean-removed patches of astronaut and brick; k = 2, as their
   coherent atoms defeat even m = n measurements at k = 4). Designs: "elad", "gram" (the
   identity target) and "gram_welch" (the Welch-bound target). Goal: wherever the Gaussian matrix fails on 20-60 % of the
   signals, the designed one fails at most a fifth as often; and the measurements saved
   at an error rate of 10 % (linear interpolation in m).
2. Image blocks: camera and coins (256x256), 8x8 blocks, per-block OMP in the learned
   dictionary (k = m / 3), Gaussian with orthonormal rows vs the matrices designed from it
   (``"gram"`` with the robustness penalty ``reg=0.1``), ratios 0.1 / 0.25; PSNR.
3. One-bit CS (Jacques, Laska, Boufounos & Baraniuk 2013, section VI): n = 512, k = 10,
   Gaussian A, y = sign(A x); BIHT's normalised error ||x/||x|| - x_hat|| against m/n,
   with the batch time, and the log-log slope of the error (their analysis: O(k/m)).
4. Multi-bit: n = 256, k = 10, a fixed budget of bits per signal split as m x bits
   (uniform quantizer on +-3 sigma of the measurements, saturation cells unbounded);
   BIHT for 1 bit, QIHT (consistent) and IHT on the cell centres for more bits.
5. Design time: a 64 x 256 dictionary (overcomplete DCT, the learned one), m = 16 / 24 / 32.

Run from the repository root::

    python benchmarks/sensing_design.py            # 750 s measured on 2 busy cores (load 2.5-4.9)
    python benchmarks/sensing_design.py --quick    # a smoke run with small sizes
    python benchmarks/sensing_design.py --out results.json

The machine load average is printed before and after; times are wall-clock seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings

import numpy as np

from cs_toolkit.data import load_image
from cs_toolkit.dictionary import ksvd, overcomplete_dct2
from cs_toolkit.exceptions import ConvergenceWarning
from cs_toolkit.metrics import bit_rate, normalized_error, psnr, recovery_success
from cs_toolkit.sensing import gaussian, mutual_coherence, one_bit, optimize_sensing, quantize
from cs_toolkit.signals import measure_image, reconstruct_image
from cs_toolkit.solvers import basis_pursuit, biht, iht, omp, qiht
from cs_toolkit.transforms import patches_from_images

DESIGNS = {"elad": dict(method="elad"), "gram": dict(method="gram"), "gram_welch": dict(method="gram", target="welch")}
#: the image blocks are only approximately sparse: "gram" with the robustness penalty
IMAGE_DESIGNS = {"elad": dict(method="elad"), "gram_welch": dict(method="gram", target="welch", reg=0.1)}
RATE = 0.10  # error rate at which the measurements saved are read


def load():
    return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg())


def planted(D, k, N, seed):
    rng = np.random.default_rng(seed)
    C = np.zeros((N, D.shape[1]))
    for c in C:
        c[rng.choice(D.shape[1], k, replace=False)] = rng.standard_normal(k)
    return C


def error_rate(M, D, C, solver, k):
    E = M @ D
    Y = (C @ D.T) @ M.T
    Ch = omp(E, Y, n_nonzero_coefs=k) if solver == "omp" else basis_pursuit(E, Y)
    return float(1.0 - np.mean(recovery_success(C, Ch)))


def m_at_rate(ms, rates, rate=RATE):
    """Smallest m (linear interpolation) where the error rate falls to ``rate``; None if never."""
    for i in range(1, len(ms)):
        r0, r1 = rates[i - 1], rates[i]
        if r0 > rate >= r1:
            return ms[i - 1] + (r0 - rate) / (r0 - r1) * (ms[i] - ms[i - 1])
    return ms[0] if rates and rates[0] <= rate else None


def learned_dictionary(quick, n_atoms=256):
    """64 x n_atoms: a constant (DC) atom and K-SVD atoms of mean-removed 8x8 patches."""
    imgs = [load_image("astronaut_gray"), load_image("brick")]
    P, _ = patches_from_images(imgs, 8, step=2, max_patches=4000 if quick else 10000, rng=0)
    t0 = time.perf_counter()
    Dl = ksvd(P, n_atoms - 1, n_nonzero_coefs=4, max_iter=4 if quick else 8, rng=0).dictionary
    D = np.hstack([np.full((64, 1), 1 / 8), Dl])
    print(f"K-SVD dictionary 64 x {n_atoms} (DC atom + {n_atoms - 1} learned) on {len(P)} mean-removed patches of astronaut "
          f"and brick: {time.perf_counter() - t0:.1f} s; coherence {mutual_coherence(D):.3f}")
    return D


def elad_experiment(name, D, k, ms, n_omp, n_bp, seed):
    n = D.shape[0]
    C_omp = planted(D, k, n_omp, seed)
    C_bp = C_omp[:n_bp]
    rows = []
    print(f"\n### Elad's experiment: {name} dictionary {D.shape[0]} x {D.shape[1]}, k = {k}, "
          f"{n_omp} signals (OMP) / {n_bp} (BP)")
    names = ("gaussian", *DESIGNS)
    print("| m | " + " | ".join(f"{mn} {s.upper()}" for s in ("omp", "bp") for mn in names)
          + " | design s (" + " / ".join(DESIGNS) + ") |")
    print("|---" * (2 * len(names) + 2) + "|")
    for m in ms:
        A0 = gaussian(m, n, rng=seed + m)
        mats = {"gaussian": A0}
        secs = {}
        for dn, kw in DESIGNS.items():
            t0 = time.perf_counter()
            mats[dn] = optimize_sensing(D, m, init=A0, **kw)
            secs[dn] = time.perf_counter() - t0
        row = {"m": m, "design_s": secs}
        for solver, C in (("omp", C_omp), ("bp", C_bp)):
            for mn, M in mats.items():
                row[f"{mn}_{solver}"] = error_rate(M, D, C, solver, k)
        rows.append(row)
        print(f"| {m} | " + " | ".join(f"{100 * row[f'{mn}_{s}']:.1f} %" for s in ("omp", "bp") for mn in names)
              + " | " + " / ".join(f"{secs[dn]:.1f}" for dn in DESIGNS) + " |", flush=True)
    summary = {}
    for s in ("omp", "bp"):
        for dn in DESIGNS:
            band = [(r["m"], r[f"gaussian_{s}"], r[f"{dn}_{s}"]) for r in rows if 0.2 <= r[f"gaussian_{s}"] <= 0.6]
            worst = max((d / g for _, g, d in band), default=None)
            mg = m_at_rate(ms, [r[f"gaussian_{s}"] for r in rows])
            md = m_at_rate(ms, [r[f"{dn}_{s}"] for r in rows])
            saved = None if mg is None or md is None else mg - md
            summary[f"{dn}_{s}"] = {"band": band, "worst_ratio": worst, "m_gauss": mg, "m_design": md, "saved": saved}
            band_txt = ", ".join(f"m={m}: {100 * g:.0f} % -> {100 * d:.1f} %" for m, g, d in band) or "no m in band"
            goal = "n/a" if worst is None else ("MET" if worst <= 0.2 else "not met")
            sv = "n/a" if saved is None else f"{saved:.1f} (m {mg:.1f} -> {md:.1f})"
            print(f"{s.upper()} {dn}: in the 20-60 % band {band_txt}; worst designed/Gaussian ratio "
                  f"{'n/a' if worst is None else f'{worst:.3f}'} (goal <= 0.2: {goal}); "
                  f"m saved at {100 * RATE:.0f} % error: {sv}")
    return {"rows": rows, "summary": summary}


def image_experiment(D, quick):
    names = ["camera"] if quick else ["camera", "coins"]
    out = []
    print("\n### Image blocks: 8x8, per-block OMP in the learned dictionary (k = max(1, m // 3)), PSNR dB")
    print("| image | ratio | m | Gaussian (orthonormal rows) | elad | gram_welch, reg 0.1 |")
    print("|---|---|---|---|---|---|")
    for nm in names:
        img = load_image(nm)
        if img.shape[0] >= 512:
            img = img[::2, ::2]
        img = img[:128, :128] if quick else img[:256, :256]
        for ratio in (0.1, 0.25):
            m = int(round(ratio * 64))
            k = max(1, m // 3)
            res = {}
            for mn in ("gaussian", *IMAGE_DESIGNS):
                if mn == "gaussian":
                    mat = "gaussian"
                else:
                    A0 = gaussian(m, 64, rng=0, orthonormal_rows=True)
                    mat = optimize_sensing(D, m, init=A0, **IMAGE_DESIGNS[mn])
                meas = measure_image(img, ratio, block_size=8, matrix=mat, rng=0)
                rec = reconstruct_image(meas, method="omp", basis=D, n_nonzero_coefs=k)
                res[mn] = psnr(img, rec, data_range=1.0)
            out.append({"image": nm, "ratio": ratio, "m": m, **res})
            print(f"| {nm} | {ratio} | {m} | {res['gaussian']:.2f} | {res['elad']:.2f} | {res['gram_welch']:.2f} |",
                  flush=True)
    return out


def onebit_experiment(quick):
    n, k = (256, 10) if quick else (512, 10)
    N = 30 if quick else 100
    X = planted(np.eye(n), k, N, seed=7)
    out = []
    print(f"\n### One-bit CS, BIHT: n = {n}, k = {k}, {N} signals, Gaussian A")
    print("| m/n | m | mean normalised error | in dB | consistent signals | batch time |")
    print("|---|---|---|---|---|---|")
    for ratio in (0.25, 0.5, 1.0, 1.5, 2.0):
        m = int(ratio * n)
        A = np.random.default_rng(m).standard_normal((m, n))
        Yb = one_bit(X @ A.T)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            biht(A, Yb[:2], n_nonzero_coefs=k, max_iter=2)  # warm-up (compile / cache load)
            t0 = time.perf_counter()
            Xh, info = biht(A, Yb, n_nonzero_coefs=k, return_info=True)
        t = time.perf_counter() - t0
        e = normalized_error(X, Xh)
        out.append({"m_over_n": ratio, "m": m, "error": float(e.mean()), "time_s": t,
                    "consistent": float(np.mean(info.resid_norm == 0))})
        print(f"| {ratio} | {m} | {e.mean():.4f} | {20 * np.log10(e.mean()):.1f} | "
              f"{100 * np.mean(info.resid_norm == 0):.0f} % | {t:.2f} s |", flush=True)
    lm = np.log([r["m"] for r in out[1:]])
    le = np.log([r["error"] for r in out[1:]])
    slope = float(np.polyfit(lm, le, 1)[0])
    print(f"log-log slope of the error against m (m/n >= 0.5): {slope:.2f} (O(1/m) decay: -1)")
    return {"rows": out, "slope": slope}


def multibit_experiment(quick):
    n, k = 256, 10
    N = 30 if quick else 100
    X = planted(np.eye(n), k, N, seed=11)
    out = []
    print(f"\n### Bits vs quality: n = {n}, k = {k}, {N} signals; budget = m x bits per signal")
    print("| bits/sample | bits | m | BIHT / QIHT NMSE dB | IHT on cell centres NMSE dB | normalised error (QIHT/BIHT) |")
    print("|---|---|---|---|---|---|")
    for budget in (256, 512, 1024):
        for bits in (1, 2, 3, 4, 6, 8):
            m = budget // bits
            if m < 3 * k or m > 4 * n:
                continue
            A = np.random.default_rng(budget + bits).standard_normal((m, n)) / np.sqrt(m)
            Y = X @ A.T
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if bits == 1:
                    Xq = biht(A, one_bit(Y), n_nonzero_coefs=k)
                    nm, mid = float("nan"), float("nan")
                else:
                    qm = quantize(Y, bits, y_range=3 * float(Y.std()))
                    Xq = qiht(A, qm, n_nonzero_coefs=k)
                    Xm = iht(A, qm.values, n_nonzero_coefs=k)
                    nm = 10 * np.log10(np.sum((Xq - X) ** 2) / np.sum(X**2))
                    mid = 10 * np.log10(np.sum((Xm - X) ** 2) / np.sum(X**2))
            ne = float(np.mean(normalized_error(X, Xq)))
            out.append({"bit_rate": bit_rate(m, bits, n), "bits": bits, "m": m, "nmse_db": nm,
                        "nmse_mid_db": mid, "normalized_error": ne})
            print(f"| {bit_rate(m, bits, n):g} | {bits} | {m} | {nm:.1f} | {mid:.1f} | {ne:.4f} |", flush=True)
    return out


def design_time(D_learned, quick):
    out = []
    print("\n### Design time, 64 x 256 dictionaries (default iterations: elad 200, gram 100)")
    print("| dictionary | m | " + " | ".join(f"{dn} s" for dn in DESIGNS) + " |")
    print("|---" * (len(DESIGNS) + 2) + "|")
    for dn, D in (("overcomplete DCT", overcomplete_dct2(8, 256)), ("K-SVD", D_learned)):
        for m in (16, 24, 32):
            ts = {}
            for mn, kw in DESIGNS.items():
                t0 = time.perf_counter()
                optimize_sensing(D, m, rng=0, **kw)
                ts[mn] = time.perf_counter() - t0
            out.append({"dictionary": dn, "m": m, **ts})
            print(f"| {dn} | {m} | " + " | ".join(f"{ts[mn]:.2f}" for mn in DESIGNS) + " |", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--out", help="write every figure to this JSON file")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: elad,images,onebit,multibit,time")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    print(load())
    t_all = time.perf_counter()
    res = {}
    D_rand = np.random.default_rng(0).standard_normal((80, 120))
    D_rand /= np.linalg.norm(D_rand, axis=0)
    D_learned = learned_dictionary(args.quick)
    if "elad" not in skip:
        n_omp, n_bp = (300, 60) if args.quick else (2000, 200)
        res["elad_random"] = elad_experiment("random", D_rand, 4, list(range(12, 37, 4 if args.quick else 2)),
                                             n_omp, n_bp, seed=1)
        for n_atoms in (128, 256):
            D_l = D_learned if n_atoms == 256 else learned_dictionary(args.quick, n_atoms)
            res[f"elad_learned_{n_atoms}"] = elad_experiment(
                "learned 8x8 patch (K-SVD)", D_l, 2, list(range(8, 57, 8 if args.quick else 4)), n_omp, n_bp, seed=2)
        print(load())
    if "images" not in skip:
        res["images"] = image_experiment(D_learned, args.quick)
    if "onebit" not in skip:
        res["onebit"] = onebit_experiment(args.quick)
    if "multibit" not in skip:
        res["multibit"] = multibit_experiment(args.quick)
    if "time" not in skip:
        res["design_time"] = design_time(D_learned, args.quick)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; {load()}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1, default=float)


if __name__ == "__main__":
    main()

"""Frame-CS speech benchmark on held-out speakers: SNR / segmental SNR / time per method and ratio.

Frames of 256 samples, hop 128, sine window, one Gaussian sensing matrix
(orthonormal rows) shared by all frames. Contenders:

- ``omp_dct``: per-frame OMP in the DCT (40 % of m non-zeros);
- ``l1_dct``: per-frame FISTA LASSO in the DCT (lam = 0.01 max|A^T y|);
- ``omp_dict``: per-frame OMP in a dictionary learned (K-SVD) on speakers george and lucas;
- ``joint_dct``: all frames jointly against the whole signal (``method="joint"``, the default);
- ``joint_dict``: the same with the learned dictionary;
- ``best51``: the best 51-term DCT approximation of each frame (an oracle bound, no CS).

Test speakers: jackson and nicolas (never used for training or tuning). The full
FSDD subset is read from ``../shared/data/fsdd`` (relative to the repository root)
when present, else from the clips bundled in ``data/`` (test speakers only; the
dictionary methods are then skipped).

Run from the repository root: ``python benchmarks/audio.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from cs_toolkit.data import list_samples, load_audio, read_wav
from cs_toolkit.signals import audio_quality, measure_audio, reconstruct_audio
from cs_toolkit.transforms import DCT, frames, frames_from_audio, overlap_add

FSDD = Path("..") / "shared" / "data" / "fsdd"
RATIOS = (0.25, 0.5, 0.75)


def _load(speakers, max_files):
    files = sorted(f for f in FSDD.glob("*.wav") if f.stem.split("_")[1] in speakers)[:max_files]
    return [read_wav(f)[0] for f in files]


def _best_k(x, k=51):
    D = DCT(256).to_dense()
    F = frames(x, 256, 128) @ D
    idx = np.argsort(-np.abs(F), axis=1)[:, k:]
    np.put_along_axis(F, idx, 0.0, axis=1)
    return overlap_add(F @ D.T, 128, length=len(x))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="4 test clips, smaller dictionary")
    args = p.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    n_test = 4 if args.quick else 12
    D = None
    if FSDD.is_dir():
        test = _load({"jackson", "nicolas"}, 200)[:: max(1, 100 // n_test)][:n_test]
        train = _load({"george", "lucas"}, 100)
        from cs_toolkit.dictionary import ksvd

        X = frames_from_audio(train, 256, 128, drop_silent=1e-3)
        rng = np.random.default_rng(0)
        X = X[rng.choice(X.shape[0], min(X.shape[0], 3000 if args.quick else 8000), replace=False)]
        t0 = time.perf_counter()
        res = ksvd(X, 512, n_nonzero_coefs=20, max_iter=5 if args.quick else 15, rng=0, progress=True)
        D = res.dictionary
        print(f"K-SVD dictionary 256x512 on {X.shape[0]} frames of george+lucas: "
              f"{time.perf_counter() - t0:.1f} s, relative error {res.history['error'][-1]:.3f}")
    else:
        test = [load_audio(n)[0] for n, k in list_samples().items() if k == "audio"][:n_test]
        print("FSDD folder not found: using the bundled clips, dictionary methods skipped")
    methods = {"omp_dct": dict(method="omp"), "l1_dct": dict(method="fista"), "joint_dct": dict(method="joint")}
    if D is not None:
        methods["omp_dict"] = dict(method="omp", basis=D)
        methods["joint_dict"] = dict(method="joint", basis=D)
    rows = []
    for r in RATIOS:
        for i, x in enumerate(test):
            meas = measure_audio(x, r, rng=i)
            for label, kw in methods.items():
                t0 = time.perf_counter()
                rec = reconstruct_audio(meas, **kw)
                dt = time.perf_counter() - t0
                q = audio_quality(x, rec)
                rows.append((r, label, q["snr"], q["seg_snr"], dt))
        print(f"ratio {r}: done (load {os.getloadavg()[0]:.1f})", flush=True)
    bound = np.mean([audio_quality(x, _best_k(x))["snr"] for x in test])
    print()
    print("| method | " + " | ".join(f"ratio {r}: SNR / segSNR / s" for r in RATIOS) + " |")
    print("|---|" + "---|" * len(RATIOS))
    for label in methods:
        cells = []
        for r in RATIOS:
            sel = [x for x in rows if x[0] == r and x[1] == label]
            cells.append(f"{np.mean([x[2] for x in sel]):.2f} / {np.mean([x[3] for x in sel]):.2f} / "
                         f"{np.mean([x[4] for x in sel]):.2f}")
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nbest 51-term DCT approximation per frame (oracle, no CS): {bound:.2f} dB SNR")
    print(f"{len(test)} test clips (jackson, nicolas); load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

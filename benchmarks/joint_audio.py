"""Train the learned speech reconstructor (``method="joint_learned"``) and compare it with ``"joint"``.

Training speakers george and lucas of the FSDD subset in ``../shared/data/fsdd`` (every tenth of
their clips held back for validation: early stopping keeps the best stages); test speakers jackson
and nicolas, never used for training or tuning. The network is
:class:`cs_toolkit.learned.JointAudioNet` (unrolled joint FISTA, learned per-frequency thresholds,
steps and momenta per layer), one set of stages per ratio 0.25 and 0.5.

    python benchmarks/joint_audio.py --train --out cs_toolkit/learned/models/joint_audio.npz
    python benchmarks/joint_audio.py --model cs_toolkit/learned/models/joint_audio.npz   # evaluate

Run from the repository root. Evaluation: SNR and segmental SNR of every test clip (frames 256,
hop 128, sine window, Gaussian matrix with orthonormal rows, seed = clip index), per ratio.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from cs_toolkit.data import read_wav
from cs_toolkit.signals import audio_quality, measure_audio, reconstruct_audio

FSDD = Path("..") / "shared" / "data" / "fsdd"
TRAIN_SPEAKERS = ("george", "lucas")
TEST_SPEAKERS = ("jackson", "nicolas")


def _load(speakers):
    files = sorted(f for f in FSDD.glob("*.wav") if f.stem.split("_")[1] in speakers)
    if not files:
        raise SystemExit(f"no FSDD clips of {speakers} in {FSDD} (run from the repository root)")
    return [read_wav(f)[0] for f in files]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", action="store_true", help="train a network (else evaluate --model)")
    p.add_argument("--model", default=None, help="network file to evaluate (default: the bundled one)")
    p.add_argument("--finish", default=None, metavar="FILE",
                   help="tune the tail and record the default ratios of a trained network FILE (what --train "
                        "does after training), write it to --out, then evaluate it")
    p.add_argument("--out", default="joint_audio.npz", help="where --train writes the network")
    p.add_argument("--layers", type=int, default=40)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--ratios", default="0.25,0.5")
    p.add_argument("--n-test", type=int, default=20, help="test clips (spread over both test speakers)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}")
    ratios = tuple(float(r) for r in args.ratios.split(","))
    model = args.model
    if args.train:
        from cs_toolkit.learned import train_joint_audio
        from cs_toolkit.learned.joint_audio import record_default_ratios, tune_tail

        clips = _load(TRAIN_SPEAKERS)
        val = clips[5::10]
        train = [c for i, c in enumerate(clips) if i % 10 != 5]
        print(f"{len(train)} training and {len(val)} validation clips of {', '.join(TRAIN_SPEAKERS)}")
        partial = args.out + ".partial.npz"

        def save(step, net, hist):  # the latest stages, in case the run is stopped
            net.save(partial)

        net, hist = train_joint_audio(train, validation=val, ratios=ratios, n_layers=args.layers,
                                      max_steps=args.steps, batch_size=args.batch, lr=args.lr,
                                      rng=args.seed, verbose=True, callback=save)
        tune_tail(net, val, verbose=True)
        record_default_ratios(net, val, verbose=True)
        path = net.save(args.out)
        if os.path.exists(partial):
            os.remove(partial)
        print(f"trained in {hist['time_s']:.0f} s; validation SNR {hist['start_val_snr_db']} -> "
              f"{hist['best_val_snr_db']} dB; written to {path}")
        model = path
    if args.finish:
        from cs_toolkit.learned import load_joint_audio
        from cs_toolkit.learned.joint_audio import record_default_ratios, tune_tail

        clips = _load(TRAIN_SPEAKERS)
        net = load_joint_audio(args.finish)
        tune_tail(net, clips[5::10], verbose=True)
        record_default_ratios(net, clips[5::10], verbose=True)
        model = net.save(args.out)
        print(f"written to {model}")
    test = _load(TEST_SPEAKERS)
    test = test[:: max(1, len(test) // args.n_test)][: args.n_test]
    print(f"{len(test)} test clips of {', '.join(TEST_SPEAKERS)} (held out)")
    contenders = {"joint": dict(method="joint"),
                  "joint, lam 1e-3 (the default before its per-ratio tuning)": dict(method="joint", lam=1e-3),
                  "joint_learned": dict(method="joint_learned", **({} if model is None else {"model": model}))}
    rows = {}
    for r in ratios:
        for method, kw in contenders.items():
            q_all, t_all = [], []
            for i, x in enumerate(test):
                meas = measure_audio(x, r, rng=i)
                t0 = time.perf_counter()
                rec = reconstruct_audio(meas, **kw)
                t_all.append(time.perf_counter() - t0)
                q_all.append(audio_quality(x, rec))
            snr = float(np.mean([q["snr"] for q in q_all]))
            seg = float(np.mean([q["seg_snr"] for q in q_all]))
            rows[(r, method)] = (snr, seg, float(np.mean(t_all)), [q["snr"] for q in q_all])
            print(f"ratio {r}: {method} SNR {snr:6.2f} dB  segSNR {seg:6.2f} dB  "
                  f"{np.mean(t_all):.2f} s per clip", flush=True)
    print("\n| ratio | method | SNR (dB) | segmental SNR (dB) | time per clip (s) | clips better than joint |")
    print("|---|---|---|---|---|---|")
    for (r, method), (snr, seg, t, per) in rows.items():
        better = sum(a > b for a, b in zip(per, rows[(r, "joint")][3], strict=True)) if method != "joint" else "-"
        print(f"| {r} | {method} | {snr:.2f} | {seg:.2f} | {t:.2f} | {better} |")
    print(f"load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

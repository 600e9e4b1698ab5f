"""Time per 256x256 image of the image methods, optionally against another checkout of the toolkit.

Every round runs, for every code tree in turn (``--trees``, default: the installed toolkit), one
fresh process that warms the methods up on a small picture and then reconstructs each bundled test
picture (astronaut, brick, camera, coins; decimated to 256x256 as in ``benchmarks/images.py``) at
each ratio once with every method, timing each call. Trees and rounds are interleaved; a method's
time per (picture, ratio) is its best over the rounds, and the table shows the median over the
pictures. The load average is printed before and after. The two threads of the machine are used
(numba's and the BLAS's defaults); ``--threads 1`` pins both to one.

Run from the repository root::

    python benchmarks/image_speed.py                               # this checkout
    python benchmarks/image_speed.py --trees OLD_CHECKOUT .        # before / after, interleaved
    python benchmarks/image_speed.py --methods pnp_dct,pnp_dct:float32,pnp_nl_learned,pnp_nl_learned:float32
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

RATIOS = (0.1, 0.25, 0.5)
METHODS = ("bcs_spl", "tnrd", "pnp_dct", "pnp_nl", "pnp_nl_learned")

_CHILD = r"""
import json, sys, time
import numpy as np
from cs_toolkit.data import list_samples, load_image
from cs_toolkit.signals import measure_image, reconstruct_image

methods, ratios = sys.argv[1].split(","), [float(r) for r in sys.argv[2].split(",")]
pictures = sys.argv[3].split(",") if sys.argv[3] else sorted(n for n, kind in list_samples().items() if kind == "image")
warm = measure_image(np.random.default_rng(0).random((64, 64)), 0.25, rng=0)
def run(meas, m):  # "method" or "method:float32" (the working precision, this checkout's dtype argument)
    m, _, dt = m.partition(":")
    return reconstruct_image(meas, method=m, **({"dtype": dt} if dt else {}))
for m in methods:
    run(warm, m)
out = []
for name in pictures:
    img = load_image(name)
    img = (img[::2, ::2] if img.shape[0] >= 512 else img)[:256, :256]
    for r in ratios:
        meas = measure_image(img, r, block_size=32, matrix="gaussian", rng=0)
        for m in methods:
            t0 = time.perf_counter()
            run(meas, m)
            out.append([name, r, m, time.perf_counter() - t0])
print(json.dumps(out))
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trees", nargs="+", default=[None],
                   help="repository roots whose cs_toolkit to time (default: the installed one)")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"comma list, METHOD:float32 for float32 inference (default {','.join(METHODS)})")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--pictures", default="", help="comma list of bundled pictures (default: all four)")
    p.add_argument("--threads", type=int, default=None, help="numba and BLAS threads (default: all)")
    args = p.parse_args(argv)
    env = dict(os.environ)
    if args.threads:
        for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    labels = [os.path.basename(os.path.abspath(t)) if t else "installed" for t in args.trees]
    best: dict = {}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for rnd in range(args.rounds):
        for label, tree in zip(labels, args.trees, strict=True):
            e = dict(env, PYTHONPATH=os.path.abspath(tree)) if tree else env
            res = subprocess.run([sys.executable, "-c", _CHILD, args.methods, ",".join(map(str, RATIOS)),
                                  args.pictures],
                                 env=e, capture_output=True, text=True, check=True, cwd=os.path.expanduser("~"))
            for name, r, m, t in json.loads(res.stdout.splitlines()[-1]):
                key = (label, m, r, name)
                best[key] = min(best.get(key, float("inf")), t)
            print(f"round {rnd + 1} {label} done, load {os.getloadavg()[0]:.2f}", flush=True)
    import numpy as np

    print("\n| method | " + " | ".join(f"ratio {r}" for r in RATIOS) + " |")
    print("|---|" + "---|" * len(RATIOS))
    for m in args.methods.split(","):
        cells = []
        for r in RATIOS:
            cells.append(" / ".join(f"{np.median([t for k, t in best.items() if k[:3] == (lab, m, r)]):.2f}"
                                    for lab in labels))
        print(f"| `{m}` ({' / '.join(labels)}) | " + " | ".join(f"{c} s" for c in cells) + " |")
    print(f"\nseconds per 256x256 picture, median over the pictures of the best of {args.rounds} rounds; "
          f"threads: {args.threads or 'all'}; load average at end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``cs-toolkit reconstruct``, ``demo`` and ``train-dict``: the image and audio pipelines from the shell."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, atomic_savez, with_npz_suffix
from .._validation import check_int
from ..data import IMAGE_WRITE_EXT  # what write_image can write
from ..exceptions import ValidationError
from ._paths import check_checkpoint, check_not_same, check_output_dir, check_output_file

IMAGE_EXT = {".png", ".tif", ".tiff", ".jpg", ".jpeg", ".bmp", ".gif"}
AUDIO_EXT = {".wav"}


def register(sub) -> None:
    p = sub.add_parser("reconstruct", help="measure an image or WAV file compressively and reconstruct it")
    p.add_argument("input", help="image (PNG, TIFF, JPEG, ...) or WAV file")
    p.add_argument("--ratio", action=Given, type=float, default=0.25, help="measurement ratio in (0, 1] (default 0.25)")
    p.add_argument("--matrix", action=Given, default="gaussian", help="sensing matrix kind (default gaussian, orthonormal rows)")
    p.add_argument("--method", default=None,
                   help="reconstruction method (default: the best for the input type); images: pnp_lr, pnp_nl, pnp_dct, pnp_tv, bcs_spl, "
                        "whole (whole-image CS, --matrix srdct|srht|...), pnp_nl_learned, tnrd (learned), lista, or a solver "
                        "name (per block); "
                        "audio: joint, joint_learned (learned), lista, or a solver name (per frame)")
    p.add_argument("--basis", default="dct", help="dct, wavelet (images) or a dictionary .npz file")
    p.add_argument("--model", default=None, help="learned reconstructor .npz (method lista; methods tnrd and pnp_nl_learned: default "
                        "the bundled model)")
    p.add_argument("--block-size", action=Given, type=int, default=32, help="image block size (default 32)")
    p.add_argument("--frame-length", action=Given, type=int, default=256, help="audio frame length (default 256)")
    p.add_argument("--hop", action=Given, type=int, default=None, help="audio hop (default half of --frame-length)")
    p.add_argument("--out", default=None, help="output file (default: INPUT_cs.EXT next to the input)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--seed", action=Given, type=int, default=0, help="seed of the sensing matrix (default 0)")
    p.add_argument("--float32", action="store_true",
                   help="images, methods bcs_spl, pnp_dct, pnp_nl, pnp_lr, pnp_nl_learned: compute in float32 (faster; "
                        "within about 0.02 dB of float64)")
    p.set_defaults(func=_reconstruct)
    p.set_defaults(given=frozenset())

    p = sub.add_parser("demo", help="end-to-end demo on the bundled image and speech clip")
    p.add_argument("--out", default="cs_toolkit_demo", help="output folder (default ./cs_toolkit_demo)")
    p.add_argument("--quick", action="store_true", help="smaller image crop, fewer iterations")
    p.add_argument("--ratio", type=float, default=0.25, help="measurement ratio (default 0.25)")
    p.set_defaults(func=_demo_checked)

    p = sub.add_parser("train-dict", help="learn an image-patch or audio-frame dictionary")
    p.add_argument("inputs", nargs="+", help="folders or files (images or WAV)")
    p.add_argument("--kind", choices=("image", "audio"), required=True)
    p.add_argument("--atoms", type=int, default=256, help="number of atoms (default 256)")
    p.add_argument("--sparsity", type=int, default=5, help="non-zeros per training code (default 5)")
    p.add_argument("--method", choices=("ksvd", "mod", "online"), default="ksvd", help="learning algorithm (default ksvd)")
    p.add_argument("--patch-size", type=int, default=8, help="image patch side (default 8)")
    p.add_argument("--frame-length", type=int, default=256, help="audio frame length (default 256)")
    p.add_argument("--max-iter", type=int, default=None,
                   help="iterations of ksvd, mod (default 20); mini-batches of online (default one pass over the rows)")
    p.add_argument("--max-signals", type=int, default=20000, help="cap on training rows (default 20000)")
    p.add_argument("--out", default="dict.npz", help="output dictionary file (.npz; default dict.npz)")
    p.add_argument("--seed", type=int, default=0, help="random seed (initial atoms, sampled rows; default 0)")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="save the learning state to PATH (.npz) as it goes; rerunning the same command "
                        "resumes from it; deleted when training finishes")
    p.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help="iterations (ksvd, mod) or mini-batches (online) between checkpoints "
                        "(default 1 and 100)")
    p.set_defaults(func=_train_dict)


class Given(argparse.Action):
    """Stores the value like the default action and adds the option's name to ``namespace.given``,
    so that a value the user typed can be told from a default (``reconstruct --model``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = frozenset(getattr(namespace, "given", ())) | {self.dest}


def read_grey(paths, *, out=None):
    """The images in ``paths`` in grey (float on [0, 1]), saying in one line which were colour (or had
    an alpha channel) and were converted: the pipelines and the training are grey, and a picture
    is never changed without a word. ``out`` is the stream of the note (default stdout)."""
    from ..data import read_image

    imgs, converted = [], []
    for f in paths:
        img = read_image(f, as_gray=False)
        if img.ndim == 3:
            what = {2: "grey with alpha", 3: "colour (RGB)", 4: "colour with alpha (RGBA)"}.get(
                img.shape[2], f"{img.shape[2]}-channel")
            converted.append(f"{Path(f).name} ({what})")
            img = read_image(f)
        imgs.append(img)
    if converted:
        print(f"note: converted to grey: {', '.join(converted)}; the reconstruction and the training are grey.",
              file=out or sys.stdout)
    return imgs


def image_header(path):
    """``(height, width, channels)`` of the image file ``path`` read from its header, nothing decoded
    (so that the memory a run needs is known before the picture is); None when Pillow cannot tell
    (the reading then says what is wrong with the file)."""
    try:
        import warnings

        from PIL import Image

        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with Image.open(path) as im:
                    w, h = im.size
                    return int(h), int(w), len(im.getbands())
        finally:
            Image.MAX_IMAGE_PIXELS = limit
    except Exception:  # any file Pillow cannot open is left to the reader's message
        return None


def image_headers(paths):
    """The :func:`image_header` of every picture of ``paths``, or None when there is none or one
    header cannot be read (the sizes are then known only once the pictures are decoded)."""
    shapes = [image_header(f) for f in paths]
    return shapes if shapes and all(sh is not None for sh in shapes) else None


def _kind_of(path: Path) -> str:
    ext = path.suffix.lower()
    if ext in IMAGE_EXT:
        return "image"
    if ext in AUDIO_EXT:
        return "audio"
    raise ValidationError(f"unsupported file type {ext or '(none)'!r} of {path.name}; "
                          f"use an image ({', '.join(sorted(IMAGE_EXT))}) or .wav.")


def _load_basis(basis: str):
    if basis in ("dct", "wavelet"):
        return basis
    p = Path(basis)
    if p.suffix.lower() != ".npz":
        raise ValidationError(f"--basis must be 'dct', 'wavelet' or a dictionary .npz file, got {basis!r}.")
    if not p.is_file():
        raise ValidationError(f"--basis file {basis!r} does not exist.")
    return _read_dictionary(basis)


def _bad_basis(path, why):
    return ValidationError(f"--basis file {os.fspath(path)!r} is not a usable dictionary .npz: {why}.")


def _read_dictionary(path) -> np.ndarray:
    """The dictionary of a user's ``.npz`` (the array named 'dictionary', or its only array) as a
    finite 2-D float64 array; opened like a model file (never unpickled), and every damaged or
    wrong file refused with one message naming it."""
    import zipfile
    import zlib

    from .._archive import open_archive

    with open_archive(path, _bad_basis) as npz:
        names = list(npz.files)
        if not names:
            raise _bad_basis(path, "it holds no array")
        if "dictionary" in names:
            key = "dictionary"
        elif len(names) == 1:
            key = names[0]
        else:
            raise _bad_basis(path, f"it holds the arrays {', '.join(map(repr, names))} and none is named "
                                   f"'dictionary'")
        try:
            size = npz.zip.getinfo(f"{key}.npy").file_size
            avail = _available_memory()
            if avail is not None and size > avail:
                raise _bad_basis(path, f"array {key!r} takes {size / 2**30:.1f} GiB, more than the memory available")
            D = npz[key]
        except ValueError as exc:  # object arrays (allow_pickle=False), a damaged .npy header
            if "pickle" in str(exc) or "bject" in str(exc):
                raise _bad_basis(path, f"array {key!r} holds Python objects, which are never unpickled") from None
            raise _bad_basis(path, f"array {key!r} cannot be read ({str(exc).splitlines()[0]})") from None
        except (OSError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile, zlib.error) as exc:
            raise _bad_basis(path, f"array {key!r} is damaged ({type(exc).__name__}: {exc})") from None
    if D.dtype.kind not in "fiu":
        raise _bad_basis(path, f"array {key!r} has dtype {D.dtype}; expected real numbers")
    if D.ndim != 2 or D.size == 0:
        raise _bad_basis(path, f"array {key!r} has shape {D.shape}; expected a non-empty 2-D dictionary "
                               f"(n_features, n_atoms)")
    D = D.astype(np.float64)
    if not np.all(np.isfinite(D)):
        raise _bad_basis(path, f"array {key!r} holds NaN or Inf values")
    return D


def _available_memory():
    """Bytes this process can still allocate: MemAvailable (else the free pages), capped by what
    RLIMIT_AS leaves; None when the system says nothing."""
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            avail = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            pass
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY:
            used = 0
            with open("/proc/self/status") as fh:
                used = next((int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize:")), 0)
            avail = max(0, soft - used) if avail is None else min(avail, max(0, soft - used))
    except (ImportError, OSError, ValueError, IndexError):
        pass
    return avail


def _check_memory(n_floats, what):
    """Refuse, before any work, a run whose arrays (``n_floats`` float64 values, a rough upper
    estimate from the sizes) cannot fit in the memory available."""
    need = 8 * int(n_floats)
    avail = _available_memory()
    if avail is not None and need > avail:
        raise ValidationError(f"{what} needs about {need / 2**30:.1f} GiB of memory, more than the "
                              f"{avail / 2**30:.1f} GiB available; use smaller sizes.")


def _check_measurements(ratio, n, what):
    """``--ratio`` must give at least one measurement per block or frame of ``n`` values."""
    if int(round(ratio * n)) < 1:
        raise ValidationError(f"--ratio {ratio:g} gives no measurement per {what}; the smallest usable "
                              f"--ratio for that size is {1 / n:.3g}.")


def _reconstruct(args) -> int:
    from ..data import read_wav, wav_format, write_image, write_wav
    from ..signals.audio import DEFAULT_AUDIO_METHOD, audio_quality, compressive_audio
    from ..signals.image import DEFAULT_IMAGE_METHOD, compressive_image, whole_image_cs
    from ..signals.methods import get_method, list_methods

    path = Path(args.input)
    if path.is_dir():
        raise ValidationError(f"input {args.input!r} is a folder; give an image or .wav file.")
    kind = _kind_of(path)
    if not path.is_file():
        raise ValidationError(f"input file {args.input!r} does not exist.")
    if not (0.0 < args.ratio <= 1.0):
        raise ValidationError(f"--ratio must be in (0, 1], got {args.ratio}.")
    check_int("--seed", args.seed, low=0)
    if args.hop is None:  # half a frame, whatever --frame-length (a model's hop is taken below)
        args.hop = max(1, args.frame_length // 2)
    if args.model is not None:
        if os.path.isdir(args.model):
            raise ValidationError(f"--model {args.model!r} is a folder; give a model file (.npz).")
        if not os.path.isfile(args.model):
            raise ValidationError(f"--model file {args.model!r} does not exist.")
    elif args.method == "lista":
        raise ValidationError("--method lista needs --model FILE (a network saved by cs-toolkit train).")
    out = args.out if args.out is not None else path.with_name(  # an empty --out is refused below
        f"{path.stem}_cs{path.suffix if kind == 'audio' else '.png'}")
    if kind == "image":
        check_output_file(out, "--out", exts=IMAGE_WRITE_EXT, what="an image reconstruction")
    else:
        check_output_file(out, "--out", exts=AUDIO_EXT, what="an audio reconstruction")
    check_not_same(out, "--out", [(path, "the input file"),
                                  (args.basis if args.basis not in ("dct", "wavelet") else None, "the --basis file"),
                                  (args.model, "the --model file")])
    basis = _load_basis(args.basis)
    opts = {"basis": basis}
    if args.model:  # the model's own sensing settings, or a message naming the option that differs
        from ._models import apply_model_settings

        for notice in apply_model_settings(args, kind, args.given):
            print(notice, file=sys.stderr if args.json else sys.stdout)
        opts["model"] = args.model
    why = None
    if args.method is None:  # the learned method when its bundled model serves these settings, else classical
        from ..signals.methods import default_method

        size = {"block_size": args.block_size} if kind == "image" else {"frame_length": args.frame_length,
                                                                         "hop": args.hop}
        args.method, why = default_method(kind, ratio=args.ratio, matrix=args.matrix, basis=args.basis, **size)
    if kind == "image":  # sizes that cannot work are refused before anything is read or allocated
        B = check_int("--block-size", args.block_size, low=2, high=256)
        if (args.method or DEFAULT_IMAGE_METHOD) != "whole":
            _check_measurements(args.ratio, B * B, f"{B}x{B} block (--block-size {B})")
    else:
        N = check_int("--frame-length", args.frame_length, low=4)
        check_int("--hop", args.hop, low=1, high=N)
        _check_measurements(args.ratio, N, f"frame of {N} samples (--frame-length {N})")
    if args.float32:
        from ..signals.image import FLOAT32_METHODS

        chosen = args.method or (DEFAULT_IMAGE_METHOD if kind == "image" else DEFAULT_AUDIO_METHOD)
        if kind != "image" or chosen not in FLOAT32_METHODS:
            raise ValidationError(f"--float32 is for the image methods {', '.join(FLOAT32_METHODS)}; "
                                  f"got {kind} method {chosen}.")
        opts["dtype"] = "float32"
    no_basis = ("pnp_lr", "pnp_nl", "pnp_nl_learned", "pnp_dct", "pnp_tv", "bcs_spl", "tnrd", "lista", "whole", "joint_learned")
    if args.method in no_basis and not (isinstance(basis, str) and basis == "dct"):
        raise ValidationError(f"--basis is used by the per-block (per-frame) solvers and by joint; method "
                              f"{args.method} has its own transform and would ignore --basis {args.basis!r}.")
    if not isinstance(basis, str):  # a dictionary's atoms must be as long as a block or frame
        rows = basis.shape[0]
        if kind == "image" and rows != B * B:
            side = math.isqrt(rows)
            hint = (f"use --block-size {side}" if side * side == rows
                    else "its row count is not a square, so it is no image-patch dictionary")
            raise ValidationError(f"--basis {args.basis!r} has atoms of {rows} values, but --block-size {B} needs "
                                  f"{B * B}; {hint}.")
        if kind == "audio" and rows != N:
            raise ValidationError(f"--basis {args.basis!r} has atoms of {rows} values, but --frame-length {N} "
                                  f"needs {N}; use --frame-length {rows}.")
    t0 = time.perf_counter()
    if kind == "image":
        method = args.method or DEFAULT_IMAGE_METHOD
        per_pixel = get_method("image", method).floats_per_pixel if method in list_methods("image") else 30

        def check_size(H, W, C):  # before the picture is decoded when its header tells its size
            if min(H, W) < args.block_size:
                raise ValidationError(f"image {path.name} of size {H}x{W} is smaller than "
                                      f"one block of {args.block_size}x{args.block_size}; use --block-size.")
            n = args.block_size**2
            m = max(1, int(round(args.ratio * n)))
            n_px = -(-H // args.block_size) * -(-W // args.block_size) * n  # padded to whole blocks
            decode = H * W * (C + 2)  # float64 decoding (every channel), its grey version
            _check_memory(decode + (40 * H * W if method == "whole" else
                                    8 * m * n + n * n + n_px // n * m + per_pixel * n_px),
                          f"reconstructing the {H}x{W} image {path.name} in blocks of --block-size {args.block_size}")

        header = image_header(path)
        if header is not None:
            check_size(*header)
        img = read_grey([path], out=sys.stderr if args.json else sys.stdout)[0]
        img8 = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
        if header is None or header[:2] != img8.shape[:2]:  # no header, or one that told another size
            check_size(*img8.shape[:2], 1)
        if method == "whole":  # whole-image CS with a structured operator (--matrix srdct, srht, ...)
            operator = "srdct" if args.matrix == "gaussian" else args.matrix
            rec, q = whole_image_cs(img8, args.ratio, operator=operator, rng=args.seed)
            q["matrix"] = operator
        else:
            rec, q = compressive_image(img8, args.ratio, method=method, block_size=args.block_size,
                                       matrix=args.matrix, rng=args.seed, progress=not args.json, **opts)
        write_image(out, rec / 255.0)  # write_image takes floats in [0, 1]
    else:
        method = args.method or DEFAULT_AUDIO_METHOD
        x, rate = read_wav(path)
        n_samples, N = x.shape[0], args.frame_length
        if N > n_samples:
            raise ValidationError(f"{path.name} has {n_samples} samples, fewer than one frame of --frame-length "
                                  f"{N}; use --frame-length {n_samples} or less, or a longer clip.")
        m = max(1, int(round(args.ratio * N)))
        K = N if isinstance(basis, str) else basis.shape[1]
        n_frames = (n_samples + 2 * N) // args.hop + 1
        n_ch = x.shape[1] if x.ndim == 2 else 1
        _check_memory(4 * m * N + N * K + m * K + K * K + n_ch * n_frames * (4 * N + m + 8 * K),
                      f"reconstructing {n_samples} samples in frames of --frame-length {N} (--hop {args.hop})")
        if isinstance(opts["basis"], str) and opts["basis"] == "wavelet":
            raise ValidationError("--basis wavelet is for images; use dct or a dictionary .npz for audio.")
        rec, q = compressive_audio(x, args.ratio, method=method, frame_length=args.frame_length, hop=args.hop,
                                   matrix=args.matrix, rng=args.seed, **opts)
        # the input's sample format where write_wav has it (float WAV in, float WAV out: nothing clipped)
        fmt = {"float32": "float32", "float64": "float32", "int32": "int32"}.get(wav_format(path), "int16")
        peak = float(np.max(np.abs(rec))) if rec.size else 0.0
        if fmt != "float32" and peak > 1.0:
            print(f"note: the reconstruction peaks at {peak:.3g}, beyond the range of {fmt} samples (those of "
                  f"{path.name}); {int(np.count_nonzero(np.abs(rec) > 1.0))} samples are clipped to [-1, 1].",
                  file=sys.stderr if args.json else sys.stdout)
        write_wav(out, rec, rate, sample_format=fmt)
        q.update(audio_quality(x, read_wav(out)[0]))  # the quality of what was written (clipped, quantised)
        q.update(rate=int(rate), sample_format=fmt)
    q.update(input=str(path), output=str(out), kind=kind, seed=args.seed,
             total_time=time.perf_counter() - t0, method_chosen_because=why)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in q.items()}))
    else:
        if kind == "image":
            print(f"PSNR {q['psnr']:.2f} dB   SSIM {q['ssim']:.4f}")
        else:
            print(f"SNR {q['snr']:.2f} dB   segmental SNR {q['seg_snr']:.2f} dB")
        print(f"method {q['method']}, ratio {q['ratio']}, matrix {q['matrix'] if 'matrix' in q else args.matrix}, "
              f"{q['n_measurements']} measurements per {'block' if kind == 'image' else 'frame'}, seed {args.seed}")
        print(f"reconstruction time {q['time']:.2f} s; written to {out}"
              + (f" ({q['sample_format']} samples)" if kind == "audio" else ""))
        if why:
            print(f"(no --method given: {q['method']} is {why})")
    return 0


def _figure(panels, titles, path, kind, *, rate=None):
    """Save the three panels original, reconstruction, error side by side (image) or stacked (audio).

    Image panels are 8-bit grey levels: the first two are drawn on the fixed 0-255 grey scale, the
    error panel in a colour map with a labelled colour bar. Audio panels are plotted against time in
    seconds (``rate`` samples per second). The layout is constrained, so no title or label is clipped.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = kind == "image"
    fig, axes = plt.subplots(1 if image else 3, 3 if image else 1, figsize=(14, 4.8) if image else (10, 7.5),
                             layout="constrained", sharex=not image, sharey=not image)
    for i, (ax, p, t) in enumerate(zip(np.ravel(axes), panels, titles, strict=True)):
        if image:
            if i == 2:  # the error panel
                im = ax.imshow(p, cmap="magma", vmin=0)
                fig.colorbar(im, ax=ax, shrink=0.9).set_label("absolute error (grey levels, of 255)")
            else:
                ax.imshow(p, cmap="gray", vmin=0, vmax=255)
            ax.axis("off")
        else:
            ax.plot(np.arange(len(p)) / rate, p, lw=0.6)
            ax.set_ylabel("amplitude")
            ax.grid(alpha=0.3)
        ax.set_title(t)
    if not image:
        axes[-1].set_xlabel("time (s)")
        axes[-1].set_xlim(0, len(panels[0]) / rate)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)


def _demo(args) -> int:
    from ..data import load_audio, load_image, write_image, write_wav
    from ..signals.audio import compressive_audio
    from ..signals.image import DEFAULT_IMAGE_METHOD, compressive_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Progress bars (stderr; leave=False, closed by compressive_image when each method ends) only on a
    # terminal: piped or logged output gets no carriage-return bars mixed into the result table.
    import sys

    bars = sys.stderr.isatty()
    rows = []
    img = load_image("camera")
    if args.quick:
        img = img[128:256, 192:320]
    elif img.shape[0] > 256:
        img = img[::2, ::2]
    img8 = np.round(img * 255).astype(np.uint8)
    opts = {"max_iter": 30} if args.quick else {}
    from ..signals.methods import default_method

    chosen, _ = default_method("image", ratio=args.ratio)  # the learned default where a bundled model serves
    learned = chosen if chosen != DEFAULT_IMAGE_METHOD else "tnrd"
    for method in dict.fromkeys(("bcs_spl", DEFAULT_IMAGE_METHOD, learned)):  # classical, best classical, learned
        kw = {} if method == "tnrd" else opts
        rec, q = compressive_image(img8, args.ratio, method=method, rng=0, progress=bars, **kw)
        write_image(out / f"camera_{method}.png", rec / 255.0)
        err = np.abs(img8.astype(float) - rec.astype(float))
        _figure([img8, rec, err],
                [f"original ({img8.shape[0]}x{img8.shape[1]} pixels)",
                 f"{method}, ratio {args.ratio}: PSNR {q['psnr']:.2f} dB, SSIM {q['ssim']:.3f}",
                 "absolute error |original - reconstruction|"],
                out / f"camera_{method}_figure.png", "image")
        rows.append(("camera", method, f"PSNR {q['psnr']:.2f} dB, SSIM {q['ssim']:.3f}", q["time"]))
    clip = "0_jackson_0"
    x, rate = load_audio(clip)
    learned, _ = default_method("audio", ratio=args.ratio)  # the learned method, where a bundled model serves
    for method in dict.fromkeys(("omp", "joint", learned)):  # per frame, joint (classical), learned
        rec, q = compressive_audio(x, args.ratio, method=method, rng=0, progress=bars,
                                   **({"max_iter": 150} if (args.quick and method == "joint") else {}))
        write_wav(out / f"{clip}_{method}.wav", np.clip(rec, -1, 1 - 2**-15), rate)
        _figure([x, rec, x - rec],
                [f"original: {clip}.wav ({len(x) / rate:.2f} s at {rate} Hz)",
                 f"{method}, ratio {q['ratio']}: SNR {q['snr']:.2f} dB, segmental SNR {q['seg_snr']:.2f} dB",
                 "error (original - reconstruction)"],
                out / f"{clip}_{method}_figure.png", "audio", rate=rate)
        rows.append((clip, method, f"SNR {q['snr']:.2f} dB, segSNR {q['seg_snr']:.2f} dB", q["time"]))
    sys.stderr.flush()  # all work (and every bar) is done before the table is printed
    print("| input | method | quality | time (s) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:.2f} |")
    print(f"figures and reconstructions written to {out}{os.sep}")
    return 0


def _demo_checked(args) -> int:
    """``demo``, its ratio and output folder checked first (cli/_paths.py: created only inside an
    existing folder), so that a refused run leaves no folder behind."""
    if not (0.0 < args.ratio <= 1.0):
        raise ValidationError(f"--ratio must be in (0, 1], got {args.ratio}.")
    _check_measurements(args.ratio, 32 * 32, "32x32 image block of the demo")
    _check_measurements(args.ratio, 256, "audio frame of 256 samples of the demo")
    check_output_dir(args.out, "--out")
    return _demo(args)


def _collect(inputs, exts):
    files = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.suffix.lower() in exts and f.is_file())  # no folders
        elif p.is_file():
            if p.suffix.lower() not in exts:
                raise ValidationError(f"unsupported file type {p.suffix!r} for this --kind: {p.name}.")
            files.append(p)
        else:
            raise ValidationError(f"input {s!r} does not exist.")
    if not files:
        raise ValidationError(f"no training files with extension {', '.join(sorted(exts))} found in the inputs.")
    return files


def _train_dict(args) -> int:
    from .. import dictionary
    from ..data import read_wav
    from ..transforms import frames_from_audio, patches_from_images

    if args.atoms < 2 or args.sparsity < 1 or args.sparsity > args.atoms:
        raise ValidationError(f"--atoms must be >= 2 and 1 <= --sparsity <= --atoms; got {args.atoms}, {args.sparsity}.")
    max_iter = None if args.max_iter is None else check_int("--max-iter", args.max_iter, low=1)  # 0: untrained
    check_int("--max-signals", args.max_signals, low=1)
    check_int("--seed", args.seed, low=0)
    check_checkpoint(args.checkpoint, args.checkpoint_every)
    check_output_file(args.out, "--out", exts={".npz"}, what="a dictionary")
    if args.checkpoint is not None:
        check_not_same(args.checkpoint, "--checkpoint", [(args.out, "the --out file")])
    check_not_same(args.out, "--out", [(f, "an input file") for f in args.inputs if os.path.isfile(f)])
    rng = np.random.default_rng(args.seed)
    imgs = None
    if args.kind == "image":
        p = check_int("--patch-size", args.patch_size, low=2)
        files = _collect(args.inputs, IMAGE_EXT)
        shapes = image_headers(files)  # sizes from the headers: memory checked before decoding
        if shapes is None:
            imgs = read_grey(files)
            shapes = [(*im.shape[:2], 1) for im in imgs]
        small = [f"{f.name} ({h}x{w})" for f, (h, w, _) in zip(files, shapes) if min(h, w) < p]
        if small:
            raise ValidationError(f"--patch-size {p} is larger than the image(s) {', '.join(small)}; "
                                  f"use a smaller --patch-size or leave those images out.")
        step = max(1, p // 2)
        total = sum(((h - p) // step + 1) * ((w - p) // step + 1) for h, w, _ in shapes)
        # the grey pictures are all kept; the largest is decoded in float64 with every channel first
        rows, dim = min(total, args.max_signals), p * p
        extra = sum(h * w for h, w, _ in shapes) + max(h * w * (c + 1) for h, w, c in shapes)
    else:
        N = check_int("--frame-length", args.frame_length, low=4)
        sigs = [read_wav(f)[0] for f in _collect(args.inputs, AUDIO_EXT)]
        sigs = [s if s.ndim == 1 else s.mean(axis=1) for s in sigs]
        longest = max(s.shape[0] for s in sigs)
        if N > longest:
            raise ValidationError(f"--frame-length {N} is longer than every training clip (the longest has "
                                  f"{longest} samples); use --frame-length {longest} or less.")
        total = sum(max(1, (s.shape[0] - N) // (N // 2) + 1) for s in sigs)
        rows, dim, extra = min(total, args.max_signals), N, 2 * total * N  # all frames are cut before the cap
    _check_memory(extra + 3 * rows * dim + 2 * rows * args.atoms + 3 * dim * args.atoms + args.atoms**2,
                  f"learning {args.atoms} atoms of {dim} values from {rows} training rows")
    if args.kind == "image":
        imgs = read_grey(files) if imgs is None else imgs
        X = patches_from_images(imgs, p, step=step, remove_mean=False, max_patches=args.max_signals, rng=rng)
    else:
        X = frames_from_audio(sigs, N, N // 2, drop_silent=1e-4)
        if X.shape[0] > args.max_signals:
            X = X[rng.choice(X.shape[0], args.max_signals, replace=False)]
    func = {"ksvd": dictionary.ksvd, "mod": dictionary.mod, "online": dictionary.online_dictionary_learning}[args.method]
    if max_iter is None and args.method != "online":
        max_iter = 20  # train-dict's default for ksvd and mod (online: one pass over the rows)
    kw = {} if max_iter is None else {"max_iter": max_iter}
    if args.checkpoint is not None:
        kw["checkpoint"] = args.checkpoint
        if args.checkpoint_every is not None:
            kw["checkpoint_every"] = args.checkpoint_every
        ckpt = with_npz_suffix(args.checkpoint)
        if os.path.isfile(ckpt):
            print(f"resuming from checkpoint {ckpt}")
    res = func(X, args.atoms, n_nonzero_coefs=args.sparsity, rng=rng, progress=True, **kw)
    out = atomic_savez(args.out, {"dictionary": res.dictionary, "kind": np.array(args.kind),
                                  "method": np.array(args.method), "sparsity": np.array(args.sparsity)})
    err = res.history["error"][-1] if res.history.get("error") else float("nan")
    print(f"learned a {res.dictionary.shape[0]}x{res.dictionary.shape[1]} dictionary from {X.shape[0]} "
          f"{'patches' if args.kind == 'image' else 'frames'} ({args.method}); relative error {err:.4f}; "
          f"written to {out}")
    return 0

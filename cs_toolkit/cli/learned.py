"""``cs-toolkit train``: train a learned unrolled reconstructor and save it.

Synthetic problem (default): ``A`` is ``m x n`` Gaussian N(0, 1/m) with unit-norm
columns (drawn from ``--seed``), codes are Bernoulli(``--p``)-Gaussian.

Real signals (``--data DIR``): every image (png, jpg, tif, bmp) in ``DIR`` is cut
into non-overlapping ``block x block`` patches (pixels on [0, 1]), every ``.wav`` into
sine-windowed frames of ``block * block`` samples with a hop of half a frame (how
``reconstruct`` cuts a clip), each clip scaled so that its loudest frame has unit
energy; the codes are the orthonormal DCT coefficients (2-D for patches, 1-D for
frames) and ``A`` is the matrix ``cs-toolkit reconstruct --seed SEED`` draws for
that block (frame) size and ``--ratio`` (Gaussian with orthonormal rows). The model
file stores ``A``, the basis and these settings, so ``cs-toolkit reconstruct FILE
--model MODEL`` measures and reconstructs the way the model was trained, and
``cs_toolkit.learned.load_model(path).reconstruct(Y)`` gives signals back.

``--model tnrd --data DIR`` trains the learned image reconstructor instead
(trained diffusion stages, ``reconstruct --method tnrd --model FILE``): the grey
versions of the images in ``DIR`` are measured in 32 x 32 blocks at every
``--ratios`` value, reconstructed by BCS-SPL, and ``--stages`` stages learn to
turn those starts into the images (``--iterations`` L-BFGS iterations; every
fifth image, when there are at least five, is held out for validation).
``--model pnp_nl_learned --data DIR`` trains the learned non-local stages the same
way, by default as the bundled model was trained: from ``pnp_lr`` reconstructions
(``--start``), filtering each group of patches in its principal axes (``--basis``), steps
bounded by 2, on the mean PSNR of the pictures, L-BFGS preconditioned
(``cs_toolkit.signals.NL_RECIPE``; ``reconstruct --method pnp_nl_learned --model FILE``).
``--model joint_learned --data DIR`` trains the learned speech reconstructor on the ``.wav``
clips of ``DIR`` (the joint overlapping-frame recovery unrolled, ``--layers`` layers with
per-frequency thresholds, steps and momenta per ratio of ``--ratios``; frames of ``block**2``
samples, hop half a frame; ``--max-steps`` Adam steps of ``--batch-size`` clips; every fifth clip,
when there are at least five, held out for validation, which keeps the best stages and tunes the
tail; ``reconstruct --method joint_learned --model FILE``).

``--pretrain`` (``lista``, ``lista_cp``, ``lista_cpss``) trains the tied ALISTA
form of the network first and then fine-tunes every weight in one stage
(``cs_toolkit.learned.pretrain_and_fine_tune``): far fewer steps than the
layer-wise schedule of the free weights, and on the standard problem far better.

With ``--checkpoint PATH`` the training state is saved atomically every
``--checkpoint-every`` steps and at the end of every stage; running the same
command again after an interruption resumes from it and ends with the same
model as an uninterrupted run (with ``--pretrain`` the fine-tuning writes
``PATH`` with ``-finetune`` added to its stem). For ``tnrd`` and ``pnp_nl_learned``
the checkpoint is the log of the L-BFGS run, written after every iteration
(``--checkpoint-every`` does not apply); the rerun replays it and goes on, bit for bit. For
``joint_learned`` it is written after every evaluation (every 25 steps).
"""

from __future__ import annotations

import os

import numpy as np

from .._atomic import with_npz_suffix
from ..exceptions import ValidationError
from ._paths import check_checkpoint, check_not_same, check_output_file
from .signals import Given  # marks the options the user typed (args.given)

_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a learned reconstructor (LISTA family, image stages, speech network) and save it to .npz",
        description=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--model", default="alista",
                   help="lista, lista_cp, lista_cpss, alista, fista, lamp, or tnrd / pnp_nl_learned "
                        "(images, with --data), or joint_learned (speech, with --data; default alista)")
    p.add_argument("--ratios", default="0.1,0.25,0.5",
                   help="measurement ratios of --model tnrd / pnp_nl_learned / joint_learned (default 0.1,0.25,0.5)")
    p.add_argument("--stages", action=Given, type=int, default=None,
                   help="stages of --model tnrd / pnp_nl_learned (default: the bundled models', 6 / 12)")
    p.add_argument("--iterations", action=Given, type=int, default=None,
                   help="L-BFGS iterations of --model tnrd / pnp_nl_learned (default: the bundled models', 80 / 20)")
    # NL_RECIPE's start and basis and the NL_STARTS / NL_BASES choices, written out so that the parser
    # does not import cs_toolkit.signals (start-up time); a test keeps them equal.
    p.add_argument("--start", action=Given, default="pnp_lr", choices=("pnp_nl", "pnp_lr"),
                   help="--model pnp_nl_learned: the classical loop the stages continue (default pnp_lr)")
    p.add_argument("--basis", action=Given, default="pca", choices=("pca", "dct"),
                   help="--model pnp_nl_learned: the transform along a group of patches, its principal axes "
                        "(default) or the DCT")
    p.add_argument("--m", action=Given, type=int, default=250, help="measurements of the synthetic problem (default 250)")
    p.add_argument("--n", action=Given, type=int, default=500, help="code length of the synthetic problem (default 500)")
    p.add_argument("--p", action=Given, type=float, default=0.1, help="non-zero probability of synthetic codes (default 0.1)")
    p.add_argument("--layers", action=Given, type=int, default=None, help="number of layers (default 16; joint_learned 40, with --quick 10)")
    p.add_argument("--snr", action=Given, type=float, default=None, help="measurement SNR in dB (default: noiseless)")
    p.add_argument("--data", default=None, help="directory of images and/or .wav files to train on")
    p.add_argument("--ratio", action=Given, type=float, default=0.25, help="measurement ratio m / block**2 with --data")
    p.add_argument("--block", action=Given, type=int, default=16, help="patch side (images) with --data; frames are block**2")
    p.add_argument("--out", required=True, help="output model file (.npz)")
    p.add_argument("--quick", action="store_true", help="tiny schedule (smoke test)")
    p.add_argument("--seed", type=int, default=0, help="random seed (matrix, data, training)")
    p.add_argument("--lr", action=Given, type=float, default=None,
                   help="Adam learning rate of the weight matrices (default 1e-3; joint_learned: of its parameters, 0.01)")
    p.add_argument("--batch-size", action=Given, type=int, default=None, help="mini-batch size (default 64; joint_learned 4 clips)")
    p.add_argument("--max-steps", action=Given, type=int, default=None, help="most steps per stage (default 400; with --quick 30, joint_learned 20)")
    p.add_argument("--patience", action=Given, type=int, default=None, help="early-stopping patience in steps (default 100)")
    p.add_argument("--lr-scalar", action=Given, type=float, default=0.05,
                   help="learning rate of the per-layer thresholds and steps, relative to their size (default 0.05)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (.npz), written atomically during training; resumes from it when it exists")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="steps between checkpoints (default 200; needs --checkpoint)")
    p.add_argument("--pretrain", action="store_true",
                   help="lista, lista_cp, lista_cpss: train the tied ALISTA form first, then fine-tune every weight "
                        "(far fewer steps; see cs_toolkit.learned.pretrain_alista)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_train_cmd)


def _check_outputs(args, *, every_applies=True) -> None:
    """``--out`` and ``--checkpoint`` checked before any work: writable, with the right extension,
    and not the same file (a checkpoint written over the model, or the model over the checkpoint,
    would be read back as a damaged checkpoint on the next run); ``--checkpoint-every`` only with
    ``--checkpoint`` (and only where it applies)."""
    check_output_file(args.out, "--out", exts={".npz"}, what="a model")
    if args.checkpoint_every is not None and args.checkpoint is not None and not every_applies:
        raise ValidationError(f"--checkpoint-every does not apply to --model {args.model} (its checkpoint "
                              "is written at fixed points); leave it out.")
    check_checkpoint(args.checkpoint, args.checkpoint_every)
    if args.checkpoint is not None:
        from ..learned.checkpoint import finetune_checkpoint

        check_not_same(args.out, "--out", [(args.checkpoint, "the --checkpoint file")]
                       + ([(finetune_checkpoint(args.checkpoint), "the fine-tuning checkpoint of --checkpoint")]
                          if getattr(args, "pretrain", False) else []))


#: The options of ``train`` that a --model family does not read (refused when typed).
_UNUSED = {"images": ("--layers", "--lr", "--max-steps", "--batch-size", "--patience", "--lr-scalar", "--pretrain",
                      "--m", "--n", "--p", "--block", "--ratio", "--snr"),
           "joint_learned": ("--stages", "--iterations", "--start", "--basis", "--m", "--n", "--p", "--ratio",
                             "--snr", "--patience", "--lr-scalar", "--pretrain"),
           "lista": ("--stages", "--iterations", "--start", "--basis")}
_UNUSED["tnrd"] = (*_UNUSED["images"], "--start", "--basis")  # the loop and basis of pnp_nl_learned


def _refuse_unused(args, family) -> None:
    """Refuse, naming it, the first option the user typed that ``--model`` (of ``family``) ignores."""
    given = getattr(args, "given", frozenset()) | ({"pretrain"} if args.pretrain else set())
    for flag in _UNUSED[family]:
        if flag[2:].replace("-", "_") in given:
            raise ValidationError(f"{flag} does not apply to --model {args.model}; leave it out.")


def _image_memory(paths, what, per_pixel, check):
    """Refuse, before any picture is decoded, pictures whose sizes (read from their headers) need more
    memory than there is: ``per_pixel`` floats per pixel of every picture kept, and the largest decoded
    in float64 with every channel. Returns the header shapes (None when a header cannot be read: the
    pictures are then checked after reading)."""
    from .signals import image_headers

    shapes = image_headers(paths)
    if shapes is None:
        return None
    check(sum(h * w for h, w, _ in shapes) * per_pixel + max(h * w * (c + 1) for h, w, c in shapes), what)
    return shapes


def _dct_matrix(b):
    """Orthonormal DCT-II analysis matrix ``C`` (``c = C s``), shape (b, b)."""
    from scipy.fft import dct

    return dct(np.eye(b), norm="ortho", axis=0)


def _read_clips(path, names, length):
    """The ``.wav`` files among ``names`` in the folder ``path``, mono (channels averaged), of at
    least ``length`` samples, in the order of ``names``."""
    from ..data import read_wav

    clips = []
    for name in names:
        if name.lower().endswith(".wav") and os.path.isfile(os.path.join(path, name)):  # not a folder
            x = read_wav(os.path.join(path, name))[0]
            x = x.mean(axis=1) if x.ndim == 2 else x
            if x.size >= length:
                clips.append(x)
    return clips


def _load_dir(path, block):
    """The training signals of a folder and their kind: image blocks (``block x block`` pixels on
    [0, 1], rows) or, for ``.wav`` files, one array per clip of its windowed frames of
    ``block**2`` samples (hop half a frame, sine window: how ``reconstruct`` cuts a clip)."""
    from ..transforms import frames
    from .signals import read_grey

    if not os.path.isdir(path):
        raise ValidationError(f"--data must be a directory of images or .wav files, got {path!r}.")
    patches = []
    L = block * block
    names = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))  # files, not folders
    pictures = [os.path.join(path, n) for n in names if n.lower().endswith(_IMAGE_EXT)]
    from .signals import _check_memory

    # each grey picture, its blocks and their concatenation
    _image_memory(pictures, f"reading the pictures of --data {path!r}", 3, _check_memory)
    for img in read_grey(pictures):  # grey, on [0, 1] (colour pictures are converted, with a note)
        h, w = (img.shape[0] // block) * block, (img.shape[1] // block) * block
        if h and w:
            P = img[:h, :w].reshape(h // block, block, w // block, block).swapaxes(1, 2)
            patches.append(P.reshape(-1, block * block))
    clips = [frames(x, L, L // 2, window="sine") for x in _read_clips(path, names, L)]
    if patches and clips:
        raise ValidationError(f"--data {path!r} mixes images and .wav files; use one kind per directory.")
    if not patches and not clips:
        raise ValidationError(f"--data {path!r} holds no usable image or .wav file (at least one block).")
    if patches:
        return np.concatenate(patches), "image"
    return clips, "audio"


def _audio_rows(clips, A, acquisition):
    """Frames of every clip on the training scale (each clip divided by its
    :func:`~cs_toolkit.learned.acquisition.measurement_scale`), silent frames dropped."""
    from ..learned.acquisition import measurement_scale
    from ..signals.audio import SILENCE_FLOOR

    rows = []
    for F in clips:
        norms = np.linalg.norm(F, axis=1)
        F = F[norms > SILENCE_FLOOR * max(float(norms.max()), 1e-300)]
        if F.shape[0]:
            rows.append(F / measurement_scale(F @ A.T, acquisition))
    if not rows:
        raise ValidationError("--data: every .wav file is silent.")
    return np.concatenate(rows)


def _read_images(path, check=None):
    """The grey images of a folder, as float arrays on [0, 1] (sorted by name). ``check(names, shapes,
    decode)`` is called with their ``(height, width)`` before they are decoded when their headers tell
    them (``decode``: the floats the largest takes to decode), else after reading (``decode`` 0)."""
    from .signals import image_headers, read_grey

    if not os.path.isdir(path):
        raise ValidationError(f"--data must be a directory of images, got {path!r}.")
    names = [n for n in sorted(os.listdir(path))
             if n.lower().endswith(_IMAGE_EXT) and os.path.isfile(os.path.join(path, n))]  # not a folder
    if not names:
        raise ValidationError(f"--data {path!r} holds no image ({', '.join(_IMAGE_EXT)}).")
    paths = [os.path.join(path, n) for n in names]
    shapes = image_headers(paths)
    known = shapes is not None
    if check is not None and known:
        check(names, [sh[:2] for sh in shapes], max(h * w * (c + 1) for h, w, c in shapes))
    imgs = [np.asarray(im, dtype=np.float64) for im in read_grey(paths)]
    if check is not None and not known:
        check(names, [im.shape[:2] for im in imgs], 0)
    return imgs, names


def _ratios(text):
    """The ratios of ``--ratios`` (a comma-separated list, each in (0, 1])."""
    from .._validation import check_scalar

    try:
        ratios = [float(r) for r in text.split(",") if r.strip()]
    except ValueError:
        raise ValidationError(f"--ratios must be a comma-separated list of numbers, got {text!r}.") from None
    ratios = [check_scalar("--ratios", r, low=0.0, high=1.0, low_inclusive=False) for r in ratios]
    if not ratios:
        raise ValidationError("--ratios must name at least one ratio.")
    return ratios


def _train_speech(args) -> int:
    """``--model joint_learned``: the joint overlapping-frame speech network (:class:`~cs_toolkit.learned.JointAudioNet`)
    trained on the ``.wav`` clips of ``--data`` (frames of ``--block**2`` samples, hop half a frame); every fifth
    clip, when there are at least five, is held out for validation, which keeps each ratio's best stages, tunes
    the tail and records the ratios where the network beat ``joint`` (``reconstruct --method joint_learned
    --model FILE``)."""
    from .._validation import check_int, check_scalar
    from ..learned import train_joint_audio
    from ..learned.joint_audio import record_default_ratios, tune_tail
    from .signals import _check_memory

    if args.data is None:
        raise ValidationError("--model joint_learned trains on speech: give --data DIR of .wav files.")
    _refuse_unused(args, "joint_learned")
    ratios = _ratios(args.ratios)
    N = check_int("--block", args.block, low=2, high=64) ** 2
    layers = check_int("--layers", (10 if args.quick else 40) if args.layers is None else args.layers, low=1)
    steps = check_int("--max-steps", args.max_steps if args.max_steps is not None else 20 if args.quick else 400, low=1)
    batch = check_int("--batch-size", 4 if args.batch_size is None else args.batch_size, low=1)
    lr = check_scalar("--lr", 0.01 if args.lr is None else args.lr, low=0.0, low_inclusive=False)
    check_int("--seed", args.seed, low=0)
    _check_outputs(args, every_applies=False)  # the checkpoint is written after every evaluation
    if not os.path.isdir(args.data):
        raise ValidationError(f"--data must be a directory of .wav files, got {args.data!r}.")
    clips = [np.asarray(x, dtype=np.float64) for x in _read_clips(args.data, sorted(os.listdir(args.data)), N)
             if np.any(x)]
    if not clips:
        raise ValidationError(f"--data {args.data!r} holds no .wav clip of at least one frame ({N} samples) "
                              "that is not silent.")
    val = clips[4::5] if len(clips) >= 5 else []
    train_clips = [x for i, x in enumerate(clips) if not (len(clips) >= 5 and i % 5 == 4)]
    # measured peaks: 250 + 64 * layers bytes per sample of every clip of a batch (each layer's frames kept
    # for the gradient); the clips themselves besides
    longest = max(x.size for x in clips)
    _check_memory((min(batch, len(train_clips)) * longest * (300 + 70 * layers) + 16 * sum(x.size for x in clips)) / 8,
                  f"training {layers} layers on batches of {batch} clips of --data (the longest {longest} samples; "
                  f"cut the clips shorter, or use a smaller --batch-size or fewer --layers)")
    verbose = not args.quiet
    if verbose:
        print(f"{len(train_clips)} training and {len(val)} validation clips, frames of {N} samples, ratios {ratios}"
              + ("" if val else "; no validation set (fewer than 5 clips): the last stages are kept"))
    net, hist = train_joint_audio(train_clips, validation=val, ratios=ratios, n_layers=layers, frame_length=N,
                                  max_steps=steps, batch_size=batch, lr=lr, rng=args.seed, verbose=verbose,
                                  checkpoint=args.checkpoint)
    if val:
        tune_tail(net, val, verbose=verbose)
        record_default_ratios(net, val, verbose=verbose)
    path = net.save(args.out)
    if verbose:
        print(f"trained in {hist['time_s']:.0f} s; saved {net!r} to {path}")
    return 0


#: Stages and L-BFGS iterations of the bundled image models (``benchmarks/tnrd_images.py`` and
#: ``benchmarks/nl_images.py``' defaults), the defaults of ``--stages`` and ``--iterations``.
_BUNDLED_RECIPE = {"tnrd": (6, 80), "pnp_nl_learned": (12, 20)}


def _train_image_stages(args) -> int:
    """``--model tnrd`` or ``--model pnp_nl_learned``: stages trained on the pictures of ``--data``."""
    from .._validation import check_int
    from ..signals import NL_RECIPE, train_nlstages
    from ..signals.image import train_tnrd
    from .signals import _check_memory

    if args.data is None:
        raise ValidationError(f"--model {args.model} trains on images: give --data DIR.")
    _refuse_unused(args, "tnrd" if args.model == "tnrd" else "images")
    ratios = _ratios(args.ratios)
    bundled = _BUNDLED_RECIPE[args.model]  # (stages, L-BFGS iterations) of the bundled model
    stages = check_int("--stages", bundled[0] if args.stages is None else args.stages, low=1, high=100)
    iters = check_int("--iterations", bundled[1] if args.iterations is None else args.iterations, low=1)
    iters = 3 if args.quick and args.iterations is None else iters  # --iterations beats --quick
    check_int("--seed", args.seed, low=0)
    _check_outputs(args, every_applies=False)  # the checkpoint, the L-BFGS log: written every iteration

    def check(names, shapes, decode):
        small = [n for n, (h, w) in zip(names, shapes) if min(h, w) < 32]
        if small:
            raise ValidationError(f"--data: images smaller than one 32x32 block: {', '.join(small)}.")
        # measured peaks: 4.1-9.1 kB per pixel of the picture in training (its stages' caches, its patch
        # spectra), about 250 bytes per pixel of every picture and ratio kept between evaluations
        big = max(h * w for h, w in shapes)
        _check_memory((big * (1500 + 900 * stages) + 300 * len(ratios) * sum(h * w for h, w in shapes)) / 8 + decode,
                      f"training {stages} stages on the pictures of --data (the largest {big / 1e6:.1f} megapixels; "
                      f"crop or downscale them, or use fewer --stages)")

    imgs, names = _read_images(args.data, check)
    val = imgs[4::5] if len(imgs) >= 5 else []
    train_imgs = [im for i, im in enumerate(imgs) if not (len(imgs) >= 5 and i % 5 == 4)]
    verbose = not args.quiet
    if verbose:
        print(f"{len(train_imgs)} training and {len(val)} validation images, ratios {ratios}" if val else
              f"{len(train_imgs)} training images, ratios {ratios}; no validation set (fewer than 5 images): "
              "the last iterate is kept")
    # without a validation set the progress lines would show 'validation nan dB': a summary instead
    if args.model == "tnrd":
        trainer, extra = train_tnrd, {}
    else:  # the bundled model's recipe by default
        trainer, extra = train_nlstages, {**NL_RECIPE, "start": args.start, "basis": args.basis,
                                          "local": NL_RECIPE["local"] and args.basis == "pca"}
    model, hist = trainer(train_imgs, validation=val, ratios=ratios, n_stages=stages, max_iter=iters,
                          rng=args.seed, verbose=verbose and bool(val), checkpoint=args.checkpoint, **extra)
    if verbose and not val:
        print(f"trained {stages} stages ({len(hist['iterations'])} L-BFGS iterations) in "
              f"{hist['time_s'] + hist['samples_s']:.0f} s")
    path = model.save(args.out)
    if verbose:
        print(f"saved {model!r} to {path}")
    return 0


def _check_network_memory(kind, m, n, layers, what, batch=64):
    """Refuse up front a LISTA-family network that cannot be trained in the memory available. Measured
    peaks (16 layers, m = n / 2): 295 floats per ``m n`` for ``lista`` (a matrix ``n x n`` and one ``n x m``
    per layer, with their gradients and Adam's moments), 122 for ``lista_cp``, 43-47 for the tied
    ``alista`` and ``fista``; the estimate below is above each. A mini-batch of ``batch`` signals keeps
    every layer's codes and measurements for the gradient (about ``layers (2 n + m)`` floats a signal)."""
    from .signals import _check_memory

    tied = kind in ("alista", "fista")
    weights = 50 * m * n + 2 * n * n if tied else layers * (10 * m * n + 5 * n * n) + 16 * m * n
    _check_memory(weights + batch * (layers * (2 * n + m) + 4 * (n + m)),
                  f"training {what} ({layers} layers, batches of --batch-size {batch})")


def _train_cmd(args) -> int:
    from .._validation import check_int, check_scalar
    from ..learned import (
        MODEL_KINDS,
        SyntheticSource,
        make_model,
        pretrain_and_fine_tune,
        train,
        train_reconstructor,
    )
    from ..learned.acquisition import describe_acquisition, make_acquisition
    from ..learned.train import PRETRAIN_KINDS
    from ..signals.image import pipeline_matrix

    if args.model in ("tnrd", "pnp_nl_learned"):
        return _train_image_stages(args)
    if args.model == "joint_learned":
        return _train_speech(args)
    if args.model not in MODEL_KINDS:
        raise ValidationError(f"--model must be one of {', '.join(MODEL_KINDS)}, tnrd, pnp_nl_learned or "
                              f"joint_learned; got {args.model!r}.")
    _refuse_unused(args, "lista")
    layers = check_int("--layers", 16 if args.layers is None else args.layers, low=1)
    check_int("--seed", args.seed, low=0)
    opts = dict(lr=check_scalar("--lr", 1e-3 if args.lr is None else args.lr, low=0.0, low_inclusive=False),
                batch_size=check_int("--batch-size", 64 if args.batch_size is None else args.batch_size, low=1),
                max_steps=30 if args.quick else 400, patience=15 if args.quick else 100,
                eval_every=5 if args.quick else 20,
                lr_scalar=check_scalar("--lr-scalar", args.lr_scalar, low=0.0, low_inclusive=False),
                refine=(0.3,), refine_last=(0.03,))
    _check_outputs(args)
    if args.checkpoint is not None:
        opts["checkpoint"] = args.checkpoint
        opts["checkpoint_every"] = 200 if args.checkpoint_every is None else args.checkpoint_every
    if args.pretrain and args.model not in PRETRAIN_KINDS:
        raise ValidationError(f"--pretrain needs --model lista, lista_cp or lista_cpss, got {args.model!r}.")
    finetune = dict(max_steps=30, patience=15, eval_every=5, batch_size=64) if args.quick else None
    if args.max_steps is not None:
        opts["max_steps"] = check_int("--max-steps", args.max_steps, low=1)
    if args.patience is not None:
        opts["patience"] = check_int("--patience", args.patience, low=1)
    batch = max(opts["batch_size"], 256 if args.pretrain and not args.quick else 0)  # fine-tuning: 256
    rng = np.random.default_rng(args.seed)
    verbose = not args.quiet
    if args.data is None:
        m = check_int("--m", args.m, low=1)
        n = check_int("--n", args.n, low=1)
        _check_network_memory(args.model, m, n, layers, f"--model {args.model} with --m {m}, --n {n}", batch)
        A = rng.standard_normal((m, n)) / np.sqrt(m)
        A /= np.linalg.norm(A, axis=0)
        source = SyntheticSource(A, p=args.p, snr_db=args.snr, rng=rng)
        model = make_model(args.model, A, layers)
        n_val = 200 if args.quick else 1000
        if args.pretrain:
            pretrain_and_fine_tune(model, source, rng=rng, verbose=verbose, n_val=n_val, finetune=finetune, **opts)
        else:
            train(model, source, rng=rng, verbose=verbose, n_val=n_val, **opts)
    else:
        block = check_int("--block", args.block, low=2, high=64)
        ratio = check_scalar("--ratio", args.ratio, low=0.0, high=1.0, low_inclusive=False)
        nf = block * block
        m = max(1, int(round(ratio * nf)))
        _check_network_memory(args.model, m, nf, layers, f"--model {args.model} with --block {block}, "
                              f"--ratio {ratio:g}", batch)
        S, kind = _load_dir(args.data, block)
        C = _dct_matrix(block)
        Psi = np.kron(C, C).T if kind == "image" else _dct_matrix(nf).T
        # the matrix `reconstruct --seed SEED` draws for these settings, so the model can be used there
        A, _ = pipeline_matrix("gaussian", m, nf, args.seed)
        acquisition = make_acquisition(kind, block_size=block if kind == "image" else nf, ratio=ratio,
                                       matrix="gaussian", seed=args.seed)
        if kind == "audio":
            S = _audio_rows(S, A, acquisition)
        if verbose:
            print(f"{S.shape[0]} {kind} {'blocks' if kind == 'image' else 'frames'} of {nf} samples, m = {m}; "
                  f"{describe_acquisition(acquisition)}")
        if args.pretrain:
            opts["finetune"] = finetune
        model, _ = train_reconstructor(S, A, Psi, kind=args.model, n_layers=layers, snr_db=args.snr, rng=rng,
                                       verbose=verbose, pretrain=args.pretrain, **opts)
        model.acquisition = acquisition
    model.save(args.out)
    path = with_npz_suffix(args.out)  # the name the save wrote
    if verbose:
        print(f"saved {model!r} to {path}")
    return 0

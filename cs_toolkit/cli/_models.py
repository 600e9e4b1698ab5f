"""``reconstruct --model FILE``: measure the way the model was trained.

A learned per-block (per-frame) model records its acquisition settings (signal kind, block or
frame size, ratio, matrix kind and seed, scale; :mod:`cs_toolkit.learned.acquisition`). Options the
user left at their defaults take the model's values; an option the user set to another value is
refused with a message naming it, since the model cannot work on such measurements.
"""

from __future__ import annotations

from ..exceptions import ValidationError

#: acquisition field -> (reconstruct option, its flag), per signal kind
_OPTIONS = {
    "image": {"ratio": ("ratio", "--ratio"), "block_size": ("block_size", "--block-size"),
              "matrix": ("matrix", "--matrix"), "seed": ("seed", "--seed")},
    "audio": {"ratio": ("ratio", "--ratio"), "block_size": ("frame_length", "--frame-length"),
              "hop": ("hop", "--hop"), "matrix": ("matrix", "--matrix"), "seed": ("seed", "--seed")},
}


def apply_model_settings(args, kind, given) -> list[str]:
    """Load ``args.model`` into ``args.model`` (the object), pick ``args.method`` when it is unset,
    and make the sensing options agree with the model's acquisition record.

    ``given`` holds the names of the options the user typed. Returns the notices to print
    (the options that took the model's values). Raises :class:`ValidationError` naming every option
    the user set to a value the model was not trained for.
    """
    from ..learned import DiffusionStages, JointAudioNet
    from ..learned.acquisition import acquisition_mismatch, describe_acquisition
    from ..learned.io import load_any_model
    from ..signals import NonLocalStages, is_nlstages_file, load_nlstages

    net = load_nlstages(args.model) if is_nlstages_file(args.model) else load_any_model(args.model)
    method, what, signal = (("tnrd", "trained diffusion stages", "image") if isinstance(net, DiffusionStages) else
                            ("pnp_nl_learned", "trained non-local stages", "image") if isinstance(net, NonLocalStages)
                            else
                            ("joint_learned", "a joint-audio network", "audio") if isinstance(net, JointAudioNet)
                            else ("lista", "an unrolled network", None))
    if args.method is None:
        args.method = method
    if args.method != method:
        raise ValidationError(f"--model {args.model!r} holds {what} (--method {method}); it cannot serve "
                              f"--method {args.method}.")
    if signal is not None and kind != signal:
        raise ValidationError(f"--model {args.model!r} holds {what} for {signal}, not {kind}.")
    name = args.model
    args.model = net
    rec = getattr(net, "acquisition", None)
    if method != "lista" or rec is None:
        return []
    if rec["signal"] != kind:
        raise ValidationError(f"--model {name!r} was trained for {rec['signal']} ({describe_acquisition(rec)}); "
                              f"the input is {kind}.")
    if kind == "audio" and rec["window"] != "sine":
        raise ValidationError(f"--model {name!r} was trained on frames with a {rec['window']} window; "
                              "cs-toolkit reconstruct cuts frames with the sine window.")
    adopted, differ = [], []
    typed = {field: getattr(args, opt) for field, (opt, _) in _OPTIONS[kind].items()}
    for field, mine, value in acquisition_mismatch(rec, **typed):
        opt, flag = _OPTIONS[kind][field]
        if opt not in given:
            setattr(args, opt, mine)
            adopted.append(f"{flag} {mine}")
        else:
            differ.append(f"{flag} {mine} (got {value})")
    if differ:
        raise ValidationError(f"--model {name!r} was trained for {describe_acquisition(rec)}: it needs "
                              f"{', '.join(differ)}; leave these options out to use the model's.")
    return [f"using the model's settings: {' '.join(adopted)}"] if adopted else []

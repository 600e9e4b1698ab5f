"""The state of a random generator in checkpoint files: JSON text, never pickle.

Both checkpoint formats (dictionary learning and the learned networks) store
``rng.bit_generator.state`` as a JSON string, so that a resumed run draws the same
numbers as an uninterrupted one, and read it back through :func:`rng_state_from_json`,
which checks it on a throwaway bit generator before anything uses it.
"""

from __future__ import annotations

import json

import numpy as np


def rng_state_json(rng: np.random.Generator) -> str:
    """The JSON text of ``rng.bit_generator.state`` (keys sorted: equal states give equal text)."""
    return json.dumps(rng.bit_generator.state, sort_keys=True)


def rng_state_from_json(text: str, bit_generator: type, fail) -> dict:
    """Parse and check a state written by :func:`rng_state_json`.

    Parameters
    ----------
    text : str
        The JSON text.
    bit_generator : type
        The bit-generator class the state must belong to (e.g. ``numpy.random.PCG64``).
    fail : callable
        ``fail(why)`` returns the exception to raise (naming the file) when the text is
        not valid JSON, is the state of another generator, or is rejected by it.

    Returns
    -------
    dict
        The state, ready for ``rng.bit_generator.state = state``.
    """
    try:
        state = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"the random state is not valid JSON ({exc})") from None
    name = bit_generator.__name__
    if not isinstance(state, dict) or state.get("bit_generator") != name:
        raise fail(f"the random state is not a {name} state")
    try:
        bit_generator().state = state  # checked on a throwaway generator
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise fail(f"invalid random state ({exc})") from None
    return state

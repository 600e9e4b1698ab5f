"""The shared random-state reader of the checkpoint files."""

import json

import numpy as np
import pytest

from cs_toolkit._rngstate import rng_state_from_json, rng_state_json


def _fail(why):
    return ValueError(why)


def test_round_trip_resumes_the_stream():
    rng = np.random.default_rng(7)
    rng.standard_normal(5)
    text = rng_state_json(rng)
    expected = rng.standard_normal(4)
    other = np.random.default_rng(0)
    other.bit_generator.state = rng_state_from_json(text, type(other.bit_generator), _fail)
    np.testing.assert_array_equal(other.standard_normal(4), expected)


@pytest.mark.parametrize("text, why", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a PCG64 state"),
    (json.dumps(np.random.Generator(np.random.MT19937(0)).bit_generator.state, default=lambda a: a.tolist()),
     "not a PCG64 state"),
    (json.dumps({"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}), "invalid random state"),
])
def test_bad_states_are_refused(text, why):
    with pytest.raises(ValueError, match=why):
        rng_state_from_json(text, np.random.PCG64, _fail)


def test_a_refused_state_leaves_the_generator_alone():
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    with pytest.raises(ValueError):
        rng_state_from_json(json.dumps({"bit_generator": "PCG64", "state": {}}), np.random.PCG64, _fail)
    assert rng.bit_generator.state == before

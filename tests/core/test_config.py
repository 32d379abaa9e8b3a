"""Policies are immutable data: configs, equality, pickling, nesting."""

import dataclasses
import json
import pickle

import numpy as np
import pytest

from cyclr import policy

EXAMPLES = [
    policy.Constant(0.01),
    policy.Linear(0.0, 0.1, 50),
    policy.Triangular(0.001, 0.1, 200),
    policy.Triangular2(0.1, 0.001, 200, step_size_down=100),
    policy.ExpRange(0.001, 0.1, 200, 0.999),
    policy.OneCycle(0.1, 1000, pct_start=0.25, anneal="linear", three_phase=True),
    policy.CosineRestarts(0.1, 100, period_mult=2, min_lr=1e-5),
    policy.warmup(policy.Triangular2(0.001, 0.1, 200), 50),
    policy.Join((policy.warmup(policy.Constant(0.1), 5), policy.OneCycle(0.1, 100)), (20,)),
]


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_config_is_json_and_rebuilds_equal(p):
    text = json.dumps(p.to_config())
    rebuilt = policy.from_config(json.loads(text))
    assert rebuilt == p and hash(rebuilt) == hash(p)
    assert type(p).from_config(json.loads(text)) == p
    ks = np.arange(3000)
    assert rebuilt(ks).tolist() == p(ks).tolist()


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_config_keys_are_the_attributes(p):
    config = p.to_config()
    assert config["type"] == type(p).__name__
    assert set(config) - {"type"} == {f.name for f in dataclasses.fields(p)}
    for key, value in config.items():
        if key not in ("type", "policies", "boundaries"):
            assert getattr(p, key) == value


@pytest.mark.parametrize("p", EXAMPLES, ids=lambda p: type(p).__name__)
def test_policies_are_frozen_and_pickle(p):
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.max_lr = 1.0  # type: ignore[misc]
    clone = pickle.loads(pickle.dumps(p))
    assert clone == p and clone(12345) == p(12345)


def test_no_callables_anywhere_in_state():
    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
        else:
            yield value

    for p in EXAMPLES:
        assert all(isinstance(v, (int, float, str, bool, type(None)))
                   for v in walk(p.to_config()))


def test_inverted_cycles_are_allowed():
    momentum = policy.Triangular(base_lr=0.95, max_lr=0.85, step_size=10)
    assert momentum(0) == 0.95 and momentum(10) == pytest.approx(0.85)

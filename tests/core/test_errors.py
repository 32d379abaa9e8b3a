"""Bad input: a clear error naming the argument and the value received."""

import math
import re

import numpy as np
import pytest

from cyclr import policy

NAN, INF = math.nan, math.inf


def raises(error, name, value_repr=None):
    pattern = rf"Argument `{name}` must be .*Received: {name}="
    if value_repr is not None:
        pattern += re.escape(value_repr)
    return pytest.raises(error, match=pattern)


@pytest.mark.parametrize("bad, error", [(-0.1, ValueError), (NAN, ValueError), (INF, ValueError),
                                        ("0.1", TypeError), (None, TypeError), (True, TypeError)])
@pytest.mark.parametrize("make, name", [
    (lambda v: policy.Triangular(v, 0.1, 10), "base_lr"),
    (lambda v: policy.Triangular2(0.1, v, 10), "max_lr"),
    (lambda v: policy.ExpRange(0.1, v, 10, 0.9), "max_lr"),
    (lambda v: policy.OneCycle(v, 100), "max_lr"),
    (lambda v: policy.CosineRestarts(v, 10), "max_lr"),
    (lambda v: policy.CosineRestarts(0.1, 10, min_lr=v), "min_lr"),
    (lambda v: policy.Constant(v), "lr"),
    (lambda v: policy.Linear(v, 0.1, 5), "start_lr"),
])
def test_bad_learning_rates(make, name, bad, error):
    with raises(error, name, repr(bad)):
        make(bad)


BAD_COUNTS = [(0, ValueError), (-3, ValueError), (2.5, ValueError), (NAN, ValueError),
              ("10", TypeError), (None, TypeError), (True, TypeError), (2**63, ValueError)]
COUNT_ARGS = [
    (lambda v: policy.Triangular(0.1, 1, v), "step_size"),
    (lambda v: policy.Triangular(0.1, 1, 5, step_size_down=v), "step_size_down"),
    (lambda v: policy.OneCycle(0.1, v), "total_steps"),
    (lambda v: policy.CosineRestarts(0.1, v), "period"),
    (lambda v: policy.CosineRestarts(0.1, 5, period_mult=v), "period_mult"),
    (lambda v: policy.Linear(0.0, 0.1, v), "total_steps"),
]


@pytest.mark.parametrize("make, name, bad, error", [
    (make, name, bad, error) for make, name in COUNT_ARGS for bad, error in BAD_COUNTS
    if not (name == "step_size_down" and bad is None)  # None is its valid default
])
def test_bad_step_counts(make, name, bad, error):
    with raises(error, name, repr(bad)):
        make(bad)


def test_whole_float_step_sizes_are_accepted_as_ints():
    p = policy.Triangular(0.1, 1.0, 2000.0)
    assert p.step_size == 2000 and type(p.step_size) is int


@pytest.mark.parametrize("gamma, error", [(0.0, ValueError), (1.5, ValueError), (-0.5, ValueError),
                                          (NAN, ValueError), ("0.9", TypeError)])
def test_bad_gamma(gamma, error):
    with raises(error, "gamma", repr(gamma)):
        policy.ExpRange(0.1, 1.0, 10, gamma)


@pytest.mark.parametrize("kwargs, name", [
    ({"pct_start": 0.0}, "pct_start"), ({"pct_start": 1.0}, "pct_start"),
    ({"pct_start": -0.2}, "pct_start"), ({"pct_start": NAN}, "pct_start"),
    ({"pct_start": 0.01}, "pct_start"),  # 0.01 * 100 - 1 = 0: phase 1 has no steps
    ({"pct_start": 0.6, "three_phase": True}, "pct_start"),  # phase 3 would run backwards
    ({"anneal": "cosine"}, "anneal"), ({"div_factor": 0.0}, "div_factor"),
    ({"div_factor": -1.0}, "div_factor"), ({"final_div_factor": 0}, "final_div_factor"),
    ({"final_div_factor": INF}, "final_div_factor"),
])
def test_bad_one_cycle(kwargs, name):
    with pytest.raises(ValueError, match=rf"Argument `{name}` must be .*Received: {name}="):
        policy.OneCycle(max_lr=0.1, total_steps=100, **kwargs)


def test_bad_one_cycle_types():
    with raises(TypeError, "anneal"):
        policy.OneCycle(0.1, 100, anneal=None)
    with raises(TypeError, "three_phase"):
        policy.OneCycle(0.1, 100, three_phase="yes")


@pytest.mark.parametrize("step, error", [
    (-1, ValueError), (2.5, ValueError), (NAN, ValueError), (INF, ValueError),
    ("3", TypeError), (None, TypeError), (True, TypeError), (2**63, ValueError),
    (np.array([0, -4]), ValueError), (np.array([0.5]), ValueError), (np.array([NAN]), ValueError),
    (np.array([True]), TypeError), (np.array(["1"]), TypeError),
])
def test_bad_steps(step, error):
    p = policy.Triangular(0.001, 0.1, 10)
    with raises(error, "step"):
        p(step)


def test_accepted_step_types():
    p = policy.Triangular(0.001, 0.1, 10)
    expected = p(7)
    assert isinstance(expected, float)
    for step in (np.int32(7), np.int64(7), np.uint8(7), 7.0, np.float32(7.0)):
        assert p(step) == expected and isinstance(p(step), float)
    for arr in (np.array([7], dtype=np.int32), [7], (7,), np.array([7.0])):
        out = p(arr)
        assert out.dtype == np.float64 and out.tolist() == [expected]
    assert p(np.zeros((0,), dtype=np.int64)).shape == (0,)
    assert p(np.full((2, 3), 7)).shape == (2, 3)


@pytest.mark.parametrize("config, error", [
    (None, TypeError), ("Triangular", TypeError), ([], TypeError),
    ({}, ValueError), ({"type": "Sawtooth", "lr": 0.1}, ValueError),
    ({"type": "Policy"}, ValueError), ({"type": "_Cyclical", "base_lr": 0.1}, ValueError),
    ({"type": "Constant"}, ValueError),  # missing lr
    ({"type": "Constant", "lr": 0.1, "momentum": 0.9}, ValueError),  # unknown key
    ({"type": "Constant", "lr": -1}, ValueError),  # bad value, named by the constructor
])
def test_bad_configs(config, error):
    with pytest.raises(error, match=r"Argument `(config|lr)` must be"):
        policy.from_config(config)


def test_bad_join():
    a, b = policy.Constant(0.1), policy.Constant(0.2)
    with raises(ValueError, "boundaries"):
        policy.Join((a, b), ())
    with raises(ValueError, "boundaries"):
        policy.Join((a, b, a), (10, 5))
    with raises(ValueError, "boundaries"):
        policy.Join((a, b), (0,))
    with raises(TypeError, "policies"):
        policy.Join((a, lambda k: 0.1), (10,))
    with raises(TypeError, "policies"):
        policy.Join(a, (10,))
    with raises(TypeError, "policy"):
        policy.warmup(lambda k: 0.1, 10)

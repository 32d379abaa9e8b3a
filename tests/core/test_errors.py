"""Bad input: a clear error naming the argument and the value received."""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given

from cyclr import policy
from tests import strategies as S

NAN, INF = math.nan, math.inf
MAX = 2**63 - 1


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


# --- hostile input (issue 12): every kind of bad value, for every field ------------------------

@given(S.invalid_field())
def test_any_invalid_field_raises_naming_the_field(case):
    cls, kwargs, field, error = case
    with pytest.raises(error) as info:
        cls(**kwargs)
    assert type(info.value) is error
    message = str(info.value)
    assert message.startswith(f"Argument `{field}` must be "), message
    assert f". Received: {field}=" in message and "\n" not in message, message


@pytest.mark.parametrize("name", ["lr", "base_lr", "max_lr", "start_lr", "end_lr", "gamma",
                                  "pct_start", "div_factor", "final_div_factor", "min_lr"])
@pytest.mark.parametrize("huge", [10**400, -(10**400), Fraction(10**400, 7)])
def test_integers_too_large_for_a_float_are_value_errors(name, huge):
    cls = next(c for c, kwargs in S.VALID.items() if name in kwargs)
    with raises(ValueError, name):
        cls(**{**S.VALID[cls], name: huge})


@pytest.mark.parametrize("make, name", [
    (lambda: policy.Triangular(0.1, 1.0, 2**62), "step_size"),  # period 2**63
    (lambda: policy.Triangular2(0.1, 1.0, MAX), "step_size"),
    (lambda: policy.ExpRange(0.1, 1.0, 2**62, 0.9), "step_size"),
    (lambda: policy.Triangular(0.1, 1.0, 2**62, step_size_down=2**62), "step_size_down"),
    (lambda: policy.Triangular(0.1, 1.0, 5, step_size_down=MAX - 4), "step_size_down"),
])
def test_periods_beyond_int64_name_the_step_size(make, name):
    with raises(ValueError, name):
        make()


def test_the_largest_periods_that_fit_are_accepted():
    assert policy.Triangular(0.1, 1.0, MAX // 2).period == MAX - 1
    assert policy.Triangular(0.1, 1.0, 5, step_size_down=MAX - 5).period == MAX


@pytest.mark.parametrize("kwargs, name", [
    ({"max_lr": 1.0, "div_factor": 1e-310}, "div_factor"),  # initial LR inf
    ({"max_lr": 1e308, "div_factor": 0.5}, "div_factor"),
    ({"max_lr": 1.0, "final_div_factor": 1e-320}, "final_div_factor"),  # final LR inf
    ({"max_lr": 1e300, "div_factor": 1e-5, "final_div_factor": 1e-5}, "final_div_factor"),
])
def test_one_cycle_levels_must_be_finite(kwargs, name):
    with raises(ValueError, name, repr(kwargs[name])) as info:
        policy.OneCycle(total_steps=100, **kwargs)
    assert "finite" in str(info.value)


@pytest.mark.parametrize("base, top, name, error", [
    (1e-300, 1e300, "max_momentum", ValueError),  # ratio underflows to 0
    (1e300, 1e-300, "max_momentum", ValueError),  # ratio overflows
    (0.0, 0.95, "base_momentum", ValueError), (0.85, 0.0, "max_momentum", ValueError),
    (math.nan, 0.95, "base_momentum", ValueError), (0.85, 10**400, "max_momentum", ValueError),
    ("0.85", 0.95, "base_momentum", TypeError), (0.85, None, "max_momentum", TypeError),
])
def test_one_cycle_momentum_names_its_own_arguments(base, top, name, error):
    with raises(error, name) as info:
        policy.one_cycle_momentum(100, base_momentum=base, max_momentum=top)
    assert "div_factor" not in str(info.value) and "max_lr" not in str(info.value)


def test_one_cycle_momentum_extremes_that_fit():
    p = policy.one_cycle_momentum(100, base_momentum=1e-150, max_momentum=1e150)
    assert math.isclose(p(0), 1e150) and math.isclose(p(29), 1e-150)


@pytest.mark.parametrize("bad", [-1, math.nan, "0", 10**400])
def test_warmup_names_its_own_arguments(bad):
    with pytest.raises((TypeError, ValueError), match="Argument `start_lr`"):
        policy.warmup(policy.Constant(0.1), 10, start_lr=bad)
    with pytest.raises((TypeError, ValueError), match="Argument `steps`"):
        policy.warmup(policy.Constant(0.1), bad)


@pytest.mark.parametrize("step, error", [
    (np.array([2.0**63]), ValueError), (np.array([2.0**63], dtype=np.float32), ValueError),
    (np.array([1.0, 2.0**64]), ValueError), (np.array([2**63], dtype=np.uint64), ValueError),
    (np.array([MAX], dtype=np.uint64) + np.uint64(1), ValueError),
    (np.float32(2.0**63), ValueError), (np.uint64(2**63), ValueError), (2.0**63, ValueError),
    ([[1], [1, 2]], ValueError), ([1, [2]], ValueError), ([2**64], ValueError),
    ([-1, 2**63], ValueError), ([2**62 + 1, 1.0], ValueError), ([10**400], ValueError),
    ([True, 3], TypeError), ((3, np.False_), TypeError), ([None], TypeError),
    ([1, "2"], TypeError), (np.array([1j]), TypeError),
    (np.array([3, None], dtype=object), TypeError),
    ({3}, TypeError), ({"step": 3}, TypeError), (b"3", TypeError), (1j, TypeError),
    (np.array([np.inf]), ValueError), (np.array([-0.5]), ValueError),
])
def test_hostile_steps(step, error):
    """Each refused before any arithmetic, naming `step`: nothing wraps to a negative int64,
    nothing is rounded silently, numpy's own messages never leak out."""
    for p in (policy.OneCycle(0.1, 100), policy.Triangular(0.001, 0.1, 10)):
        with raises(error, "step"):
            p(step)


@pytest.mark.parametrize("step, expected", [
    (np.array([2.0**62]), [2**62]), (np.array([MAX], dtype=np.uint64), [MAX]), ([MAX], [MAX]),
    (np.longdouble(MAX), MAX), ([[1, 2], [3, 4.0]], [[1, 2], [3, 4]]), ([2**53, 1.0], [2**53, 1]),
    (np.array([3, MAX], dtype=object), [3, MAX]),
])
def test_steps_at_the_edges_are_accepted_exactly(step, expected):
    p = policy.Triangular(0.001, 0.1, 10, step_size_down=7)
    assert np.asarray(p(step)).tolist() == np.vectorize(p, otypes=[float])(expected).tolist()


@pytest.mark.parametrize("config", [
    {"type": []}, {"type": None}, {"type": 3}, {"type": {"a": 1}}, {"type": "policy"},
    {"type": "Constant", "lr": 0.1, 1: 2}, {"type": "Constant", "lr": 0.1, 1: 2, "x": 3},
    {"type": "Constant", (1, 2): 0.1}, {1: "Constant"},
    {"type": "ExpRange", "base_lr": 0.1, "max_lr": 1.0, "step_size": 10},  # gamma missing
])
def test_malformed_configs_name_config(config):
    with raises(ValueError, "config"):
        policy.from_config(config)


def _nested_config(depth):
    config = {"type": "Constant", "lr": 0.1}
    for _ in range(depth):
        config = {"type": "Join", "policies": [config, {"type": "Constant", "lr": 0.2}],
                  "boundaries": [5]}
    return config


def test_join_nesting_has_a_named_limit():
    deepest = policy.from_config(_nested_config(policy.MAX_NESTING))
    assert deepest.nesting == policy.MAX_NESTING
    assert policy.from_config(deepest.to_config()) == deepest and deepest(10**6) == 0.2
    for depth in (policy.MAX_NESTING + 1, 400, 5000):
        with raises(ValueError, "config") as info:
            policy.from_config(_nested_config(depth))
        assert f"nested at most {policy.MAX_NESTING} deep" in str(info.value)
    with raises(ValueError, "policies"):
        policy.Join((deepest, policy.Constant(0.1)), (5,))
    with raises(ValueError, "policy"):
        policy.warmup(deepest, 5)


def test_self_referencing_configs_end():
    config = {"type": "Join", "boundaries": [5]}
    config["policies"] = [config, config]
    with raises(ValueError, "config"):
        policy.from_config(config)
    items = []
    items.append(items)
    with raises(ValueError, "step"):  # no array shape
        policy.Constant(0.1)(items)


def test_received_is_the_value_and_stays_short():
    with raises(ValueError, "config") as info:
        policy.from_config(_nested_config(400))
    assert len(str(info.value)) < 1000
    with raises(ValueError, "lr", "100000") as info:
        policy.Constant(10**400)
    assert len(str(info.value)) < 200
    with raises(TypeError, "lr", "'0.1'"):
        policy.Constant("0.1")

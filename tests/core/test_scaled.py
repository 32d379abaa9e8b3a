"""``policy.Scaled`` and ``policy.scaled``: a policy multiplied by factors from given updates on,
in phase (what a reduction on a plateau makes of a cycle)."""

import json

import numpy as np
import pytest

from cyclr import policy

TRI = policy.Triangular(base_lr=0.01, max_lr=0.1, step_size=5)


def test_values_are_the_policy_times_the_factors_in_force():
    p = policy.Scaled(TRI, boundaries=(7, 12), scales=(0.5, 0.1))
    # by hand: TRI is 0.01 + 0.018 * position, period 10
    assert [round(p(k), 6) for k in (0, 5, 6)] == [0.01, 0.1, 0.082]  # before 7: TRI itself
    assert p(7) == pytest.approx(0.5 * 0.064)
    assert p(11) == pytest.approx(0.5 * 0.028)
    assert p(12) == pytest.approx(0.05 * 0.046)
    assert p(10**12 + 5) == pytest.approx(0.05 * 0.1)  # the cycle goes on, in phase


def test_in_phase_and_exact_on_numpy_and_python_steps():
    p = policy.Scaled(TRI, (7, 12), (0.5, 0.25))  # powers of two: the products are exact
    k = np.arange(0, 40, dtype=np.int64)
    want = TRI(k) * np.where(k >= 12, 0.125, np.where(k >= 7, 0.5, 1.0))
    assert np.array_equal(p(k), want)
    assert [p(int(i)) for i in k] == list(want)


def test_no_boundaries_is_the_policy():
    p = policy.Scaled(TRI)
    assert p(3) == TRI(3) and p.nesting == 1 and p.bounds == TRI.bounds


def test_scaled_extends_one_flat_level():
    p = policy.scaled(TRI, 7, 0.5)
    assert p == policy.Scaled(TRI, (7,), (0.5,))
    p = policy.scaled(policy.scaled(p, 12, 0.1), 12, 0.5)  # two reductions at one step
    assert p == policy.Scaled(TRI, (7, 12), (0.5, 0.05)) and p.nesting == 1
    assert policy.scaled(p, 20, 0.5).boundaries == (7, 12, 20)


@pytest.mark.parametrize(("args", "error", "match"), [
    ((0.1, 5, 0.5), TypeError, "Argument `policy` must be a cyclr policy"),
    ((TRI, -1, 0.5), ValueError, "Argument `step` must be a non-negative integer"),
    ((TRI, 2.5, 0.5), ValueError, "Argument `step` must be a non-negative integer"),
    ((TRI, 5, 0.0), ValueError, "Argument `scale` must be a finite number > 0"),
    ((TRI, 5, "0.5"), TypeError, "Argument `scale` must be a finite number > 0"),
    ((policy.Scaled(TRI, (5,), (1e-30,)), 6, 1e-10), ValueError,
     "Argument `scale` must be such that every product of the scales stays from 1.18e-38"),
])
def test_scaled_refuses_bad_input_naming_it(args, error, match):
    with pytest.raises(error, match=match):
        policy.scaled(*args)


def test_config_round_trips_through_json():
    p = policy.Scaled(policy.warmup(TRI, 3), (7, 12), (0.5, 0.1))
    config = json.loads(json.dumps(p.to_config()))
    assert config["policy"]["type"] == "Join" and config["scales"] == [0.5, 0.1]
    assert policy.from_config(config) == p and policy.Scaled.from_config(config) == p


def test_levels_and_bounds_include_the_scaled_values():
    p = policy.Scaled(TRI, (7, 12), (0.5, 0.1))
    assert p.bounds == pytest.approx((0.0005, 0.1))
    assert {level.field for level in p.levels} == {"policy.base_lr", "policy.max_lr", "scales"}


def test_a_reduction_before_a_later_boundary_scales_what_follows_too():
    p = policy.scaled(policy.Scaled(TRI, (9,), (0.5,)), 8, 0.5)
    assert p == policy.Scaled(TRI, (8, 9), (0.5, 0.5))
    assert p(8) == 0.5 * TRI(8) and p(9) == 0.25 * TRI(9)


def test_a_product_beyond_float64_names_scales():
    with pytest.raises(ValueError, match="Argument `scales` must be such that lr times the "
                                         "largest product of scales is a finite number"):
        policy.Scaled(policy.Constant(1e300), (1, 2), (1e5, 1e5))


@pytest.mark.parametrize("scales", [(1e-20, 1e-20), (1e20, 1e20), (1e-30, 1e-30, 1e30)])
def test_every_product_stays_in_float32s_normal_range(scales):
    """The factors are float32 in Keras, torch and JAX: 1e-40 would be 0 there, 1e40 inf."""
    with pytest.raises(ValueError, match="Argument `scales` must be such that every product "
                                         r"scales\[0\] \* ... \* scales\[i\] is from 1.18e-38 "
                                         "to 1.7e\\+38"):
        policy.Scaled(policy.Constant(1e-10), tuple(range(1, len(scales) + 1)), scales)


@pytest.mark.parametrize("field", ["boundaries", "scales"])
@pytest.mark.parametrize("array", [np.array(3), np.array([[3, 5]])], ids=["0-d", "2-d"])
def test_arrays_that_are_not_1d_are_refused_naming_the_field(field, array):
    kwargs = {"boundaries": (3,), "scales": (0.5,), field: array}
    with pytest.raises(TypeError, match=f"Argument `{field}` must be a sequence"):
        policy.Scaled(TRI, **kwargs)


def test_levels_stay_few_however_deep_scaled_nest():
    """Every product of every level would double them at each level (2**32 levels deep)."""
    p = TRI
    for depth in range(policy.MAX_NESTING):
        p = policy.Scaled(p, (depth + 1,), (0.5,))
    assert len(p.levels) <= 4 and p.bounds == pytest.approx((0.01 * 0.5**32, 0.1))
    config = json.loads(json.dumps(p.to_config()))
    assert policy.from_config(config) == p


def test_deep_nesting_is_refused_in_configs_and_objects():
    config = {"type": "Constant", "lr": 0.1}
    for _ in range(policy.MAX_NESTING + 1):
        config = {"type": "Scaled", "policy": config, "boundaries": [], "scales": []}
    with pytest.raises(ValueError, match=f"nested at most {policy.MAX_NESTING} deep"):
        policy.from_config(config)
    p = policy.Constant(0.1)
    for _ in range(policy.MAX_NESTING):
        p = policy.Scaled(p)
    with pytest.raises(ValueError, match="Argument `policy` must be a policy with Joins and "
                                         "Scaleds nested at most"):
        policy.Scaled(p)

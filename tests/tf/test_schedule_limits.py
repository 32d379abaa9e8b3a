"""``Schedule`` under hostile input: float32's range, tensor steps, int64 edges, and a property
over the whole valid space in eager mode and under XLA."""

import inspect
import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from cyclr import ops as core_ops
from cyclr import policy
from cyclr_tf.callbacks import LRLogger, cycle_momentum
from cyclr_tf.ops import KERAS_OPS, MAX_LEVEL
from cyclr_tf.schedule import Schedule
from tests import strategies as S

MAX = 2**63 - 1
TINY32 = 1.2e-37  # float32 values below ~1.2e-38 may be flushed to 0 (XLA on CPU does)

#: One compiled function for every policy: the schedule is a (retraced) Python argument.
compiled = tf.function(lambda sched, steps: sched(steps), jit_compile=True)


def assert_float32_within_bounds(p, values):
    lo, hi = p.bounds
    values = np.asarray(values, dtype=np.float64)
    assert np.all(np.isfinite(values)), (p, values)
    tol = 1e-5 * max(abs(lo), abs(hi)) + TINY32
    assert np.all(values >= lo - tol) and np.all(values <= hi + tol), (p, lo, hi, values)


# --- the whole valid space ------------------------------------------------------------------------

@settings(max_examples=20)
@given(st.data())
def test_every_valid_policy_is_finite_and_bounded_in_float32_eager_and_xla(data):
    p = data.draw(S.extreme_policies(top=MAX_LEVEL), label="policy")
    ks = data.draw(S.steps_for(p), label="steps")
    sched = Schedule(p)
    steps = tf.constant(ks, dtype=tf.int64)
    eager = sched(steps).numpy()
    xla = compiled(sched, steps).numpy()
    assert eager.dtype == xla.dtype == np.float32
    assert_float32_within_bounds(p, eager)
    assert_float32_within_bounds(p, xla)


@given(S.extreme_policies())
def test_a_policy_beyond_float32_is_refused_naming_the_field(p):
    if p.peak <= MAX_LEVEL:
        Schedule(p)
        return
    with pytest.raises(ValueError, match=r"^Argument `(policies\[\d\]\.)*[a-z_]+` must be .*"
                       r"float32.*Received: ") as info:
        Schedule(p)
    name = str(info.value).split("`")[1]
    assert any(level.field == name and level.value > MAX_LEVEL for level in p.levels)


@pytest.mark.parametrize("p", S.INT64_EDGES, ids=lambda p: type(p).__name__)
def test_int64_edges_in_float32(p):
    sched = Schedule(p)
    steps = tf.constant(S.EDGE_STEPS, dtype=tf.int64)
    expected = p(np.array(S.EDGE_STEPS))
    for values in (sched(steps).numpy(), compiled(sched, steps).numpy()):
        assert_float32_within_bounds(p, values)
        np.testing.assert_allclose(values, expected, rtol=0, atol=1e-6 * p.peak)


@pytest.mark.parametrize("p", [
    policy.Constant(MAX_LEVEL), policy.Triangular(0.0, MAX_LEVEL, 3),
    policy.Triangular(MAX_LEVEL, 0.0, 3, step_size_down=1),
    policy.CosineRestarts(MAX_LEVEL, 4, period_mult=2),
    policy.OneCycle(MAX_LEVEL, 10, div_factor=1.0, final_div_factor=1.0),
    policy.Linear(0.0, MAX_LEVEL, 3), policy.ExpRange(0.0, MAX_LEVEL, 2, 0.5),
], ids=lambda p: type(p).__name__)
def test_the_largest_accepted_values_stay_finite(p):
    sched = Schedule(p)
    steps = tf.range(12, dtype=tf.int64)
    for values in (sched(steps).numpy(), compiled(sched, steps).numpy()):
        assert_float32_within_bounds(p, values)


# --- float32's range (issue 12.10) ----------------------------------------------------------------

@pytest.mark.parametrize("make, name", [
    (lambda: policy.Constant(1e39), "lr"),
    (lambda: policy.Triangular(0.0, 1e39, 3), "max_lr"),
    (lambda: policy.Triangular2(1e39, 0.1, 3), "base_lr"),
    (lambda: policy.OneCycle(1e40, 100), "max_lr"),
    (lambda: policy.OneCycle(1e38, 100, div_factor=1e-2), "div_factor"),  # starts at 1e40
    (lambda: policy.OneCycle(1e30, 100, div_factor=1.0, final_div_factor=1e-10),
     "final_div_factor"),
    (lambda: policy.CosineRestarts(0.1, 10, min_lr=3.5e38), "min_lr"),
    (lambda: policy.Linear(0.0, 1e300, 10), "end_lr"),
    (lambda: policy.Join((policy.Constant(0.1), policy.Triangular(0.0, 1e39, 3)), (5,)),
     "policies[1].max_lr"),
    (lambda: policy.Constant(1e39).to_config(), "lr"),
])
def test_values_beyond_float32_are_refused_naming_the_field(make, name):
    p = make()
    with pytest.raises(ValueError, match=rf"^Argument `{re.escape(name)}` must be .*float32"
                       rf".*Received: {re.escape(name)}="):
        Schedule(p)


def test_cycle_momentum_refuses_values_beyond_float32():
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    with pytest.raises(ValueError, match="Argument `lr` must be at most 2\\*\\*127"):
        cycle_momentum(sgd, policy.Constant(1e39))
    assert sgd.momentum == 0.9


# --- tensor steps (issue 12.11) -------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [tf.int64, tf.int32])
def test_negative_tensor_steps_are_clamped_to_step_zero(dtype):
    p = policy.OneCycle(0.1, 100)
    sched = Schedule(p)
    first = float(sched(0))
    assert float(sched(tf.constant(-1, dtype))) == first
    assert float(sched(tf.constant(np.iinfo(dtype.as_numpy_dtype).min, dtype))) == first
    steps = tf.constant([-3, 0, 5], dtype)
    for values in (sched(steps).numpy(), compiled(sched, steps).numpy()):
        assert values[0] == values[1] == pytest.approx(first, rel=1e-6)
        assert values[2] == pytest.approx(p(5), rel=1e-6)
    variable = keras.Variable(-7, dtype=dtype.name, trainable=False)
    assert float(sched(variable)) == first


@pytest.mark.parametrize("dtype", [tf.uint8, tf.uint16, tf.uint32, tf.uint64])
def test_unsigned_tensor_steps_are_refused_by_dtype(dtype):
    sched = Schedule(policy.OneCycle(0.1, 100))
    with pytest.raises(TypeError, match="Argument `step` must be .*signed integer"):
        sched(tf.constant(3, dtype))


@pytest.mark.parametrize("step, error", [
    (np.array([2.0**63]), ValueError), (np.array([2**63], dtype=np.uint64), ValueError),
    (np.uint64(2**63), ValueError), ([[1], [1, 2]], ValueError), ([True, 2], TypeError),
    (2.0**63, ValueError), (np.array([-1]), ValueError),
])
def test_numpy_and_python_steps_are_checked_eagerly(step, error):
    with pytest.raises(error, match="Argument `step` must be"):
        Schedule(policy.OneCycle(0.1, 100))(step)


def test_unsigned_numpy_steps_are_checked_by_value():
    p = policy.Triangular(0.1, 1.0, 5)
    assert float(Schedule(p)(np.uint64(7))) == pytest.approx(p(7), rel=1e-6)


# --- the namespace and the docs -------------------------------------------------------------------

def test_keras_namespace_satisfies_the_ops_protocol():
    assert isinstance(KERAS_OPS, core_ops.Ops)
    assert set(vars(KERAS_OPS)) == set(core_ops.OPERATIONS)


@pytest.mark.parametrize("obj", [Schedule, LRLogger, cycle_momentum], ids=lambda o: o.__name__)
def test_public_docstrings_have_args_returns_raises(obj):
    doc = inspect.getdoc(obj)
    assert all(section in doc for section in ("Args:", "Returns:", "Raises:")), obj


def test_max_level_is_below_float32_max_with_headroom():
    assert MAX_LEVEL * 2 <= float(np.finfo(np.float32).max) * (1 + 2**-23)
    assert math.isfinite(float(np.float32(MAX_LEVEL)))


JAX_STEPS = """
import json
import jax.numpy as jnp
import numpy as np
from cyclr import policy
from cyclr_tf.schedule import Schedule

sched, out = Schedule(policy.OneCycle(0.1, 100)), {}
out["first"] = float(sched(0))
out["negative"] = float(sched(jnp.array(-4, dtype=jnp.int32)))
for name, step in {"2**31": 2**31, "np 2**31": np.array([2**31]),
                   "uint32": jnp.array(3, dtype=jnp.uint32)}.items():
    try:
        sched(step)
        out[name] = "no error"
    except (TypeError, ValueError) as err:
        out[name] = type(err).__name__ + ": " + str(err)
print(json.dumps(out))
"""


def test_int32_steps_on_jax_are_checked_not_wrapped():
    pytest.importorskip("jax", reason="optional backend")
    from tests.tf.keras_probe import run_python

    out = run_python(JAX_STEPS, env={"KERAS_BACKEND": "jax"})
    assert out["negative"] == out["first"]
    for name in ("2**31", "np 2**31"):
        assert out[name].startswith("ValueError: Argument `step` must be at most 2147483647")
    assert out["uint32"].startswith("TypeError: Argument `step` must be")

"""``Schedule`` outside ``fit``: step types, exactness at huge steps (eager and XLA), errors,
config round trips."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from cyclr import ops as core_ops
from cyclr import policy
from cyclr_tf.ops import KERAS_OPS
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import POLICIES, max_error

TOLERANCE = 1e-6  # of the largest LR

#: Realistic sizes whose values still move between 10**8 and 10**10.
HUGE = {
    "constant": policy.Constant(0.05),
    "linear": policy.Linear(0.0, 0.1, total_steps=10**10),
    "triangular": policy.Triangular(1e-4, 0.1, step_size=2000, step_size_down=3001),
    "triangular2": policy.Triangular2(1e-4, 0.1, step_size=7),  # cycle 10**9: underflows to 0
    "triangular2_slow": policy.Triangular2(1e-4, 0.1, step_size=10**8 + 7),
    "exp_range": policy.ExpRange(1e-4, 0.1, step_size=2000, gamma=1 - 1e-9),
    "one_cycle": policy.OneCycle(0.1, total_steps=10**10),
    "one_cycle_3phase": policy.OneCycle(0.1, total_steps=10**10 + 1, pct_start=0.4,
                                        anneal="linear", three_phase=True),
    "cosine_restarts": policy.CosineRestarts(0.1, period=10**6 + 7, min_lr=1e-4),
    "cosine_restarts_mult": policy.CosineRestarts(0.1, period=1000, period_mult=2),
    "warmup": policy.warmup(policy.CosineRestarts(0.1, period=3 * 10**8 + 1), steps=10**8 + 3),
}
STEPS = np.unique(np.concatenate([
    np.linspace(10**8, 10**10, 3001).astype(np.int64),
    10**9 + np.arange(-5, 6), 10**10 - np.arange(5),
    (10**6 + 7) * 1234 + np.arange(-2, 3),  # a restart of cosine_restarts
]))


def test_is_a_keras_learning_rate_schedule_returning_float32():
    sched = Schedule(POLICIES["triangular"])
    assert isinstance(sched, keras.optimizers.schedules.LearningRateSchedule)
    assert sched(5).dtype == tf.float32
    assert repr(sched).startswith("Schedule(Triangular(")


def test_namespace_has_the_core_namespaces_attributes():
    assert set(vars(KERAS_OPS)) == set(vars(core_ops.PY)) == set(vars(core_ops.NP))


@pytest.mark.parametrize("name", list(HUGE))
def test_within_1e6_of_core_float64_from_1e8_to_1e10(name):
    p, sched = HUGE[name], Schedule(HUGE[name])
    compiled = tf.function(sched, jit_compile=True)
    steps = tf.constant(STEPS, dtype=tf.int64)
    assert max_error(p, STEPS, sched(steps).numpy()) <= TOLERANCE
    assert max_error(p, STEPS, compiled(steps).numpy()) <= TOLERANCE
    assert max_error(p, STEPS[:5], [float(compiled(tf.constant(k, tf.int64)))
                                    for k in STEPS[:5]]) <= TOLERANCE


@pytest.mark.parametrize("make_step", [
    int, np.int32, np.int64, np.uint32, lambda k: np.array(k),
    lambda k: tf.constant(k, tf.int32), lambda k: tf.constant(k, tf.int64),
    lambda k: keras.Variable(k, dtype="int64", trainable=False),
    lambda k: keras.Variable(k, dtype="int32", trainable=False),
], ids=["int", "np.int32", "np.int64", "np.uint32", "np.array", "tf.int32", "tf.int64",
        "keras.Variable.int64", "keras.Variable.int32"])
def test_accepts_every_integer_step_type(make_step):
    p = POLICIES["cosine_restarts_mult"]
    sched = Schedule(p)
    for k in (0, 6, 7, 20, 21, 1000):
        assert abs(float(sched(make_step(k))) - p(k)) <= TOLERANCE * 0.1


def test_accepts_the_optimizers_iterations_variable_at_huge_steps():
    p = HUGE["triangular"]
    optimizer = keras.optimizers.SGD(Schedule(p))
    optimizer.iterations.assign(10**10 + 1234)
    assert optimizer.iterations.dtype == "int64"
    assert abs(float(optimizer.learning_rate) - p(10**10 + 1234)) <= TOLERANCE * 0.1


def test_vectorized_over_numpy_and_tensor_steps():
    p = POLICIES["join"]
    steps = np.arange(150)
    sched = Schedule(p)
    assert max_error(p, steps, sched(steps).numpy()) <= TOLERANCE
    assert max_error(p, steps, sched(tf.constant(steps, tf.int32)).numpy()) <= TOLERANCE


@pytest.mark.parametrize("bad", [None, 0.1, "triangular", [0.1, 0.2],
                                 keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9),
                                 {"type": "NoSuchPolicy"}, {"type": "Triangular", "base_lr": 0.1},
                                 {"type": "Triangular", "base_lr": 0.1, "max_lr": 1.0,
                                  "step_size": 0}])
def test_non_policy_raises_type_error_naming_policy(bad):
    with pytest.raises(TypeError, match="Argument `policy` must be a cyclr policy"):
        Schedule(bad)


def test_accepts_a_policy_config():
    p = POLICIES["warmup"]
    assert Schedule(p.to_config()).policy == p


@pytest.mark.parametrize(("bad", "error"), [
    (-1, ValueError), (1.5, ValueError), (2**63, ValueError), (True, TypeError),
    ("3", TypeError), (tf.constant(3.0), TypeError), (tf.constant(True), TypeError),
])
def test_bad_steps_raise(bad, error):
    with pytest.raises(error, match="Argument `step` must be"):
        Schedule(POLICIES["triangular"])(bad)


@pytest.mark.parametrize("name", list(POLICIES) + list(HUGE))
def test_config_round_trips(name):
    p = {**POLICIES, **HUGE}[name]
    sched = Schedule(p)
    config = json.loads(json.dumps(sched.get_config()))
    assert config == {"policy": p.to_config()}
    assert Schedule.from_config(config).policy == p

    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(sched)))
    assert serialized["registered_name"] == "cyclr>Schedule"
    assert keras.saving.deserialize_keras_object(serialized).policy == p

    optimizer = keras.optimizers.Adam(sched)
    rebuilt = keras.optimizers.Adam.from_config(json.loads(json.dumps(optimizer.get_config())))
    assert isinstance(rebuilt.learning_rate, tf.Tensor)
    assert float(rebuilt.learning_rate) == float(sched(0))
    assert rebuilt.get_config()["learning_rate"] == optimizer.get_config()["learning_rate"]

"""Parity with TensorFlow Addons' CyclicalLearningRate (USERS.md row 14).

TF Addons is dead and has no Keras 3 support, so its formula (Smith 2017, as tfa wrote it in
``tensorflow_addons/optimizers/cyclical_learning_rate.py``) is transcribed here in TensorFlow:
the same float arithmetic on the step, cast to the LR's dtype. Users porting from it get the same
values at ordinary steps, and exact values where tfa's float32 step drifts.
"""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from cyclr import policy  # noqa: E402
from cyclr_tf.schedule import Schedule  # noqa: E402

GAMMA = 0.9995


def tfa_cyclical(step, initial_learning_rate, maximal_learning_rate, step_size, mode):
    """tfa.optimizers.{Triangular,Triangular2,Exponential}CyclicalLearningRate.__call__."""
    initial = tf.convert_to_tensor(initial_learning_rate, dtype=tf.float32)
    dtype = initial.dtype
    maximal = tf.cast(maximal_learning_rate, dtype)
    step_size = tf.cast(step_size, dtype)
    step_as_dtype = tf.cast(step, dtype)
    cycle = tf.floor(1 + step_as_dtype / (2 * step_size))
    x = tf.abs(step_as_dtype / step_size - 2 * cycle + 1)
    scale = {"triangular": lambda c, s: 1.0,
             "triangular2": lambda c, s: 1 / (2.0 ** (c - 1)),  # scale_mode="cycle"
             "exp_range": lambda c, s: GAMMA**s}[mode](cycle, step_as_dtype)  # "iterations"
    return initial + (maximal - initial) * tf.maximum(tf.cast(0, dtype), (1 - x)) * scale


POLICIES = {
    "triangular": policy.Triangular(1e-3, 0.1, 250),
    "triangular2": policy.Triangular2(1e-3, 0.1, 250),
    "exp_range": policy.ExpRange(1e-3, 0.1, 250, GAMMA),
}


@pytest.mark.parametrize("mode", list(POLICIES))
def test_same_values_as_tfa_at_ordinary_steps(mode):
    p = POLICIES[mode]
    steps = tf.range(0, 3000, dtype=tf.int64)
    exact = p(np.arange(3000))
    ours = Schedule(p)(steps).numpy()
    theirs = tfa_cyclical(steps, p.base_lr, p.max_lr, p.step_size, mode).numpy()
    our_error, their_error = (np.max(np.abs(v - exact)) / p.max_lr for v in (ours, theirs))
    assert our_error <= 1e-6
    if mode == "exp_range":
        # tfa raises a float32 gamma to the step: its rounding error grows with the step
        assert their_error <= 1e-4 and our_error < their_error / 10
    else:
        assert their_error <= 1e-6 and np.max(np.abs(ours - theirs)) <= 1e-6 * p.max_lr


def test_exact_where_tfas_float32_step_drifts():
    p = POLICIES["triangular"]
    steps = np.array([10**9 + 125, 10**9 + 250, 3 * 10**9 + 1, 10**10 + 375], dtype=np.int64)
    exact = p(steps)
    ours = Schedule(p)(tf.constant(steps)).numpy()
    theirs = tfa_cyclical(tf.constant(steps), p.base_lr, p.max_lr, p.step_size,
                          "triangular").numpy()
    assert np.max(np.abs(ours - exact)) <= 1e-6 * p.max_lr
    assert np.max(np.abs(theirs - exact)) >= 1e-2 * p.max_lr  # tfa: off by percent and more

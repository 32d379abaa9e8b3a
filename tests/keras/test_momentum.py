"""``cycle_momentum`` and ``LRLogger`` on this process's Keras backend: the momentum (SGD) or
``beta_1`` (Adam) of every update follows the policy, read from the optimizer's slots.

TensorFlow runs the full set in ``tests/tf/test_callbacks.py``; here JAX (jitted and not) and
torch (eager, and ``jit_compile=True``: ``torch.compile``)."""

import keras
import numpy as np
import pytest

import cyclr_tf
from cyclr import policy
from cyclr_tf.callbacks import CycledValue, cycle_momentum
from cyclr_tf.schedule import Schedule
from tests.tf.keras_probe import SlotProbe, check_adam_family, ones, previous, probe_model

BACKEND = keras.backend.backend()
LR = policy.Triangular(0.01, 0.1, step_size=7)
MOMENTUM = policy.Triangular(0.95, 0.85, step_size=5)  # inverted: 0.95 -> 0.85 -> 0.95

pytestmark = pytest.mark.skipif(BACKEND == "tensorflow",
                                reason="tests/tf/test_callbacks.py runs these on TensorFlow")


def fit(optimizer, jit_compile, n=40, callbacks=()):
    model = probe_model(cycle_momentum(optimizer, MOMENTUM), jit_compile=jit_compile)
    probe = SlotProbe()
    x, y = ones(n)
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0, shuffle=False,
                        callbacks=[probe, *callbacks])
    k = np.arange(len(probe.steps))
    assert probe.steps == list(k)
    return k, probe, history


# torch: jit_compile=True is torch.compile, seconds per model on a small machine: once, here
MODES = {"jax": [False, True], "torch": [False, True]}.get(BACKEND, [])


@pytest.mark.parametrize("jit_compile", MODES, ids=lambda c: "compiled" if c else "eager")
def test_sgd_applies_the_momentum_policy_and_the_lr_at_every_update(jit_compile):
    optimizer = keras.optimizers.SGD(Schedule(LR), momentum=0.9)
    logger = cyclr_tf.LRLogger()
    k, probe, history = fit(optimizer, jit_compile, callbacks=[logger])
    velocity = np.array([s["momentum"] for s in probe.slots])
    mu, lr = MOMENTUM(k), LR(k)
    # Keras SGD, gradient 1: v <- mu * v - lr; w <- w + v
    np.testing.assert_allclose(velocity, mu * previous(velocity) - lr, rtol=1e-6)
    np.testing.assert_allclose(-np.array(probe.applied), velocity, rtol=1e-6)
    # the momentum of the next update would differ by percents
    assert np.max(np.abs(MOMENTUM(k + 1) * previous(velocity) - lr - velocity)) > 1e-3
    assert isinstance(optimizer.momentum, CycledValue) and optimizer.momentum == 0.9
    assert history.history["momentum"] == pytest.approx([MOMENTUM(k[-1])], rel=1e-6)  # last update
    assert history.history["learning_rate"] == pytest.approx([LR(k[-1])], rel=1e-6)


@pytest.mark.parametrize("optimizer_class", ["Adam", "AdamW", "Adamax"])
def test_adam_family_applies_the_beta_1_policy_and_keeps_beta_2(optimizer_class):
    optimizer = getattr(keras.optimizers, optimizer_class)(Schedule(LR), beta_2=0.99)
    _, probe, _ = fit(optimizer, jit_compile=BACKEND == "jax")
    check_adam_family(optimizer, probe, LR, MOMENTUM)


def test_calling_it_twice_replaces_the_policy():
    optimizer = keras.optimizers.SGD(Schedule(LR), momentum=0.9)
    cycle_momentum(optimizer, policy.Constant(0.5))
    k, probe, _ = fit(optimizer, jit_compile=BACKEND == "jax", n=10)  # MOMENTUM again
    velocity = np.array([s["momentum"] for s in probe.slots])
    np.testing.assert_allclose(velocity, MOMENTUM(k) * previous(velocity) - LR(k), rtol=1e-6)

"""A policy is an optax schedule as it is: ``optax.<optimizer>(learning_rate=policy)`` and
``optax.inject_hyperparams``, in a real jitted training loop, for every policy type. The LR
applied at update ``k`` (read from the parameter update, and from the injected hyperparameters)
equals ``policy(k)`` within float32 rounding of the policy's peak."""

import numpy as np
import pytest

pytest.importorskip("jax", reason="JAX is not installed (pip install '.[jax]')")
optax = pytest.importorskip("optax", reason="optax is not installed (pip install '.[jax]')")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from cyclr import policy  # noqa: E402
from tests.policies import EVERY_TYPE, FLOAT32, max_error  # noqa: E402

UPDATES = 120


def train(optimizer, updates=UPDATES):
    """A linear model ``y = w . x`` trained on ``x = 1`` with loss ``mean(y)``: the gradient is
    exactly 1, so SGD moves ``w`` by ``-lr`` per update. Returns the LR each update applied (from
    the parameter change), the optimizer states, and how many times the step compiled."""
    params = {"w": jnp.zeros(3)}
    x = jnp.ones((4, 3))

    def loss(p):
        return jnp.mean(x @ p["w"])

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(params)
        updates, state = optimizer.update(grads, state, params)
        return optax.apply_updates(params, updates), state, -updates["w"][0]

    state = optimizer.init(params)
    applied, states = [], []
    for _ in range(updates):
        params, state, lr = step(params, state)
        applied.append(float(lr))
        states.append(state)
    return np.array(applied), states, step._cache_size()


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_sgd_applies_policy_k_at_update_k(name):
    p = EVERY_TYPE[name]
    applied, _, compiled = train(optax.sgd(learning_rate=p))
    assert compiled == 1
    assert max_error(p, range(UPDATES), applied) <= FLOAT32


@pytest.mark.parametrize("name", list(EVERY_TYPE))
def test_inject_hyperparams_records_and_applies_policy_k(name):
    p = EVERY_TYPE[name]
    applied, states, compiled = train(optax.inject_hyperparams(optax.sgd)(learning_rate=p))
    assert compiled == 1
    assert max_error(p, range(UPDATES), applied) <= FLOAT32
    # the state after update k holds the LR update k used
    injected = [float(s.hyperparams["learning_rate"]) for s in states]
    assert max_error(p, range(UPDATES), injected) <= FLOAT32


@pytest.mark.parametrize("make", [optax.adam, optax.adamw, optax.adamax, optax.lion],
                         ids=lambda f: f.__name__)
def test_any_optax_optimizer_takes_a_policy(make):
    p = EVERY_TYPE["cosine_restarts_mult"]
    applied, _, compiled = train(make(learning_rate=p), updates=40)
    assert compiled == 1
    # a constant gradient of 1: each of these moves every weight by lr (up to its epsilon and
    # weight decay)
    assert max_error(p, range(40), applied) <= 2e-3


def test_momentum_cycles_through_inject_hyperparams():
    """b1 (Adam's momentum) follows an inverted cycle against the LR's, as Smith (2018)
    recommends: the injected state shows the policy's value at every update."""
    total = 100
    lr = policy.OneCycle(0.1, total_steps=total)
    b1 = policy.one_cycle_momentum(total)
    optimizer = optax.inject_hyperparams(optax.adam)(learning_rate=lr, b1=b1)
    _, states, compiled = train(optimizer, updates=total)
    assert compiled == 1
    seen = [float(s.hyperparams["b1"]) for s in states]
    assert max_error(b1, range(total), seen) <= FLOAT32

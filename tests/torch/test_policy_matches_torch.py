"""Differential test: every policy equals PyTorch's own scheduler at every step (rel. err. 1e-12
in numpy and with Python ints), and within float32 rounding of it on every other array library
installed: ``jax.numpy`` (jitted) and torch tensors. ``keras.ops`` on every installed Keras
backend runs the same cases in ``tests/keras/test_matches_torch.py``.

Random configurations (``tests/differential.py``); torch's schedulers are stepped once per
update, exactly as in training.
"""

import importlib.util

import numpy as np
import pytest
import torch

from cyclr import policy
from tests.differential import RNG_SEEDS, cosine_restarts, cyclic, float32_error, one_cycle
from tests.differential import torch_trace as trace_of
from tests.policies import FLOAT32

HAS_JAX = importlib.util.find_spec("jax") is not None
lr_scheduler = torch.optim.lr_scheduler


def torch_trace(make_scheduler, steps, lr=1.0, momentum=None):
    """LRs (and momenta) torch applies at updates 0..steps-1."""
    from tests.differential import Case

    case = Case("", policy.Constant(0.0), None, steps, make_scheduler, lr,
                "adam" if momentum == "betas" else "sgd")
    return trace_of(case)


def assert_rel(ours, theirs, rel=1e-12):
    scale = np.maximum(np.abs(theirs), 1e-300)
    assert np.max(np.abs(ours - theirs) / scale) <= rel


def assert_everywhere(p, reference):
    """``p`` gives torch's ``reference`` (at updates 0, 1, ...) in numpy and with Python ints to
    1e-12, and in float32 on JAX (jitted) and on torch tensors."""
    steps = np.arange(len(reference))
    assert_rel(p(steps), reference)
    assert_rel(np.array([p(int(k)) for k in steps]), reference)
    assert float32_error(p(torch.from_numpy(steps)).numpy(), reference) <= FLOAT32
    if HAS_JAX:
        import jax

        got = jax.jit(p)(jax.numpy.asarray(steps, dtype=jax.numpy.int32))
        assert float32_error(np.asarray(got), reference) <= FLOAT32


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr(seed, mode):
    case = cyclic(seed, mode)
    lrs, moms = trace_of(case)
    assert_everywhere(case.policy, lrs)
    # the momentum torch cycles against the LR is the same policy, inverted
    assert_everywhere(case.momentum, moms)


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_lr(seed, anneal, three_phase):
    case = one_cycle(seed, anneal, three_phase)
    lrs, moms = trace_of(case)
    assert_everywhere(case.policy, lrs)
    assert_everywhere(case.momentum, moms)


def test_one_cycle_beyond_the_end_where_torch_raises():
    ours = policy.OneCycle(0.1, 100)
    with pytest.raises(ValueError, match="Tried to step"):
        torch_trace(lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=100), 102)
    assert ours(np.arange(100, 110)).tolist() == [ours(99)] * 10
    assert ours(torch.arange(100, 110)).tolist() == [np.float32(ours(99))] * 10


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_cosine_annealing_warm_restarts(seed):
    case = cosine_restarts(seed)
    lrs, _ = trace_of(case)
    assert_everywhere(case.policy, lrs)


def test_triangular2_past_cycle_1024_where_torch_overflows():
    ours = policy.Triangular2(0.001, 0.1, 1)
    with pytest.raises(OverflowError):
        torch_trace(lambda o: lr_scheduler.CyclicLR(o, 0.001, 0.1, step_size_up=1,
                                                    mode="triangular2"), 2 * 1026)
    for values in (ours(np.arange(2 * 1026)), ours(torch.arange(2 * 1026)).numpy()):
        assert np.all(np.isfinite(values)) and values[-1] == pytest.approx(0.001)

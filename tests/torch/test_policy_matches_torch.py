"""Differential test: every policy equals PyTorch's own scheduler at every step (rel. err. 1e-12).

Random configurations; torch's schedulers are stepped once per update, exactly as in training.
"""

import warnings

import numpy as np
import pytest
import torch

from cyclr import policy

lr_scheduler = torch.optim.lr_scheduler

RNG_SEEDS = range(12)


def torch_trace(make_scheduler, steps, lr=1.0, momentum=None):
    """LRs (and momenta) torch applies at updates 0..steps-1."""
    param = torch.nn.Parameter(torch.zeros(1))
    if momentum == "betas":
        opt = torch.optim.Adam([param], lr=lr)
    else:
        opt = torch.optim.SGD([param], lr=lr, momentum=0.9)
    sched = make_scheduler(opt)
    lrs, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # we never call optimizer.step(): torch warns about it
        for _ in range(steps):
            group = opt.param_groups[0]
            lrs.append(group["lr"])
            moms.append(group["betas"][0] if "betas" in group else group["momentum"])
            sched.step()
    return np.array(lrs), np.array(moms)


def assert_rel(ours, theirs, rel=1e-12):
    scale = np.maximum(np.abs(theirs), 1e-300)
    assert np.max(np.abs(ours - theirs) / scale) <= rel


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("mode", ["triangular", "triangular2", "exp_range"])
def test_cyclic_lr(seed, mode):
    rng = np.random.default_rng(seed)
    base, top = sorted(rng.uniform(1e-4, 1.0, 2))
    up, down = (int(v) for v in rng.integers(1, 300, 2))
    down = None if seed % 3 == 0 else down
    gamma = float(rng.uniform(0.99, 1.0))
    steps = 4 * (up + (down or up)) + 7
    ours = {"triangular": policy.Triangular(base, top, up, down),
            "triangular2": policy.Triangular2(base, top, up, down),
            "exp_range": policy.ExpRange(base, top, up, gamma, down)}[mode]
    lrs, moms = torch_trace(lambda o: lr_scheduler.CyclicLR(
        o, base, top, step_size_up=up, step_size_down=down, mode=mode, gamma=gamma,
        base_momentum=0.8, max_momentum=0.9), steps)
    assert_rel(ours(np.arange(steps)), lrs)
    # the momentum torch cycles against the LR is the same policy, inverted
    inverted = type(ours).from_config({**ours.to_config(), "base_lr": 0.9, "max_lr": 0.8})
    assert_rel(inverted(np.arange(steps)), moms)


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("anneal", ["cos", "linear"])
@pytest.mark.parametrize("three_phase", [False, True])
def test_one_cycle_lr(seed, anneal, three_phase):
    rng = np.random.default_rng(seed)
    total = int(rng.integers(20, 2000))
    pct = float(rng.uniform(0.1, 0.45 if three_phase else 0.9))
    top = float(rng.uniform(1e-3, 1.0))
    div, final_div = float(rng.uniform(2, 100)), float(rng.uniform(10, 1e5))
    ours = policy.OneCycle(top, total, pct_start=pct, anneal=anneal, div_factor=div,
                           final_div_factor=final_div, three_phase=three_phase)
    momentum = policy.one_cycle_momentum(total, 0.85, 0.95, pct_start=pct, anneal=anneal,
                                         three_phase=three_phase)
    lrs, moms = torch_trace(lambda o: lr_scheduler.OneCycleLR(
        o, top, total_steps=total, pct_start=pct, anneal_strategy=anneal, div_factor=div,
        final_div_factor=final_div, three_phase=three_phase), total, momentum="betas")
    assert_rel(ours(np.arange(total)), lrs)
    assert_rel(momentum(np.arange(total)), moms)


def test_one_cycle_beyond_the_end_where_torch_raises():
    ours = policy.OneCycle(0.1, 100)
    with pytest.raises(ValueError, match="Tried to step"):
        torch_trace(lambda o: lr_scheduler.OneCycleLR(o, 0.1, total_steps=100), 102)
    assert ours(np.arange(100, 110)).tolist() == [ours(99)] * 10


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_cosine_annealing_warm_restarts(seed):
    rng = np.random.default_rng(seed)
    period, mult = int(rng.integers(1, 60)), int(rng.integers(1, 4))
    top, low = float(rng.uniform(1e-3, 1.0)), float(rng.uniform(0, 1e-3))
    ours = policy.CosineRestarts(top, period, period_mult=mult, min_lr=low)
    steps = 3000
    lrs, _ = torch_trace(lambda o: lr_scheduler.CosineAnnealingWarmRestarts(
        o, T_0=period, T_mult=mult, eta_min=low), steps, lr=top)
    assert_rel(ours(np.arange(steps)), lrs)


def test_triangular2_past_cycle_1024_where_torch_overflows():
    ours = policy.Triangular2(0.001, 0.1, 1)
    with pytest.raises(OverflowError):
        torch_trace(lambda o: lr_scheduler.CyclicLR(o, 0.001, 0.1, step_size_up=1,
                                                    mode="triangular2"), 2 * 1026)
    values = ours(np.arange(2 * 1026))
    assert np.all(np.isfinite(values)) and values[-1] == pytest.approx(0.001)

"""The differential cases: random configurations of every torch scheduler cyclr mirrors, each
with the cyclr policy (and momentum policy) that must give torch's numbers. Shared by
``tests/torch/test_policy_matches_torch.py`` (numpy, Python, JAX, torch tensors) and
``tests/keras/test_matches_torch.py`` (``keras.ops`` on each Keras backend). torch is imported
only to compute torch's trace."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from cyclr import policy

RNG_SEEDS = range(12)


@dataclass(frozen=True)
class Case:
    id: str
    policy: policy.Policy
    momentum: policy.Policy | None  # what torch does to momentum / betas[0], as a policy
    steps: int
    scheduler: Callable[[Any], Any]  # torch optimizer -> torch scheduler
    lr: float = 1.0  # the optimizer's own LR (CosineAnnealingWarmRestarts' max)
    optimizer: str = "sgd"  # or "adam": momentum is betas[0]


def cyclic(seed: int, mode: str) -> Case:
    rng = np.random.default_rng(seed)
    base, top = sorted(rng.uniform(1e-4, 1.0, 2))
    up, down = (int(v) for v in rng.integers(1, 300, 2))
    down = None if seed % 3 == 0 else down
    gamma = float(rng.uniform(0.99, 1.0))
    ours = {"triangular": policy.Triangular(base, top, up, down),
            "triangular2": policy.Triangular2(base, top, up, down),
            "exp_range": policy.ExpRange(base, top, up, gamma, down)}[mode]
    # the momentum torch cycles against the LR is the same policy, inverted
    inverted = type(ours).from_config({**ours.to_config(), "base_lr": 0.9, "max_lr": 0.8})

    def scheduler(opt):
        from torch.optim.lr_scheduler import CyclicLR

        return CyclicLR(opt, base, top, step_size_up=up, step_size_down=down, mode=mode,
                        gamma=gamma, base_momentum=0.8, max_momentum=0.9)

    return Case(f"{mode}-{seed}", ours, inverted, 4 * (up + (down or up)) + 7, scheduler)


def one_cycle(seed: int, anneal: str, three_phase: bool) -> Case:
    rng = np.random.default_rng(seed)
    total = int(rng.integers(20, 2000))
    pct = float(rng.uniform(0.1, 0.45 if three_phase else 0.9))
    top = float(rng.uniform(1e-3, 1.0))
    div, final_div = float(rng.uniform(2, 100)), float(rng.uniform(10, 1e5))
    ours = policy.OneCycle(top, total, pct_start=pct, anneal=anneal, div_factor=div,
                           final_div_factor=final_div, three_phase=three_phase)
    momentum = policy.one_cycle_momentum(total, 0.85, 0.95, pct_start=pct, anneal=anneal,
                                         three_phase=three_phase)

    def scheduler(opt):
        from torch.optim.lr_scheduler import OneCycleLR

        return OneCycleLR(opt, top, total_steps=total, pct_start=pct, anneal_strategy=anneal,
                          div_factor=div, final_div_factor=final_div, three_phase=three_phase)

    phases = "3phase" if three_phase else "2phase"
    return Case(f"one_cycle-{anneal}-{phases}-{seed}", ours, momentum, total, scheduler,
                optimizer="adam")


def cosine_restarts(seed: int) -> Case:
    rng = np.random.default_rng(seed)
    period, mult = int(rng.integers(1, 60)), int(rng.integers(1, 4))
    top, low = float(rng.uniform(1e-3, 1.0)), float(rng.uniform(0, 1e-3))
    ours = policy.CosineRestarts(top, period, period_mult=mult, min_lr=low)

    def scheduler(opt):
        from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts

        return CosineAnnealingWarmRestarts(opt, T_0=period, T_mult=mult, eta_min=low)

    return Case(f"cosine_restarts-{seed}", ours, None, 3000, scheduler, lr=top)


CASES = ([cyclic(s, m) for m in ("triangular", "triangular2", "exp_range") for s in RNG_SEEDS]
         + [one_cycle(s, a, t) for a in ("cos", "linear") for t in (False, True)
            for s in RNG_SEEDS]
         + [cosine_restarts(s) for s in RNG_SEEDS])


def torch_trace(case: Case) -> tuple[np.ndarray, np.ndarray]:
    """The LRs and momenta torch applies at updates ``0 .. case.steps - 1``, its scheduler
    stepped once per update, exactly as in training."""
    import torch

    param = torch.nn.Parameter(torch.zeros(1))
    if case.optimizer == "adam":
        opt = torch.optim.Adam([param], lr=case.lr)
    else:
        opt = torch.optim.SGD([param], lr=case.lr, momentum=0.9)
    sched = case.scheduler(opt)
    lrs, moms = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # we never call optimizer.step(): torch warns about it
        for _ in range(case.steps):
            group = opt.param_groups[0]
            lrs.append(group["lr"])
            moms.append(group["betas"][0] if "betas" in group else group["momentum"])
            sched.step()
    return np.array(lrs), np.array(moms)


def float32_error(values: Any, reference: np.ndarray) -> float:
    """``max |values - reference|`` over the reference's largest magnitude: float32 rounding
    is a few 1e-7."""
    values = np.asarray(values, dtype=np.float64)
    return float(np.max(np.abs(values - reference)) / max(np.max(np.abs(reference)), 1e-300))

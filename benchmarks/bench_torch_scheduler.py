"""Cost of one ``scheduler.step()``: ``cyclr_torch.Scheduler`` vs torch's own ``CyclicLR``.

Both drive the same triangular2 cycle on the same optimizer (SGD with momentum), first for the LR
only, then with momentum cycling too. Runs of ``--steps`` steps alternate between the two
schedulers ``--repeats`` times; the reported ratio is median(cyclr) / median(torch) per step, so
machine load hits both alike. A ratio <= 1.0 means cyclr costs no more than torch.

    python benchmarks/bench_torch_scheduler.py [--steps 2000] [--repeats 31] [--groups 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.optim.lr_scheduler import CyclicLR

from cyclr import policy
from cyclr_torch.scheduler import Scheduler

BASE, TOP, STEP_SIZE = 1e-3, 0.1, 500
BASE_M, TOP_M = 0.85, 0.95


def make_optimizer(groups: int) -> torch.optim.Optimizer:
    params = [{"params": [torch.zeros(4, requires_grad=True)]} for _ in range(groups)]
    return torch.optim.SGD(params, lr=BASE, momentum=TOP_M)


def torch_cyclic(opt: torch.optim.Optimizer, momentum: bool) -> CyclicLR:
    return CyclicLR(
        opt, base_lr=BASE, max_lr=TOP, step_size_up=STEP_SIZE, mode="triangular2",
        cycle_momentum=momentum, base_momentum=BASE_M, max_momentum=TOP_M)


def cyclr_scheduler(opt: torch.optim.Optimizer, momentum: bool) -> Scheduler:
    lr = policy.Triangular2(base_lr=BASE, max_lr=TOP, step_size=STEP_SIZE)
    m = policy.Triangular2(base_lr=TOP_M, max_lr=BASE_M, step_size=STEP_SIZE) if momentum else None
    return Scheduler(opt, lr, momentum=m)


def seconds_per_step(scheduler, steps: int) -> float:
    step = scheduler.step
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def compare(momentum: bool, steps: int, repeats: int, groups: int) -> float:
    theirs = torch_cyclic(make_optimizer(groups), momentum)
    ours = cyclr_scheduler(make_optimizer(groups), momentum)
    for s in (theirs, ours):
        s.optimizer.step()  # no grads: changes nothing, but torch warns without it
    for s in (theirs, ours):  # warm up
        seconds_per_step(s, steps)
    t_torch, t_cyclr = [], []
    for i in range(repeats):  # alternate the order, so neither always runs first
        pair = ((theirs, t_torch), (ours, t_cyclr))
        for scheduler, times in pair if i % 2 == 0 else reversed(pair):
            times.append(seconds_per_step(scheduler, steps))
    # same schedule, same place: the two did the same work
    assert ours.last_epoch == theirs.last_epoch
    mt, mc = statistics.median(t_torch), statistics.median(t_cyclr)
    ratio = mc / mt
    label = "LR + momentum" if momentum else "LR only     "
    print(f"{label}  torch CyclicLR {mt * 1e6:6.2f} us/step   cyclr Scheduler {mc * 1e6:6.2f} "
          f"us/step   ratio cyclr/torch = {ratio:.3f}")
    return ratio


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--groups", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, triangular2, {args.groups} param group(s), "
          f"{args.repeats} alternating runs of {args.steps} steps")
    ratios = [compare(m, args.steps, args.repeats, args.groups) for m in (False, True)]
    print(f"worst ratio: {max(ratios):.3f} ({'OK' if max(ratios) <= 1.0 else 'SLOWER'})")


if __name__ == "__main__":
    main()

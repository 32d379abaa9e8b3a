"""Core speed, as ratios against torch measured in the same run (DESIGN.md: no absolute claims).

1. Previewing a schedule: one vectorized call over 10**7 steps vs stepping
   torch.optim.lr_scheduler.CyclicLR (per-step cost; torch is stepped 2*10**5 times and the
   per-step cost compared, since stepping it 10**7 times takes minutes).
2. Scalar evaluation ``p(k)`` (the Python-int fast path the torch adapter uses each update) vs
   one ``CyclicLR.step()``.

Run: ``python benchmarks/bench_core.py``. Prints a small markdown table.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from cyclr import policy


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    p = policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=2000)
    n_preview, n_torch = 10**7, 2 * 10**5
    steps = np.arange(n_preview)

    def make_cyclic():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return torch.optim.lr_scheduler.CyclicLR(opt, 1e-3, 0.1, step_size_up=2000,
                                                 mode="triangular2", cycle_momentum=False)

    def step_torch():
        sched = make_cyclic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(n_torch):
                sched.step()

    def scalar_calls():
        for k in range(n_torch):
            p(k)

    p(steps)  # warm-up: the first pass over 80 MB pays the page faults
    # alternate the contenders so that machine noise hits both; keep each one's best round
    preview, torch_steps, scalar = [], [], []
    for _ in range(3):
        preview.append(best_of(lambda: p(steps), 1) / n_preview)
        torch_steps.append(best_of(step_torch, 1) / n_torch)
        scalar.append(best_of(scalar_calls, 1) / n_torch)
    preview_s, torch_s, scalar_s = (min(v) for v in (preview, torch_steps, scalar))
    print("| measurement | per step | ratio |")
    print("|---|---|---|")
    print(f"| CyclicLR.step() (torch {torch.__version__}) | {torch_s * 1e6:.2f} us | 1 |")
    print(f"| policy(np.arange(10**7)) preview | {preview_s * 1e9:.1f} ns | "
          f"{torch_s / preview_s:.0f}x cheaper |")
    print(f"| policy(k), Python int | {scalar_s * 1e6:.2f} us | "
          f"{torch_s / scalar_s:.1f}x cheaper |")


if __name__ == "__main__":
    main()

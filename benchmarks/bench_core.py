"""Core speed, as ratios against torch measured in the same run (DESIGN.md: no absolute claims).

1. Previewing a schedule: one vectorized call over 10**7 steps vs stepping
   torch.optim.lr_scheduler.CyclicLR (per-step cost; torch is stepped 2*10**5 times and the
   per-step cost compared, since stepping it 10**7 times takes minutes). Beside it, the same
   triangular2 hand-written as a tight in-place numpy loop (``out=`` buffers, blocks of 16,384
   steps, no validation): the floor numpy allows, to see how close ``policy(steps)`` gets.
2. Scalar evaluation ``p(k)`` (the Python-int fast path the torch adapter uses each update) vs
   one ``CyclicLR.step()``.
3. For information, the same preview on a torch int64 tensor and a jitted jax.numpy array
   (float32; where installed).

Run: ``python benchmarks/bench_core.py``. Prints a small markdown table.
"""

from __future__ import annotations

import importlib.util
import time
import warnings

import numpy as np

from cyclr import policy

BASE, TOP, STEP_SIZE = 1e-3, 0.1, 2000


def best_of(fn, repeats=5):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def tight_triangular2(steps: np.ndarray, block: int = 16_384) -> np.ndarray:
    """Triangular2 by hand, in place: the same operations as the core's formula, with every
    temporary a reused buffer of one block."""
    period = 2 * STEP_SIZE
    out = np.empty(steps.shape)
    k_cycle, k_pos = np.empty(block, np.int64), np.empty(block, np.int64)
    x, y = np.empty(block), np.empty(block)
    for start in range(0, steps.size, block):
        k = steps[start:start + block]
        n = k.size
        c, p, fx, fy = k_cycle[:n], k_pos[:n], x[:n], y[:n]
        np.floor_divide(k, period, out=c)
        np.multiply(c, period, out=p)
        np.subtract(k, p, out=p)
        fx[:] = p
        np.subtract(period, fx, out=fy)
        np.divide(fx, STEP_SIZE, out=fx)
        np.divide(fy, period - STEP_SIZE, out=fy)
        np.minimum(fx, fy, out=fx)
        np.minimum(c, 1100, out=c)
        fy[:] = c
        np.negative(fy, out=fy)
        np.exp2(fy, out=fy)
        np.multiply(fx, TOP - BASE, out=fx)
        np.multiply(fx, fy, out=fx)
        np.add(fx, BASE, out=out[start:start + n])
    return out


def main() -> None:
    import torch

    torch.set_num_threads(1)
    p = policy.Triangular2(base_lr=BASE, max_lr=TOP, step_size=STEP_SIZE)
    n_preview, n_torch = 10**7, 2 * 10**5
    steps = np.arange(n_preview)
    assert np.array_equal(tight_triangular2(steps[:100_000]), p(steps[:100_000]))

    def make_cyclic():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return torch.optim.lr_scheduler.CyclicLR(opt, BASE, TOP, step_size_up=STEP_SIZE,
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
    tight_triangular2(steps)
    # alternate the contenders so that machine noise hits both; keep each one's best round
    preview, tight, torch_steps, scalar = [], [], [], []
    for _ in range(5):
        preview.append(best_of(lambda: p(steps), 1) / n_preview)
        tight.append(best_of(lambda: tight_triangular2(steps), 1) / n_preview)
        torch_steps.append(best_of(step_torch, 1) / n_torch)
        scalar.append(best_of(scalar_calls, 1) / n_torch)
    preview_s, tight_s, torch_s, scalar_s = (min(v) for v in (preview, tight, torch_steps,
                                                              scalar))
    rows = [(f"CyclicLR.step() (torch {torch.__version__})", torch_s, None),
            ("policy(np.arange(10**7)) preview, float64", preview_s, "x"),
            ("the same, tight in-place numpy by hand (no validation)", tight_s, "x"),
            ("policy(k), Python int", scalar_s, "x")]
    steps_t = torch.arange(n_preview)
    p(steps_t)
    rows.append(("policy(torch.arange(10**7)), float32", best_of(lambda: p(steps_t), 3)
                 / n_preview, "x"))
    if importlib.util.find_spec("jax"):
        import jax

        steps_j = jax.numpy.arange(n_preview)
        f = jax.jit(p)
        f(steps_j).block_until_ready()
        rows.append(("jax.jit(policy)(jnp.arange(10**7)), float32",
                     best_of(lambda: f(steps_j).block_until_ready(), 3) / n_preview, "x"))
    print("| measurement | per step | CyclicLR.step() / this |")
    print("|---|---|---|")
    for name, seconds, _ in rows:
        shown = f"{seconds * 1e6:.2f} us" if seconds > 1e-6 else f"{seconds * 1e9:.1f} ns"
        print(f"| {name} | {shown} | {torch_s / seconds:.0f}x |")


if __name__ == "__main__":
    main()

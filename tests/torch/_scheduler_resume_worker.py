"""A training run with checkpoints, for the kill-and-resume test (run as a script, not a test).

    python _scheduler_resume_worker.py OUTDIR --steps 60 --every 10 [--hang-at K] [--resume]

Trains a tiny model with SGD + momentum under a cyclr_torch.Scheduler that cycles LR and
momentum, saving model, optimizer and scheduler state_dicts (and the LR/momentum trace) to
OUTDIR/checkpoint.pt every ``--every`` updates, atomically. ``--hang-at K`` stops after update K
and waits to be killed; ``--resume`` starts from the last checkpoint. At the end it writes the
final weights and the whole trace to OUTDIR/final.pt.
"""

import argparse
import os
import time
from pathlib import Path

import torch

from cyclr import policy
from cyclr_torch.scheduler import Scheduler

LR = policy.Triangular2(base_lr=1e-3, max_lr=0.1, step_size=8)
MOMENTUM = policy.Triangular2(base_lr=0.95, max_lr=0.85, step_size=8)


def batch(k):
    gen = torch.Generator().manual_seed(1000 + k)
    x = torch.randn(32, 8, generator=gen)
    return x, (x[:, :4].sum(1, keepdim=True) - x[:, 4:].prod(1, keepdim=True)).tanh()


def save_atomically(obj, path):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--every", type=int, default=10)
    parser.add_argument("--hang-at", type=int, default=-1)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = Scheduler(opt, LR, momentum=MOMENTUM)
    checkpoint, start, trace = args.outdir / "checkpoint.pt", 0, []
    if args.resume:
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, trace = state["step"], state["trace"]
        print(f"resumed at {start}", flush=True)

    for k in range(start, args.steps):
        x, y = batch(k)
        torch.nn.functional.mse_loss(model(x), y).backward()
        group = opt.param_groups[0]
        trace.append((group["lr"], group["momentum"]))
        opt.step()
        opt.zero_grad()
        sched.step()
        if (k + 1) % args.every == 0:
            save_atomically({"step": k + 1, "model": model.state_dict(),
                             "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                             "trace": trace}, checkpoint)
        if k == args.hang_at:
            print(f"hanging after {k}", flush=True)
            time.sleep(300)  # wait for SIGKILL
    save_atomically({"weights": model.state_dict(), "trace": trace}, args.outdir / "final.pt")


if __name__ == "__main__":
    main()
